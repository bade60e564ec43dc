package engine

import (
	"math"

	"github.com/recur-ml/recur/engine/internal/vecmath"
)

// The activations below take float32 inputs, compute in float64 and round once to float32.
// Every product that feeds an addition is rounded by an explicit float64 conversion, which
// keeps the compiler from fusing the two into one FMA (as it does with GOAMD64=v3), so that the
// AVX2 loops of package vecmath, which round every operation, give the same bits.
// Scalar float64 addition and multiplication cost the same as float32 on amd64 and arm64,
// and the float64 range makes overflow handling simple. TestFastMathAccuracy sweeps them against the math
// package: the largest relative error of the float32 results is below 2e-7, which is about
// one float32 ulp (float32 rounding alone contributes up to 6e-8).

// expArgMax bounds the arguments of exp64. e^±104 lies outside the float32 range, so clamping
// there changes no float32 result and keeps 2^k a normal float64 scale factor.
const expArgMax = 104

// exp2Table holds 2^(j/32) for j = 0..31, each within half a float64 ulp, the same values
// as the AVX2 loops read.
var exp2Table = vecmath.Exp2Table

// useAVX2 reports whether sigmoidSlice and tanhSlice run the AVX2 loops of package vecmath.
// Tests turn it off to check the scalar loops.
var useAVX2 = vecmath.Available

// exp64 returns e^x for |x| ≤ expArgMax with a relative error below 2e-12 and propagates
// NaN. It writes x = (32k + j)·ln2/32 + r with 0 ≤ j < 32 and |r| ≤ ln2/64, so that
// e^x = 2^k · 2^(j/32) · e^r, and evaluates e^r by its Taylor polynomial of degree 4, whose
// truncation error is at most (ln2/64)^5/5! ≈ 1.3e-12.
func exp64(x float64) float64 {
	// Adding and subtracting 1.5·2^52 rounds to the nearest integer for |v| < 2^51.
	const round = 0x1.8p52
	nf := (float64(x*(32*math.Log2E)) + round) - round
	n := int64(nf)
	r := x - float64(nf*(math.Ln2/32))
	p := 1 + float64(r*(1+float64(r*(1.0/2+float64(r*(1.0/6+float64(r*(1.0/24))))))))
	// For NaN input n is undefined, but p is NaN, so the product is NaN too. n>>5 rounds
	// toward −∞ and n&31 is the matching remainder, also for negative n.
	return p * exp2Table[n&31] * math.Float64frombits(uint64((n>>5)+1023)<<52)
}

// clampExp limits x to [-expArgMax, expArgMax], keeping NaN.
func clampExp(x float64) float64 {
	if x > expArgMax {
		return expArgMax
	}
	if x < -expArgMax {
		return -expArgMax
	}
	return x
}

// expf returns e^x rounded to float32. Results beyond the float32 range are +Inf or 0.
func expf(x float32) float32 {
	return float32(exp64(clampExp(float64(x))))
}

// sigmoidf returns 1/(1+e^−x) rounded to float32, flushed to zero where that is subnormal.
func sigmoidf(x float32) float32 {
	return flushf(float32(1 / (1 + exp64(clampExp(-float64(x))))))
}

// flushf returns x, or a zero of x's sign where x is subnormal (below 2^-126 in magnitude).
// The CPU backend flushes the results of its fused kernels and optimizer steps this way, so
// that subnormal numbers, which take a slow microcode path on many x86 processors, do not
// spread from one operation into the next.
func flushf(x float32) float32 {
	if b := math.Float32bits(x); b&0x7f800000 == 0 {
		return math.Float32frombits(b & 0x80000000)
	}
	return x
}

// tanhf returns tanh(x) rounded to float32 and flushed as flushf does. Below |x| = 1/32 it uses the odd Taylor series up
// to x^7, whose truncation error is below 1e-14 relative there. Above, it uses
// 1 − 2/(e^{2|x|}+1), whose float64 rounding error of about 1e-16 is negligible at float32
// precision once |tanh x| ≥ 1/32.
func tanhf(x float32) float32 {
	ax := math.Abs(float64(x))
	if ax < 1.0/32 {
		return flushf(float32(math.Copysign(tanhSmall(ax), float64(x))))
	}
	// tanh(52) is 1 in float64, so the clamp at 2·52 = expArgMax changes nothing.
	t := 1 - 2/(exp64(clampExp(2*ax))+1)
	return flushf(float32(math.Copysign(t, float64(x))))
}

// tanhSmall returns tanh(ax) for 0 ≤ ax < 1/32 by the odd Taylor series up to ax^7.
func tanhSmall(ax float64) float64 {
	x2 := ax * ax
	return ax * (1 + float64(x2*(-1.0/3+float64(x2*(2.0/15+float64(x2*(-17.0/315)))))))
}

// sigmoidSlice replaces every x[i] with sigmoidf(x[i]), flushed like it. Where the AVX2 loop is available it
// computes all but the last len(x) mod 4 elements, with the same bits as sigmoidf. The scalar
// loop inlines the exponential, which sigmoidf, called once per element, cannot: the call
// costs about as much as the math.
func sigmoidSlice(x []float32) {
	if useAVX2 && len(x) >= 4 {
		n := len(x) &^ 3
		vecmath.Sigmoid(x[:n])
		x = x[n:]
	}
	for i, v := range x {
		x[i] = flushf(float32(1 / (1 + exp64(clampExp(-float64(v))))))
	}
}

// tanhSlice sets dst[i] = tanhf(src[i]), with the AVX2 loop as in sigmoidSlice and the
// exponential inlined in the scalar loop. dst may be src.
func tanhSlice(dst, src []float32) {
	dst = dst[:len(src)]
	if useAVX2 && len(src) >= 4 {
		n := len(src) &^ 3
		vecmath.Tanh(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	for i, v := range src {
		x := float64(v)
		ax := math.Abs(x)
		var t float64
		if ax < 1.0/32 {
			t = tanhSmall(ax)
		} else {
			t = 1 - 2/(exp64(clampExp(2*ax))+1)
		}
		dst[i] = flushf(float32(math.Copysign(t, x)))
	}
}
