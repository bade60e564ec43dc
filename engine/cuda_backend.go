package engine

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/kernels"
)

// CUDAOptions configures NewCUDA.
type CUDAOptions struct {
	// Device is the GPU number, as nvidia-smi lists them.
	Device int
	// Precision selects the matrix products. "fp32" (or "") multiplies in float32 with
	// cublasSgemm. "tf32" and "bf16" use cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32 or
	// CUBLAS_COMPUTE_32F_FAST_16BF: the inputs are rounded to TF32 (10 stored fraction bits)
	// or bfloat16 (7, or TF32 where cuBLAS prefers it) for the tensor cores, and products and
	// sums stay float32. Every other operation computes in float32 whatever the precision.
	Precision string
	// StepGraphs makes RunStep capture a training step as a CUDA graph once its shapes are
	// fixed and replay the graph on later steps (SetStepGraphs documents how).
	StepGraphs bool
	// Wavefront makes Wavefront report true, so that a stack of recurrent layers runs layer l
	// on stream l, each step as soon as the layer below has finished that step.
	Wavefront bool
}

// CUDA is the Backend for one NVIDIA GPU. Tensors live in device memory. Every operation is
// queued on the main stream, or between Fork and Join on the stream that UseStream picks, and
// only Download, Upload, Sync and Close wait for the GPU, so a training step runs without
// host synchronization until it downloads its loss. Two rare cases wait too: Alloc when
// device memory runs out and cached blocks must be freed, and token-id staging when the GPU
// is idSlots stagings behind.
//
// Operations do not return errors. The first failure of a queued operation is kept, later
// operations do nothing, Download fills its destination with NaN, and Sync returns the
// failure. This covers running out of device memory in Alloc as well.
//
// A CUDA is safe for concurrent use, but its operations run one at a time. It must not be
// used after Close.
type CUDA struct {
	mu     sync.Mutex
	closed bool
	err    error // the first failure, which Sync returns

	dev       cudaDevice
	gpu       *gpuDevice // dev, or nil in host tests
	pool      *devicePool
	ids       *idStager
	args      cuda.Args
	partials  deviceBlock // kernels.NormPartials float64 partial sums of ClipGradNorm
	guard     deviceBlock // the float32 that GuardUpdates writes and the optimizers read
	precision gemmPrecision

	step      stepState    // RunStep's state, and its CUDA graph when StepGraphs is on
	region    streamRegion // the streams between Fork and Join
	wavefront bool

	info   cuda.Info
	device cuda.Device
}

// cudaDevice is the work that the backend queues on its stream. gpuDevice implements it with
// package cuda; host tests use a fake that records the calls.
type cudaDevice interface {
	launch(k kernel, cfg cuda.LaunchConfig, args *cuda.Args) error
	memset32(dst cuda.DevicePtr, value uint32, count int) error
	copyDevice(dst, src cuda.DevicePtr, bytes int64) error
	upload(dst cuda.DevicePtr, src []float32) error
	download(dst []float32, src cuda.DevicePtr) error
	// gemm runs the cuBLAS call g with C at c in the backend's precision.
	gemm(g columnMajorGemm[cuda.DevicePtr], alpha, beta float32, c cuda.DevicePtr) error
	// synchronize waits for the work of every stream.
	synchronize() error

	// useStream makes later launches, memsets, copies and GEMMs queue on stream i, creating
	// the streams up to i. Stream 0 is the main stream, on which upload, download and graphs
	// run whatever stream is current.
	useStream(i int) error
	// signal records the current stream's event after the work queued on it so far.
	signal() error
	// waitFor makes the work queued on the current stream from now on wait for the last
	// signal of stream i.
	waitFor(i int) error

	// copySlot queues a copy of words 32-bit words from the page-locked memory of m, a slot
	// of the backend's idTransfers, to m.device. It records no event, so that a graph
	// capture can contain it.
	copySlot(m idSlotMemory, words int) error
	// beginCapture starts capturing the main stream's work into a CUDA graph instead of
	// running it; endCapture ends the capture and returns the graph instantiated.
	beginCapture() error
	endCapture() (any, error)
	// launchGraph queues a graph from endCapture on the main stream. waitGraph returns when
	// the last graph launched has finished, so that the host may rewrite the page-locked
	// memory that its copies read.
	launchGraph(g any) error
	waitGraph() error
	destroyGraph(g any) error
}

var _ Backend = (*CUDA)(nil)

