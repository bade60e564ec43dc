package cuda

import (
	"errors"
	"strings"
	"testing"
)

// TestLoad checks Load's outcome on whatever machine runs it: with a GPU, a described driver
// and cuBLAS; without one, an error that matches ErrUnavailable and names what is missing.
func TestLoad(t *testing.T) {
	info, err := Load()
	if info == nil {
		t.Fatal("Load returned a nil Info")
	}
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Load error %v does not match ErrUnavailable", err)
		}
		if !strings.HasPrefix(err.Error(), "cuda: ") {
			t.Errorf("Load error %q, want the cuda: prefix", err)
		}
		if cgoDisabled && !strings.Contains(err.Error(), "cgo") {
			t.Errorf("Load error %q in a build without cgo, want it to mention cgo", err)
		}
		t.Logf("no CUDA here: %v", err)
	} else {
		if info.Devices < 1 || info.DriverVersion <= 0 || info.CUBLASPath == "" ||
			info.CUBLASVersion[0] < minCUBLASMajorForTests {
			t.Errorf("Load succeeded with an incomplete Info %+v", info)
		}
		t.Logf("CUDA driver %s, %d GPUs, cuBLAS %s from %s", info.DriverVersionString(),
			info.Devices, info.CUBLASVersionString(), info.CUBLASPath)
	}

	again, err2 := Load()
	if *again != *info || (err == nil) != (err2 == nil) {
		t.Errorf("second Load returned %+v, %v; want the first outcome %+v, %v", again, err2,
			info, err)
	}
}

// minCUBLASMajorForTests is the oldest cuBLAS that Load accepts.
const minCUBLASMajorForTests = 11
