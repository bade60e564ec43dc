package lstm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/internal/fakecuda"
)

// cudaStepModes are the CUDA backend's step options that TestCUDATraining compares with the
// plain path.
var cudaStepModes = []struct {
	name              string
	graphs, wavefront bool
}{
	{"graph", true, false},
	{"wavefront", false, true},
	{"graph+wavefront", true, true},
}

// wavefrontTolerance bounds, on a GPU, the largest difference of a parameter between the
// wavefront and the plain path after cudaTrainSteps steps. The wavefront projects the input
// of layers above 0 with B-row GEMMs instead of one T·B-row GEMM, and cuBLAS may add those in
// another order. The rounding differences, about 1e-7, grow over the Adam steps. On the fake
// driver, whose GEMM adds in the same order for any row count, the paths agree exactly.
const wavefrontTolerance = 1e-3

const cudaTrainSteps = 8

// newCUDABackend opens GPU 0 with the given step options. Without a usable GPU it skips,
// unless RECUR_REQUIRE_CUDA=1, as the GPU check sets.
func newCUDABackend(t *testing.T, graphs, wavefront bool) *engine.CUDA {
	t.Helper()
	be, err := engine.NewCUDA(engine.CUDAOptions{Precision: "fp32", StepGraphs: graphs,
		Wavefront: wavefront})
	if err != nil {
		if !errors.Is(err, cuda.ErrUnavailable) {
			t.Fatalf("the CUDA backend failed to start: %v", err)
		}
		if os.Getenv("RECUR_REQUIRE_CUDA") == "1" {
			t.Fatalf("RECUR_REQUIRE_CUDA=1 but the CUDA backend did not start: %v", err)
		}
		t.Skipf("skipping: no usable CUDA GPU: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// cudaTrainConfig is the training run of TestCUDATraining: dropout between three layers, so
// that the dropout offsets and the wavefront's per-step dropout are exercised, and clipping.
func cudaTrainConfig(optim string) TrainConfig {
	return TrainConfig{Seq: 6, Batch: 3, Steps: cudaTrainSteps, LR: 1e-2, Optim: optim, Clip: 1,
		Dropout: 0.2, Seed: 9}
}

// trainSteps trains a fresh model of cfg on be for steps steps and returns it with its
// trainer.
func trainSteps(t *testing.T, be engine.Backend, cfg Config, tc TrainConfig, steps int) (*Model, *Trainer) {
	t.Helper()
	m, err := NewModel(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	be.Upload(m.Params, InitParams(cfg, rand.New(rand.NewPCG(4, 7)), math.NaN()))
	tr, err := NewTrainer(m, tc, cyclicText(900, len(cfg.Vocab)))
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, tr, steps)
	return m, tr
}

// runSteps runs steps training steps and fails on an error or a skipped step.
func runSteps(t *testing.T, tr *Trainer, steps int) {
	t.Helper()
	for i := 0; i < steps; i++ {
		res, err := tr.TrainStep()
		if err != nil {
			t.Fatalf("step %d: %v", tr.Opt.Step, err)
		}
		if res.Skipped {
			t.Fatalf("step %d was skipped (loss %g, gradient norm %g)", tr.Opt.Step, res.Loss,
				res.GradNorm)
		}
	}
}

// maxAbsDiff returns the largest |a[i] − b[i]| and its index; NaN counts as infinitely far.
func maxAbsDiff(a, b []float32) (float64, int) {
	worst, at := 0.0, -1
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > worst || at < 0 {
			worst, at = d, i
		}
	}
	return worst, at
}

// assertSameBits fails unless got and want are equal bit for bit.
func assertSameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d parameters, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: parameter %d is %g, want %g bit for bit", what, i, got[i], want[i])
		}
	}
}

// TestCUDATraining trains small models on CUDA and checks the GPU path's determinism: two
// identical runs and a run resumed from a checkpoint give the same bits, and the CUDA graph
// and wavefront options give the plain path's results. It skips without a GPU, like
// TestTorchParity/cuda; TestFakeCUDATraining runs it on the fake driver, and the GPU check
// on a GPU.
func TestCUDATraining(t *testing.T) {
	exactWavefront := os.Getenv(fakecuda.ChildEnv) != ""
	for _, cell := range []string{CellLSTM, CellGRU, CellRNN} {
		t.Run(cell, func(t *testing.T) {
			// The GRU model's 12 characters are more than half of T·B, so it embeds its inputs
			// before the stack. With 6, the stack projects the embedding table itself.
			vocab := 6
			if cell == CellGRU {
				vocab = 12
			}
			cfg := Config{Model: cell, Layers: 3, Hidden: 8, Embed: 4, Vocab: testVocab(vocab)}
			tc := cudaTrainConfig(OptimAdam)
			plain, _ := trainSteps(t, newCUDABackend(t, false, false), cfg, tc, cudaTrainSteps)
			want := params(plain)

			again, _ := trainSteps(t, newCUDABackend(t, false, false), cfg, tc, cudaTrainSteps)
			assertSameBits(t, "second identical run", params(again), want)

			for _, mode := range cudaStepModes {
				be := newCUDABackend(t, mode.graphs, mode.wavefront)
				m, _ := trainSteps(t, be, cfg, tc, cudaTrainSteps)
				got := params(m)
				if mode.graphs {
					checkGraphStats(t, mode.name, be.StepGraphStats(), cudaTrainSteps)
				}
				if !mode.wavefront || exactWavefront {
					assertSameBits(t, mode.name, got, want)
					continue
				}
				diff, at := maxAbsDiff(got, want)
				t.Logf("%s: largest parameter difference from the plain path %.3g at %d", mode.name,
					diff, at)
				if diff > wavefrontTolerance {
					t.Errorf("%s: parameter %d is %g, and %g on the plain path; difference %.3g > %g",
						mode.name, at, got[at], want[at], diff, wavefrontTolerance)
				}
			}
		})
	}
}

