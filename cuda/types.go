package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// DevicePtr is an address in device memory, a CUdeviceptr.
type DevicePtr uint64

// String returns the address in hexadecimal.
func (p DevicePtr) String() string { return fmt.Sprintf("%#x", uint64(p)) }

// Add returns p advanced by bytes.
func (p DevicePtr) Add(bytes int64) DevicePtr { return p + DevicePtr(bytes) }

// Info describes the CUDA installation that Load found.
type Info struct {
	// DriverPath is the file of the loaded driver library, with symbolic links resolved, for
	// example /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15. Load opens it by the name
	// DriverLibrary, which DriverPath keeps when the loader cannot name the file.
	DriverPath string
	// DriverVersion is the newest CUDA version the driver supports, as cuDriverGetVersion
	// returns it: 1000·major + 10·minor, so 12040 is CUDA 12.4. 0 when unknown.
	DriverVersion int
	// Devices is the number of GPUs the driver reports.
	Devices int
	// CUBLASName is the cuBLAS library as passed to dlopen: a loader name such as
	// "libcublas.so.12", or a path.
	CUBLASName string
	// CUBLASPath is the file of the loaded cuBLAS, with symbolic links resolved, or CUBLASName
	// when the loader cannot name the file.
	CUBLASPath string
	// CUBLASVersion is cuBLAS's major, minor and patch version, for example {12, 4, 5}.
	CUBLASVersion [3]int
	// Graphs reports whether the driver has the CUDA graph functions (CUDA 11.4 and later).
	Graphs bool
}

// DriverVersionString returns the driver's CUDA version as "major.minor", or "unknown".
func (i *Info) DriverVersionString() string { return FormatDriverVersion(i.DriverVersion) }

