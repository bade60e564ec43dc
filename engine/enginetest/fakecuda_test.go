//go:build cgo

package enginetest

import (
	"bytes"
	"regexp"
	"testing"
	"time"

	"github.com/recur-ml/recur/internal/fakecuda"
)

// TestFakeCUDADriver runs TestCUDA in a subprocess whose CUDA driver and cuBLAS are
// cuda/testdata/fakecuda, a C test double that runs the kernels on the CPU. So a machine
// without a GPU still tests the cgo binding, the C wrappers and the CUDA backend end to end.
// The dynamic loader reads LD_LIBRARY_PATH only at process start, hence the subprocess.
// Without gcc the test skips, unless CI=true.
func TestFakeCUDADriver(t *testing.T) {
	out := fakecuda.RunTests(t, "^TestCUDA$", 3*time.Minute, requireCUDAEnv+"=1")

	// The fake names its device "Fake H200": this line shows that it, not a real driver,
	// was loaded.
	if !bytes.Contains(out, []byte("(Fake H200,")) {
		t.Errorf("TestCUDA did not report the fake device \"Fake H200\" as its backend:\n%s", out)
	}
	for _, name := range []string{"TestCUDA", "TestCUDA/fp32", "TestCUDA/tf32", "TestCUDA/bf16",
		"TestCUDA/fp32-wavefront"} {
		pattern := `(?m)^\s*--- PASS: ` + regexp.QuoteMeta(name) + ` \(`
		if !regexp.MustCompile(pattern).Match(out) {
			t.Errorf("the output has no PASS line for %s:\n%s", name, out)
		}
	}
}