// NewCUDA returns a CUDA backend on GPU opts.Device. Its error matches cuda.ErrUnavailable
// (errors.Is) when the machine has no usable driver, GPU or cuBLAS, or the binary was built
// without cgo.
func NewCUDA(opts CUDAOptions) (*CUDA, error) {
	precision, err := parsePrecision(opts.Precision)
	if err != nil {
		return nil, err
	}
	info, err := cuda.Load()
	if err != nil {
		return nil, err
	}
	device, err := cuda.DeviceProperties(opts.Device)
	if err != nil {
		return nil, err
	}
	gpu := &gpuDevice{precision: precision}
	if err := gpu.open(opts.Device); err != nil {
		return nil, errors.Join(err, gpu.close())
	}
	c, err := newCUDA(gpu, gpuAllocator{gpu}, func(pool *devicePool) idTransfers {
		return gpuIDTransfers{gpu: gpu, pool: pool}
	})
	if err != nil {
		return nil, errors.Join(err, gpu.close())
	}
	c.gpu, c.precision, c.info, c.device = gpu, precision, *info, device
	c.SetStepGraphs(opts.StepGraphs)
	c.SetWavefront(opts.Wavefront)
	return c, nil
}

// newCUDA returns a backend that queues its work on dev, takes device memory from alloc and
// stages token ids with the idTransfers that newIDs returns for the backend's pool.
func newCUDA(dev cudaDevice, alloc deviceAllocator,
	newIDs func(pool *devicePool) idTransfers) (*CUDA, error) {
	c := &CUDA{dev: dev, pool: newDevicePool(alloc), precision: gemmPrecision{name: "fp32"}}
	var err error
	if c.partials, err = c.pool.get(kernels.NormPartials * 8); err != nil {
		return nil, errors.Join(err, c.pool.close())
	}
	if c.guard, err = c.pool.get(4); err != nil {
		return nil, errors.Join(err, c.pool.close())
	}
	c.ids = newIDStager(newIDs(c.pool))
	return c, nil
}

// Name returns "cuda:N (GPU name, driver V, cuBLAS V, precision)".
func (c *CUDA) Name() string {
	return fmt.Sprintf("cuda:%d (%s, driver %s, cuBLAS %s, %s)", c.device.Ordinal,
		c.device.Name, c.info.DriverVersionString(), c.info.CUBLASVersionString(),
		c.precision.name)
}

// Precision returns the precision of the matrix products: "fp32", "tf32" or "bf16".
func (c *CUDA) Precision() string { return c.precision.name }

// Device returns the properties of the backend's GPU.
func (c *CUDA) Device() cuda.Device { return c.device }

// Info returns what cuda.Load found: the driver's version and the cuBLAS library.
func (c *CUDA) Info() cuda.Info { return c.info }

// MemoryStats returns the device memory that the backend holds.
func (c *CUDA) MemoryStats() CUDAMemoryStats { return c.pool.memoryStats() }

// openCUDA opens GPU ordinal for Open and returns a note naming the GPU, driver and cuBLAS.
func openCUDA(ordinal int, precision string) (*CUDA, string, error) {
	c, err := NewCUDA(CUDAOptions{Device: ordinal, Precision: precision})
	if err != nil {
		return nil, "", err
	}
	d := c.device
	cublas := c.info.CUBLASPath
	if c.info.CUBLASName != "" && c.info.CUBLASName != cublas {
		cublas += " (opened as " + c.info.CUBLASName + ")"
	}
	note := fmt.Sprintf("cuda:%d: %s (compute capability %d.%d, %.0f GiB); driver for CUDA %s "+
		"from %s; cuBLAS %s from %s; %s matrix products", d.Ordinal, d.Name, d.Major, d.Minor,
		float64(d.TotalMemory)/(1<<30), c.info.DriverVersionString(), c.info.DriverPath,
		c.info.CUBLASVersionString(), cublas, c.precision.name)
	return c, note, nil
}

// lock serializes operations and rejects a closed backend.
func (c *CUDA) lock() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		panic("engine: CUDA backend used after Close")
	}
}

// record keeps err as the backend's failure unless an earlier one is kept already. During a
// graph capture a failure ends the capture instead (RunStep then runs the step without a
// graph), because the work was not run.
func (c *CUDA) record(op string, err error) {
	if err == nil {
		return
	}
	if c.step.mode == stepCapture {
		c.step.failCapture(fmt.Errorf("%s: %w", op, err))
		return
	}
	if c.err == nil {
		c.err = fmt.Errorf("engine: CUDA %s: %w", op, err)
	}
}

