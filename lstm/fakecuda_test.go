//go:build cgo

package lstm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/recur-ml/recur/internal/fakecuda"
)

// fakeCUDATests are the tests that TestFakeCUDATraining runs on the fake CUDA driver, each of
// which must pass without skipping.
var fakeCUDATests = []string{"TestCUDATraining", "TestCUDAResumeBitIdentical",
	"TestCUDAOptimizersWithGraphs", "TestCUDASkipsNonFiniteSteps"}

// TestFakeCUDATraining runs the CUDA training tests in a subprocess on the fake CUDA driver of
// internal/fakecuda, which runs the kernels on the CPU and replays captured CUDA graphs. So a
// machine without a GPU checks the graph and wavefront paths against the plain one bit for
// bit. The dynamic loader reads LD_LIBRARY_PATH only at process start, hence the subprocess.
func TestFakeCUDATraining(t *testing.T) {
	if os.Getenv(fakecuda.ChildEnv) != "" {
		t.Skip("skipping: this process already runs on the fake CUDA driver")
	}
	dir := fakecuda.Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pattern := "^(" + strings.Join(fakeCUDATests, "|") + ")$"
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", pattern, "-test.count=1", "-test.v")
	cmd.Env = append(fakecuda.Env(dir), "RECUR_REQUIRE_CUDA=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the CUDA training tests failed on the fake driver: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Errorf("a CUDA training test skipped on the fake driver:\n%s", out)
	}
	if bytes.Contains(out, []byte(fakecuda.Violation)) {
		t.Errorf("the fake driver reported misuse:\n%s", out)
	}
	for _, name := range fakeCUDATests {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + ` \(`).Match(out) {
			t.Errorf("the output has no PASS line for %s:\n%s", name, out)
		}
	}
}
