package cpuref

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGemmTransposes(t *testing.T) {
	// A [2×3] = [[1 2 3] [4 5 6]], B [3×2] = [[7 8] [9 10] [11 12]], A·B = [[58 64] [139 154]].
	a := []float64{1, 2, 3, 4, 5, 6}
	aT := []float64{1, 4, 2, 5, 3, 6}
	b := []float64{7, 8, 9, 10, 11, 12}
	bT := []float64{7, 9, 11, 8, 10, 12}
	// C = 2·A·B + 0.5·C with C = 1 everywhere on entry.
	want := []float64{2*58 + 0.5, 2*64 + 0.5, 2*139 + 0.5, 2*154 + 0.5}
	cases := []struct {
		name           string
		transA, transB bool
		a, b           []float64
	}{
		{"NN", false, false, a, b},
		{"TN", true, false, aT, b},
		{"NT", false, true, a, bT},
		{"TT", true, true, aT, bT},
	}
	for _, tc := range cases {
		c := []float64{1, 1, 1, 1}
		Gemm(tc.transA, tc.transB, 2, 2, 3, 2, tc.a, tc.b, 0.5, c)
		assertClose(t, "C "+tc.name, c, want, 0, 0)
	}
}

func TestGemmBetaZeroIgnoresNaN(t *testing.T) {
	c := []float64{math.NaN(), math.NaN()}
	Gemm(false, false, 1, 2, 1, 1, []float64{2}, []float64{3, 4}, 0, c)
	assertClose(t, "C", c, []float64{6, 8}, 0, 0)
}

func TestEmbeddingForwardBackward(t *testing.T) {
	table := []float64{1, 2, 3, 4, 5, 6} // [3×2]
	ids := []int{2, 0, 2}
	out := EmbeddingForward(table, ids, 2)
	assertClose(t, "out", out, []float64{5, 6, 1, 2, 5, 6}, 0, 0)

	dtable := []float64{100, 100, 100, 100, 100, 100}
	dout := []float64{1, 2, 10, 20, 0.5, 0.25}
	EmbeddingBackward(dtable, dout, ids, 2)
	// Row 0 gets dout row 1, row 1 nothing, row 2 the sum of dout rows 0 and 2.
	assertClose(t, "dtable", dtable, []float64{110, 120, 100, 100, 101.5, 102.25}, 0, 0)
}

func TestEmbeddingForwardRejectsBadID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("EmbeddingForward accepted id 3 for a table of 3 rows")
		}
	}()
	EmbeddingForward(make([]float64, 6), []int{3}, 2)
}

func TestLSTMCellOneUnit(t *testing.T) {
	// Pre-activations chosen so that i = 0.5, f = 0.75, g = 0.5, o = 0.5.
	pre := []float64{0, math.Log(3), math.Atanh(0.5), 0}
	cPrev := []float64{2}
	act, c, h := LSTMCellForward(pre, cPrev, 1, 1)
	assertClose(t, "act", act, []float64{0.5, 0.75, 0.5, 0.5}, handAtol, handRtol)
	wantC := 0.75*2 + 0.5*0.5 // f·cPrev + i·g = 1.75
	assertScalar(t, "c", c[0], wantC, handAtol, handRtol)
	assertScalar(t, "h", h[0], 0.5*math.Tanh(1.75), handAtol, handRtol)

	// With dh = 1 and no dcNext: dc = o·(1 − tanh²(c)).
	tc := math.Tanh(1.75)
	dc := 0.5 * (1 - tc*tc)
	dpre, dcPrev := LSTMCellBackward(act, cPrev, c, []float64{1}, nil, 1, 1)
	wantDpre := []float64{
		dc * 0.5 * 0.5 * (1 - 0.5), // di·σ'  with di = dc·g
		dc * 2 * 0.75 * (1 - 0.75), // df·σ'  with df = dc·cPrev
		dc * 0.5 * (1 - 0.5*0.5),   // dg·tanh' with dg = dc·i
		tc * 0.5 * (1 - 0.5),       // do·σ'  with do = dh·tanh(c)
	}
	assertClose(t, "dpre", dpre, wantDpre, handAtol, handRtol)
	assertScalar(t, "dcPrev", dcPrev[0], dc*0.75, handAtol, handRtol)
}

func TestLSTMCellBackwardFiniteDifferences(t *testing.T) {
	const B, H = 2, 3
	rng := rand.New(rand.NewPCG(1, 2))
	pre := randomSlice(rng, B*4*H, 1.5)
	cPrev := randomSlice(rng, B*H, 1)
	weightH := randomSlice(rng, B*H, 1)
	weightC := randomSlice(rng, B*H, 1)

	for _, withC := range []bool{false, true} {
		// loss = Σ weightH·h (+ Σ weightC·c), so dh = weightH and dcNext = weightC.
		loss := func() float64 {
			_, c, h := LSTMCellForward(pre, cPrev, B, H)
			sum := dot(weightH, h)
			if withC {
				sum += dot(weightC, c)
			}
			return sum
		}
		var dcNext []float64
		name := "dcNext=nil"
		if withC {
			dcNext = weightC
			name = "dcNext=set"
		}
		act, c, _ := LSTMCellForward(pre, cPrev, B, H)
		dpre, dcPrev := LSTMCellBackward(act, cPrev, c, weightH, dcNext, B, H)
		assertClose(t, name+" dpre", dpre, numericGradient(loss, pre), fdAtol, fdRtol)
		assertClose(t, name+" dcPrev", dcPrev, numericGradient(loss, cPrev), fdAtol, fdRtol)
	}
}

