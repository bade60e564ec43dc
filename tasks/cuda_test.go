package tasks

import (
	"math"
	"testing"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// Tolerances of the CUDA check against the CPU backend, both in float32 (fp32 GEMMs). Each
// loss and gradient is a sum of a few dozen products on these tiny models, and the two
// backends sum in different orders, so they differ by a few float32 round-offs.
const (
	cudaAtol = 1e-5
	cudaRtol = 1e-4
)

// TestCUDAMatchesCPU runs every task model on the CUDA backend and compares its loss and
// gradients with the CPU backend's, which TestModelGradients checks against finite
// differences. It skips without a GPU.
func TestCUDAMatchesCPU(t *testing.T) {
	gpu, _, err := engine.Open("cuda", "fp32")
	if err != nil {
		t.Skipf("skipped: no CUDA device: %v", err)
	}
	defer gpu.Close()
	for _, c := range gradientCases {
		for _, cell := range cells {
			t.Run(c.name(cell), func(t *testing.T) {
				cfg := tinyConfig(c.task, cell, c.variant)
				ref := newModel(t, cfg)
				setUniformParams(ref, 11, gradBound)
				m, err := NewModel(cfg, gpu)
				if err != nil {
					t.Fatal(err)
				}
				gpu.Upload(m.Params, downloadParams(ref))

				drop := lstm.Dropout{P: 0.3, Seed: 7}
				run := func(m *Model) (float64, []float32) {
					d := tinyData(cfg, 3)
					b := d.Batch(cfg, allIndices(len(d.Examples)), len(d.Examples))
					w := m.NewWorkspace(b.B, b.T, b.DecT, true)
					m.ZeroGrads()
					n := m.Forward(w, b, true, drop)
					m.Backward(w, b)
					return m.Loss(w) / float64(n), downloadGrads(m)
				}
				wantLoss, wantGrads := run(ref)
				gotLoss, gotGrads := run(m)
				if err := gpu.Sync(); err != nil {
					t.Fatal(err)
				}
				if math.Abs(gotLoss-wantLoss) > cudaAtol+cudaRtol*math.Abs(wantLoss) {
					t.Errorf("loss on CUDA %.8g, on the CPU %.8g", gotLoss, wantLoss)
				}
				for _, s := range m.Specs() {
					for j := range s.Len() {
						i := s.Offset + j
						got, want := float64(gotGrads[i]), float64(wantGrads[i])
						if math.Abs(got-want) > cudaAtol+cudaRtol*math.Abs(want) {
							t.Errorf("gradient of %s element %d on CUDA %.8g, on the CPU %.8g", s.Name, j, got, want)
							break
						}
					}
				}
			})
		}
	}
}
