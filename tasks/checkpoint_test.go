package tasks

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/recur-ml/recur/lstm"
)

// readDir returns the contents of every file in dir by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = raw
	}
	return files
}

// predictionOutputs returns the Output of each prediction.
func predictionOutputs(preds []Prediction) []string {
	out := make([]string, len(preds))
	for i, p := range preds {
		out[i] = p.Output
	}
	return out
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, c := range gradientCases {
		cell := cells[len(c.task)%len(cells)] // vary the cell across tasks
		t.Run(c.name(cell), func(t *testing.T) {
			cfg := tinyConfig(c.task, cell, c.variant)
			m := newModel(t, cfg)
			m.Init(7, 1)
			d := tinyData(cfg, 3)
			dir := filepath.Join(t.TempDir(), "ckpt")
			opts := TrainOptions{Batch: 4, Steps: 10, LR: 0.01, Optim: lstm.OptimAdam}
			if err := SaveModel(dir, m, &opts, 10); err != nil {
				t.Fatalf("SaveModel: %v", err)
			}

			loaded, err := LoadModel(dir, newCPU(t))
			if err != nil {
				t.Fatalf("LoadModel: %v", err)
			}
			if !reflect.DeepEqual(loaded.Cfg, m.Cfg) {
				t.Errorf("loaded config %+v, saved %+v", loaded.Cfg, m.Cfg)
			}
			want, got := downloadParams(m), downloadParams(loaded)
			if len(got) != len(want) {
				t.Fatalf("loaded %d parameters, saved %d", len(got), len(want))
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("parameter %d: loaded %g, saved %g", i, got[i], want[i])
				}
			}
			if !reflect.DeepEqual(loaded.Specs(), m.Specs()) {
				t.Errorf("loaded specs differ from the saved model's")
			}

			wantLogits, _ := forwardLogits(t, m, d, allIndices(3), 3)
			gotLogits, _ := forwardLogits(t, loaded, d, allIndices(3), 3)
			if !slices.Equal(gotLogits, wantLogits) {
				t.Errorf("logits of the loaded model differ from the saved model's by up to %.3g", maxAbsDiff(gotLogits, wantLogits))
			}
			wantMetrics, wantPreds := Predict(m, d, 2, DecodeOptions{MaxLen: 4})
			gotMetrics, gotPreds := Predict(loaded, d, 2, DecodeOptions{MaxLen: 4})
			if !slices.Equal(predictionOutputs(gotPreds), predictionOutputs(wantPreds)) {
				t.Errorf("predictions of the loaded model %q, of the saved model %q", predictionOutputs(gotPreds), predictionOutputs(wantPreds))
			}
			if gotMetrics.Loss != wantMetrics.Loss {
				t.Errorf("loss of the loaded model %.7g, of the saved model %.7g", gotMetrics.Loss, wantMetrics.Loss)
			}
		})
	}
}

func TestSaveModelRejectsNaN(t *testing.T) {
	cfg := tinyConfig(TaskSeq2Seq, lstm.CellLSTM, "")
	m := newModel(t, cfg)
	m.Init(7, 1)
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := SaveModel(dir, m, nil, 0); err != nil {
		t.Fatalf("SaveModel of finite parameters: %v", err)
	}
	before := readDir(t, dir)

	m.be.Upload(m.Params.Slice(5, 1), []float32{float32(math.NaN())})
	err := SaveModel(dir, m, nil, 1)
	if err == nil {
		t.Fatal("SaveModel of a NaN parameter returned no error")
	}
	if !strings.Contains(err.Error(), "parameter 5") {
		t.Errorf("error %q does not name parameter 5", err)
	}
	after := readDir(t, dir)
	if len(after) != len(before) {
		t.Errorf("the checkpoint has %d files after the failed save, %d before", len(after), len(before))
	}
	for name, raw := range before {
		if !bytes.Equal(after[name], raw) {
			t.Errorf("%s changed although the save failed", name)
		}
	}
	if _, err := os.Stat(dir + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed save left %s.tmp behind (stat: %v)", dir, err)
	}

	m.be.Upload(m.Params.Slice(5, 1), []float32{float32(math.Inf(-1))})
	if err := SaveModel(filepath.Join(t.TempDir(), "inf"), m, nil, 1); err == nil {
		t.Error("SaveModel of an infinite parameter returned no error")
	}
}

