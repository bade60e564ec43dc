//go:build amd64 && !purego

package vecmath

import "golang.org/x/sys/cpu"

// Available reports whether Sigmoid and Tanh can run: the processor has AVX2. The purego build
// tag leaves the assembly out.
var Available = cpu.X86.HasAVX2

// Sigmoid replaces every x[i] with 1/(1+e^−x[i]), computed as the engine package's sigmoidf
// does, bit for bit. len(x) must be a multiple of 4.
//
//go:noescape
func Sigmoid(x []float32)

// Tanh sets dst[i] = tanh(src[i]) for i < len(src), computed as the engine package's tanhf
// does, bit for bit. len(src) must be a multiple of 4 and dst at least as long. dst may be
// src.
//
//go:noescape
func Tanh(dst, src []float32)

// AddTo sets dst[i] += src[i] for i < len(src), one float32 addition per element, as a scalar
// loop does. len(src) must be a multiple of 8 and dst at least as long.
//
//go:noescape
func AddTo(dst, src []float32)

// LSTMBackward runs the element-wise part of an LSTM step's backward pass on N units, the
// float32 operations of the engine package's scalar loop in the same order, unfused. N must
// be a multiple of 8.
//
//go:noescape
func LSTMBackward(a *LSTMBackwardArgs)
