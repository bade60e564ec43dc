package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/recur-ml/recur/dataset"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
	"github.com/recur-ml/recur/safetensors"
)

// DataFiles are the files a training run read, stored in its checkpoint so that --resume
// reads them again.
type DataFiles struct {
	Train     string `json:"train"`
	Val       string `json:"val,omitempty"`
	Images    string `json:"images,omitempty"`
	ValImages string `json:"val_images,omitempty"`
	// SHA256 maps each of the paths above to the SHA-256 of its content, so that a resumed
	// run can tell a changed file from the one it trained on.
	SHA256 map[string]string `json:"sha256,omitempty"`
}

// FileSHA256 returns the hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Snapshot is the content of a training checkpoint besides the configuration.
type Snapshot struct {
	// Params are the weights written to model.safetensors: the best validation's, or the
	// latest without a validation set.
	Params []float32
	// Step is the step of Params.
	Step int
	// Data names the files of the run.
	Data DataFiles
	// State is the training state for --resume (train_state.safetensors), or nil.
	State *safetensors.File
}

// SaveCheckpoint writes a training checkpoint into dir: model.safetensors with s.Params,
// config.json with the configuration, o and s.Data, and, when s.State is not nil,
// train_state.safetensors. The new directory replaces dir in one rename. Non-finite
// parameters are an error and nothing is written.
func SaveCheckpoint(dir string, m *Model, o *TrainOptions, s Snapshot) error {
	dir = filepath.Clean(dir)
	if err := lstm.CheckCheckpointDir(dir, true); err != nil {
		return err
	}
	for i, v := range s.Params {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("checkpoint %s not written: parameter %d is %g", dir, i, v)
		}
	}
	return lstm.WriteDirAtomic(dir, func(tmp string) error {
		f := &safetensors.File{}
		for _, sp := range m.specs {
			f.AddFloat32(sp.Name, sp.Shape, s.Params[sp.Offset:sp.Offset+sp.Len()])
		}
		if err := safetensors.WriteFile(filepath.Join(tmp, lstm.ModelFile), f); err != nil {
			return err
		}
		data := s.Data
		fc := fileConfig{Format: checkpointFormat, Config: m.Cfg, Train: o, Steps: s.Step, Data: &data}
		raw, err := json.MarshalIndent(fc, "", "  ")
		if err != nil {
			return err
		}
		if err := lstm.WriteFileSync(filepath.Join(tmp, lstm.ConfigFile), append(raw, '\n')); err != nil {
			return err
		}
		if s.State == nil {
			return nil
		}
		return safetensors.WriteFile(filepath.Join(tmp, lstm.TrainStateFile), s.State)
	})
}

// lastParamsName is the tensor of train_state.safetensors that contains the latest weights,
// which differ from model.safetensors when that contains the best validation's.
const lastParamsName = "last.params"

// StateFile returns the training state that --resume needs to continue exactly: the latest
// weights, the optimizer's moments and step, the data position and the best validation so
// far (bestStep −1 when there is none).
func (tr *Trainer) StateFile(best Metrics, bestStep int) *safetensors.File {
	be := tr.Model.be
	download := func(t engine.Tensor) []float32 {
		v := make([]float32, t.Len())
		be.Download(v, t)
		return v
	}
	f := &safetensors.File{Metadata: map[string]string{
		"step":          strconv.Itoa(tr.Opt.Step),
		"optim":         tr.Opt.Kind,
		"batch":         strconv.Itoa(tr.O.Batch),
		"epoch":         strconv.Itoa(tr.epoch),
		"data_position": strconv.Itoa(tr.pos),
		"skipped":       strconv.Itoa(tr.Skipped),
		"skipped_run":   strconv.Itoa(tr.skipRun),
		"best_step":     strconv.Itoa(bestStep),
		"best_accuracy": strconv.FormatFloat(best.Accuracy, 'g', -1, 64),
		"best_loss":     strconv.FormatFloat(best.Loss, 'g', -1, 64),
	}}
	f.AddFloat32(lastParamsName, []int{tr.Model.Params.Len()}, download(tr.Model.Params))
	for name, t := range tr.Opt.State() {
		f.AddFloat32(name, []int{t.Len()}, download(t))
	}
	return f
}

