package cuda

import "time"

// These assertions hold the cgo build and the !cgo build to one API: a method or function
// missing from either, or with another signature, fails that build.
var (
	_ func() (*Info, error)                          = Load
	_ func(int) (Device, error)                      = DeviceProperties
	_ func(int) (*Context, error)                    = OpenDevice
	_ func(start, end *Event) (time.Duration, error) = Elapsed

	_ func(*Context, DevicePtr, []float32) error = CopyToDevice[float32]
	_ func(*Context, []float32, DevicePtr) error = CopyFromDevice[float32]
	_ func(*Stream, DevicePtr, []float32) error  = Upload[float32]
	_ func(*Stream, []float32, DevicePtr) error  = Download[float32]

	_ interface {
		Close() error
		MemInfo() (free, total int64, err error)
		Alloc(bytes int64) (DevicePtr, error)
		Free(p DevicePtr) error
		AllocHost(bytes int) (*HostBuffer, error)
		NewStream() (*Stream, error)
		NewEvent(timing bool) (*Event, error)
		LoadModule(image []byte) (*Module, error)
		NewBLAS() (*BLAS, error)
	} = (*Context)(nil)

	_ interface {
		Synchronize() error
		Destroy() error
		CopyHostAsync(dst DevicePtr, src *HostBuffer, offset, bytes int) error
		CopyDeviceAsync(dst, src DevicePtr, bytes int64) error
		Memset32(dst DevicePtr, value uint32, count int) error
		Launch(f *Function, cfg LaunchConfig, args *Args) error
		WaitEvent(e *Event) error
		BeginCapture(mode CaptureMode) error
		EndCapture() (*Graph, error)
		Capture(mode CaptureMode, record func() error) (*GraphExec, error)
	} = (*Stream)(nil)

	_ interface {
		Record(s *Stream) error
		Done() (bool, error)
		Synchronize() error
		Destroy() error
	} = (*Event)(nil)

	_ interface {
		Function(name string) (*Function, error)
		Unload() error
	} = (*Module)(nil)

	_ interface{ Free() error } = (*HostBuffer)(nil)
	_ interface {
		Instantiate() (*GraphExec, error)
		Destroy() error
	} = (*Graph)(nil)
	_ interface {
		Launch(s *Stream) error
		Destroy() error
	} = (*GraphExec)(nil)

	_ interface {
		Destroy() error
		SetStream(s *Stream) error
		SetMathMode(mode MathMode) error
		SetAtomicsMode(allowed bool) error
		Version() (int, error)
		Sgemm(transA, transB Op, m, n, k int, alpha float32, a DevicePtr, lda int,
			bMat DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error
		GemmEx(transA, transB Op, m, n, k int, alpha float32, a DevicePtr, lda int,
			bMat DevicePtr, ldb int, beta float32, c DevicePtr, ldc int,
			compute ComputeType) error
		SgemmStridedBatched(transA, transB Op, m, n, k int, alpha float32, a DevicePtr,
			lda int, strideA int64, bMat DevicePtr, ldb int, strideB int64, beta float32,
			c DevicePtr, ldc int, strideC int64, batch int) error
	} = (*BLAS)(nil)
)