func TestLoadModelRejectsLanguageModel(t *testing.T) {
	be := newCPU(t)
	lm, err := lstm.NewModel(lstm.Config{Model: lstm.CellLSTM, Layers: 1, Hidden: 4, Embed: 3, Vocab: []string{"a", "b"}}, be)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "lm")
	if err := lstm.SaveCheckpoint(dir, lm, nil, nil); err != nil {
		t.Fatalf("SaveCheckpoint of a language model: %v", err)
	}
	_, err = LoadModel(dir, be)
	if err == nil {
		t.Fatal("LoadModel of a language-model checkpoint returned no error")
	}
	if !strings.Contains(err.Error(), "language model") {
		t.Errorf("error %q does not say that the checkpoint is a language model", err)
	}
}

// savedTaskModel saves a small tagger into a new directory and returns the directory.
func savedTaskModel(t *testing.T) string {
	t.Helper()
	m := newModel(t, tinyConfig(TaskTag, lstm.CellGRU, ""))
	m.Init(7, 1)
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := SaveModel(dir, m, nil, 0); err != nil {
		t.Fatalf("SaveModel: %v", err)
	}
	return dir
}

func TestLoadModelRejectsCorruptFiles(t *testing.T) {
	for _, c := range []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		want    string // a substring of the error
	}{
		{"config-not-json", func(t *testing.T, dir string) {
			writeFile(t, dir, lstm.ConfigFile, `{"format": "recur-task-1", "config": {`)
		}, "not valid JSON"},
		{"config-missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, lstm.ConfigFile))
		}, lstm.ConfigFile},
		{"config-invalid-task", func(t *testing.T, dir string) {
			editConfig(t, dir, `"task": "tag"`, `"task": "summarize"`)
		}, `"summarize"`},
		{"config-shape-mismatch", func(t *testing.T, dir string) {
			editConfig(t, dir, `"hidden": 4`, `"hidden": 5`)
		}, "shape"},
		{"config-too-large", func(t *testing.T, dir string) {
			editConfig(t, dir, `"hidden": 4`, `"hidden": 65536`)
			editConfig(t, dir, `"layers": 2`, `"layers": 65536`)
		}, "model too large"},
		{"weights-missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, lstm.ModelFile))
		}, lstm.ModelFile},
		{"weights-truncated", func(t *testing.T, dir string) {
			path := filepath.Join(dir, lstm.ModelFile)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, raw[:len(raw)/2], 0o644); err != nil {
				t.Fatal(err)
			}
		}, "checkpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := savedTaskModel(t)
			c.corrupt(t, dir)
			_, err := LoadModel(dir, newCPU(t))
			if err == nil {
				t.Fatal("LoadModel returned no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// A config.json that claims a model of 600 million parameters, with a weights file of a few
// hundred bytes, must be rejected without allocating the claimed size.
func TestLoadModelBoundsAllocationByFile(t *testing.T) {
	dir := savedTaskModel(t)
	editConfig(t, dir, `"hidden": 4`, `"hidden": 8192`)
	const maxAlloc = 64 << 20 // bytes, while building the claimed model allocates over 7 GB

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := LoadModel(dir, newCPU(t))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("LoadModel error = %v, want a shape mismatch", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > maxAlloc {
		t.Errorf("LoadModel allocated %d bytes before rejecting the file, want at most %d", got, maxAlloc)
	}
}

// editConfig replaces old with new in the checkpoint's config.json, which must contain old.
func editConfig(t *testing.T, dir, old, new string) {
	t.Helper()
	path := filepath.Join(dir, lstm.ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("%s does not contain %s:\n%s", path, old, raw)
	}
	if err := os.WriteFile(path, bytes.Replace(raw, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}