// launch queues kernel k for operation op, unless an earlier operation failed or the grid is
// empty.
func (c *CUDA) launch(op string, k kernel, cfg cuda.LaunchConfig, args *cuda.Args) {
	if c.err != nil || cfg.Grid.X == 0 {
		return
	}
	c.record(op, c.dev.launch(k, cfg, args))
}

// Sync waits for the queued work and returns the first failure of any operation so far. It
// panics between Fork and Join.
func (c *CUDA) Sync() error {
	c.lock()
	defer c.mu.Unlock()
	c.checkWaitAllowed("Sync")
	if c.err == nil {
		c.record("Sync", c.dev.synchronize())
	}
	return c.err
}

// Close waits for the queued work and releases the device memory, the kernels, the stream
// and the context. Tensors of the backend become invalid. Calling it again does nothing.
func (c *CUDA) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := errors.Join(c.step.close(c.dev, c.ids.dev), c.ids.close(), c.pool.close())
	if c.gpu != nil {
		err = errors.Join(err, c.gpu.close())
	}
	return err
}

// cudaBuffer owns one block of the pool. Tensors and their views point to it, and a cleanup
// returns the block to the pool once none of them is reachable.
type cudaBuffer struct {
	block deviceBlock
}

// cudaTensor is the CUDA backend's Tensor: n float32 values at device address ptr, inside
// buf. Slice returns views into the same buffer.
type cudaTensor struct {
	owner *CUDA
	buf   *cudaBuffer // nil for an empty tensor and after a failed Alloc
	ptr   cuda.DevicePtr
	n     int
}

func (t *cudaTensor) Len() int { return t.n }

func (t *cudaTensor) Slice(off, n int) Tensor {
	if off < 0 || n < 0 || off > t.n-n {
		panic(fmt.Sprintf("engine: Slice(%d, %d) is out of range for a tensor of %d elements",
			off, n, t.n))
	}
	return &cudaTensor{owner: t.owner, buf: t.buf, ptr: t.ptr.Add(4 * int64(off)), n: n}
}

// maxElements is the largest tensor that the kernels index, whose sizes are C ints.
const maxElements = math.MaxInt32

// anyTensor returns t as a tensor of this backend. Otherwise it panics, naming the operation
// op and the argument name.
func (c *CUDA) anyTensor(op, name string, t Tensor) *cudaTensor {
	ct, ok := t.(*cudaTensor)
	if !ok {
		panic(fmt.Sprintf("engine: %s: %s must be a CUDA tensor, got %T", op, name, t))
	}
	if ct.owner != c {
		panic(fmt.Sprintf("engine: %s: %s belongs to another CUDA backend", op, name))
	}
	return ct
}

// tensor is anyTensor that also panics unless t has n elements.
func (c *CUDA) tensor(op, name string, t Tensor, n int) *cudaTensor {
	ct := c.anyTensor(op, name, t)
	if ct.n != n {
		panic(fmt.Sprintf("engine: %s: %s has %d elements, want %d", op, name, ct.n, n))
	}
	return ct
}

// optionalTensor is tensor for an argument that may be nil; it returns nil for nil.
func (c *CUDA) optionalTensor(op, name string, t Tensor, n int) *cudaTensor {
	if t == nil {
		return nil
	}
	return c.tensor(op, name, t, n)
}

// ptrOrNull returns t's address, or 0 for a nil tensor, for the kernels' nullable pointers.
func ptrOrNull(t *cudaTensor) cuda.DevicePtr {
	if t == nil {
		return 0
	}
	return t.ptr
}

// Alloc returns a zero-filled tensor of n elements. When device memory runs out, it records
// the failure, which Sync returns, and the tensor's operations do nothing.
func (c *CUDA) Alloc(n int) Tensor {
	if n < 0 || n > maxElements {
		panic(fmt.Sprintf("engine: Alloc: invalid length %d; CUDA tensors hold 0 to %d "+
			"elements", n, maxElements))
	}
	t := &cudaTensor{owner: c, n: n}
	if n == 0 {
		return t
	}
	c.lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return t
	}
	if c.step.mode == stepCapture {
		// The graph would keep the block's address after the tensor has returned it to the
		// pool.
		c.step.failCapture(fmt.Errorf("Alloc(%d) inside the step", n))
	}
	block, err := c.pool.get(4 * int64(n))
	if err != nil {
		c.record(fmt.Sprintf("Alloc(%d)", n), err)
		return t
	}
	t.buf = &cudaBuffer{block: block}
	t.ptr = block.ptr
	runtime.AddCleanup(t.buf, c.pool.put, block)
	c.fillLocked(t, 0)
	return t
}

