package lstm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/recur-ml/recur/engine"
)

// FuzzLoadConfig feeds arbitrary bytes to LoadCheckpoint as config.json beside a valid model
// file: every input must give a checkpoint or an error, never a panic or an allocation sized by
// a number in the config.
func FuzzLoadConfig(f *testing.F) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 2, Embed: 2, Vocab: []string{"a", "b", "c"}}
	model, config := writeSeedCheckpoint(f, f.TempDir(), cfg)
	f.Add(config)
	f.Add([]byte(`{"model":"lstm","layers":1,"hidden":5000000000,"embed":2,"vocab":["a","b","c"]}`))
	f.Add([]byte(`{"model":"gru","layers":100000000,"hidden":2,"embed":2,"vocab":["a"]}`))
	f.Add([]byte(`{"model":"lstm","layers":1,"hidden":2,"embed":2,"vocab":["ab","a"]}`))
	f.Add([]byte(`{"vocab":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ModelFile), model, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := LoadCheckpoint(dir)
		if err != nil {
			return
		}
		if len(ck.Params) != ck.Config.NumParams() {
			t.Fatalf("loaded %d parameters, config describes %d", len(ck.Params), ck.Config.NumParams())
		}
	})
}

// writeSeedCheckpoint saves a small model with zero weights and returns its model.safetensors
// and config.json bytes.
func writeSeedCheckpoint(f *testing.F, dir string, cfg Config) (model, config []byte) {
	f.Helper()
	be, err := engine.NewCPU(engine.CPUOptions{GEMM: "gonum"})
	if err != nil {
		f.Fatal(err)
	}
	defer be.Close()
	m, err := NewModel(cfg, be)
	if err != nil {
		f.Fatal(err)
	}
	ck := filepath.Join(dir, "ck")
	if err := SaveCheckpoint(ck, m, nil, nil); err != nil {
		f.Fatal(err)
	}
	model, err = os.ReadFile(filepath.Join(ck, ModelFile))
	if err != nil {
		f.Fatal(err)
	}
	config, err = os.ReadFile(filepath.Join(ck, ConfigFile))
	if err != nil {
		f.Fatal(err)
	}
	return model, config
}
