//go:build cgo

package tasks

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/recur-ml/recur/internal/fakecuda"
)

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
