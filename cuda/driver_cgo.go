//go:build cgo

package cuda

/*
#include <stdlib.h>
#include <string.h>
#include "recur_cuda.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// errClosed is returned by calls on a released context or a destroyed object.
var errClosed = errors.New("cuda: use of a closed context or a destroyed object")

func (c *Context) ctx() C.CUcontext { return C.CUcontext(c.handle) }

// Close releases the primary context. Objects created in it must be destroyed first. A
// second Close does nothing.
func (c *Context) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return status(C.rc_primary_ctx_release(C.CUdevice(c.device)))
}

func (c *Context) check() error {
	if c == nil || c.closed {
		return errClosed
	}
	return nil
}

// MemInfo returns the free and total device memory in bytes.
func (c *Context) MemInfo() (free, total int64, err error) {
	if err := c.check(); err != nil {
		return 0, 0, err
	}
	var f, t C.size_t
	if err := status(C.rc_mem_get_info(c.ctx(), &f, &t)); err != nil {
		return 0, 0, err
	}
	return int64(f), int64(t), nil
}

// Alloc allocates bytes of device memory (cuMemAlloc_v2). Its contents are undefined.
func (c *Context) Alloc(bytes int64) (DevicePtr, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, fmt.Errorf("cuda: Alloc: invalid size %d bytes", bytes)
	}
	var p C.CUdeviceptr
	if err := status(C.rc_mem_alloc(c.ctx(), &p, C.size_t(bytes))); err != nil {
		return 0, err
	}
	return DevicePtr(p), nil
}

// Free releases device memory from Alloc. The driver synchronizes with work that may use it.
func (c *Context) Free(p DevicePtr) error {
	if err := c.check(); err != nil {
		return err
	}
	return status(C.rc_mem_free(c.ctx(), C.CUdeviceptr(p)))
}

// AllocHost allocates bytes of page-locked host memory.
func (c *Context) AllocHost(bytes int) (*HostBuffer, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if bytes <= 0 {
		return nil, fmt.Errorf("cuda: AllocHost: invalid size %d bytes", bytes)
	}
	var p unsafe.Pointer
	if err := status(C.rc_mem_alloc_host(c.ctx(), &p, C.size_t(bytes))); err != nil {
		return nil, err
	}
	return &HostBuffer{ctx: c, ptr: p, size: bytes}, nil
}

// Free releases the buffer. No queued copy may still read it.
func (h *HostBuffer) Free() error {
	if h.ptr == nil {
		return nil
	}
	p := h.ptr
	h.ptr, h.size = nil, 0
	if err := h.ctx.check(); err != nil {
		return err
	}
	return status(C.rc_mem_free_host(h.ctx.ctx(), p))
}

// CopyToDevice copies src into device memory at dst and returns when src has been read
// (cuMemcpyHtoD_v2 on the legacy default stream).
func CopyToDevice[E Element](c *Context, dst DevicePtr, src []E) error {
	if err := c.check(); err != nil {
		return err
	}
	p, n := sliceBytes(src)
	if n == 0 {
		return nil
	}
	return status(C.rc_memcpy_htod(c.ctx(), C.CUdeviceptr(dst), p, C.size_t(n)))
}

// CopyFromDevice copies device memory at src into dst and returns when dst holds it
// (cuMemcpyDtoH_v2 on the legacy default stream).
func CopyFromDevice[E Element](c *Context, dst []E, src DevicePtr) error {
	if err := c.check(); err != nil {
		return err
	}
	p, n := sliceBytes(dst)
	if n == 0 {
		return nil
	}
	return status(C.rc_memcpy_dtoh(c.ctx(), p, C.CUdeviceptr(src), C.size_t(n)))
}

// NewStream creates a stream. It synchronizes with the legacy default stream (flags 0), so
// the context's synchronous copies are ordered with its work.
func (c *Context) NewStream() (*Stream, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var s C.CUstream
	if err := status(C.rc_stream_create(c.ctx(), &s, 0)); err != nil {
		return nil, err
	}
	return &Stream{ctx: c, handle: unsafe.Pointer(s)}, nil
}

func (s *Stream) check() error {
	if s == nil || s.handle == nil {
		return errClosed
	}
	return s.ctx.check()
}

func (s *Stream) stream() C.CUstream { return C.CUstream(s.handle) }

// Synchronize waits until the stream's queued work has finished and returns its first error.
func (s *Stream) Synchronize() error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.capture.check("Synchronize"); err != nil {
		return err
	}
	return status(C.rc_stream_synchronize(s.ctx.ctx(), s.stream()))
}

// Destroy releases the stream once its queued work has finished. A second call does nothing.
func (s *Stream) Destroy() error {
	if s.handle == nil {
		return nil
	}
	h := s.handle
	s.handle = nil
	if err := s.ctx.check(); err != nil {
		return err
	}
	return status(C.rc_stream_destroy(s.ctx.ctx(), C.CUstream(h)))
}

// Upload copies src into device memory at dst after the work queued on s, and returns when
// the copy has finished.
func Upload[E Element](s *Stream, dst DevicePtr, src []E) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.capture.check("Upload"); err != nil {
		return err
	}
	p, n := sliceBytes(src)
	if n == 0 {
		return nil
	}
	return status(C.rc_upload(s.ctx.ctx(), s.stream(), C.CUdeviceptr(dst), p, C.size_t(n)))
}

// Download copies device memory at src into dst after the work queued on s, and returns when
// dst holds the data.
func Download[E Element](s *Stream, dst []E, src DevicePtr) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.capture.check("Download"); err != nil {
		return err
	}
	p, n := sliceBytes(dst)
	if n == 0 {
		return nil
	}
	return status(C.rc_download(s.ctx.ctx(), s.stream(), p, C.CUdeviceptr(src), C.size_t(n)))
}

// CopyHostAsync queues a copy of bytes bytes from src, starting at byte offset, to dst. It
// returns before the copy runs: src must not change until an event recorded after it has
// completed.
func (s *Stream) CopyHostAsync(dst DevicePtr, src *HostBuffer, offset, bytes int) error {
	if err := s.check(); err != nil {
		return err
	}
	if src.ptr == nil || offset < 0 || bytes < 0 || offset > src.size-bytes {
		return fmt.Errorf("cuda: CopyHostAsync: bytes [%d, %d) are outside a host buffer of "+
			"%d bytes", offset, offset+bytes, src.size)
	}
	if bytes == 0 {
		return nil
	}
	p := unsafe.Add(src.ptr, offset)
	return status(C.rc_memcpy_htod_async(s.ctx.ctx(), s.stream(), C.CUdeviceptr(dst), p,
		C.size_t(bytes)))
}

// CopyDeviceAsync queues a copy of bytes bytes from src to dst. The ranges must not overlap.
func (s *Stream) CopyDeviceAsync(dst, src DevicePtr, bytes int64) error {
	if err := s.check(); err != nil {
		return err
	}
	if bytes <= 0 {
		return nil
	}
	return status(C.rc_memcpy_dtod_async(s.ctx.ctx(), s.stream(), C.CUdeviceptr(dst),
		C.CUdeviceptr(src), C.size_t(bytes)))
}

// Memset32 queues setting count 32-bit words at dst to value.
func (s *Stream) Memset32(dst DevicePtr, value uint32, count int) error {
	if err := s.check(); err != nil {
		return err
	}
	if count <= 0 {
		return nil
	}
	return status(C.rc_memset_d32_async(s.ctx.ctx(), s.stream(), C.CUdeviceptr(dst),
		C.uint(value), C.size_t(count)))
}

// Launch queues kernel f with the configuration cfg and the arguments args.
func (s *Stream) Launch(f *Function, cfg LaunchConfig, args *Args) error {
	if err := s.check(); err != nil {
		return err
	}
	if f == nil || f.handle == nil || f.module.handle == nil {
		return errors.New("cuda: Launch: the kernel's module is not loaded")
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	var argPtr *C.uchar
	n := 0
	if args != nil && args.n > 0 {
		argPtr = (*C.uchar)(unsafe.Pointer(&args.buf[0]))
		n = args.n
	}
	err := status(C.rc_launch(s.ctx.ctx(), C.CUfunction(f.handle),
		C.uint(cfg.Grid.X), C.uint(cfg.Grid.Y), C.uint(cfg.Grid.Z),
		C.uint(cfg.Block.X), C.uint(cfg.Block.Y), C.uint(cfg.Block.Z),
		C.uint(cfg.SharedBytes), s.stream(), argPtr, C.int(n)))
	if err != nil {
		return fmt.Errorf("kernel %s: %w", f.name, err)
	}
	return nil
}

// WaitEvent makes the work queued on s after this call wait for e.
func (s *Stream) WaitEvent(e *Event) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := e.check(); err != nil {
		return err
	}
	return status(C.rc_stream_wait_event(s.ctx.ctx(), s.stream(), C.CUevent(e.handle)))
}

// NewEvent creates an event. Events without timing are cheaper to record and wait for.
func (c *Context) NewEvent(timing bool) (*Event, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var flags C.uint = 2 // CU_EVENT_DISABLE_TIMING
	if timing {
		flags = 0 // CU_EVENT_DEFAULT
	}
	var e C.CUevent
	if err := status(C.rc_event_create(c.ctx(), &e, flags)); err != nil {
		return nil, err
	}
	return &Event{ctx: c, handle: unsafe.Pointer(e)}, nil
}

func (e *Event) check() error {
	if e == nil || e.handle == nil {
		return errClosed
	}
	return e.ctx.check()
}

// Record marks the current end of the work queued on s.
func (e *Event) Record(s *Stream) error {
	if err := e.check(); err != nil {
		return err
	}
	if err := s.check(); err != nil {
		return err
	}
	return status(C.rc_event_record(e.ctx.ctx(), C.CUevent(e.handle), s.stream()))
}

// Done reports whether the work before the last Record has finished, without waiting. An
// event never recorded is done.
func (e *Event) Done() (bool, error) {
	if err := e.check(); err != nil {
		return false, err
	}
	err := status(C.rc_event_query(e.ctx.ctx(), C.CUevent(e.handle)))
	var cerr *Error
	if errors.As(err, &cerr) && !cerr.BLAS && cerr.Code == resultNotReady {
		return false, nil
	}
	return err == nil, err
}

// Synchronize waits until the work before the last Record has finished.
func (e *Event) Synchronize() error {
	if err := e.check(); err != nil {
		return err
	}
	return status(C.rc_event_synchronize(e.ctx.ctx(), C.CUevent(e.handle)))
}

// Destroy releases the event. A second call does nothing.
func (e *Event) Destroy() error {
	if e.handle == nil {
		return nil
	}
	h := e.handle
	e.handle = nil
	if err := e.ctx.check(); err != nil {
		return err
	}
	return status(C.rc_event_destroy(e.ctx.ctx(), C.CUevent(h)))
}

// Elapsed returns the time between two recorded timing events, with the driver's resolution
// of about half a microsecond.
func Elapsed(start, end *Event) (time.Duration, error) {
	if err := start.check(); err != nil {
		return 0, err
	}
	if err := end.check(); err != nil {
		return 0, err
	}
	var ms C.float
	if err := status(C.rc_event_elapsed(start.ctx.ctx(), &ms, C.CUevent(start.handle),
		C.CUevent(end.handle))); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}

// LoadModule loads a fatbin, cubin or PTX image. It keeps a C copy of the image, ended by a
// NUL byte as PTX text needs, until Unload.
func (c *Context) LoadModule(image []byte) (*Module, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if len(image) == 0 {
		return nil, errors.New("cuda: LoadModule: empty image")
	}
	cimage := C.malloc(C.size_t(len(image) + 1))
	if cimage == nil {
		return nil, errors.New("cuda: LoadModule: out of host memory")
	}
	C.memcpy(cimage, unsafe.Pointer(&image[0]), C.size_t(len(image)))
	*(*byte)(unsafe.Add(cimage, len(image))) = 0

	var m C.CUmodule
	if err := status(C.rc_module_load(c.ctx(), &m, cimage)); err != nil {
		C.free(cimage)
		return nil, err
	}
	return &Module{ctx: c, handle: unsafe.Pointer(m), image: cimage}, nil
}

// Function returns the kernel called name (its extern "C" name).
func (m *Module) Function(name string) (*Function, error) {
	if m.handle == nil {
		return nil, errClosed
	}
	if err := m.ctx.check(); err != nil {
		return nil, err
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.CUfunction
	if err := status(C.rc_module_function(m.ctx.ctx(), C.CUmodule(m.handle), cname,
		&f)); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", name, err)
	}
	return &Function{module: m, handle: unsafe.Pointer(f), name: name}, nil
}

// Unload unloads the module; its functions become invalid. A second call does nothing.
func (m *Module) Unload() error {
	if m.handle == nil {
		return nil
	}
	h := m.handle
	m.handle = nil
	defer func() {
		C.free(m.image)
		m.image = nil
	}()
	if err := m.ctx.check(); err != nil {
		return err
	}
	return status(C.rc_module_unload(m.ctx.ctx(), C.CUmodule(h)))
}

// errNoGraphs is returned by the graph calls when the driver lacks the graph functions.
var errNoGraphs = errors.New("cuda: this driver has no cuGraphInstantiateWithFlags; CUDA " +
	"graphs need a driver for CUDA 11.4 or later")

// BeginCapture starts capturing the work queued on s into a graph instead of running it.
func (s *Stream) BeginCapture(mode CaptureMode) error {
	if err := s.check(); err != nil {
		return err
	}
	if !graphsAvailable() {
		return errNoGraphs
	}
	if err := s.capture.begin(mode); err != nil {
		return err
	}
	if err := status(C.rc_begin_capture(s.ctx.ctx(), s.stream(), C.int(mode))); err != nil {
		s.capture.end()
		return err
	}
	return nil
}

// EndCapture ends the capture that BeginCapture started and returns the graph. The stream
// leaves capture mode also when the driver reports an error, such as a capture invalidated
// by a forbidden call.
func (s *Stream) EndCapture() (*Graph, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := s.capture.end(); err != nil {
		return nil, err
	}
	var g C.CUgraph
	if err := status(C.rc_end_capture(s.ctx.ctx(), s.stream(), &g)); err != nil {
		return nil, err
	}
	return &Graph{ctx: s.ctx, handle: unsafe.Pointer(g)}, nil
}

// Capture records the work that record queues on s into a graph and returns the graph
// instantiated, ready to Launch as many times as needed. The capture ends even when record
// fails or panics, so s stays usable. record must queue work on s only and must not wait for
// it.
func (s *Stream) Capture(mode CaptureMode, record func() error) (*GraphExec, error) {
	return captureGraph(captureSteps[*Graph, *GraphExec]{
		begin:       s.BeginCapture,
		end:         s.EndCapture,
		instantiate: (*Graph).Instantiate,
		destroy:     (*Graph).Destroy,
	}, mode, record)
}

// Instantiate turns the graph into an executable graph.
func (g *Graph) Instantiate() (*GraphExec, error) {
	if g.handle == nil {
		return nil, errClosed
	}
	if err := g.ctx.check(); err != nil {
		return nil, err
	}
	var e C.CUgraphExec
	if err := status(C.rc_graph_instantiate(g.ctx.ctx(), &e, C.CUgraph(g.handle))); err != nil {
		return nil, err
	}
	return &GraphExec{ctx: g.ctx, handle: unsafe.Pointer(e)}, nil
}

// Destroy releases the graph. A second call does nothing.
func (g *Graph) Destroy() error {
	if g.handle == nil {
		return nil
	}
	h := g.handle
	g.handle = nil
	if err := g.ctx.check(); err != nil {
		return err
	}
	return status(C.rc_graph_destroy(g.ctx.ctx(), C.CUgraph(h)))
}

// Launch queues the whole graph on s.
func (e *GraphExec) Launch(s *Stream) error {
	if e.handle == nil {
		return errClosed
	}
	if err := s.check(); err != nil {
		return err
	}
	return status(C.rc_graph_launch(e.ctx.ctx(), C.CUgraphExec(e.handle), s.stream()))
}

// Destroy releases the executable graph. A second call does nothing.
func (e *GraphExec) Destroy() error {
	if e.handle == nil {
		return nil
	}
	h := e.handle
	e.handle = nil
	if err := e.ctx.check(); err != nil {
		return err
	}
	return status(C.rc_graph_exec_destroy(e.ctx.ctx(), C.CUgraphExec(h)))
}