func TestLSTMCellBackwardTwoSteps(t *testing.T) {
	const B, H = 2, 3
	rng := rand.New(rand.NewPCG(3, 4))
	pre1 := randomSlice(rng, B*4*H, 1.5)
	pre2 := randomSlice(rng, B*4*H, 1.5)
	c0 := randomSlice(rng, B*H, 1)
	weight1 := randomSlice(rng, B*H, 1)
	weight2 := randomSlice(rng, B*H, 1)

	// loss = Σ weight1·h1 + Σ weight2·h2, with step 2 starting from step 1's c.
	loss := func() float64 {
		_, c1, h1 := LSTMCellForward(pre1, c0, B, H)
		_, _, h2 := LSTMCellForward(pre2, c1, B, H)
		return dot(weight1, h1) + dot(weight2, h2)
	}
	act1, c1, _ := LSTMCellForward(pre1, c0, B, H)
	act2, c2, _ := LSTMCellForward(pre2, c1, B, H)
	dpre2, dc1 := LSTMCellBackward(act2, c1, c2, weight2, nil, B, H)
	dpre1, dc0 := LSTMCellBackward(act1, c0, c1, weight1, dc1, B, H)

	assertClose(t, "dpre1", dpre1, numericGradient(loss, pre1), fdAtol, fdRtol)
	assertClose(t, "dpre2", dpre2, numericGradient(loss, pre2), fdAtol, fdRtol)
	assertClose(t, "dc0", dc0, numericGradient(loss, c0), fdAtol, fdRtol)
}

func TestRNNCellBackwardFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pre := randomSlice(rng, 6, 2)
	weight := randomSlice(rng, 6, 1)
	loss := func() float64 { return dot(weight, RNNCellForward(pre)) }

	h := RNNCellForward(pre)
	assertScalar(t, "h[0]", h[0], math.Tanh(pre[0]), 0, 0)
	dpre := RNNCellBackward(h, weight)
	assertClose(t, "dpre", dpre, numericGradient(loss, pre), fdAtol, fdRtol)
}

func TestSoftmaxCrossEntropyUniform(t *testing.T) {
	const V = 5
	logits := []float64{0.7, 0.7, 0.7, 0.7, 0.7}
	losses, dlogits := SoftmaxCrossEntropy(logits, []int{3}, 1, V)
	assertScalar(t, "loss", losses[0], math.Log(V), handAtol, handRtol)
	assertClose(t, "dlogits", dlogits, []float64{0.2, 0.2, 0.2, -0.8, 0.2}, handAtol, handRtol)
}

func TestSoftmaxCrossEntropyFiniteDifferences(t *testing.T) {
	const rows, V = 3, 4
	rng := rand.New(rand.NewPCG(7, 8))
	logits := randomSlice(rng, rows*V, 3)
	targets := []int{1, -1, 3}
	loss := func() float64 {
		losses, _ := SoftmaxCrossEntropy(logits, targets, rows, V)
		return losses[0] + losses[1] + losses[2]
	}
	losses, dlogits := SoftmaxCrossEntropy(logits, targets, rows, V)
	assertClose(t, "dlogits", dlogits, numericGradient(loss, logits), fdAtol, fdRtol)

	assertScalar(t, "ignored row loss", losses[1], 0, 0, 0)
	assertClose(t, "ignored row dlogits", dlogits[V:2*V], make([]float64, V), 0, 0)
	for _, r := range []int{0, 2} {
		sum := 0.0
		for j := 0; j < V; j++ {
			sum += dlogits[r*V+j]
		}
		// softmax sums to 1 and the one-hot to 1, so each used row of dlogits sums to 0.
		assertScalar(t, "row sum of dlogits", sum, 0, handAtol, 0)
	}
}

func TestSoftmaxCrossEntropyHugeLogits(t *testing.T) {
	const V = 3
	logits := []float64{1e4, 0, -1e4, 1e4, 0, -1e4}
	losses, dlogits := SoftmaxCrossEntropy(logits, []int{0, 1}, 2, V)
	// exp(−1e4) underflows to 0, so the losses are exactly 0 and 1e4.
	assertClose(t, "losses", losses, []float64{0, 1e4}, handAtol, handRtol)
	assertClose(t, "dlogits", dlogits, []float64{0, 0, 0, 1, -1, 0}, handAtol, handRtol)
}
