package engine

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// CPUOptions configures NewCPU.
type CPUOptions struct {
	// Threads is the number of goroutines that the element-wise and fused operations use,
	// and the thread count given to OpenBLAS. 0 means runtime.NumCPU().
	Threads int
	// GEMM selects the matrix product. "blas" is a system OpenBLAS loaded at run time: the
	// library that RECUR_BLAS names, else the first of libopenblas.so.0, libopenblas.so and
	// an OpenBLAS libblas.so.3. "gonum" is gonum's pure-Go Sgemm. "auto" or "" is the
	// system OpenBLAS where one is found and gonum otherwise.
	GEMM string
}

// CPU is the float32 Backend for the host processor. Element-wise and fused operations split
// their work into fixed parts, and reductions add fixed-size blocks in float64 in a fixed
// order, so every result is the same for any thread count.
//
// Subnormal numbers (below 2^-126 in magnitude), which take a slow microcode path on many x86
// processors, are flushed to a zero of the same sign where they would be written: by the
// activations, LSTMForward, LSTMBackward, AddBias and the optimizer steps in software, and by
// Gemm through the processor's flush-to-zero and denormals-are-zero modes around each
// OpenBLAS or AVX2-kernel call on x86-64, or a pass over its output on the gonum path. Each
// of these gives the same bits on every run. NOTE: the other operations (Axpy, Mul, SumRows,
// the GRU and RNN combinations, the loss) may still write subnormal numbers; their inputs
// come from the flushed operations in a training step.
//
// A CPU is safe for concurrent use, but its operations run one at a time. It must not be
// used after Close.
type CPU struct {
	mu      sync.Mutex
	threads int
	blas    *systemBLAS // nil when GEMM uses gonum
	pool    *workerPool
	closed  bool

	partials []float64 // per-block sums of the reductions, grown as needed
	tasks    cpuTasks
}

var _ Backend = (*CPU)(nil)

// cpuTasks holds one task value per operation. The operations fill these in place, so that
// handing a task to the worker pool allocates nothing.
type cpuTasks struct {
	fill      fillTask
	axpy      axpyTask
	mul       mulTask
	addBias   addBiasTask
	sumRows   sumRowsTask
	combine   combineRowsTask
	gemm      gonumGemmTask
	blasGemm  blasGemmTask
	small     smallGemmTask
	embedFwd  embeddingForwardTask
	embedBwd  embeddingBackwardTask
	lstmFwd   lstmForwardTask
	lstmBwd   lstmBackwardTask
	gruFwd    gruForwardTask
	gruBwd    gruBackwardTask
	rnnFwd    rnnForwardTask
	rnnBwd    rnnBackwardTask
	softmaxCE softmaxCETask
	dropout   dropoutTask
	sumSq     sumSquaresTask
	scale     scaleTask
	adam      adamTask
	sgd       sgdTask
	rmsprop   rmspropTask
}

// NewCPU returns a CPU backend. It fails when an option is invalid, when opts.GEMM is "blas"
// and no usable OpenBLAS is found, or when RECUR_BLAS names a library that cannot be used.
func NewCPU(opts CPUOptions) (*CPU, error) {
	threads := opts.Threads
	if threads < 0 {
		return nil, fmt.Errorf("engine: invalid thread count %d; use a positive number, "+
			"or 0 for one thread per CPU", threads)
	}
	if threads == 0 {
		threads = runtime.NumCPU()
	}

	var blas *systemBLAS
	switch opts.GEMM {
	case "", "auto", "blas":
		lib, err := loadSystemBLAS()
		if path := os.Getenv("RECUR_BLAS"); err != nil && path != "" {
			// An explicit library that fails is an error even where gonum could stand in.
			return nil, fmt.Errorf("engine: RECUR_BLAS=%q: %w", path, err)
		}
		if err != nil && opts.GEMM == "blas" {
			return nil, fmt.Errorf("engine: GEMM \"blas\": %w", err)
		}
		blas = lib
	case "gonum":
	default:
		return nil, fmt.Errorf("engine: invalid GEMM %q; use \"auto\", \"blas\" or \"gonum\"",
			opts.GEMM)
	}
	return &CPU{threads: threads, blas: blas, pool: newWorkerPool(threads)}, nil
}

