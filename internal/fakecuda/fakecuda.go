// Package fakecuda builds cuda/testdata/fakecuda, a C test double of the CUDA driver and
// cuBLAS that runs recur's kernels on the CPU, for tests that exercise the CUDA backend on a
// machine without a GPU.
package fakecuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

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
