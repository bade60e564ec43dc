package cpuref

import (
	"math"
	"testing"
)

func TestClipGradNormScales(t *testing.T) {
	g := []float64{3, 4}
	norm := ClipGradNorm([][]float64{g}, 2)
	assertScalar(t, "norm", norm, 5, handAtol, handRtol)
	// The rounded target (1.2, 1.6) differs from the exact scale 2/(5+1e-6) by under 4e-7.
	const roundedAtol = 1e-6
	assertClose(t, "g rounded", g, []float64{1.2, 1.6}, roundedAtol, 0)
	scale := 2 / (5 + 1e-6)
	assertClose(t, "g exact", g, []float64{3 * scale, 4 * scale}, handAtol, handRtol)
}

func TestClipGradNormAcrossTensors(t *testing.T) {
	a, b := []float64{3}, []float64{4}
	norm := ClipGradNorm([][]float64{a, b}, 2)
	assertScalar(t, "norm", norm, 5, handAtol, handRtol)
	scale := 2 / (5 + 1e-6)
	assertScalar(t, "a", a[0], 3*scale, handAtol, handRtol)
	assertScalar(t, "b", b[0], 4*scale, handAtol, handRtol)
}

func TestClipGradNormUnderMax(t *testing.T) {
	g := []float64{3, 4}
	norm := ClipGradNorm([][]float64{g}, 10)
	assertScalar(t, "norm", norm, 5, handAtol, handRtol)
	assertClose(t, "g", g, []float64{3, 4}, 0, 0)
}

func TestAdamFirstTwoSteps(t *testing.T) {
	const lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
	p := []float64{1, -2, 0.5}
	g := []float64{0.1, -3, 1e-3}
	m := make([]float64, 3)
	v := make([]float64, 3)

	// With a constant gradient the bias-corrected moments are g and g² at every step, so each
	// step moves p by lr·g/(|g| + eps), which is lr·sign(g) up to eps.
	want := append([]float64(nil), p...)
	for step := 1; step <= 2; step++ {
		AdamStep(p, g, m, v, lr, beta1, beta2, eps, step)
		for k := range want {
			want[k] -= lr * g[k] / (math.Abs(g[k]) + eps)
		}
		assertClose(t, "p", p, want, handAtol, handRtol)
	}
	// Each step falls short of lr·sign(g) by lr·eps/(|g| + eps), at most lr·1e-5 here.
	const signAtol = 2 * lr * 1e-5
	assertClose(t, "p by sign", p, []float64{1 - 2*lr, -2 + 2*lr, 0.5 - 2*lr}, signAtol, 0)

	// m = 0.9·(0.1·g) + 0.1·g = 0.19·g and v = 0.999·(0.001·g²) + 0.001·g² = 0.001999·g².
	assertClose(t, "m", m, []float64{0.19 * 0.1, 0.19 * -3, 0.19 * 1e-3}, handAtol, handRtol)
	assertClose(t, "v", v, []float64{0.001999 * 0.01, 0.001999 * 9, 0.001999 * 1e-6}, handAtol, handRtol)
}

func TestSGDMomentumTwoSteps(t *testing.T) {
	p := []float64{1}
	buf := []float64{0}
	SGDStep(p, []float64{0.5}, buf, 0.1, 0.9)
	assertScalar(t, "buf step 1", buf[0], 0.5, handAtol, handRtol)
	assertScalar(t, "p step 1", p[0], 0.95, handAtol, handRtol)

	SGDStep(p, []float64{-0.2}, buf, 0.1, 0.9)
	// buf = 0.9·0.5 − 0.2 = 0.25, p = 0.95 − 0.1·0.25 = 0.925
	assertScalar(t, "buf step 2", buf[0], 0.25, handAtol, handRtol)
	assertScalar(t, "p step 2", p[0], 0.925, handAtol, handRtol)
}

func TestRMSpropOneStep(t *testing.T) {
	p := []float64{1}
	sq := []float64{0}
	RMSpropStep(p, []float64{0.5}, sq, 0.01, 0.99, 1e-8)
	// sq = 0.01·0.25 = 0.0025, p = 1 − 0.01·0.5/(0.05 + 1e-8)
	assertScalar(t, "sq", sq[0], 0.0025, handAtol, handRtol)
	assertScalar(t, "p", p[0], 1-0.005/(0.05+1e-8), handAtol, handRtol)
}
