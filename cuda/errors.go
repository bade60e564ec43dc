package cuda

import (
	"errors"
	"fmt"
)

// ErrUnavailable is matched (errors.Is) by the errors that mean this machine cannot run CUDA
// at all: no driver library, no GPU, no cuBLAS, or a build without cgo. A caller that can fall
// back to the CPU tests for it; any other error is a fault worth reporting.
var ErrUnavailable = errors.New("CUDA is unavailable")

// ErrOutOfMemory is matched (errors.Is) by an *Error for CUDA_ERROR_OUT_OF_MEMORY or
// CUBLAS_STATUS_ALLOC_FAILED.
var ErrOutOfMemory = errors.New("out of GPU memory")

// Error is a failed call of the CUDA driver or of cuBLAS.
type Error struct {
	Call        string // the exported function, for example "cuMemAlloc_v2"
	Code        int    // the CUresult, or the cublasStatus_t when BLAS is set
	BLAS        bool   // Code is a cublasStatus_t
	Name        string // for example "CUDA_ERROR_OUT_OF_MEMORY"
	Description string // the driver's explanation; empty for cuBLAS
	Hint        string // the suggested fix, empty when there is none specific to the status
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("cuda: %s failed: %s", e.Call, e.Name)
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Is reports whether target is ErrOutOfMemory and e is an out-of-memory status.
func (e *Error) Is(target error) bool {
	if target != ErrOutOfMemory {
		return false
	}
	if e.BLAS {
		return e.Code == blasStatusAllocFailed
	}
	return e.Code == resultOutOfMemory
}

// CUresult and cublasStatus_t values that get a hint or are tested for.
const (
	resultOutOfMemory          = 2
	resultStubLibrary          = 34
	resultDeviceUnavailable    = 46
	resultNoDevice             = 100
	resultInvalidDevice        = 101
	resultNoBinaryForGPU       = 209
	resultInvalidPTX           = 218
	resultUnsupportedPTX       = 222
	resultOperatingSystem      = 304
	resultNotReady             = 600
	resultSystemDriverMismatch = 803
	resultCompatNotSupported   = 804
	resultUnknown              = 999

	blasStatusNotInitialized  = 1
	blasStatusAllocFailed     = 3
	blasStatusArchMismatch    = 8
	blasStatusExecutionFailed = 13
	blasStatusNotSupported    = 15
)

// newError returns the error of a failed call. name and description come from the driver
// (cuGetErrorName, cuGetErrorString) or from cuBLAS (cublasGetStatusName) where it provides
// them; empty ones are filled from this package's tables.
func newError(call string, code int, blas bool, name, description string) *Error {
	if name == "" || name == "<unrecognized>" {
		name = statusName(code, blas)
	}
	return &Error{Call: call, Code: code, BLAS: blas, Name: name, Description: description,
		Hint: hint(code, blas)}
}

// statusName returns the symbolic name of a CUresult or cublasStatus_t, or a numeric
// description for a value the tables lack.
func statusName(code int, blas bool) string {
	table, kind := resultNames, "CUresult"
	if blas {
		table, kind = blasStatusNames, "cublasStatus_t"
	}
	if name, ok := table[code]; ok {
		return name
	}
	return fmt.Sprintf("%s %d", kind, code)
}

// faultHint is the hint for the statuses after which a context is unusable.
const faultHint = "a kernel faulted and this CUDA context can no longer be used; rerun with " +
	"CUDA_LAUNCH_BLOCKING=1 to find the failing call"

const oomHint = "the GPU is out of memory: lower --batch, --hidden or --seq, or stop other " +
	"processes that use the GPU (see nvidia-smi)"

// hint returns what a user can do about a status, or "" when the status means a bug in recur
// rather than a problem with the machine.
func hint(code int, blas bool) string {
	if blas {
		switch code {
		case blasStatusNotInitialized:
			return "cuBLAS could not initialize, most often because the GPU is out of memory " +
				"or the cuBLAS library is newer than the driver supports; set RECUR_CUBLAS to " +
				"a cuBLAS no newer than the driver's CUDA version"
		case blasStatusAllocFailed:
			return oomHint
		case blasStatusArchMismatch, blasStatusNotSupported:
			return "this GPU or this cuBLAS does not support the requested precision; use fp32"
		case blasStatusExecutionFailed:
			return "a cuBLAS kernel failed to run; " + faultHint
		}
		return ""
	}
	switch code {
	case resultOutOfMemory:
		return oomHint
	case resultStubLibrary:
		return "the libcuda.so.1 found is the CUDA toolkit's stub, not the driver; install " +
			"the NVIDIA driver or remove the stubs directory from LD_LIBRARY_PATH"
	case resultNoDevice:
		return "the driver sees no GPU; check nvidia-smi and CUDA_VISIBLE_DEVICES"
	case resultInvalidDevice:
		return "no GPU has this number; nvidia-smi lists the GPUs"
	case resultDeviceUnavailable:
		return "the GPU is busy in exclusive-process mode or was lost; see nvidia-smi"
	case resultNoBinaryForGPU, resultInvalidPTX, resultUnsupportedPTX:
		return "the driver is older than the embedded kernels need, or the kernels lack code " +
			"for this GPU; update the NVIDIA driver, or rebuild the kernels with make kernels"
	case resultSystemDriverMismatch:
		return "the driver library does not match the loaded kernel module; reboot or " +
			"reinstall the NVIDIA driver"
	case resultCompatNotSupported:
		return "the CUDA forward-compatibility package does not support this GPU; use the " +
			"libcuda.so.1 of the installed driver"
	case resultOperatingSystem, resultUnknown:
		return "the driver failed; check nvidia-smi and the kernel log (dmesg)"
	case 700, 714, 715, 716, 717, 718, 719:
		return faultHint
	}
	return ""
}

// resultNames holds the CUresult names of CUDA 11.8's cuda.h. The driver's cuGetErrorName
// names newer codes.
var resultNames = map[int]string{
	0: "CUDA_SUCCESS", 1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY",
	3: "CUDA_ERROR_NOT_INITIALIZED", 4: "CUDA_ERROR_DEINITIALIZED",
	5: "CUDA_ERROR_PROFILER_DISABLED", 6: "CUDA_ERROR_PROFILER_NOT_INITIALIZED",
	7: "CUDA_ERROR_PROFILER_ALREADY_STARTED", 8: "CUDA_ERROR_PROFILER_ALREADY_STOPPED",
	34: "CUDA_ERROR_STUB_LIBRARY", 46: "CUDA_ERROR_DEVICE_UNAVAILABLE",
	100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE",
	102: "CUDA_ERROR_DEVICE_NOT_LICENSED", 200: "CUDA_ERROR_INVALID_IMAGE",
	201: "CUDA_ERROR_INVALID_CONTEXT", 202: "CUDA_ERROR_CONTEXT_ALREADY_CURRENT",
	205: "CUDA_ERROR_MAP_FAILED", 206: "CUDA_ERROR_UNMAP_FAILED",
	207: "CUDA_ERROR_ARRAY_IS_MAPPED", 208: "CUDA_ERROR_ALREADY_MAPPED",
	209: "CUDA_ERROR_NO_BINARY_FOR_GPU", 210: "CUDA_ERROR_ALREADY_ACQUIRED",
	211: "CUDA_ERROR_NOT_MAPPED", 212: "CUDA_ERROR_NOT_MAPPED_AS_ARRAY",
	213: "CUDA_ERROR_NOT_MAPPED_AS_POINTER", 214: "CUDA_ERROR_ECC_UNCORRECTABLE",
	215: "CUDA_ERROR_UNSUPPORTED_LIMIT", 216: "CUDA_ERROR_CONTEXT_ALREADY_IN_USE",
	217: "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED", 218: "CUDA_ERROR_INVALID_PTX",
	219: "CUDA_ERROR_INVALID_GRAPHICS_CONTEXT", 220: "CUDA_ERROR_NVLINK_UNCORRECTABLE",
	221: "CUDA_ERROR_JIT_COMPILER_NOT_FOUND", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	223: "CUDA_ERROR_JIT_COMPILATION_DISABLED", 224: "CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY",
	300: "CUDA_ERROR_INVALID_SOURCE", 301: "CUDA_ERROR_FILE_NOT_FOUND",
	302: "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND", 303: "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED",
	304: "CUDA_ERROR_OPERATING_SYSTEM", 400: "CUDA_ERROR_INVALID_HANDLE",
	401: "CUDA_ERROR_ILLEGAL_STATE", 500: "CUDA_ERROR_NOT_FOUND", 600: "CUDA_ERROR_NOT_READY",
	700: "CUDA_ERROR_ILLEGAL_ADDRESS", 701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	702: "CUDA_ERROR_LAUNCH_TIMEOUT", 703: "CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING",
	704: "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED", 705: "CUDA_ERROR_PEER_ACCESS_NOT_ENABLED",
	708: "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE", 709: "CUDA_ERROR_CONTEXT_IS_DESTROYED",
	710: "CUDA_ERROR_ASSERT", 711: "CUDA_ERROR_TOO_MANY_PEERS",
	712: "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED", 713: "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
	714: "CUDA_ERROR_HARDWARE_STACK_ERROR", 715: "CUDA_ERROR_ILLEGAL_INSTRUCTION",
	716: "CUDA_ERROR_MISALIGNED_ADDRESS", 717: "CUDA_ERROR_INVALID_ADDRESS_SPACE",
	718: "CUDA_ERROR_INVALID_PC", 719: "CUDA_ERROR_LAUNCH_FAILED",
	720: "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE", 800: "CUDA_ERROR_NOT_PERMITTED",
	801: "CUDA_ERROR_NOT_SUPPORTED", 802: "CUDA_ERROR_SYSTEM_NOT_READY",
	803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", 804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	805: "CUDA_ERROR_MPS_CONNECTION_FAILED", 806: "CUDA_ERROR_MPS_RPC_FAILURE",
	807: "CUDA_ERROR_MPS_SERVER_NOT_READY", 808: "CUDA_ERROR_MPS_MAX_CLIENTS_REACHED",
	809: "CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED", 810: "CUDA_ERROR_MPS_CLIENT_TERMINATED",
	900: "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", 901: "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
	902: "CUDA_ERROR_STREAM_CAPTURE_MERGE", 903: "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED",
	904: "CUDA_ERROR_STREAM_CAPTURE_UNJOINED", 905: "CUDA_ERROR_STREAM_CAPTURE_ISOLATION",
	906: "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", 907: "CUDA_ERROR_CAPTURED_EVENT",
	908: "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD", 909: "CUDA_ERROR_TIMEOUT",
	910: "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE", 911: "CUDA_ERROR_EXTERNAL_DEVICE",
	912: "CUDA_ERROR_INVALID_CLUSTER_SIZE", 999: "CUDA_ERROR_UNKNOWN",
}

// blasStatusNames holds the cublasStatus_t names of cuBLAS 11 to 13.
var blasStatusNames = map[int]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED",
	3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
	8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
}

// unavailableError marks an error as meaning that CUDA cannot be used on this machine.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// unavailable wraps err so that it matches ErrUnavailable.
func unavailable(err error) error { return &unavailableError{err: err} }
