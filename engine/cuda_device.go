package engine

import (
	"errors"
	"fmt"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/kernels"
)

// gpuDevice is the cudaDevice of a real GPU: a primary context, one stream, a cuBLAS handle
// on that stream and the kernels of kernels.Fatbin.
type gpuDevice struct {
	ctx       *cuda.Context
	stream    *cuda.Stream
	blas      *cuda.BLAS
	module    *cuda.Module
	kernels   [numKernels]*cuda.Function
	precision gemmPrecision
}

// open creates the context, stream, cuBLAS handle and kernels. On failure the caller calls
// close, which frees what was created.
func (d *gpuDevice) open(ordinal int) error {
	var err error
	if d.ctx, err = cuda.OpenDevice(ordinal); err != nil {
		return err
	}
	if d.stream, err = d.ctx.NewStream(); err != nil {
		return err
	}
	if d.blas, err = d.ctx.NewBLAS(); err != nil {
		return err
	}
	if err := d.blas.SetStream(d.stream); err != nil {
		return err
	}
	// CUBLAS_DEFAULT_MATH keeps cublasSgemm in float32; tf32 and bf16 pick their compute type
	// in each cublasGemmEx call instead.
	if err := d.blas.SetMathMode(cuda.DefaultMath); err != nil {
		return err
	}
	// No kernel of recur uses atomics, and with cuBLAS's atomics forbidden too, the same
	// inputs give bit-identical results from run to run on one GPU.
	if err := d.blas.SetAtomicsMode(false); err != nil {
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

// close waits for the stream and frees whatever open created, in reverse order. It returns
// the errors joined.
func (d *gpuDevice) close() error {
	var errs []error
	if d.stream != nil {
		errs = append(errs, d.stream.Synchronize())
	}
	if d.module != nil {
		errs = append(errs, d.module.Unload())
	}
	if d.blas != nil {
		errs = append(errs, d.blas.Destroy())
	}
	if d.stream != nil {
		errs = append(errs, d.stream.Destroy())
	}
	if d.ctx != nil {
		errs = append(errs, d.ctx.Close())
	}
	return errors.Join(errs...)
}

func (d *gpuDevice) launch(k kernel, cfg cuda.LaunchConfig, args *cuda.Args) error {
	return d.stream.Launch(d.kernels[k], cfg, args)
}

func (d *gpuDevice) memset32(dst cuda.DevicePtr, value uint32, count int) error {
	return d.stream.Memset32(dst, value, count)
}

func (d *gpuDevice) copyDevice(dst, src cuda.DevicePtr, bytes int64) error {
	return d.stream.CopyDeviceAsync(dst, src, bytes)
}

func (d *gpuDevice) upload(dst cuda.DevicePtr, src []float32) error {
	return cuda.Upload(d.stream, dst, src)
}

func (d *gpuDevice) download(dst []float32, src cuda.DevicePtr) error {
	return cuda.Download(d.stream, dst, src)
}

func (d *gpuDevice) gemm(g columnMajorGemm[cuda.DevicePtr], alpha, beta float32,
	c cuda.DevicePtr) error {
	if d.precision.fast {
		return d.blas.GemmEx(cublasOp(g.transa), cublasOp(g.transb), g.m, g.n, g.k, alpha,
			g.a, g.lda, g.b, g.ldb, beta, c, g.ldc, d.precision.compute)
	}
	return d.blas.Sgemm(cublasOp(g.transa), cublasOp(g.transb), g.m, g.n, g.k, alpha,
		g.a, g.lda, g.b, g.ldb, beta, c, g.ldc)
}

func (d *gpuDevice) synchronize() error { return d.stream.Synchronize() }

// gpuAllocator is the pool's deviceAllocator on a real GPU.
type gpuAllocator struct{ d *gpuDevice }

func (a gpuAllocator) alloc(bytes int64) (cuda.DevicePtr, error) { return a.d.ctx.Alloc(bytes) }
func (a gpuAllocator) free(p cuda.DevicePtr) error               { return a.d.ctx.Free(p) }
func (a gpuAllocator) synchronize() error                        { return a.d.stream.Synchronize() }

// gpuIDTransfers is the idStager's idTransfers on a real GPU: page-locked buffers, device
// blocks from the pool and one event per slot.
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
	if err := t.gpu.stream.CopyHostAsync(m.device, s.host, 0, 4*n); err != nil {
		return err
	}
	return s.copied.Record(t.gpu.stream)
}

func (t gpuIDTransfers) wait(m idSlotMemory) error {
	return m.state.(*gpuIDSlot).copied.Synchronize()
}
