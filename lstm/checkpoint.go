package lstm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/safetensors"
)

// Files of a checkpoint directory.
const (
	ModelFile      = "model.safetensors"
	ConfigFile     = "config.json"
	TrainStateFile = "train_state.safetensors"
)

// checkpointFormat is written into config.json; a config without it (written by hand for
// weights trained elsewhere) is read too.
const checkpointFormat = "recur-checkpoint-1"

// fileConfig is the layout of config.json: the architecture at the top level, the training
// settings under "train".
type fileConfig struct {
	Config
	Format string       `json:"format,omitempty"`
	Train  *TrainConfig `json:"train,omitempty"`
}

// DataFile identifies one file of a language model's training data.
type DataFile struct {
	Name   string `json:"name"`   // path relative to TrainConfig.Data; "." when Data is the file
	SHA256 string `json:"sha256"` // hex SHA-256 of the file's bytes
}

// Checkpoint is a loaded checkpoint directory.
type Checkpoint struct {
	Dir    string
	Config Config
	Train  *TrainConfig // nil when config.json has no training settings
	Params []float32    // in ParamSpecs order
	// State is the content of train_state.safetensors: nil when the directory has none, or
	// when LoadCheckpointWeights read the checkpoint.
	State *safetensors.File
	// FromOld is true when the requested directory was missing and Dir is its ".old" copy,
	// the previous checkpoint that a save interrupted inside replaceDir's fallback leaves.
	FromOld bool
}

// LoadCheckpoint reads a checkpoint directory with its training state, for --resume.
// train_state.safetensors is optional (weights trained elsewhere have none), but a non-finite
// value in it is an error. Every other problem is an error naming the file and the fix.
func LoadCheckpoint(dir string) (*Checkpoint, error) {
	return loadCheckpoint(dir, true)
}

// LoadCheckpointWeights reads a checkpoint directory like LoadCheckpoint but skips
// train_state.safetensors, which sampling, scoring and inspecting a model do not use, so
// neither its size nor its content matters to them. The result's State is nil.
func LoadCheckpointWeights(dir string) (*Checkpoint, error) {
	return loadCheckpoint(dir, false)
}

