package enginetest

import (
	"fmt"
	"os"
	"testing"

	"github.com/recur-ml/recur/engine"
)

// cgoDisabled is set by a file built only without cgo, where the system BLAS cannot load.
var cgoDisabled bool

// TestCPU runs the suite on the CPU backend with each matrix product and with 1 and 2
// threads, so that a result that depends on how the work is split shows up.
func TestCPU(t *testing.T) {
	for _, gemm := range []string{"blas", "gonum"} {
		for _, threads := range []int{1, 2} {
			opts := engine.CPUOptions{Threads: threads, GEMM: gemm}
			t.Run(fmt.Sprintf("%s/threads=%d", gemm, threads), func(t *testing.T) {
				probe, err := engine.NewCPU(opts)
				if err != nil {
					skipMissingBLAS(t, err)
				}
				t.Logf("backend: %s", probe.Name())
				probe.Close()

				Run(t, func(t *testing.T) engine.Backend {
					be, err := engine.NewCPU(opts)
					if err != nil {
						t.Fatalf("engine.NewCPU(%+v): %v", opts, err)
					}
					return be
				}, DefaultFloat32)
			})
		}
	}
}

// skipMissingBLAS skips the test when the system BLAS cannot be loaded, because a plain
// machine with Go may lack it. Under CI=true a missing library fails the test instead. A
// build without cgo cannot load any library, so it skips even under CI.
func skipMissingBLAS(t *testing.T, err error) {
	t.Helper()
	switch {
	case cgoDisabled:
		t.Skipf("skipping the system BLAS in a build without cgo: %v", err)
	case os.Getenv("CI") == "true":
		t.Fatalf("system BLAS not found, and CI=true requires it: %v", err)
	default:
		t.Skipf("skipping: system BLAS not found: %v", err)
	}
}
