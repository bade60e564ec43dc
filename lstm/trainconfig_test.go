package lstm

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/recur-ml/recur/engine"
)

func TestTrainConfigSizeBounds(t *testing.T) {
	cases := []struct {
		name       string
		batch, seq int
		want       string // "" for a valid configuration
	}{
		{"smallest", 1, 1, ""},
		{"largest seq", 1, MaxTensorElements, ""},
		{"largest batch", MaxTensorElements, 1, ""},
		{"max int seq", 1, math.MaxInt, "invalid --seq 9223372036854775807"},
		{"max int batch", math.MaxInt, 1, "invalid --batch 9223372036854775807"},
		{"seq past tensor limit", 1, MaxTensorElements + 1, "use 1 to 2147483647 steps"},
		{"chunk past tensor limit", 1 << 16, 1 << 16, "a chunk of 4294967296 tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := trainConfig(10)
			tc.Batch, tc.Seq = c.batch, c.seq
			err := tc.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("batch %d, seq %d: %v", c.batch, c.seq, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("batch %d, seq %d: no error, want one containing %q", c.batch, c.seq, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
}

func TestValidateWorkspaceBoundsTensors(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 256, Embed: 64, Vocab: testVocab(80)}
	tc := trainConfig(10)
	tc.Batch, tc.Seq = 64, 100
	if err := tc.ValidateWorkspace(cfg); err != nil {
		t.Fatalf("batch 64, seq 100, hidden 256: %v", err)
	}
	// 4·256 gate values per token over 2²¹·(1+1) tokens exceed 2³¹−1.
	tc.Batch, tc.Seq = 1<<21, 1
	err := tc.ValidateWorkspace(cfg)
	if err == nil {
		t.Fatal("a 4 Gi-element gate tensor was accepted")
	}
	for _, want := range []string{"--batch 2097152", "4194304×1024", "lower --batch or --seq"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// 4·512 gate values per token over 2²¹+1 tokens exceed 2³¹−1 too.
	m := newTestModel(t, Config{Model: CellLSTM, Layers: 1, Hidden: 512, Embed: 2, Vocab: testVocab(3)}, 1)
	tc.Batch, tc.Seq = 1, 1<<21
	if _, err := NewTrainer(m, tc, cyclicText(100, 3)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("NewTrainer with a 4 Gi-element workspace tensor: error %v, want the workspace bound", err)
	}
}

// TestLoadCheckpointValidatesTrainSection checks that LoadCheckpoint rejects training
// settings that would fail later in --resume, naming the value and the fix.
func TestLoadCheckpointValidatesTrainSection(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 2, Embed: 2, Vocab: testVocab(3)}
	m := newTestModel(t, cfg, 1)
	cases := []struct {
		name   string
		mutate func(*TrainConfig)
		want   string
	}{
		{"max int seq", func(tc *TrainConfig) { tc.Seq = math.MaxInt }, "invalid --seq 9223372036854775807"},
		{"zero batch", func(tc *TrainConfig) { tc.Batch = 0 }, "invalid --batch 0"},
		{"negative max skipped", func(tc *TrainConfig) { tc.MaxSkipped = -1 }, "invalid --max-skipped -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := trainConfig(10)
			c.mutate(&tc)
			dir := filepath.Join(t.TempDir(), "ck")
			if err := SaveCheckpoint(dir, m, &tc, nil); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCheckpoint(dir)
			if err == nil {
				t.Fatalf("a checkpoint with %s loaded", c.name)
			}
			for _, want := range []string{c.want, `"train" section`, "start a new run"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestLoadCheckpointMissingFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexist")
	_, err := LoadCheckpoint(missing)
	if err == nil {
		t.Fatal("a missing directory loaded")
	}
	for _, want := range []string{"nonexist not found", "pass a directory written by recur train"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing directory: error %q lacks %q", err, want)
		}
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: error %q does not wrap os.ErrNotExist", err)
	}

	cfg := Config{Model: CellRNN, Layers: 1, Hidden: 2, Embed: 2, Vocab: testVocab(3)}
	for _, name := range []string{ModelFile, ConfigFile} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ck")
			if err := SaveCheckpoint(dir, newTestModel(t, cfg, 1), nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCheckpoint(dir)
			if err == nil {
				t.Fatalf("a checkpoint without %s loaded", name)
			}
			if want := "has no " + name + ", so it is incomplete"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		})
	}
}

func TestMaxSkippedStopsTraining(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 4, Embed: 3, Vocab: testVocab(4)}
	m := newTestModel(t, cfg, 1)
	p := params(m)
	specs := cfg.ParamSpecs()
	p[specs[len(specs)-1].Offset] = float32(math.Inf(1)) // head.bias[0]
	m.Backend.Upload(m.Params, p)
	const limit = 3
	tc := trainConfig(100)
	tc.MaxSkipped = limit
	tr, err := NewTrainer(m, tc, cyclicText(400, 4))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < limit; i++ {
		res, err := tr.TrainStep()
		if err != nil {
			t.Fatalf("step %d of %d: %v", i, limit, err)
		}
		if !res.Skipped {
			t.Fatalf("step %d with an infinite bias was applied (loss %g)", i, res.Loss)
		}
	}
	_, err = tr.TrainStep()
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("after %d non-finite steps: error %v, want ErrDiverged", limit, err)
	}
	if want := strconv.Itoa(limit) + " steps in a row"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
}

func TestSkipLimitDefault(t *testing.T) {
	if got := (TrainConfig{}).SkipLimit(); got != MaxSkippedSteps {
		t.Errorf("SkipLimit with MaxSkipped 0 = %d, want %d", got, MaxSkippedSteps)
	}
	if got := (TrainConfig{MaxSkipped: 4}).SkipLimit(); got != 4 {
		t.Errorf("SkipLimit with MaxSkipped 4 = %d, want 4", got)
	}
}

// syncFailBackend is a backend whose queued work has failed, as a CUDA backend's has after
// running out of device memory: Sync returns the error.
type syncFailBackend struct {
	engine.Backend
	err error
}

func (b syncFailBackend) Sync() error { return b.err }

func TestSaveCheckpointReportsBackendError(t *testing.T) {
	cfg := Config{Model: CellRNN, Layers: 1, Hidden: 2, Embed: 2, Vocab: testVocab(3)}
	oom := errors.New("CUDA_ERROR_OUT_OF_MEMORY")
	m, err := NewModel(cfg, syncFailBackend{Backend: newCPU(t), err: oom})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ck")
	err = SaveCheckpoint(dir, m, nil, nil)
	if !errors.Is(err, oom) {
		t.Fatalf("SaveCheckpoint on a failed backend: error %v, want it to wrap %v", err, oom)
	}
	if !strings.Contains(err.Error(), "not written") {
		t.Errorf("error %q lacks \"not written\"", err)
	}
	if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("%s exists after a failed save (stat error %v)", dir, statErr)
	}
}

