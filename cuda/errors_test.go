package cuda

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorMessage(t *testing.T) {
	err := newError("cuMemAlloc_v2", resultOutOfMemory, false, "", "out of memory")
	got := err.Error()
	for _, want := range []string{"cuMemAlloc_v2", "CUDA_ERROR_OUT_OF_MEMORY", "(out of memory)",
		"--batch", "--hidden"} {
		if !strings.Contains(got, want) {
			t.Errorf("Error() = %q, want it to contain %q", got, want)
		}
	}
}

func TestErrorOutOfMemoryMatch(t *testing.T) {
	tests := []struct {
		code int
		blas bool
		want bool
	}{
		{resultOutOfMemory, false, true},
		{blasStatusAllocFailed, true, true},
		{3, false, false}, // CUDA_ERROR_NOT_INITIALIZED shares cuBLAS's ALLOC_FAILED value
		{resultOutOfMemory, true, false},
		{resultNoDevice, false, false},
	}
	for _, tc := range tests {
		err := fmt.Errorf("wrapped: %w", newError("call", tc.code, tc.blas, "", ""))
		if got := errors.Is(err, ErrOutOfMemory); got != tc.want {
			t.Errorf("errors.Is(code %d, blas %v, ErrOutOfMemory) = %v, want %v",
				tc.code, tc.blas, got, tc.want)
		}
	}
}

func TestErrorHints(t *testing.T) {
	tests := []struct {
		code int
		blas bool
		want string // a word the hint must contain; "" for no hint
	}{
		{resultNoBinaryForGPU, false, "update the NVIDIA driver"},
		{resultUnsupportedPTX, false, "update the NVIDIA driver"},
		{resultStubLibrary, false, "stub"},
		{resultNoDevice, false, "nvidia-smi"},
		{700, false, "CUDA_LAUNCH_BLOCKING=1"},
		{blasStatusNotInitialized, true, "RECUR_CUBLAS"},
		{blasStatusAllocFailed, true, "--batch"},
		{blasStatusNotSupported, true, "fp32"},
		{1, false, ""}, // CUDA_ERROR_INVALID_VALUE is a bug in recur, with nothing to advise
		{7, true, ""},
	}
	for _, tc := range tests {
		err := newError("call", tc.code, tc.blas, "", "")
		if tc.want == "" {
			if err.Hint != "" {
				t.Errorf("code %d (blas %v): hint %q, want none", tc.code, tc.blas, err.Hint)
			}
			continue
		}
		if !strings.Contains(err.Hint, tc.want) {
			t.Errorf("code %d (blas %v): hint %q, want it to contain %q", tc.code, tc.blas,
				err.Hint, tc.want)
		}
	}
}

func TestErrorNames(t *testing.T) {
	tests := []struct {
		code        int
		blas        bool
		libraryName string
		want        string
	}{
		{222, false, "", "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"},
		{14, true, "", "CUBLAS_STATUS_INTERNAL_ERROR"},
		{14, true, "<unrecognized>", "CUBLAS_STATUS_INTERNAL_ERROR"},
		{100, false, "CUDA_ERROR_NO_DEVICE", "CUDA_ERROR_NO_DEVICE"},
		{4242, false, "", "CUresult 4242"},
		{4242, true, "", "cublasStatus_t 4242"},
		{913, false, "CUDA_ERROR_FROM_A_NEWER_DRIVER", "CUDA_ERROR_FROM_A_NEWER_DRIVER"},
	}
	for _, tc := range tests {
		if got := newError("call", tc.code, tc.blas, tc.libraryName, "").Name; got != tc.want {
			t.Errorf("name of code %d (blas %v, library name %q) = %q, want %q", tc.code,
				tc.blas, tc.libraryName, got, tc.want)
		}
	}
}

func TestUnavailableWrapping(t *testing.T) {
	inner := newError("cuInit", resultNoDevice, false, "", "")
	err := unavailable(inner)
	if !errors.Is(err, ErrUnavailable) {
		t.Error("errors.Is(unavailable(err), ErrUnavailable) = false, want true")
	}
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Call != "cuInit" {
		t.Errorf("errors.As(unavailable(err)) found %v, want the cuInit *Error", cerr)
	}
	if err.Error() != inner.Error() {
		t.Errorf("unavailable(err).Error() = %q, want the inner message %q", err, inner)
	}
	if errors.Is(inner, ErrUnavailable) {
		t.Error("a plain *Error matches ErrUnavailable, want only wrapped ones to")
	}
}
