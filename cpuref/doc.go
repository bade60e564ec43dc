// Package cpuref is the float64 reference implementation of recur's models: the oracle that the
// float32 backends are checked against. Tests, the conformance suite and the benchmarks import
// it. It is never a runtime fallback.
//
// Every function is a plain loop written to be read next to its formula. Each argument's shape
// is given in a comment, in the dimension letters used across recur:
//
//	T  time steps          B  parallel streams (batch)   H  hidden units per layer
//	E  embedding width     V  vocabulary size            G  gates per cell (4 LSTM, 1 RNN)
//
// Conventions shared with the backends:
//   - Matrices are row-major and contiguous. Activations are time-major, [T][B][H], and token
//     ids and targets are flattened the same way, index t·B+b.
//   - LSTM gates come in PyTorch's order i, f, g, o, each a block of H columns of the
//     pre-activation row. Weights have the shapes of PyTorch's nn.LSTM and nn.RNN:
//     W_ih [G·H × in], W_hh [G·H × H], b_ih and b_hh [G·H].
//   - The loss is the softmax cross-entropy in nats, averaged over the targets that are not -1
//     (ignored).
//   - Dropout sits between layers only, as inverted-dropout masks that the caller supplies, so
//     the package draws no random numbers.
//   - The optimizers follow PyTorch's update formulas.
//
// Left out on purpose:
//   - speed: no goroutines, no BLAS, no buffer reuse and no fused kernels. Backends do that.
//   - GRU: only the vanilla RNN (tanh) and the LSTM cell exist so far.
//   - optimizer options beyond the basic update: weight decay, dampening, Nesterov momentum,
//     AMSGrad and centered RMSprop.
//   - any gradient into the initial state: Backward treats h0 and c0 as constants, which is
//     what truncated BPTT needs.
//
// Functions panic on arguments of the wrong length or on ids out of range, because those are
// mistakes in the calling code, not conditions to handle.
package cpuref
