package engine

import "math"

// The activations below take float32 inputs, compute in float64 and round once to float32.
// Scalar float64 addition and multiplication cost the same as float32 on amd64 and arm64,
// and the float64 range makes overflow handling simple. TestFastMathAccuracy sweeps them against the math
// package: the largest relative error of the float32 results is below 2e-7, which is about
// one float32 ulp (float32 rounding alone contributes up to 6e-8).

// expArgMax bounds the arguments of exp64. e^±104 lies outside the float32 range, so clamping
// there changes no float32 result and keeps 2^k a normal float64 scale factor.
const expArgMax = 104

// exp2Table holds 2^(j/32) for j = 0..31, each within half a float64 ulp.
var exp2Table = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()

// exp64 returns e^x for |x| ≤ expArgMax with a relative error below 2e-12 and propagates
// NaN. It writes x = (32k + j)·ln2/32 + r with 0 ≤ j < 32 and |r| ≤ ln2/64, so that
// e^x = 2^k · 2^(j/32) · e^r, and evaluates e^r by its Taylor polynomial of degree 4, whose
// truncation error is at most (ln2/64)^5/5! ≈ 1.3e-12.
func exp64(x float64) float64 {
	// Adding and subtracting 1.5·2^52 rounds to the nearest integer for |v| < 2^51.
	const round = 0x1.8p52
	nf := (x*(32*math.Log2E) + round) - round
	n := int64(nf)
	r := x - nf*(math.Ln2/32)
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24))))
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

// sigmoidf returns 1/(1+e^−x) rounded to float32.
func sigmoidf(x float32) float32 {
	return float32(1 / (1 + exp64(clampExp(-float64(x)))))
}

// tanhf returns tanh(x) rounded to float32. Below |x| = 1/32 it uses the odd Taylor series up
// to x^7, whose truncation error is below 1e-14 relative there. Above, it uses
// 1 − 2/(e^{2|x|}+1), whose float64 rounding error of about 1e-16 is negligible at float32
// precision once |tanh x| ≥ 1/32.
func tanhf(x float32) float32 {
	ax := math.Abs(float64(x))
	if ax < 1.0/32 {
		x2 := ax * ax
		t := ax * (1 + x2*(-1.0/3+x2*(2.0/15+x2*(-17.0/315))))
		return float32(math.Copysign(t, float64(x)))
	}
	// tanh(52) is 1 in float64, so the clamp at 2·52 = expArgMax changes nothing.
	t := 1 - 2/(exp64(clampExp(2*ax))+1)
	return float32(math.Copysign(t, float64(x)))
}

// sigmoidSlice replaces every x[i] with sigmoidf(x[i]). Its loop inlines the exponential,
// which sigmoidf, called once per element, cannot: the call costs about as much as the math.
func sigmoidSlice(x []float32) {
	for i, v := range x {
		x[i] = float32(1 / (1 + exp64(clampExp(-float64(v)))))
	}
}

// tanhSlice sets dst[i] = tanhf(src[i]) with the exponential inlined; dst may be src.
func tanhSlice(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		x := float64(v)
		ax := math.Abs(x)
		var t float64
		if ax < 1.0/32 {
			x2 := ax * ax
			t = ax * (1 + x2*(-1.0/3+x2*(2.0/15+x2*(-17.0/315))))
		} else {
			t = 1 - 2/(exp64(clampExp(2*ax))+1)
		}
		dst[i] = float32(math.Copysign(t, x))
	}
}
