package tasks

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/internal/fakecuda"
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

// TestFakeCUDADriver runs TestCUDAMatchesCPU in a subprocess on the fake CUDA driver of
// internal/fakecuda, which runs the kernels on the CPU, so that a machine without a GPU still
// runs every task model through the CUDA backend's code. The dynamic loader reads
// LD_LIBRARY_PATH only at process start, hence the subprocess.
func TestFakeCUDADriver(t *testing.T) {
	if os.Getenv(fakecuda.ChildEnv) != "" {
		t.Skip("skipping: this process already runs on the fake CUDA driver")
	}
	dir := fakecuda.Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestCUDAMatchesCPU$", "-test.count=1", "-test.v")
	cmd.Env = fakecuda.Env(dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TestCUDAMatchesCPU on the fake driver failed: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Errorf("TestCUDAMatchesCPU skipped on the fake driver:\n%s", out)
	}
	if bytes.Contains(out, []byte(fakecuda.Violation)) {
		t.Errorf("the fake driver reported misuse:\n%s", out)
	}
	if n := bytes.Count(out, []byte("--- PASS: TestCUDAMatchesCPU/")); n != len(gradientCases)*len(cells) {
		t.Errorf("%d subtests passed on the fake driver, want %d:\n%s", n, len(gradientCases)*len(cells), out)
	}
}
