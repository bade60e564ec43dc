package engine

import (
	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/kernels"
)

// kernel names a kernel of kernels.Fatbin.
type kernel int

const (
	kernelLSTMForward kernel = iota
	kernelLSTMBackward
	kernelGRUForward
	kernelGRUBackward
	kernelRNNForward
	kernelRNNBackward
	kernelAddBias
	kernelSumRows
	kernelEmbeddingForward
	kernelEmbeddingBackward
	kernelSoftmaxXent
	kernelDropout
	kernelAxpy
	kernelMul
	kernelScale
	kernelSumSquaresPartial
	kernelSumSquaresFinal
	kernelClipScale
	kernelFiniteGuard
	kernelAdam
	kernelSGD
	kernelRMSprop
	numKernels
)

// kernelNames are the extern "C" names in recur_kernels.cu. The kernels' arguments, listed at
// each launch, follow that file's signatures.
var kernelNames = [numKernels]string{
	kernelLSTMForward:       "lstm_gates_forward",
	kernelLSTMBackward:      "lstm_gates_backward",
	kernelGRUForward:        "gru_gates_forward",
	kernelGRUBackward:       "gru_gates_backward",
	kernelRNNForward:        "rnn_forward",
	kernelRNNBackward:       "rnn_backward",
	kernelAddBias:           "add_bias",
	kernelSumRows:           "sum_rows",
	kernelEmbeddingForward:  "embedding_forward",
	kernelEmbeddingBackward: "embedding_backward",
	kernelSoftmaxXent:       "softmax_xent",
	kernelDropout:           "dropout",
	kernelAxpy:              "axpy",
	kernelMul:               "mul",
	kernelScale:             "scale",
	kernelSumSquaresPartial: "sum_squares_partial",
	kernelSumSquaresFinal:   "sum_squares_final",
	kernelClipScale:         "clip_scale",
	kernelFiniteGuard:       "finite_guard",
	kernelAdam:              "adam_step",
	kernelSGD:               "sgd_step",
	kernelRMSprop:           "rmsprop_step",
}

// blockThreads is the block size of every launch. The reduction kernels size their shared
// memory for it.
const blockThreads = kernels.BlockThreads

// elementLaunch runs one thread per element of n: ceil(n/blockThreads) blocks. A grid of 0
// blocks, for n = 0, means that there is nothing to launch.
func elementLaunch(n int) cuda.LaunchConfig {
	return cuda.Linear(uint32((n+blockThreads-1)/blockThreads), blockThreads)
}

// unitLaunch runs one thread per hidden unit of B rows of H units (LSTM and GRU steps).
func unitLaunch(B, H int) cuda.LaunchConfig { return elementLaunch(B * H) }

// columnLaunch runs one thread per column, which loops over the rows in order (sum_rows,
// embedding_backward).
func columnLaunch(cols int) cuda.LaunchConfig { return elementLaunch(cols) }

// rowLaunch runs one block per row, whose threads reduce the row together (softmax_xent).
func rowLaunch(rows int) cuda.LaunchConfig { return cuda.Linear(uint32(rows), blockThreads) }

// normPartialLaunch is sum_squares_partial's fixed grid of kernels.NormPartials blocks. A
// fixed grid makes the order of the additions, and so the norm, depend on n alone.
func normPartialLaunch() cuda.LaunchConfig {
	return cuda.Linear(kernels.NormPartials, blockThreads)
}

// normFinalLaunch is sum_squares_final's single block.
func normFinalLaunch() cuda.LaunchConfig { return cuda.Linear(1, blockThreads) }

// finiteGuardLaunch is finite_guard's single block.
func finiteGuardLaunch() cuda.LaunchConfig { return cuda.Linear(1, blockThreads) }
