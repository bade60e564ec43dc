package cpuref

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGRUCellOneUnit(t *testing.T) {
	// With every projection 0: r = z = 0.5, n = tanh(0) = 0, so h = 0.5·hPrev.
	act, h := GRUCellForward(make([]float64, 3), make([]float64, 3), []float64{0.8}, 1, 1)
	assertClose(t, "act", act, []float64{0.5, 0.5, 0}, 0, 0)
	assertScalar(t, "h", h[0], 0.4, 0, 0)

	// r multiplies only the recurrent part of n: x_n = 0.3, h_n = 0.6, r = σ(0) = 0.5.
	xg := []float64{0, 0, 0.3}
	hg := []float64{0, 0, 0.6}
	act, _ = GRUCellForward(xg, hg, []float64{0}, 1, 1)
	assertScalar(t, "n", act[2], math.Tanh(0.3+0.5*0.6), 1e-15, 0)
}

func TestGRUCellBackwardFiniteDifferences(t *testing.T) {
	const B, H = 2, 3
	rng := rand.New(rand.NewPCG(11, 12))
	xg := randomSlice(rng, B*3*H, 1.5)
	hg := randomSlice(rng, B*3*H, 1.5)
	hPrev := randomSlice(rng, B*H, 1)
	weight := randomSlice(rng, B*H, 1)

	// loss = Σ weight·h, so dh = weight. hg and hPrev are independent inputs here, so dhPrev
	// is only the z·hPrev path, as GRUCellBackward documents.
	loss := func() float64 {
		_, h := GRUCellForward(xg, hg, hPrev, B, H)
		return dot(weight, h)
	}
	act, _ := GRUCellForward(xg, hg, hPrev, B, H)
	dxg, dhg, dhPrev := GRUCellBackward(act, hg, hPrev, weight, B, H)
	assertClose(t, "dxg", dxg, numericGradient(loss, xg), fdAtol, fdRtol)
	assertClose(t, "dhg", dhg, numericGradient(loss, hg), fdAtol, fdRtol)
	assertClose(t, "dhPrev", dhPrev, numericGradient(loss, hPrev), fdAtol, fdRtol)
}

func TestGRUCellBackwardTwoSteps(t *testing.T) {
	const B, H = 2, 3
	rng := rand.New(rand.NewPCG(13, 14))
	xg1 := randomSlice(rng, B*3*H, 1.5)
	xg2 := randomSlice(rng, B*3*H, 1.5)
	whh := randomSlice(rng, 3*H*H, 0.8)
	h0 := randomSlice(rng, B*H, 1)
	weight1 := randomSlice(rng, B*H, 1)
	weight2 := randomSlice(rng, B*H, 1)

	recurrent := func(hPrev []float64) []float64 {
		hg := make([]float64, B*3*H)
		Gemm(false, true, B, 3*H, H, 1, hPrev, whh, 0, hg)
		return hg
	}
	// loss = Σ weight1·h1 + Σ weight2·h2, with step 2's recurrent projection taken from h1.
	loss := func() float64 {
		_, h1 := GRUCellForward(xg1, recurrent(h0), h0, B, H)
		_, h2 := GRUCellForward(xg2, recurrent(h1), h1, B, H)
		return dot(weight1, h1) + dot(weight2, h2)
	}
	hg1 := recurrent(h0)
	act1, h1 := GRUCellForward(xg1, hg1, h0, B, H)
	hg2 := recurrent(h1)
	act2, _ := GRUCellForward(xg2, hg2, h1, B, H)

	dxg2, dhg2, dh1 := GRUCellBackward(act2, hg2, h1, weight2, B, H)
	Gemm(false, false, B, H, 3*H, 1, dhg2, whh, 1, dh1)
	for k := range dh1 {
		dh1[k] += weight1[k]
	}
	dxg1, dhg1, dh0 := GRUCellBackward(act1, hg1, h0, dh1, B, H)
	Gemm(false, false, B, H, 3*H, 1, dhg1, whh, 1, dh0)

	assertClose(t, "dxg1", dxg1, numericGradient(loss, xg1), fdAtol, fdRtol)
	assertClose(t, "dxg2", dxg2, numericGradient(loss, xg2), fdAtol, fdRtol)
	assertClose(t, "dh0", dh0, numericGradient(loss, h0), fdAtol, fdRtol)
}