func loadCheckpoint(dir string, withState bool) (*Checkpoint, error) {
	dir = filepath.Clean(dir)
	st, err := os.Stat(dir)
	fromOld := false
	if errors.Is(err, os.ErrNotExist) {
		// A crash inside replaceDir's fallback can leave only the previous checkpoint, renamed.
		if old, errOld := os.Stat(dir + ".old"); errOld == nil && old.IsDir() {
			dir, st, err, fromOld = dir+".old", old, nil, true
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, &wrappedError{fmt.Sprintf("checkpoint %s not found: pass a directory written by recur train (its --out)", dir), err}
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("checkpoint %s is not a directory: pass the directory that contains %s and %s", dir, ModelFile, ConfigFile)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, missingFileError(dir, ConfigFile, err)
	}
	var fc fileConfig
	if err := json.Unmarshal(raw, &fc); err != nil {
		return nil, fmt.Errorf("checkpoint %s: invalid %s: %v", dir, ConfigFile, err)
	}
	if fc.Format != "" && fc.Format != checkpointFormat {
		var task struct {
			Config struct {
				Task string `json:"task"`
			} `json:"config"`
		}
		if json.Unmarshal(raw, &task) == nil && task.Config.Task != "" {
			return nil, fmt.Errorf("checkpoint %s contains a %s model, not a language model: use recur %s predict", dir, task.Config.Task, task.Config.Task)
		}
		return nil, fmt.Errorf("checkpoint %s has format %q, which this version of recur does not read (it reads %q)", dir, fc.Format, checkpointFormat)
	}
	if err := fc.Config.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %s: %w", dir, ConfigFile, err)
	}
	if err := validateTrainSection(fc); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %s, \"train\" section: %w; correct it or start a new run without --resume", dir, ConfigFile, err)
	}
	ck := &Checkpoint{Dir: dir, Config: fc.Config, Train: fc.Train, FromOld: fromOld}

	modelPath := filepath.Join(dir, ModelFile)
	if _, err := os.Stat(modelPath); err != nil {
		return nil, missingFileError(dir, ModelFile, err)
	}
	f, err := safetensors.ReadFile(modelPath)
	if err != nil {
		return nil, err
	}
	// Every shape is checked before the parameters are allocated, so their size is bounded by
	// the file's, whatever config.json claims.
	specs := fc.Config.ParamSpecs()
	tensors := make([][]float32, len(specs))
	for i, s := range specs {
		v, shape, err := f.Float32(s.Name)
		if err != nil {
			return nil, err
		}
		if !equalShape(shape, s.Shape) {
			return nil, fmt.Errorf("%s: tensor %s has shape %v, but %s describes %v", modelPath, s.Name, shape, ConfigFile, s.Shape)
		}
		tensors[i] = v
	}
	ck.Params = make([]float32, fc.Config.NumParams())
	for i, s := range specs {
		copy(ck.Params[s.Offset:], tensors[i])
	}
	if i := firstNonFinite(ck.Params); i >= 0 {
		return nil, fmt.Errorf("%s: parameter %d is %g: the checkpoint is corrupt", modelPath, i, ck.Params[i])
	}

	if !withState {
		return ck, nil
	}
	statePath := filepath.Join(dir, TrainStateFile)
	_, err = os.Stat(statePath)
	switch {
	case err == nil:
		if ck.State, err = safetensors.ReadFile(statePath); err != nil {
			return nil, err
		}
		if err := checkStateFinite(statePath, ck.State); err != nil {
			return nil, err
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return ck, nil
}

// checkStateFinite returns an error naming the first float32 tensor of a training state
// that contains a NaN or an infinity. Training writes a checkpoint only after a step that was
// not skipped, so such a value in the optimizer's moments or the carried hidden state means a
// corrupt file, and resuming would carry it into every later step.
func checkStateFinite(path string, f *safetensors.File) error {
	for _, name := range f.Names() {
		if f.Tensors[name].DType != safetensors.F32 {
			continue
		}
		v, _, err := f.Float32(name)
		if err != nil {
			return err
		}
		if i := firstNonFinite(v); i >= 0 {
			return fmt.Errorf("%s: tensor %s contains %g at element %d, so the training state is corrupt: resume from an older checkpoint, or start a new run", path, name, v[i], i)
		}
	}
	return nil
}

// validateTrainSection checks the training settings of config.json, when it has them, so a
// hand-edited or corrupt value is an error here rather than a failed allocation in --resume.
func validateTrainSection(fc fileConfig) error {
	if fc.Train == nil {
		return nil
	}
	if err := fc.Train.Validate(); err != nil {
		return err
	}
	return fc.Train.ValidateWorkspace(fc.Config)
}

// missingFileError describes a checkpoint file that cannot be read, with what to do when it
// does not exist.
func missingFileError(dir, name string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return &wrappedError{fmt.Sprintf("checkpoint %s has no %s, so it is incomplete: pass a directory written by recur train, or restore the file", dir, name), err}
	}
	return fmt.Errorf("checkpoint %s: %w", dir, err)
}

// wrappedError is an error whose message replaces that of the error it wraps, so that
// errors.Is(err, fs.ErrNotExist) still holds for a message that names the fix.
type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// SaveCheckpoint writes the model, its configuration and, when tr is not nil, the training
// state into dir. The files go into a new directory beside dir, are synced, and the new
// directory then replaces dir in one rename, so a crash at any moment leaves either the old
// or the new checkpoint complete. Non-finite parameters are an error and nothing is written.
func SaveCheckpoint(dir string, m *Model, tc *TrainConfig, tr *Trainer) error {
	dir = filepath.Clean(dir)
	if err := CheckCheckpointDir(dir, true); err != nil {
		return err
	}
	// A failed backend fills downloads with NaN, so its own error is checked first and
	// reported instead of a misleading non-finite parameter.
	if err := m.Backend.Sync(); err != nil {
		return fmt.Errorf("checkpoint %s not written: the backend failed: %w", dir, err)
	}
	params := make([]float32, m.Params.Len())
	m.Backend.Download(params, m.Params)
	if err := m.Backend.Sync(); err != nil {
		return fmt.Errorf("checkpoint %s not written: reading the parameters failed: %w", dir, err)
	}
	if i := firstNonFinite(params); i >= 0 {
		return fmt.Errorf("checkpoint %s not written: parameter %d is %g", dir, i, params[i])
	}

	return WriteDirAtomic(dir, func(tmp string) error { return writeCheckpointFiles(tmp, m, params, tc, tr) })
}