// Open returns the backend for a --device value and a one-line note on what was picked and
// why. "auto" gives the CUDA backend on GPU 0 where the driver, a GPU and cuBLAS are found
// and the backend starts, and otherwise the CPU backend, with the reason in the note. "cpu"
// gives the CPU backend. "cuda" and "cuda:N" give the CUDA backend on GPU 0 or N, or an
// error naming what is missing. precision ("fp32", "tf32" or "bf16") sets the CUDA backend's
// matrix products; the CPU backend computes in float32 and accepts only "fp32", except under
// "auto", where the note reports that the precision was not applied.
func Open(device, precision string) (Backend, string, error) {
	if _, err := parsePrecision(precision); err != nil {
		return nil, "", err
	}
	var reason string
	switch {
	case device == "auto":
		be, note, err := openCUDA(0, precision)
		if err == nil {
			return be, note, nil
		}
		reason = "auto did not use CUDA: " + err.Error()
		if precision != "fp32" && precision != "" {
			reason += "; --precision " + precision + " applies to CUDA only, so matrix products are fp32"
		}
	case device == "cpu":
		if precision != "fp32" && precision != "" {
			return nil, "", fmt.Errorf("--precision %s applies to CUDA only: the CPU backend computes in fp32, so drop the flag or use --device cuda", precision)
		}
		reason = "requested by --device cpu"
	case device == "cuda" || isCUDAOrdinal(device):
		ordinal := 0
		if n, ok := strings.CutPrefix(device, "cuda:"); ok {
			ordinal, _ = strconv.Atoi(n) // isCUDAOrdinal checked it
		}
		be, note, err := openCUDA(ordinal, precision)
		if err != nil {
			return nil, "", fmt.Errorf("device %q: %w; use --device cpu to run on the CPU",
				device, err)
		}
		return be, note, nil
	default:
		return nil, "", fmt.Errorf("invalid device %q; use auto, cpu, cuda or cuda:N", device)
	}
	cpu, err := NewCPU(CPUOptions{})
	if err != nil {
		return nil, "", err
	}
	var gemm string
	switch {
	case cpu.blas != nil:
		gemm = fmt.Sprintf("%s from %s", firstFields(cpu.blas.config, 2), cpu.blas.path)
	case !cgoEnabled:
		gemm = "gonum BLAS because this binary was built without cgo"
	default:
		gemm = "gonum BLAS because no OpenBLAS was found " +
			"(install libopenblas0-pthread or set RECUR_BLAS)"
	}
	note := fmt.Sprintf("cpu: %s; GEMM by %s, %d threads", reason, gemm, cpu.threads)
	return cpu, note, nil
}

// isCUDAOrdinal reports whether device has the form cuda:N with N a decimal device number.
func isCUDAOrdinal(device string) bool {
	n, ok := strings.CutPrefix(device, "cuda:")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// firstFields returns the first n space-separated fields of s, for example "OpenBLAS 0.3.21".
func firstFields(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}

// Name returns "cpu (GEMM library, N threads)", the library being OpenBLAS's configuration
// string or "gonum BLAS".
func (c *CPU) Name() string {
	gemm := "gonum BLAS"
	if c.blas != nil {
		gemm = c.blas.config
	}
	return fmt.Sprintf("cpu (%s, %d threads)", gemm, c.threads)
}

// GEMM returns the matrix product in use: "blas" or "gonum".
func (c *CPU) GEMM() string {
	if c.blas != nil {
		return "blas"
	}
	return "gonum"
}

// lock serializes operations and rejects a closed backend.
func (c *CPU) lock() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		panic("engine: CPU backend used after Close")
	}
}

// partialSums returns a scratch slice of n float64 values.
func (c *CPU) partialSums(n int) []float64 {
	if cap(c.partials) < n {
		c.partials = make([]float64, n)
	}
	return c.partials[:n]
}

// Sync returns nil, because the CPU backend finishes every operation before returning.
func (c *CPU) Sync() error { return nil }

// Close stops the worker goroutines. Calling it again does nothing.
func (c *CPU) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.pool.close()
	}
	return nil
}

// cpuTensor is the CPU backend's Tensor, a view of a float32 slice. Slice returns views that
// share its memory.
type cpuTensor struct {
	data []float32
}

func (t *cpuTensor) Len() int { return len(t.data) }

func (t *cpuTensor) Slice(off, n int) Tensor {
	if off < 0 || n < 0 || off > len(t.data)-n {
		panic(fmt.Sprintf("engine: Slice(%d, %d) is out of range for a tensor of %d elements",
			off, n, len(t.data)))
	}
	return &cpuTensor{data: t.data[off : off+n : off+n]}
}

// Float32s returns the memory of a CPU tensor. It panics for a tensor of another backend.
func Float32s(t Tensor) []float32 {
	ct, ok := t.(*cpuTensor)
	if !ok {
		panic(fmt.Sprintf("engine: Float32s needs a CPU tensor, got %T", t))
	}
	return ct.data
}

// tensorData returns the slice behind t. Unless t is a CPU tensor of n elements it panics,
// naming the operation op and the argument name.
func tensorData(op, name string, t Tensor, n int) []float32 {
	ct, ok := t.(*cpuTensor)
	if !ok {
		panic(fmt.Sprintf("engine: %s: %s must be a CPU tensor, got %T", op, name, t))
	}
	if len(ct.data) != n {
		panic(fmt.Sprintf("engine: %s: %s has %d elements, want %d", op, name, len(ct.data), n))
	}
	return ct.data
}

// anyTensorData is tensorData without the length check.
func anyTensorData(op, name string, t Tensor) []float32 {
	ct, ok := t.(*cpuTensor)
	if !ok {
		panic(fmt.Sprintf("engine: %s: %s must be a CPU tensor, got %T", op, name, t))
	}
	return ct.data
}

// Alloc returns a zero-filled tensor of n elements.
func (c *CPU) Alloc(n int) Tensor {
	if n < 0 {
		panic(fmt.Sprintf("engine: Alloc: invalid length %d", n))
	}
	return &cpuTensor{data: make([]float32, n)}
}

// Upload copies src into dst.
func (c *CPU) Upload(dst Tensor, src []float32) {
	copy(tensorData("Upload", "dst", dst, len(src)), src)
}

// Download copies src into dst.
func (c *CPU) Download(dst []float32, src Tensor) {
	copy(dst, tensorData("Download", "src", src, len(dst)))
}

// Copy copies src into dst.
func (c *CPU) Copy(dst, src Tensor) {
	s := anyTensorData("Copy", "src", src)
	copy(tensorData("Copy", "dst", dst, len(s)), s)
}
