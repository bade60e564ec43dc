//go:build !cgo

package cuda

import (
	"errors"
	"time"
)

// errNoCgo is every call's error in a build without cgo, which cannot call dlopen.
var errNoCgo = unavailable(errors.New("cuda: CUDA needs cgo, and this binary was built " +
	"with CGO_ENABLED=0; rebuild with cgo (which needs gcc) to use a GPU"))

// Load returns an error matching ErrUnavailable: this build cannot load CUDA.
func Load() (*Info, error) { return &Info{}, errNoCgo }

func DeviceProperties(ordinal int) (Device, error) { return Device{}, errNoCgo }
func OpenDevice(ordinal int) (*Context, error)     { return nil, errNoCgo }

func (c *Context) Close() error                                     { return errNoCgo }
func (c *Context) MemInfo() (free, total int64, err error)          { return 0, 0, errNoCgo }
func (c *Context) Alloc(bytes int64) (DevicePtr, error)             { return 0, errNoCgo }
func (c *Context) Free(p DevicePtr) error                           { return errNoCgo }
func (c *Context) AllocHost(bytes int) (*HostBuffer, error)         { return nil, errNoCgo }
func (c *Context) NewStream() (*Stream, error)                      { return nil, errNoCgo }
func (c *Context) NewEvent(timing bool) (*Event, error)             { return nil, errNoCgo }
func (c *Context) LoadModule(image []byte) (*Module, error)         { return nil, errNoCgo }
func (c *Context) NewBLAS() (*BLAS, error)                          { return nil, errNoCgo }
func (h *HostBuffer) Free() error                                   { return errNoCgo }
func (m *Module) Function(name string) (*Function, error)           { return nil, errNoCgo }
func (m *Module) Unload() error                                     { return errNoCgo }
func (g *Graph) Instantiate() (*GraphExec, error)                   { return nil, errNoCgo }
func (g *Graph) Destroy() error                                     { return errNoCgo }
func (e *GraphExec) Launch(s *Stream) error                         { return errNoCgo }
func (e *GraphExec) Destroy() error                                 { return errNoCgo }
func (e *Event) Record(s *Stream) error                             { return errNoCgo }
func (e *Event) Done() (bool, error)                                { return false, errNoCgo }
func (e *Event) Synchronize() error                                 { return errNoCgo }
func (e *Event) Destroy() error                                     { return errNoCgo }
func Elapsed(start, end *Event) (time.Duration, error)              { return 0, errNoCgo }
func (s *Stream) Synchronize() error                                { return errNoCgo }
func (s *Stream) Destroy() error                                    { return errNoCgo }
func (s *Stream) Memset32(dst DevicePtr, value uint32, n int) error { return errNoCgo }
func (s *Stream) WaitEvent(e *Event) error                          { return errNoCgo }
func (s *Stream) BeginCapture(mode CaptureMode) error               { return errNoCgo }
func (s *Stream) EndCapture() (*Graph, error)                       { return nil, errNoCgo }

func (s *Stream) CopyHostAsync(dst DevicePtr, src *HostBuffer, offset, bytes int) error {
	return errNoCgo
}

func (s *Stream) CopyDeviceAsync(dst, src DevicePtr, bytes int64) error { return errNoCgo }

func (s *Stream) Launch(f *Function, cfg LaunchConfig, args *Args) error { return errNoCgo }

func (s *Stream) Capture(mode CaptureMode, record func() error) (*GraphExec, error) {
	return nil, errNoCgo
}

func CopyToDevice[E Element](c *Context, dst DevicePtr, src []E) error   { return errNoCgo }
func CopyFromDevice[E Element](c *Context, dst []E, src DevicePtr) error { return errNoCgo }
func Upload[E Element](s *Stream, dst DevicePtr, src []E) error          { return errNoCgo }
func Download[E Element](s *Stream, dst []E, src DevicePtr) error        { return errNoCgo }

func (b *BLAS) Destroy() error                  { return errNoCgo }
func (b *BLAS) SetStream(s *Stream) error       { return errNoCgo }
func (b *BLAS) SetMathMode(mode MathMode) error { return errNoCgo }

// SetAtomicsMode returns an error: cuBLAS needs cgo.
func (b *BLAS) SetAtomicsMode(allowed bool) error { return errNoCgo }
func (b *BLAS) Version() (int, error)             { return 0, errNoCgo }

func (b *BLAS) Sgemm(transA, transB Op, m, n, k int, alpha float32, a DevicePtr, lda int,
	bMat DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	return errNoCgo
}

func (b *BLAS) GemmEx(transA, transB Op, m, n, k int, alpha float32, a DevicePtr, lda int,
	bMat DevicePtr, ldb int, beta float32, c DevicePtr, ldc int, compute ComputeType) error {
	return errNoCgo
}

func (b *BLAS) SgemmStridedBatched(transA, transB Op, m, n, k int, alpha float32,
	a DevicePtr, lda int, strideA int64, bMat DevicePtr, ldb int, strideB int64,
	beta float32, c DevicePtr, ldc int, strideC int64, batch int) error {
	return errNoCgo
}
