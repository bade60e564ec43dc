//go:build cgo

package tasks

import (
	"bytes"
	"testing"
	"time"

	"github.com/recur-ml/recur/internal/fakecuda"
)

// TestFakeCUDADriver runs TestCUDAMatchesCPU in a subprocess on the fake CUDA driver of
// internal/fakecuda, which runs the kernels on the CPU, so that a machine without a GPU still
// runs every task model through the CUDA backend's code. The dynamic loader reads
// LD_LIBRARY_PATH only at process start, hence the subprocess.
func TestFakeCUDADriver(t *testing.T) {
	out := fakecuda.RunTests(t, "^TestCUDAMatchesCPU$", 3*time.Minute)
	if n := bytes.Count(out, []byte("--- PASS: TestCUDAMatchesCPU/")); n != len(gradientCases)*len(cells) {
		t.Errorf("%d subtests passed on the fake driver, want %d:\n%s", n, len(gradientCases)*len(cells), out)
	}
}