// FuzzResumeConfig feeds arbitrary bytes as the "train" section of config.json beside valid
// weights, then builds a trainer from it as --resume does and runs one step. Every input must
// give an error or a working trainer, never a panic or an allocation sized by the section.
func FuzzResumeConfig(f *testing.F) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 2, Embed: 2, Vocab: []string{"a", "b", "c"}}
	model, config := writeSeedCheckpoint(f, f.TempDir(), cfg)
	arch := strings.TrimSuffix(strings.TrimSpace(string(config)), "}")
	f.Add([]byte(`{"seq":8,"batch":4,"steps":10,"lr":0.01,"optim":"adam","clip":5,"seed":1}`))
	f.Add([]byte(`{"seq":9223372036854775807,"batch":1,"steps":10,"lr":0.01,"optim":"adam"}`))
	f.Add([]byte(`{"seq":1,"batch":9223372036854775807,"steps":10,"lr":0.01,"optim":"adam"}`))
	f.Add([]byte(`{"seq":4294967296,"batch":4294967296,"steps":10,"lr":0.01,"optim":"sgd"}`))
	f.Add([]byte(`{"seq":2147483647,"batch":1,"steps":10,"lr":0.01,"optim":"rmsprop"}`))
	f.Add([]byte(`{"seq":8,"batch":4,"steps":-1,"lr":0.01,"optim":"adam","max_skipped":-5}`))
	f.Add([]byte(`{"seq":8,"batch":4,"lr":1e39,"optim":"adam","dropout":1}`))
	f.Add([]byte(`{"seq":1e400}`))
	f.Add([]byte(`null`))
	text := cyclicText(300, 3)

	f.Fuzz(func(t *testing.T, train []byte) {
		dir := t.TempDir()
		raw := arch + `, "train": ` + string(train) + "}"
		if err := os.WriteFile(filepath.Join(dir, ModelFile), model, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(raw), 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := LoadCheckpoint(dir)
		if err != nil || ck.Train == nil {
			return
		}

		be, err := engine.NewCPU(engine.CPUOptions{GEMM: "gonum", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer be.Close()
		m, err := NewModel(ck.Config, be)
		if err != nil {
			t.Fatalf("NewModel on a loaded checkpoint: %v", err)
		}
		be.Upload(m.Params, ck.Params)
		tr, err := NewTrainer(m, *ck.Train, text)
		if err != nil {
			return
		}
		if _, err := tr.TrainStep(); err != nil {
			t.Fatalf("first step of a trainer built from %s: %v", train, err)
		}
	})
}
