package enginetest

import (
	"errors"
	"os"
	"testing"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/engine"
)

// requireCUDAEnv names the environment variable that turns a missing GPU into a failure, for
// the GPU check, where a skipped test would hide a broken installation.
const requireCUDAEnv = "RECUR_REQUIRE_CUDA"

// TestCUDA runs the suite on the CUDA backend in each precision, on GPU 0. Without a usable
// GPU it skips, also under CI=true, because CI machines have none; with RECUR_REQUIRE_CUDA=1
// it fails instead.
func TestCUDA(t *testing.T) {
	precisions := []struct {
		name string
		tols Tolerances
	}{
		{"fp32", DefaultFloat32},
		{"tf32", TF32},
		{"bf16", BF16},
	}
	for _, p := range precisions {
		opts := engine.CUDAOptions{Device: 0, Precision: p.name}
		t.Run(p.name, func(t *testing.T) {
			// The probe stays open during the suite, so that the GPU's primary context is
			// created once instead of once per subtest.
			probe, err := engine.NewCUDA(opts)
			if err != nil {
				skipWithoutGPU(t, err)
			}
			defer probe.Close()
			t.Logf("backend: %s", probe.Name())

			Run(t, func(t *testing.T) engine.Backend {
				be, err := engine.NewCUDA(opts)
				if err != nil {
					t.Fatalf("engine.NewCUDA(%+v): %v", opts, err)
				}
				return be
			}, p.tols)
		})
	}
}

// skipWithoutGPU skips the test when err means that this machine cannot run CUDA, unless
// RECUR_REQUIRE_CUDA is set, and fails it for any other error.
func skipWithoutGPU(t *testing.T, err error) {
	t.Helper()
	switch {
	case !errors.Is(err, cuda.ErrUnavailable):
		t.Fatalf("the CUDA backend failed to start: %v", err)
	case os.Getenv(requireCUDAEnv) != "":
		t.Fatalf("no usable CUDA GPU, and %s is set: %v", requireCUDAEnv, err)
	default:
		t.Skipf("skipping: no usable CUDA GPU: %v", err)
	}
}
