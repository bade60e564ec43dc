package tasks

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
	"github.com/recur-ml/recur/safetensors"
)

// checkpointFormat names the layout of a task checkpoint's config.json.
const checkpointFormat = "recur-task-1"

// fileConfig is the content of a task checkpoint's config.json.
type fileConfig struct {
	Format string        `json:"format"`
	Config Config        `json:"config"`
	Train  *TrainOptions `json:"train,omitempty"`
	Steps  int           `json:"steps_done"`
	Data   *DataFiles    `json:"data,omitempty"`
}

// SaveModel writes m into the checkpoint directory dir (model.safetensors and config.json),
// replacing it in one rename, so a crash leaves the old or the new checkpoint complete. dir
// must not exist or must contain only checkpoint files. config.json also records o, which
// may be nil, and steps. Non-finite parameters are an error and nothing is written.
func SaveModel(dir string, m *Model, o *TrainOptions, steps int) error {
	params := make([]float32, m.Params.Len())
	m.be.Download(params, m.Params)
	return SaveCheckpoint(dir, m, o, Snapshot{Params: params, Step: steps})
}

// LoadModel reads the task checkpoint in dir and uploads its parameters to be. It rejects a
// language-model checkpoint, a tensor whose shape differs from config.json and a non-finite
// parameter.
func LoadModel(dir string, be engine.Backend) (*Model, error) {
	fc, err := readFileConfig(dir)
	if err != nil {
		return nil, err
	}
	if fc.Format != checkpointFormat {
		return nil, fmt.Errorf("checkpoint %s has format %q instead of the task model format %q "+
			"(load a language model with recur sample or recur eval)",
			dir, fc.Format, checkpointFormat)
	}
	if err := fc.Config.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %s: %w", dir, lstm.ConfigFile, err)
	}

	// Every tensor is read and its shape checked before the model is allocated, so the
	// allocation is bounded by the file's size, whatever config.json claims.
	f, err := safetensors.ReadFile(filepath.Join(dir, lstm.ModelFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	lay, _, _ := fc.Config.layout()
	tensors := make([][]float32, len(lay.specs))
	for i, s := range lay.specs {
		v, shape, err := f.Float32(s.Name)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		if !slices.Equal(shape, s.Shape) {
			return nil, fmt.Errorf("checkpoint %s: tensor %s has shape %v, but %s describes %v",
				dir, s.Name, shape, lstm.ConfigFile, s.Shape)
		}
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("checkpoint %s is corrupt: element %d of tensor %s is %g",
					dir, j, s.Name, x)
			}
		}
		tensors[i] = v
	}

	m, err := NewModel(fc.Config, be)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	params := make([]float32, m.Params.Len())
	for i, s := range m.specs {
		copy(params[s.Offset:], tensors[i])
	}
	be.Upload(m.Params, params)
	return m, nil
}

// readFileConfig reads and parses the config.json of the checkpoint in dir. A missing file
// gives an error that wraps os.ErrNotExist.
func readFileConfig(dir string) (fileConfig, error) {
	var fc fileConfig
	raw, err := os.ReadFile(filepath.Join(dir, lstm.ConfigFile))
	if err != nil {
		return fc, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if err := json.Unmarshal(raw, &fc); err != nil {
		return fc, fmt.Errorf("checkpoint %s: %s is not valid JSON: %w", dir, lstm.ConfigFile, err)
	}
	return fc, nil
}
