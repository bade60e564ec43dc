// Package cpuref is the float64 reference implementation of recur's models: the oracle that the
// float32 backends are checked against. Tests, the conformance suite and the benchmarks import
// it. It is never a runtime fallback.
//
// Every function is a plain loop written to be read next to its formula. Each argument's shape
// is given in a comment, in the dimension letters used across recur:
//
//	T  time steps          B  parallel streams (batch)   H  hidden units per layer
//	E  embedding width     V  vocabulary size            G  gates per cell (4 LSTM, 3 GRU, 1 RNN)
//
// Conventions shared with the backends:
//   - Matrices are row-major and contiguous. Activations are time-major, [T][B][H], and token
//     ids and targets are flattened the same way, index t·B+b.
//   - Gates come in PyTorch's order, i, f, g, o for the LSTM and r, z, n for the GRU, each a
//     block of H columns of the pre-activation row. Weights have the shapes of PyTorch's
//     nn.LSTM, nn.GRU and nn.RNN: W_ih [G·H × in], W_hh [G·H × H], b_ih and b_hh [G·H].
//   - The loss is the softmax cross-entropy in nats, averaged over the targets that are not -1
//     (ignored).
//   - Dropout sits between layers only, as inverted-dropout masks that the caller supplies, so
//     the package draws no random numbers.
//   - The optimizers follow PyTorch's update formulas.
//
// Left out on purpose:
//   - speed: no goroutines, no BLAS, no buffer reuse and no fused kernels. Backends do that.
//   - optimizer options beyond the basic update: weight decay, dampening, Nesterov momentum,
//     AMSGrad and centered RMSprop.
//   - a gradient into the language model's initial state: Backward treats h0 and c0 as
//     constants, which is what truncated BPTT needs. StackBackward, the reference for the
//     sequence tasks' stack, does return dH0 and, for the LSTM, dC0, because an encoder's
//     final state starts the decoder.
//
// Functions panic on arguments of the wrong length or on ids out of range, because those are
// mistakes in the calling code, not conditions to handle.
package cpuref
