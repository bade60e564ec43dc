package engine

import (
	"errors"
	"fmt"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/kernels"
)

// gpuDevice is the cudaDevice of a real GPU: a primary context, the kernels of kernels.Fatbin
// and one or more streams, each with its own cuBLAS handle. streams[0] is the main stream,
// and the others are created when a Fork region first uses them.
type gpuDevice struct {
	ctx       *cuda.Context
	streams   []gpuStream
	current   int // the stream that launches, copies and GEMMs queue on
	module    *cuda.Module
	kernels   [numKernels]*cuda.Function
	precision gemmPrecision
	graphDone *cuda.Event // recorded after each graph launch, created with the first one
}

// gpuStream is one stream with the cuBLAS handle bound to it and the event that signal
// records. A handle per stream keeps cuBLAS's workspace out of reach of concurrent GEMMs.
type gpuStream struct {
	stream *cuda.Stream
	blas   *cuda.BLAS
	done   *cuda.Event
}

// main returns the main stream, which the memory pool, token-id staging and graphs use.
func (d *gpuDevice) main() *cuda.Stream { return d.streams[0].stream }

// open creates the context, the main stream and the kernels. On failure the caller calls
// close, which frees what was created.
func (d *gpuDevice) open(ordinal int) error {
	var err error
	if d.ctx, err = cuda.OpenDevice(ordinal); err != nil {
		return err
	}
	if err := d.addStream(); err != nil {
		return err
	}
	if d.module, err = d.ctx.LoadModule(kernels.Fatbin); err != nil {
		return fmt.Errorf("loading the embedded kernels: %w", err)
	}
	for k, name := range kernelNames {
		if d.kernels[k], err = d.module.Function(name); err != nil {
			return fmt.Errorf("%w; the embedded fatbin lacks a kernel, rebuild it with make "+
				"kernels", err)
		}
	}
	return nil
}

// addStream creates a stream, its cuBLAS handle and its event, and appends them to
// d.streams. On failure it frees what it created and appends nothing.
func (d *gpuDevice) addStream() error {
	var s gpuStream
	if err := d.initStream(&s); err != nil {
		return errors.Join(err, s.destroy())
	}
	d.streams = append(d.streams, s)
	return nil
}

func (d *gpuDevice) initStream(s *gpuStream) error {
	var err error
	if s.stream, err = d.ctx.NewStream(); err != nil {
		return err
	}
	if s.blas, err = d.ctx.NewBLAS(); err != nil {
		return err
	}
	if err := s.blas.SetStream(s.stream); err != nil {
		return err
	}
	// CUBLAS_DEFAULT_MATH keeps cublasSgemm in float32; tf32 and bf16 pick their compute type
	// in each cublasGemmEx call instead.
	if err := s.blas.SetMathMode(cuda.DefaultMath); err != nil {
		return err
	}
	// No kernel of recur uses atomics, and with cuBLAS's atomics forbidden too, the same
	// inputs give bit-identical results from run to run on one GPU.
	if err := s.blas.SetAtomicsMode(false); err != nil {
		return err
	}
	s.done, err = d.ctx.NewEvent(false)
	return err
}

// destroy frees the parts of s that exist, event first.
func (s gpuStream) destroy() error {
	var errs []error
	if s.done != nil {
		errs = append(errs, s.done.Destroy())
	}
	if s.blas != nil {
		errs = append(errs, s.blas.Destroy())
	}
	if s.stream != nil {
		errs = append(errs, s.stream.Destroy())
	}
	return errors.Join(errs...)
}

// close waits for the streams and frees whatever open and addStream created, in reverse
// order. It returns the errors joined.
func (d *gpuDevice) close() error {
	var errs []error
	for _, s := range d.streams {
		errs = append(errs, s.stream.Synchronize())
	}
	if d.graphDone != nil {
		errs = append(errs, d.graphDone.Destroy())
	}
	if d.module != nil {
		errs = append(errs, d.module.Unload())
	}
	for i := len(d.streams) - 1; i >= 0; i-- {
		errs = append(errs, d.streams[i].destroy())
	}
	if d.ctx != nil {
		errs = append(errs, d.ctx.Close())
	}
	return errors.Join(errs...)
}

func (d *gpuDevice) launch(k kernel, cfg cuda.LaunchConfig, args *cuda.Args) error {
	return d.streams[d.current].stream.Launch(d.kernels[k], cfg, args)
}

func (d *gpuDevice) memset32(dst cuda.DevicePtr, value uint32, count int) error {
	return d.streams[d.current].stream.Memset32(dst, value, count)
}

func (d *gpuDevice) copyDevice(dst, src cuda.DevicePtr, bytes int64) error {
	return d.streams[d.current].stream.CopyDeviceAsync(dst, src, bytes)
}

func (d *gpuDevice) upload(dst cuda.DevicePtr, src []float32) error {
	return cuda.Upload(d.main(), dst, src)
}

func (d *gpuDevice) download(dst []float32, src cuda.DevicePtr) error {
	return cuda.Download(d.main(), dst, src)
}

