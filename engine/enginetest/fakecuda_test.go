//go:build cgo

package enginetest

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

const (
	fakeCUDAChildEnv  = fakecuda.ChildEnv
	fakeCUDAViolation = fakecuda.Violation
)

// TestFakeCUDADriver runs TestCUDA in a subprocess whose CUDA driver and cuBLAS are
// cuda/testdata/fakecuda, a C test double that runs the kernels on the CPU. So a machine
// without a GPU still tests the cgo binding, the C wrappers and the CUDA backend end to end.
// The dynamic loader reads LD_LIBRARY_PATH only at process start, hence the subprocess.
// Without gcc the test skips, unless CI=true.
func TestFakeCUDADriver(t *testing.T) {
	if os.Getenv(fakeCUDAChildEnv) != "" {
		t.Skip("skipping: this process already runs on the fake CUDA driver")
	}
	libDir := fakecuda.Build(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run", "^TestCUDA$", "-test.count=1", "-test.v", "-test.timeout=2m")
	cmd.Env = append(fakecuda.Env(libDir), requireCUDAEnv+"=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("TestCUDA on the fake driver took %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("TestCUDA on the fake driver failed: %v\n%s", err, out)
	}

	// The fake names its device "Fake H200": this line shows that it, not a real driver,
	// was loaded.
	if !bytes.Contains(out, []byte("(Fake H200,")) {
		t.Errorf("TestCUDA did not report the fake device \"Fake H200\" as its backend:\n%s", out)
	}
	if bytes.Contains(out, []byte(fakeCUDAViolation)) {
		t.Errorf("the fake driver reported misuse (lines starting %q):\n%s",
			fakeCUDAViolation, violationLines(out))
	}
	if regexp.MustCompile(`(?m)^\s*--- SKIP: TestCUDA`).Match(out) {
		t.Errorf("TestCUDA or one of its subtests skipped on the fake driver:\n%s", out)
	}
	for _, name := range []string{"TestCUDA", "TestCUDA/fp32", "TestCUDA/tf32", "TestCUDA/bf16",
		"TestCUDA/fp32-wavefront"} {
		pattern := `(?m)^\s*--- PASS: ` + regexp.QuoteMeta(name) + ` \(`
		if !regexp.MustCompile(pattern).Match(out) {
			t.Errorf("the output has no PASS line for %s:\n%s", name, out)
		}
	}
}

// violationLines returns the lines of out that report misuse.
func violationLines(out []byte) string {
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, fakeCUDAViolation) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}