// CUBLASVersionString returns cuBLAS's version as "major.minor.patch", or "unknown".
func (i *Info) CUBLASVersionString() string {
	v := i.CUBLASVersion
	if v == [3]int{} {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
}

// FormatDriverVersion writes a version in cuDriverGetVersion's encoding, 1000·major +
// 10·minor, as "major.minor": 12040 gives "12.4". It returns "unknown" for 0 or less.
func FormatDriverVersion(v int) string {
	if v <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// Device describes one GPU.
type Device struct {
	Ordinal         int
	Name            string // for example "NVIDIA H200"
	Major, Minor    int    // compute capability, 9.0 for an H200
	Multiprocessors int
	TotalMemory     int64 // bytes
}

// Device attributes read by DeviceProperties (CUdevice_attribute values).
const (
	attributeMultiprocessorCount = 16
	attributeComputeMajor        = 75
	attributeComputeMinor        = 76
)

// Context is the primary context of one GPU, retained by OpenDevice. Every call that works in
// it makes it current on the calling OS thread first, so callers need not lock goroutines to
// threads. Its methods and those of the objects it creates are not safe for concurrent use.
type Context struct {
	handle  unsafe.Pointer // CUcontext
	device  int32          // CUdevice
	ordinal int
	closed  bool
}

// Ordinal returns the device number the context was opened on.
func (c *Context) Ordinal() int { return c.ordinal }

// Stream is a CUDA stream: work queued on it runs in order.
type Stream struct {
	ctx     *Context
	handle  unsafe.Pointer // CUstream
	capture captureTracker
}

// Event marks a point in a stream's work.
type Event struct {
	ctx    *Context
	handle unsafe.Pointer // CUevent
}

// Module is a loaded fatbin, cubin or PTX image.
type Module struct {
	ctx    *Context
	handle unsafe.Pointer // CUmodule
	image  unsafe.Pointer // C copy of the image, freed by Unload
}

// Function is a kernel of a Module.
type Function struct {
	module *Module
	handle unsafe.Pointer // CUfunction
	name   string
}

// Name returns the kernel's name.
func (f *Function) Name() string { return f.name }

// HostBuffer is page-locked host memory (cuMemAllocHost), which asynchronous copies read
// without staging. The memory lives outside the Go heap until Free.
type HostBuffer struct {
	ctx  *Context
	ptr  unsafe.Pointer
	size int
}

// Len returns the buffer's size in bytes.
func (h *HostBuffer) Len() int { return h.size }

// Bytes returns the buffer's memory. The slice is invalid after Free.
func (h *HostBuffer) Bytes() []byte {
	if h.ptr == nil {
		return nil
	}
	return unsafe.Slice((*byte)(h.ptr), h.size)
}

// Int32s returns the buffer's memory as int32 values. The slice is invalid after Free.
func (h *HostBuffer) Int32s() []int32 {
	if h.ptr == nil {
		return nil
	}
	return unsafe.Slice((*int32)(h.ptr), h.size/4)
}

// Graph is a captured CUDA graph, which Instantiate turns into a GraphExec.
type Graph struct {
	ctx    *Context
	handle unsafe.Pointer // CUgraph
}

// GraphExec is an instantiated CUDA graph, launched as a whole on a stream.
type GraphExec struct {
	ctx    *Context
	handle unsafe.Pointer // CUgraphExec
}

// BLAS is a cuBLAS handle.
type BLAS struct {
	ctx    *Context
	handle unsafe.Pointer // cublasHandle_t
}

// Dim3 is the size of a grid in blocks or of a block in threads.
type Dim3 struct{ X, Y, Z uint32 }

// LaunchConfig is the shape of a kernel launch.
type LaunchConfig struct {
	Grid, Block Dim3
	SharedBytes uint32 // dynamic shared memory per block
}

// Linear returns the configuration of a one-dimensional launch of grid blocks of block
// threads each.
func Linear(grid, block uint32) LaunchConfig {
	return LaunchConfig{Grid: Dim3{grid, 1, 1}, Block: Dim3{block, 1, 1}}
}

// validate rejects a launch with a zero dimension, which the driver would reject less
// clearly.
func (c LaunchConfig) validate() error {
	for _, d := range []uint32{c.Grid.X, c.Grid.Y, c.Grid.Z, c.Block.X, c.Block.Y, c.Block.Z} {
		if d == 0 {
			return fmt.Errorf("cuda: invalid launch configuration %+v: every dimension must be "+
				"at least 1", c)
		}
	}
	return nil
}

// Op selects whether cuBLAS transposes an operand (cublasOperation_t).
type Op int32

const (
	NoTrans Op = 0 // CUBLAS_OP_N
	Trans   Op = 1 // CUBLAS_OP_T
)

// ComputeType is the precision of cublasGemmEx's products (cublasComputeType_t, CUDA 11 and
// later). Accumulation is float32 for every value here.
type ComputeType int32

const (
	// ComputeFloat32 multiplies in float32 (CUBLAS_COMPUTE_32F).
	ComputeFloat32 ComputeType = 68
	// ComputeFastBF16 lets cuBLAS round the float32 inputs to bfloat16, 8 significant bits,
	// for the tensor cores (CUBLAS_COMPUTE_32F_FAST_16BF). cublas_api.h of CUDA 11.8 says
	// that it may round to TF32 instead.
	ComputeFastBF16 ComputeType = 75
	// ComputeFastTF32 lets cuBLAS round the float32 inputs to TF32, 11 significant bits, for
	// the tensor cores of compute capability 8.0 and later (CUBLAS_COMPUTE_32F_FAST_TF32).
	ComputeFastTF32 ComputeType = 77
)

// MathMode is a cuBLAS math mode (cublasMath_t).
type MathMode int32

const (
	DefaultMath  MathMode = 0 // CUBLAS_DEFAULT_MATH: float32 routines compute in float32
	PedanticMath MathMode = 2 // CUBLAS_PEDANTIC_MATH
	TF32Math     MathMode = 3 // CUBLAS_TF32_TENSOR_OP_MATH: cublasSgemm may use TF32
)

// CaptureMode is a stream capture mode (CUstreamCaptureMode). It decides which threads are
// barred from calls that are unsafe during a capture, such as cuMemAlloc.
type CaptureMode int32

const (
	CaptureGlobal      CaptureMode = 0 // CU_STREAM_CAPTURE_MODE_GLOBAL
	CaptureThreadLocal CaptureMode = 1 // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
	CaptureRelaxed     CaptureMode = 2 // CU_STREAM_CAPTURE_MODE_RELAXED
)

// Element is a type that host-device copies move: a fixed-size value containing no pointers.
type Element interface {
	~float32 | ~float64 | ~int32 | ~uint32 | ~int64 | ~uint64 | ~uint8 | ~int8
}

// sliceBytes returns the address and size in bytes of s, or nil and 0 when it is empty.
func sliceBytes[E Element](s []E) (unsafe.Pointer, int) {
	if len(s) == 0 {
		return nil, 0
	}
	return unsafe.Pointer(&s[0]), len(s) * int(unsafe.Sizeof(s[0]))
}

// checkGemm rejects GEMM dimensions that are negative or do not fit cuBLAS's 32-bit int.
func checkGemm(call string, dims ...int) error {
	for _, d := range dims {
		if d < 0 || d > math.MaxInt32 {
			return fmt.Errorf("cuda: %s: dimension %d is outside [0, %d]", call, d, math.MaxInt32)
		}
	}
	return nil
}
