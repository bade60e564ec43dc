package lstm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/recur-ml/recur/engine"
)

// TestTrainStepAllocatesNothing checks that a training step on the CPU backend allocates no
// memory once the trainer exists, for every cell and both GEMM paths.
func TestTrainStepAllocatesNothing(t *testing.T) {
	const layers, hidden, batch, seq = 2, 128, 16, 32
	for _, gemm := range []string{"blas", "gonum"} {
		for _, cell := range []string{CellLSTM, CellGRU, CellRNN} {
			t.Run(gemm+"/"+cell, func(t *testing.T) {
				be, err := engine.NewCPU(engine.CPUOptions{GEMM: gemm})
				if err != nil {
					t.Skipf("GEMM %q is not available: %v", gemm, err)
				}
				t.Cleanup(func() { be.Close() })
				cfg := Config{Model: cell, Layers: layers, Hidden: hidden, Embed: 16,
					Vocab: testVocab(20)}
				m, err := NewModel(cfg, be)
				if err != nil {
					t.Fatal(err)
				}
				m.Backend.Upload(m.Params, InitParams(cfg, rand.New(rand.NewPCG(5, 7)), math.NaN()))
				tc := TrainConfig{Seq: seq, Batch: batch, LR: 1e-3, Optim: OptimAdam, Clip: 5,
					Dropout: 0.2, Seed: 9}
				// The text wraps every few steps, so the state reset is measured too.
				tr, err := NewTrainer(m, tc, cyclicText(3*batch*seq, 7))
				if err != nil {
					t.Fatal(err)
				}
				step := func() {
					if _, err := tr.TrainStep(); err != nil {
						t.Fatal(err)
					}
				}
				step() // grows the backend's reduction scratch
				// AllocsPerRun counts every allocation of the process, and the runtime may
				// allocate for a thread that takes over while a cgo call blocks. A step that
				// allocates does so on every try, so the least of three tries is its count.
				least := math.Inf(1)
				for range 3 {
					least = min(least, testing.AllocsPerRun(4, step))
				}
				if least != 0 {
					t.Errorf("TrainStep allocates %v times per step, want 0", least)
				}
			})
		}
	}
}

// BenchmarkTrainStep times one training step of two of bench's standard shapes, with a
// vocabulary of 65, on the default CPU backend: H = 128 with one layer, B = 32 and T = 64, and
// H = 512 with two layers, B = 64 and T = 100.
func BenchmarkTrainStep(b *testing.B) {
	shapes := []struct{ layers, hidden, batch, seq int }{{1, 128, 32, 64}, {2, 512, 64, 100}}
	for _, sh := range shapes {
		name := fmt.Sprintf("H%d_L%d_B%d_T%d", sh.hidden, sh.layers, sh.batch, sh.seq)
		b.Run(name, func(b *testing.B) {
			be, err := engine.NewCPU(engine.CPUOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { be.Close() })
			cfg := Config{Model: CellLSTM, Layers: sh.layers, Hidden: sh.hidden, Embed: sh.hidden,
				Vocab: testVocab(65)}
			m, err := NewModel(cfg, be)
			if err != nil {
				b.Fatal(err)
			}
			m.Backend.Upload(m.Params, InitParams(cfg, rand.New(rand.NewPCG(5, 7)), math.NaN()))
			tc := TrainConfig{Seq: sh.seq, Batch: sh.batch, LR: 2e-3, Optim: OptimAdam, Clip: 5,
				Seed: 9}
			tr, err := NewTrainer(m, tc, cyclicText(40*sh.batch*sh.seq, 61))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			tokens := float64(sh.batch * sh.seq * b.N)
			b.ReportMetric(tokens/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