// checkGraphStats checks that a run of steps steps with CUDA graphs planned on the first step,
// captured on the second and replayed on every later one.
func checkGraphStats(t *testing.T, mode string, s engine.StepGraphStats, steps int) {
	t.Helper()
	if s.Disabled != "" {
		t.Errorf("%s: CUDA graphs were turned off: %s", mode, s.Disabled)
	}
	if s.Captures != 1 {
		t.Errorf("%s: %d graph captures, want 1", mode, s.Captures)
	}
	if s.Replays != steps-2 {
		t.Errorf("%s: %d graph replays, want %d", mode, s.Replays, steps-2)
	}
	if s.Plain != 1 {
		t.Errorf("%s: %d steps without a graph, want 1 (the plan step)", mode, s.Plain)
	}
}

// TestCUDAResumeBitIdentical checks on CUDA, with and without graphs, that N/2 steps, a
// checkpoint and --resume to N give the bits of N steps in one run.
func TestCUDAResumeBitIdentical(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 8, Embed: 4, Vocab: testVocab(6)}
	tc := cudaTrainConfig(OptimAdam)
	half := cudaTrainSteps / 2
	for _, graphs := range []bool{false, true} {
		t.Run(fmt.Sprintf("graphs=%v", graphs), func(t *testing.T) {
			straight, _ := trainSteps(t, newCUDABackend(t, graphs, false), cfg, tc, cudaTrainSteps)

			first, tr1 := trainSteps(t, newCUDABackend(t, graphs, false), cfg, tc, half)
			dir := filepath.Join(t.TempDir(), "ck")
			if err := SaveCheckpoint(dir, first, &tc, tr1); err != nil {
				t.Fatal(err)
			}
			ck, err := LoadCheckpoint(dir)
			if err != nil {
				t.Fatal(err)
			}
			be := newCUDABackend(t, graphs, false)
			second, err := NewModel(ck.Config, be)
			if err != nil {
				t.Fatal(err)
			}
			be.Upload(second.Params, ck.Params)
			tr2, err := NewTrainer(second, *ck.Train, cyclicText(900, len(cfg.Vocab)))
			if err != nil {
				t.Fatal(err)
			}
			if err := tr2.RestoreState(ck.State); err != nil {
				t.Fatal(err)
			}
			runSteps(t, tr2, cudaTrainSteps-half)
			assertSameBits(t, "resumed run", params(second), params(straight))
		})
	}
}

// TestCUDAOptimizersWithGraphs checks that SGD and RMSprop, whose kernels read the update
// guard, give the same bits with and without CUDA graphs.
func TestCUDAOptimizersWithGraphs(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 8, Embed: 4, Vocab: testVocab(6)}
	for _, optim := range []string{OptimSGD, OptimRMSprop} {
		t.Run(optim, func(t *testing.T) {
			tc := cudaTrainConfig(optim)
			plain, _ := trainSteps(t, newCUDABackend(t, false, false), cfg, tc, cudaTrainSteps)
			graphed, _ := trainSteps(t, newCUDABackend(t, true, false), cfg, tc, cudaTrainSteps)
			assertSameBits(t, optim+" with graphs", params(graphed), params(plain))
		})
	}
}

// TestCUDASkipsNonFiniteSteps checks the update guard on the device: with an infinite head
// bias every step reports itself skipped, and no parameter changes, with and without graphs.
func TestCUDASkipsNonFiniteSteps(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 4, Embed: 3, Vocab: testVocab(4)}
	for _, graphs := range []bool{false, true} {
		t.Run(fmt.Sprintf("graphs=%v", graphs), func(t *testing.T) {
			be := newCUDABackend(t, graphs, false)
			m, err := NewModel(cfg, be)
			if err != nil {
				t.Fatal(err)
			}
			p := InitParams(cfg, rand.New(rand.NewPCG(1, 7)), math.NaN())
			specs := cfg.ParamSpecs()
			p[specs[len(specs)-1].Offset] = float32(math.Inf(1)) // head.bias[0]
			be.Upload(m.Params, p)
			tr, err := NewTrainer(m, trainConfig(100), cyclicText(400, 4))
			if err != nil {
				t.Fatal(err)
			}
			const steps = 5
			for i := 0; i < steps; i++ {
				res, err := tr.TrainStep()
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if !res.Skipped {
					t.Fatalf("step %d with an infinite bias was applied (loss %g, norm %g)", i,
						res.Loss, res.GradNorm)
				}
			}
			if tr.Opt.Step != steps {
				t.Errorf("optimizer step %d after %d skipped steps, want %d", tr.Opt.Step, steps,
					steps)
			}
			after := params(m)
			for i := range p {
				same := math.Float32bits(after[i]) == math.Float32bits(p[i])
				if !same {
					t.Fatalf("parameter %d changed from %g to %g although every step was skipped",
						i, p[i], after[i])
				}
			}
			if graphs {
				if s := be.StepGraphStats(); s.Replays != steps-2 {
					t.Errorf("%d graph replays over %d skipped steps, want %d", s.Replays, steps,
						steps-2)
				}
			}
		})
	}
}