func (d *gpuDevice) gemm(g columnMajorGemm[cuda.DevicePtr], alpha, beta float32,
	c cuda.DevicePtr) error {
	blas := d.streams[d.current].blas
	if d.precision.fast {
		return blas.GemmEx(cublasOp(g.transa), cublasOp(g.transb), g.m, g.n, g.k, alpha,
			g.a, g.lda, g.b, g.ldb, beta, c, g.ldc, d.precision.compute)
	}
	return blas.Sgemm(cublasOp(g.transa), cublasOp(g.transb), g.m, g.n, g.k, alpha,
		g.a, g.lda, g.b, g.ldb, beta, c, g.ldc)
}

// synchronize waits for every stream, main stream last.
func (d *gpuDevice) synchronize() error {
	var errs []error
	for i := len(d.streams) - 1; i >= 0; i-- {
		errs = append(errs, d.streams[i].stream.Synchronize())
	}
	return errors.Join(errs...)
}

func (d *gpuDevice) useStream(i int) error {
	for len(d.streams) <= i {
		if err := d.addStream(); err != nil {
			return fmt.Errorf("creating stream %d: %w", len(d.streams)-1, err)
		}
	}
	d.current = i
	return nil
}

func (d *gpuDevice) signal() error {
	s := d.streams[d.current]
	return s.done.Record(s.stream)
}

func (d *gpuDevice) waitFor(i int) error {
	return d.streams[d.current].stream.WaitEvent(d.streams[i].done)
}

func (d *gpuDevice) copySlot(m idSlotMemory, words int) error {
	s := m.state.(*gpuIDSlot)
	return d.streams[d.current].stream.CopyHostAsync(m.device, s.host, 0, 4*words)
}

// beginCapture starts a global-mode capture of the main stream: while it lasts, a call that
// is unsafe during a capture (cuMemAlloc, a synchronization) fails and invalidates the
// capture, from any thread, instead of slipping outside the graph.
func (d *gpuDevice) beginCapture() error { return d.main().BeginCapture(cuda.CaptureGlobal) }

func (d *gpuDevice) endCapture() (any, error) {
	g, err := d.main().EndCapture()
	if err != nil {
		return nil, err
	}
	exec, err := g.Instantiate()
	return exec, errors.Join(err, g.Destroy())
}

func (d *gpuDevice) launchGraph(g any) error {
	if d.graphDone == nil {
		var err error
		if d.graphDone, err = d.ctx.NewEvent(false); err != nil {
			return err
		}
	}
	if err := g.(*cuda.GraphExec).Launch(d.main()); err != nil {
		return err
	}
	return d.graphDone.Record(d.main())
}

func (d *gpuDevice) waitGraph() error {
	if d.graphDone == nil {
		return nil
	}
	return d.graphDone.Synchronize()
}

func (d *gpuDevice) destroyGraph(g any) error { return g.(*cuda.GraphExec).Destroy() }

// gpuAllocator is the pool's deviceAllocator on a real GPU.
type gpuAllocator struct{ d *gpuDevice }

func (a gpuAllocator) alloc(bytes int64) (cuda.DevicePtr, error) { return a.d.ctx.Alloc(bytes) }
func (a gpuAllocator) free(p cuda.DevicePtr) error               { return a.d.ctx.Free(p) }
func (a gpuAllocator) synchronize() error                        { return a.d.synchronize() }

// gpuIDTransfers is the idStager's idTransfers on a real GPU: page-locked buffers, device
// blocks from the pool and one event per slot. Its copies run on the main stream.
type gpuIDTransfers struct {
	gpu  *gpuDevice
	pool *devicePool
}

// gpuIDSlot is the state that gpuIDTransfers keeps in idSlotMemory.state.
type gpuIDSlot struct {
	host   *cuda.HostBuffer
	device deviceBlock
	copied *cuda.Event // recorded after the slot's last copy
}

func (t gpuIDTransfers) newSlot(capacity int) (idSlotMemory, error) {
	host, err := t.gpu.ctx.AllocHost(4 * capacity)
	if err != nil {
		return idSlotMemory{}, err
	}
	device, err := t.pool.get(4 * int64(capacity))
	if err != nil {
		return idSlotMemory{}, errors.Join(err, host.Free())
	}
	event, err := t.gpu.ctx.NewEvent(false)
	if err != nil {
		t.pool.put(device)
		return idSlotMemory{}, errors.Join(err, host.Free())
	}
	return idSlotMemory{
		host:   host.Int32s()[:capacity],
		device: device.ptr,
		state:  &gpuIDSlot{host: host, device: device, copied: event},
	}, nil
}

func (t gpuIDTransfers) freeSlot(m idSlotMemory) error {
	s := m.state.(*gpuIDSlot)
	t.pool.put(s.device)
	return errors.Join(s.copied.Destroy(), s.host.Free())
}

func (t gpuIDTransfers) copyAsync(m idSlotMemory, n int) error {
	s := m.state.(*gpuIDSlot)
	if err := t.gpu.main().CopyHostAsync(m.device, s.host, 0, 4*n); err != nil {
		return err
	}
	return s.copied.Record(t.gpu.main())
}

func (t gpuIDTransfers) wait(m idSlotMemory) error {
	return m.state.(*gpuIDSlot).copied.Synchronize()
}
