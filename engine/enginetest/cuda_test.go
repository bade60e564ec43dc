package enginetest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/engine"
)

// requireCUDAEnv names the environment variable that turns a missing GPU into a failure, for
// the GPU check, where a skipped test would hide a broken installation.
const requireCUDAEnv = "RECUR_REQUIRE_CUDA"

// TestCUDA runs the suite on the CUDA backend in each precision, on GPU 0, and once more at
// fp32 with the wavefront option, whose stacks run each layer on its own stream. Without a
// usable GPU it skips, also under CI=true, because CI machines have none; with
// RECUR_REQUIRE_CUDA=1 it fails instead.
func TestCUDA(t *testing.T) {
	precisions := []struct {
		name      string
		precision string
		wavefront bool
		tols      Tolerances
	}{
		{"fp32", "fp32", false, DefaultFloat32},
		{"tf32", "tf32", false, TF32},
		{"bf16", "bf16", false, BF16},
		{"fp32-wavefront", "fp32", true, DefaultFloat32},
	}
	for _, p := range precisions {
		opts := engine.CUDAOptions{Device: 0, Precision: p.precision, Wavefront: p.wavefront}
		t.Run(p.name, func(t *testing.T) {
			// The probe stays open during the suite, so that the GPU's primary context is
			// created once instead of once per subtest.
			probe, err := engine.NewCUDA(opts)
			if err != nil {
				skipWithoutGPU(t, err)
			}
			defer probe.Close()
			t.Logf("backend: %s", probe.Name())
			checkLibraryFiles(t, probe.Info())

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

// checkLibraryFiles checks that Load reports the driver and cuBLAS as files that exist, named
// by absolute paths, rather than as the names passed to dlopen.
func checkLibraryFiles(t *testing.T, info cuda.Info) {
	t.Helper()
	t.Logf("driver %s, cuBLAS %s (opened as %s)", info.DriverPath, info.CUBLASPath,
		info.CUBLASName)
	for _, lib := range []struct{ name, path string }{
		{"driver", info.DriverPath},
		{"cuBLAS", info.CUBLASPath},
	} {
		if !filepath.IsAbs(lib.path) {
			t.Errorf("the %s library is reported as %q, want an absolute path", lib.name,
				lib.path)
			continue
		}
		if _, err := os.Stat(lib.path); err != nil {
			t.Errorf("the %s library %s: %v", lib.name, lib.path, err)
		}
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
