// Package fakecuda builds cuda/testdata/fakecuda, a C test double of the CUDA driver and
// cuBLAS that runs recur's kernels on the CPU, for tests that exercise the CUDA backend on a
// machine without a GPU.
package fakecuda

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/recur-ml/recur/cuda"
)

// ChildEnv marks a test process that already runs on the fake driver, so that it does not
// start another one.
const ChildEnv = "RECUR_FAKECUDA_CHILD"

// Violation is the prefix of each line that the fake driver prints on misuse.
const Violation = "fakecuda: violation:"

// Build compiles the fake driver with gcc into a temporary directory, links libcublas.so to it
// there, and returns the directory. Without gcc it skips the test, or fails it when CI=true.
func Build(t testing.TB) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gcc not found, and CI=true requires the fake CUDA driver test: %v", err)
		}
		t.Skipf("skipping: gcc not found, so the fake CUDA driver cannot be built: %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	source := filepath.Join(root, "cuda", "testdata", "fakecuda", "fakecuda.c")
	dir := t.TempDir()
	driver := filepath.Join(dir, cuda.DriverLibrary)
	cmd := exec.Command(gcc, "-std=c99", "-Wall", "-Werror", "-O1", "-shared", "-fPIC",
		"-I", filepath.Join(root, "kernels"), "-o", driver, source, "-lm", "-lpthread")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake CUDA driver failed: %v\n%s\n%s", err, cmd, out)
	}
	if err := os.Symlink(cuda.DriverLibrary, filepath.Join(dir, "libcublas.so")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Env returns the environment of a child test process that loads the fake CUDA driver and
// cuBLAS built into dir, with ChildEnv set.
func Env(dir string) []string {
	loaderPath := dir
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		loaderPath += string(os.PathListSeparator) + old
	}
	return append(os.Environ(),
		ChildEnv+"=1",
		"LD_LIBRARY_PATH="+loaderPath,
		cuda.CUBLASEnv+"="+filepath.Join(dir, "libcublas.so"),
	)
}

// RunTests runs the tests of the current test binary that match the -test.run pattern in a
// child process on a freshly built fake driver, with extraEnv added to Env. It returns the
// child's output for the caller's own checks. It fails t when the child fails or runs past
// timeout, and reports an error when a test skipped or the driver reported misuse. A child
// process is needed because the dynamic loader reads LD_LIBRARY_PATH only at start-up. In
// the child itself (ChildEnv set), RunTests skips t, so the test does not recurse.
func RunTests(t testing.TB, pattern string, timeout time.Duration, extraEnv ...string) []byte {
	t.Helper()
	if os.Getenv(ChildEnv) != "" {
		t.Skip("skipping: this process already runs on the fake CUDA driver")
	}
	dir := Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The child's own -test.timeout, shorter than the context's, prints its goroutines on a
	// hang before the context kills it.
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", pattern, "-test.count=1", "-test.v",
		"-test.timeout="+(timeout*2/3).String())
	cmd.Env = append(Env(dir), extraEnv...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s on the fake driver took %v", pattern, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s on the fake driver failed: %v\n%s", pattern, err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Errorf("a test matching %s skipped on the fake driver:\n%s", pattern, out)
	}
	if bytes.Contains(out, []byte(Violation)) {
		t.Errorf("the fake driver reported misuse (lines starting %q):\n%s", Violation, violationLines(out))
	}
	return out
}

// violationLines returns the lines of out that report misuse.
func violationLines(out []byte) string {
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, Violation) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}