// Upload copies src into dst and returns when the copy has finished.
func (c *CUDA) Upload(dst Tensor, src []float32) {
	dt := c.tensor("Upload", "dst", dst, len(src))
	c.lock()
	defer c.mu.Unlock()
	c.checkWaitAllowed("Upload")
	if c.err == nil {
		c.record("Upload", c.dev.upload(dt.ptr, src))
	}
}

// Download waits for the queued work and copies src into dst. After a failure it fills dst
// with NaN.
func (c *CUDA) Download(dst []float32, src Tensor) {
	st := c.tensor("Download", "src", src, len(dst))
	c.lock()
	defer c.mu.Unlock()
	c.checkWaitAllowed("Download")
	if c.err == nil {
		c.record("Download", c.dev.download(dst, st.ptr))
	}
	if c.err != nil {
		nan := float32(math.NaN())
		for i := range dst {
			dst[i] = nan
		}
	}
}

// Fill sets every element of t to v.
func (c *CUDA) Fill(t Tensor, v float32) {
	tt := c.anyTensor("Fill", "t", t)
	c.lock()
	defer c.mu.Unlock()
	c.fillLocked(tt, v)
}

// fillLocked queues a 32-bit memset, which writes v's exact bits.
func (c *CUDA) fillLocked(t *cudaTensor, v float32) {
	if c.err != nil || t.n == 0 {
		return
	}
	c.record("Fill", c.dev.memset32(t.ptr, math.Float32bits(v), t.n))
}

// Copy copies src into dst. The two may overlap, as with Go's copy.
func (c *CUDA) Copy(dst, src Tensor) {
	st := c.anyTensor("Copy", "src", src)
	dt := c.tensor("Copy", "dst", dst, st.n)
	c.lock()
	defer c.mu.Unlock()
	if c.err != nil || st.n == 0 || st.ptr == dt.ptr {
		return
	}
	bytes := 4 * int64(st.n)
	if !rangesOverlap(dt.ptr, st.ptr, bytes) {
		c.record("Copy", c.dev.copyDevice(dt.ptr, st.ptr, bytes))
		return
	}
	// cuMemcpyDtoDAsync does not allow overlapping ranges, so the copy goes through a
	// temporary block, which returns to the pool at once: later work is queued after it. A
	// graph would keep the temporary block's address, so a captured step must not do this.
	if c.step.mode == stepCapture {
		c.step.failCapture(errors.New("Copy of overlapping ranges inside the step"))
		return
	}
	tmp, err := c.pool.get(bytes)
	if err != nil {
		c.record("Copy", err)
		return
	}
	defer c.pool.put(tmp)
	c.record("Copy", c.dev.copyDevice(tmp.ptr, st.ptr, bytes))
	if c.err == nil {
		c.record("Copy", c.dev.copyDevice(dt.ptr, tmp.ptr, bytes))
	}
}

// rangesOverlap reports whether [a, a+bytes) and [b, b+bytes) share a byte.
func rangesOverlap(a, b cuda.DevicePtr, bytes int64) bool {
	return a < b.Add(bytes) && b < a.Add(bytes)
}

// stageIDs returns the device address of a copy of ids for operation op, or records a
// failure and returns false. Inside a captured or replayed step the copy goes into the step's
// own slot. It panics when a stream other than the main one is current.
func (c *CUDA) stageIDs(op string, ids []int32) (cuda.DevicePtr, bool) {
	if c.region.current != 0 {
		panic(fmt.Sprintf("engine: CUDA %s: token ids are staged on the main stream only, and "+
			"stream %d is current", op, c.region.current))
	}
	if c.err != nil {
		return 0, false
	}
	switch c.step.mode {
	case stepPlan:
		c.step.plan = append(c.step.plan, len(ids))
	case stepCapture, stepReplay:
		return c.stageStepWords(op, ids)
	}
	ptr, err := c.ids.stage(ids)
	if err != nil {
		c.record(op, err)
		return 0, false
	}
	return ptr, true
}
