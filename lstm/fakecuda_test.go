//go:build cgo

package lstm

import (
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
	pattern := "^(" + strings.Join(fakeCUDATests, "|") + ")$"
	out := fakecuda.RunTests(t, pattern, 4*time.Minute, "RECUR_REQUIRE_CUDA=1")
	for _, name := range fakeCUDATests {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + ` \(`).Match(out) {
			t.Errorf("the output has no PASS line for %s:\n%s", name, out)
		}
	}
}
