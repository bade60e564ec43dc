//go:build cgo

package cuda

import (
	"os"
	"strings"
	"testing"
)

// TestDriverSymbols resolves every driver function by its exported name in the installed
// libcuda.so.1, which needs the library but no GPU. A misspelled symbol fails here.
func TestDriverSymbols(t *testing.T) {
	msg, ok := loadDriver(DriverLibrary)
	if !ok {
		if strings.Contains(msg, "cannot open shared object") {
			t.Skipf("skipping: no %s on this machine: %s", DriverLibrary, msg)
		}
		t.Fatalf("loading %s: %s", DriverLibrary, msg)
	}
	version, err := driverVersion()
	if err != nil {
		t.Fatalf("cuDriverGetVersion: %v", err)
	}
	t.Logf("driver supports CUDA %s; graph functions found: %v", FormatDriverVersion(version),
		graphsAvailable())
	if version >= 11040 && !graphsAvailable() {
		t.Errorf("driver for CUDA %s lacks a graph function, want all of them from CUDA 11.4 on",
			FormatDriverVersion(version))
	}
}

// TestCUBLASSymbols resolves every cuBLAS function in the first cuBLAS found and reads its
// version, which needs no GPU. Where Load has loaded a cuBLAS, it checks that one, so that
// later calls in this process use the same library.
func TestCUBLASSymbols(t *testing.T) {
	candidates := cublasCandidates(os.Getenv(CUBLASEnv), globNone)
	if info, err := Load(); err == nil {
		candidates = []string{info.CUBLASPath}
	}
	var tried []string
	for _, path := range candidates {
		msg, ok := loadBLAS(path)
		if !ok {
			if !strings.Contains(msg, "cannot open shared object") {
				t.Errorf("loading %s: %s", path, msg)
			}
			tried = append(tried, msg)
			continue
		}
		var version [3]int
		for i := range version {
			var err error
			if version[i], err = blasProperty(i); err != nil {
				t.Fatalf("cublasGetProperty(%d) of %s: %v", i, path, err)
			}
		}
		if version[0] < minCUBLASMajorForTests {
			t.Errorf("%s has version %v, want major %d or later", path, version,
				minCUBLASMajorForTests)
		}
		t.Logf("%s: cuBLAS %d.%d.%d, cublasGetStatusName found: %v", path, version[0],
			version[1], version[2], blasStatusNamesAvailable())
		return
	}
	t.Skipf("skipping: no cuBLAS on this machine (%s)", strings.Join(tried, "; "))
}

func globNone(string) ([]string, error) { return nil, nil }
