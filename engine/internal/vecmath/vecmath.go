// Package vecmath holds the AVX2 loops of the CPU backend's activations. The engine package
// uses cgo, which rules out Go assembly files in it, so they live here. Each function gives
// the same bits as the scalar code in engine/fastmath.go, which also computes the tails that
// are shorter than one vector.
package vecmath

import "math"

// Exp2Table holds 2^(j/32) for j = 0..31, each within half a float64 ulp. The scalar exp64 of
// the engine package reads the same table.
var Exp2Table = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()

// LSTMBackwardArgs holds the operands of LSTMBackward, each the address of the first of N
// float32 values. Gates points at the i gates, with the f, g and o gates Stride, 2·Stride and
// 3·Stride bytes after it, and DGates at their gradients in the same layout; DGates may equal
// Gates. DhRec may be nil. Dc holds dL/dc from the next step on entry and dL/dcPrev on
// return.
type LSTMBackwardArgs struct {
	Gates, DGates *float32
	Stride        uintptr
	CPrev, TanhC  *float32
	DhOut, DhRec  *float32
	Dc            *float32
	N             int
}