// WriteDirAtomic makes dir hold exactly the files that write puts into the empty directory
// it is given. The files go into a new directory beside dir, are synced, and the new
// directory then replaces dir in one rename, so a crash at any moment leaves either the old
// or the new directory complete.
func WriteDirAtomic(dir string, write func(tmp string) error) error {
	tmp := dir + ".tmp"
	if err := removeLeftoverDir(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write checkpoint %s: %w", dir, err)
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	return replaceDir(tmp, dir)
}

// checkpointFiles are the only names a checkpoint directory may contain, so that replacing
// one never deletes a file recur did not write.
var checkpointFiles = map[string]bool{ModelFile: true, ConfigFile: true, TrainStateFile: true}

// leftoverFiles are the names that an interrupted save can leave in DIR.tmp or DIR.old: the
// checkpoint files and the temporary names safetensors.WriteFile writes them under first.
var leftoverFiles = map[string]bool{
	ModelFile: true, ConfigFile: true, TrainStateFile: true,
	ModelFile + ".tmp": true, TrainStateFile + ".tmp": true,
}

// removeLeftoverDir deletes path, a DIR.tmp or DIR.old that an earlier save left behind. A
// path that is not a directory, or that contains anything but regular files named in
// leftoverFiles, is an error and stays untouched, because recur did not write it.
func removeLeftoverDir(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("temporary checkpoint directory %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s exists and is not a directory recur wrote, and saving the checkpoint would delete it: move or delete %s, then run again", path, path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("temporary checkpoint directory %s: %w", path, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !leftoverFiles[e.Name()] {
			return fmt.Errorf("%s contains %s, which recur did not write, and saving the checkpoint would delete it: move or delete %s, then run again", path, e.Name(), path)
		}
	}
	return os.RemoveAll(path)
}

// CheckCheckpointDir returns an error unless dir can receive a checkpoint: it must not exist,
// or be a directory that holds only checkpoint files (and, unless replace is true, none). It
// deletes a dir.tmp that an interrupted save left behind, and returns an error instead when
// dir.tmp contains files recur did not write. It then creates and removes dir.tmp to find an
// unwritable location before training starts.
func CheckCheckpointDir(dir string, replace bool) error {
	dir = filepath.Clean(dir)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("checkpoint directory %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("checkpoint directory %s is an existing file: choose another --out", dir)
	default:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("checkpoint directory %s: %w", dir, err)
		}
		for _, e := range entries {
			if !checkpointFiles[e.Name()] {
				return fmt.Errorf("checkpoint directory %s contains %s, which recur did not write, and replacing the checkpoint would delete it: choose another --out or move the file", dir, e.Name())
			}
		}
		if len(entries) > 0 && !replace {
			return fmt.Errorf("%s already contains a checkpoint: continue it with --resume %s, or choose another --out", dir, dir)
		}
	}
	// A missing parent is created, as SaveCheckpoint would, so --out runs/new works.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("checkpoint directory %s: %w", dir, err)
	}
	tmp := dir + ".tmp"
	if err := removeLeftoverDir(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("checkpoint directory %s is not writable: %w", dir, err)
	}
	return os.Remove(tmp)
}

