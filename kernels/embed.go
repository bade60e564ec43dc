package kernels

import _ "embed"

// Fatbin is the CUDA fat binary built from recur_kernels.cu by `make kernels`: SASS for sm_70,
// sm_75, sm_80, sm_86, sm_89 and sm_90, and compute_90 PTX that the driver compiles for newer
// GPUs. The CUDA backend loads it with cuModuleLoadData and looks up each of KernelNames.
//
//go:embed recur_kernels.fatbin
var Fatbin []byte

// MathHeader is the source of recur_math.cuh. Package hostmath compiles that header with cgo and
// imports this package, because Go's build cache does not track C headers outside a package's
// folder: the embedded copy makes hostmath rebuild whenever the header changes.
//
//go:embed recur_math.cuh
var MathHeader string

// Source is the source of recur_kernels.cu. The CUDA backend's tests parse its kernel
// signatures, and reading it from the binary lets their compiled test binary run where the
// repository is absent, as on a GPU machine of the GPU check.
//
//go:embed recur_kernels.cu
var Source string

// KernelNames lists every extern "C" kernel in Fatbin, in the order recur_kernels.cu defines
// them.
var KernelNames = []string{
	"lstm_gates_forward",
	"lstm_gates_backward",
	"gru_gates_forward",
	"gru_gates_backward",
	"rnn_forward",
	"rnn_backward",
	"add_bias",
	"sum_rows",
	"embedding_forward",
	"embedding_backward",
	"softmax_xent",
	"dropout",
	"fill",
	"axpy",
	"mul",
	"scale",
	"sum_squares_partial",
	"sum_squares_final",
	"clip_scale",
	"finite_guard",
	"adam_step",
	"sgd_step",
	"rmsprop_step",
}

// Launch shapes that the kernels rely on. They equal RECUR_REDUCE_THREADS and
// RECUR_NORM_PARTIALS in recur_math.cuh, which TestLaunchConstantsMatchHeader checks.
const (
	// BlockThreads is the block size of every kernel. The element kernels run
	// ceil(n/BlockThreads) blocks; the reductions size their shared memory for it, so they must
	// not be launched with more threads.
	BlockThreads = 256
	// NormPartials is the fixed grid of sum_squares_partial, and the number of float64 partial
	// sums it writes for sum_squares_final.
	NormPartials = 256
)