// RestoreState loads a state written by StateFile into tr and its model, and returns the
// best validation it recorded.
func (tr *Trainer) RestoreState(f *safetensors.File) (best Metrics, bestStep int, err error) {
	fail := func(format string, args ...any) (Metrics, int, error) {
		return Metrics{}, 0, fmt.Errorf("%s: "+format, append([]any{lstm.TrainStateFile}, args...)...)
	}

	ints := map[string]int{}
	for _, key := range []string{"step", "batch", "epoch", "data_position", "skipped", "skipped_run", "best_step"} {
		v, err := strconv.Atoi(f.Metadata[key])
		if err != nil || v < -1 || (v < 0 && key != "best_step") {
			return fail("invalid or missing %q in the metadata (%q): the checkpoint is corrupt", key, f.Metadata[key])
		}
		ints[key] = v
	}
	if ints["step"] > 1<<40 || ints["epoch"] > ints["step"]+1 || ints["best_step"] > ints["step"] {
		return fail("step %d, epoch %d and best step %d are inconsistent: the checkpoint is corrupt",
			ints["step"], ints["epoch"], ints["best_step"])
	}

	if kind := f.Metadata["optim"]; kind != tr.Opt.Kind {
		return fail("the state is of optimizer %q, but the run uses %q", kind, tr.Opt.Kind)
	}
	if ints["batch"] != tr.O.Batch {
		return fail("the state was saved with batch %d, but the run uses %d", ints["batch"], tr.O.Batch)
	}
	if ints["data_position"] > len(tr.Data.Examples) {
		return fail("data position %d is past the %d training examples: resume on the data the checkpoint was trained on",
			ints["data_position"], len(tr.Data.Examples))
	}

	upload := func(name string, t engine.Tensor) error {
		v, _, err := f.Float32(name)
		if err != nil {
			return fmt.Errorf("%s: %w", lstm.TrainStateFile, err)
		}
		if len(v) != t.Len() {
			return fmt.Errorf("%s: tensor %s has %d elements, the model needs %d", lstm.TrainStateFile, name, len(v), t.Len())
		}
		tr.Model.be.Upload(t, v)
		return nil
	}
	if err := upload(lastParamsName, tr.Model.Params); err != nil {
		return Metrics{}, 0, err
	}
	for name, t := range tr.Opt.State() {
		if err := upload(name, t); err != nil {
			return Metrics{}, 0, err
		}
	}
	tr.Opt.Step = ints["step"]
	tr.epoch, tr.pos = ints["epoch"], ints["data_position"]
	tr.order = dataset.Shuffle(len(tr.Data.Examples), tr.O.Seed, tr.epoch)
	tr.Skipped, tr.skipRun = ints["skipped"], ints["skipped_run"]
	best.Accuracy, err = strconv.ParseFloat(f.Metadata["best_accuracy"], 64)
	if err == nil {
		best.Loss, err = strconv.ParseFloat(f.Metadata["best_loss"], 64)
	}
	if ints["best_step"] >= 0 && (err != nil || !(best.Accuracy >= 0 && best.Accuracy <= 1) || math.IsNaN(best.Loss)) {
		return fail("invalid best validation (accuracy %q, loss %q): the checkpoint is corrupt",
			f.Metadata["best_accuracy"], f.Metadata["best_loss"])
	}
	return best, ints["best_step"], nil
}

// Resumable is the content of a checkpoint that --resume reads.
type Resumable struct {
	Config Config
	Train  TrainOptions
	Data   DataFiles
	Steps  int               // steps done
	State  *safetensors.File // train_state.safetensors
	Model  *Model            // with the weights of model.safetensors
}

// LoadResumable reads a training checkpoint for --resume onto be.
func LoadResumable(dir string, be engine.Backend) (*Resumable, error) {
	fc, err := readFileConfig(dir)
	if errors.Is(err, os.ErrNotExist) {
		if _, terr := os.Stat(filepath.Clean(dir) + ".tmp"); terr == nil {
			return nil, fmt.Errorf("checkpoint %s was never completed: the run stopped while writing its first checkpoint, so start it again", dir)
		}
	}
	if err != nil {
		return nil, err
	}
	if fc.Format != checkpointFormat {
		return nil, fmt.Errorf("checkpoint %s is not a task checkpoint (format %q): a language model resumes with recur train --resume", dir, fc.Format)
	}
	if fc.Train == nil || fc.Data == nil {
		return nil, fmt.Errorf("checkpoint %s has no training settings or data files in %s, so it cannot be resumed: train a new model", dir, lstm.ConfigFile)
	}
	if err := fc.Train.ValidateStored(filepath.Join(dir, lstm.ConfigFile)); err != nil {
		return nil, fmt.Errorf("checkpoint %s cannot be resumed: %w (the run saved a setting "+
			"that is now rejected, or the file was edited; fix it or start a new run)", dir, err)
	}
	statePath := filepath.Join(dir, lstm.TrainStateFile)
	state, err := safetensors.ReadFile(statePath)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s cannot be resumed: %w", dir, err)
	}
	m, err := LoadModel(dir, be)
	if err != nil {
		return nil, err
	}
	return &Resumable{Config: fc.Config, Train: *fc.Train, Data: *fc.Data, Steps: fc.Steps, State: state, Model: m}, nil
}