func writeCheckpointFiles(dir string, m *Model, params []float32, tc *TrainConfig, tr *Trainer) error {
	mf := &safetensors.File{}
	for _, s := range m.Cfg.ParamSpecs() {
		mf.AddFloat32(s.Name, s.Shape, params[s.Offset:s.Offset+s.Len()])
	}
	if err := safetensors.WriteFile(filepath.Join(dir, ModelFile), mf); err != nil {
		return err
	}

	raw, err := json.MarshalIndent(fileConfig{Config: m.Cfg, Format: checkpointFormat, Train: tc}, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileSync(filepath.Join(dir, ConfigFile), append(raw, '\n')); err != nil {
		return err
	}
	if tr == nil {
		return nil
	}
	state := tr.stateFile()
	if err := m.Backend.Sync(); err != nil {
		return fmt.Errorf("reading the training state failed: %w", err)
	}
	return safetensors.WriteFile(filepath.Join(dir, TrainStateFile), state)
}

// stateFile packs what a resumed run needs to continue exactly: the optimizer's moments and
// step, the data position, and the hidden state carried into the next chunk. Dropout draws
// come from a counter-based hash of the seed and the step, so no generator state is stored.
func (tr *Trainer) stateFile() *safetensors.File {
	m, be := tr.Model, tr.Model.Backend
	f := &safetensors.File{Metadata: map[string]string{
		"step":          strconv.Itoa(tr.Opt.Step),
		"optim":         tr.Opt.Kind,
		"batch":         strconv.Itoa(tr.ws.B),
		"seq":           strconv.Itoa(tr.ws.T),
		"data_position": strconv.Itoa(tr.Batcher.Pos),
		"epoch":         strconv.Itoa(tr.Batcher.Epoch),
		"skipped":       strconv.Itoa(tr.Skipped),
	}}
	download := func(t engine.Tensor) []float32 {
		v := make([]float32, t.Len())
		be.Download(v, t)
		return v
	}
	for name, t := range tr.Opt.State() {
		f.AddFloat32(name, []int{t.Len()}, download(t))
	}
	shape := []int{tr.ws.B, m.Cfg.Hidden}
	for l := 0; l < m.Cfg.Layers; l++ {
		h, c := tr.ws.State(l)
		f.AddFloat32(fmt.Sprintf("state.h_l%d", l), shape, download(h))
		if c != nil {
			f.AddFloat32(fmt.Sprintf("state.c_l%d", l), shape, download(c))
		}
	}
	return f
}

// RestoreState continues from a saved training state: the optimizer's moments and step, the
// data position and the carried hidden state.
func (tr *Trainer) RestoreState(f *safetensors.File) error {
	m, be := tr.Model, tr.Model.Backend
	meta := func(key string) (int, error) {
		v, err := strconv.Atoi(f.Metadata[key])
		if err != nil {
			return 0, fmt.Errorf("%s: invalid or missing %q in the metadata: %q", TrainStateFile, key, f.Metadata[key])
		}
		return v, nil
	}

	if kind := f.Metadata["optim"]; kind != tr.Opt.Kind {
		return fmt.Errorf("%s contains the state of optimizer %q, but the run uses %q: the checkpoint is inconsistent, so start a new run or restore its files", TrainStateFile, kind, tr.Opt.Kind)
	}
	var vals [6]int
	for i, key := range []string{"step", "batch", "seq", "data_position", "epoch", "skipped"} {
		v, err := meta(key)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("%s: invalid %s %d in the metadata: the checkpoint is corrupt", TrainStateFile, key, v)
		}
		vals[i] = v
	}

	if vals[1] != tr.ws.B || vals[2] != tr.ws.T {
		return fmt.Errorf("%s was saved with batch %d and seq %d, but the run uses batch %d and seq %d: the checkpoint is inconsistent, so start a new run or restore its files", TrainStateFile, vals[1], vals[2], tr.ws.B, tr.ws.T)
	}

	upload := func(name string, t engine.Tensor) error {
		v, _, err := f.Float32(name)
		if err != nil {
			return fmt.Errorf("%s: %w", TrainStateFile, err)
		}
		if len(v) != t.Len() {
			return fmt.Errorf("%s: tensor %s has %d elements, want %d", TrainStateFile, name, len(v), t.Len())
		}
		be.Upload(t, v)
		return nil
	}

	for name, t := range tr.Opt.State() {
		if err := upload(name, t); err != nil {
			return err
		}
	}
	for l := 0; l < m.Cfg.Layers; l++ {
		h, c := tr.ws.State(l)
		if err := upload(fmt.Sprintf("state.h_l%d", l), h); err != nil {
			return err
		}
		if c != nil {
			if err := upload(fmt.Sprintf("state.c_l%d", l), c); err != nil {
				return err
			}
		}
	}

	if vals[3] < 0 || vals[3] > tr.Batcher.StreamLen() || vals[4] < 0 {
		return fmt.Errorf("%s: data position %d (epoch %d) is outside streams of %d characters: resume on the text the checkpoint was trained on", TrainStateFile, vals[3], vals[4], tr.Batcher.StreamLen())
	}
	tr.Batcher.Pos, tr.Batcher.Epoch = vals[3], vals[4]
	tr.Opt.Step = vals[0]
	tr.Skipped = vals[5]
	return nil
}

// WriteFileSync writes data to path and syncs it to the disk.
func WriteFileSync(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// replaceDir puts the directory tmp in place of dir. Where dir exists, it swaps the two with
// renameat2(RENAME_EXCHANGE) in one atomic step and then deletes the old one. On a file system
// without that call, it renames dir to dir.old first, where LoadCheckpoint looks when dir is
// missing.
func replaceDir(tmp, dir string) error {
	parent := filepath.Dir(dir)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
		return syncDir(parent)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE)
	if err == nil {
		if err := syncDir(parent); err != nil {
			return err
		}
		return os.RemoveAll(tmp)
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("replace checkpoint %s: %w", dir, err)
	}
	old := dir + ".old"
	if err := removeLeftoverDir(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return os.RemoveAll(old)
}
