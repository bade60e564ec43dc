//go:build cgo

package hostmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/recur-ml/recur/cpuref"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/kernels"
)

// Tolerances, each used as |got − want| ≤ atol + rtol·|want|. want is cpuref's float64 result, or a
// float64 loop where cpuref has no such function, on the same float32 inputs, so every difference
// comes from float32 rounding in the C code. Inputs are of order 1 unless a test states otherwise.
const (
	// One float32 rounding of the exact result, as in x·y.
	roundingRtol = 0x1p-24

	// Two float32 roundings of a result of order 1, as in y + alpha·x, where the rounding of
	// alpha·x is relative to that product and not to the result.
	elementwiseAtol = 3e-7
	elementwiseRtol = 2 * roundingRtol

	// expf, tanhf and logf (glibc rounds them within 1 ulp, CUDA within 2) followed by a few
	// multiplications and additions. Cancellation, as in c = f·cPrev + i·g, can make the relative
	// error of a small result large, so the absolute term carries it. A wrong formula or a wrong
	// gate index is off by 1e-2 or more.
	activationAtol = 2e-6
	activationRtol = 2e-6

	// float32 sums of up to a few hundred terms of order 1, rounded at every addition.
	sumAtol = 2e-6
	sumRtol = 2e-6

	// The norm is summed in float64 and rounded once to float32.
	normRtol = 1e-7

	// Optimizer parameters of order 1 after up to seven updates of lr ≤ 0.1 each.
	paramAtol = 1e-6
	paramRtol = 1e-6

	// Optimizer state, a few roundings per update. Adam's m and SGD's buf add signed terms of
	// order 1, which can cancel and leave the terms' roundings as an absolute error. Adam's v and
	// RMSprop's sq add non-negative terms, so their error stays relative even when they are tiny.
	signedStateAtol  = 2e-7
	squaredStateAtol = 0
	stateRtol        = 2e-6
)

// maxReported caps the mismatches one assertClose call lists.
const maxReported = 8

func newRNG() *rand.Rand {
	return rand.New(rand.NewPCG(1, 2))
}

// randomFloats returns n values drawn uniformly from [−scale, scale).
func randomFloats(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for k := range x {
		x[k] = float32(scale * (2*rng.Float64() - 1))
	}
	return x
}

// widen converts float32 values to float64 exactly, for cpuref.
func widen(x []float32) []float64 {
	if x == nil {
		return nil
	}
	w := make([]float64, len(x))
	for k, v := range x {
		w[k] = float64(v)
	}
	return w
}

// assertClose reports every index where got and want differ by more than atol + rtol·|want|, up to
// maxReported of them, with the tensor's name and both values. NaN never passes.
func assertClose(t *testing.T, name string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has length %d, expected %d", name, len(got), len(want))
		return
	}
	reported := 0
	for k := range got {
		diff := math.Abs(float64(got[k]) - want[k])
		tol := atol + rtol*math.Abs(want[k])
		if diff <= tol {
			continue
		}
		t.Errorf("%s[%d] = %.9g, expected %.9g (|diff| %.3g, tolerance %.3g)", name, k, got[k], want[k], diff, tol)
		reported++
		if reported == maxReported {
			t.Errorf("%s: more mismatches not listed", name)
			return
		}
	}
}

// assertBitsEqual reports the first index where got and want differ in their bits, so NaN equals NaN.
func assertBitsEqual(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has length %d, expected %d", name, len(got), len(want))
		return
	}
	for k := range got {
		if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
			t.Errorf("%s[%d] = %.9g, expected exactly %.9g", name, k, got[k], want[k])
			return
		}
	}
}

// addFloat64 returns a + b, where b may be nil.
func addFloat64(a, b []float64) []float64 {
	sum := slices.Clone(a)
	for k := range b {
		sum[k] += b[k]
	}
	return sum
}

func TestLaunchConstants(t *testing.T) {
	if ReduceThreads != kernels.BlockThreads {
		t.Errorf("RECUR_REDUCE_THREADS is %d, kernels.BlockThreads is %d", ReduceThreads, kernels.BlockThreads)
	}
	if NormPartials != kernels.NormPartials {
		t.Errorf("RECUR_NORM_PARTIALS is %d, kernels.NormPartials is %d", NormPartials, kernels.NormPartials)
	}
}

func TestHeaderIsC99(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found; the strict C99 compile of recur_math.cuh needs it")
	}
	cmd := exec.Command(cc, "-std=c99", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
		"-x", "c", "../recur_math.cuh")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("gcc -std=c99 rejects recur_math.cuh: %v\n%s", err, out)
	}
}

// lstmShapes are the (B, H) pairs of the LSTM tests: small, odd and with B ≠ H, so a swapped index
// reads the wrong element.
var lstmShapes = [][2]int{{3, 5}, {1, 1}, {2, 7}}

// lstmInputs returns gate pre-activations [B×4H] of order 4, with saturating values of ±50 and ±100 in
// the first row, and a previous cell state [B×H].
func lstmInputs(rng *rand.Rand, B, H int) (pre, cPrev []float32) {
	pre = randomFloats(rng, B*4*H, 4)
	for k, v := range []float32{100, -100, 50, -50} {
		if k < len(pre) {
			pre[k*H] = v
		}
	}
	return pre, randomFloats(rng, B*H, 2)
}

func TestLSTMGatesForward(t *testing.T) {
	rng := newRNG()
	for _, shape := range lstmShapes {
		B, H := shape[0], shape[1]
		t.Run(fmt.Sprintf("B=%d,H=%d", B, H), func(t *testing.T) {
			pre, cPrev := lstmInputs(rng, B, H)
			gates := slices.Clone(pre)
			c, h := make([]float32, B*H), make([]float32, B*H)
			LSTMGatesForward(gates, cPrev, c, h, B, H)

			act, wantC, wantH := cpuref.LSTMCellForward(widen(pre), widen(cPrev), B, H)
			assertClose(t, "gates", gates, act, activationAtol, activationRtol)
			assertClose(t, "c", c, wantC, activationAtol, activationRtol)
			assertClose(t, "h", h, wantH, activationAtol, activationRtol)

			// c may be the same tensor as cPrev.
			state, gatesInPlace, hInPlace := slices.Clone(cPrev), slices.Clone(pre), make([]float32, B*H)
			LSTMGatesForward(gatesInPlace, state, state, hInPlace, B, H)
			assertBitsEqual(t, "c written over cPrev", state, c)
			assertBitsEqual(t, "h with c written over cPrev", hInPlace, h)
		})
	}
}

func TestLSTMGatesBackward(t *testing.T) {
	rng := newRNG()
	for _, shape := range lstmShapes {
		B, H := shape[0], shape[1]
		pre, cPrev := lstmInputs(rng, B, H)
		gates, c, h := slices.Clone(pre), make([]float32, B*H), make([]float32, B*H)
		LSTMGatesForward(gates, cPrev, c, h, B, H)
		dhOut, dhRec, dcNext := randomFloats(rng, B*H, 1), randomFloats(rng, B*H, 1), randomFloats(rng, B*H, 1)

		for _, withRec := range []bool{true, false} {
			t.Run(fmt.Sprintf("B=%d,H=%d,dhRec=%v", B, H, withRec), func(t *testing.T) {
				rec := dhRec
				if !withRec {
					rec = nil
				}
				dc, dgates := slices.Clone(dcNext), make([]float32, B*4*H)
				LSTMGatesBackward(gates, cPrev, c, dhOut, rec, dc, dgates, B, H)

				dh := addFloat64(widen(dhOut), widen(rec))
				wantDpre, wantDcPrev := cpuref.LSTMCellBackward(widen(gates), widen(cPrev), widen(c), dh,
					widen(dcNext), B, H)
				assertClose(t, "dgates", dgates, wantDpre, activationAtol, activationRtol)
				assertClose(t, "dc", dc, wantDcPrev, activationAtol, activationRtol)

				// dgates may be the same tensor as gates.
				inPlace, dcInPlace := slices.Clone(gates), slices.Clone(dcNext)
				LSTMGatesBackward(inPlace, cPrev, c, dhOut, rec, dcInPlace, inPlace, B, H)
				assertBitsEqual(t, "dgates written over gates", inPlace, dgates)
				assertBitsEqual(t, "dc with dgates written over gates", dcInPlace, dc)
			})
		}
	}
}

// gruShapes are the (B, H) pairs of the GRU tests, chosen as for the LSTM.
var gruShapes = [][2]int{{3, 5}, {1, 1}, {2, 7}}

// gruInputs returns input and recurrent pre-activations [B×3H] of order 4, with saturating values of
// ±50 and ±100 in the first row of xg, and a previous hidden state [B×H] in (−1, 1).
func gruInputs(rng *rand.Rand, B, H int) (xg, hg, hPrev []float32) {
	xg = randomFloats(rng, B*3*H, 4)
	for k, v := range []float32{100, -100, 50} {
		if k < len(xg) {
			xg[k*H] = v
		}
	}
	return xg, randomFloats(rng, B*3*H, 4), randomFloats(rng, B*H, 1)
}

func TestGRUGatesForward(t *testing.T) {
	rng := newRNG()
	for _, shape := range gruShapes {
		B, H := shape[0], shape[1]
		t.Run(fmt.Sprintf("B=%d,H=%d", B, H), func(t *testing.T) {
			xgIn, hg, hPrev := gruInputs(rng, B, H)
			xg, hgCopy, h := slices.Clone(xgIn), slices.Clone(hg), make([]float32, B*H)
			GRUGatesForward(xg, hgCopy, nil, hPrev, h, B, H)

			act, wantH := cpuref.GRUCellForward(widen(xgIn), widen(hg), widen(hPrev), B, H)
			assertClose(t, "xg", xg, act, activationAtol, activationRtol)
			assertClose(t, "h", h, wantH, activationAtol, activationRtol)
			assertBitsEqual(t, "hg after forward", hgCopy, hg)

			// h may be the same tensor as hPrev.
			state, xgInPlace := slices.Clone(hPrev), slices.Clone(xgIn)
			GRUGatesForward(xgInPlace, hg, nil, state, state, B, H)
			assertBitsEqual(t, "h written over hPrev", state, h)
			assertBitsEqual(t, "xg with h written over hPrev", xgInPlace, xg)
		})
	}
}

// TestGRUGatesForwardAddsBias checks the bias_hh that gru_gates_forward adds: hg afterwards holds
// the float32 sum hg + bhh, bit for bit as a separate add_bias would leave it, and the gates and h
// are those of the biased projections.
func TestGRUGatesForwardAddsBias(t *testing.T) {
	rng := newRNG()
	for _, shape := range gruShapes {
		B, H := shape[0], shape[1]
		t.Run(fmt.Sprintf("B=%d,H=%d", B, H), func(t *testing.T) {
			xgIn, hgIn, hPrev := gruInputs(rng, B, H)
			bhh := randomFloats(rng, 3*H, 1)
			xg, hg, h := slices.Clone(xgIn), slices.Clone(hgIn), make([]float32, B*H)
			GRUGatesForward(xg, hg, bhh, hPrev, h, B, H)

			biased := slices.Clone(hgIn)
			AddBias(biased, bhh, B, 3*H)
			assertBitsEqual(t, "hg after forward with bias", hg, biased)
			act, wantH := cpuref.GRUCellForward(widen(xgIn), widen(biased), widen(hPrev), B, H)
			assertClose(t, "xg", xg, act, activationAtol, activationRtol)
			assertClose(t, "h", h, wantH, activationAtol, activationRtol)

			// The fused bias gives the same bits as add_bias followed by the unbiased kernel.
			xgSplit, hSplit := slices.Clone(xgIn), make([]float32, B*H)
			GRUGatesForward(xgSplit, biased, nil, hPrev, hSplit, B, H)
			assertBitsEqual(t, "xg against add_bias then forward", xg, xgSplit)
			assertBitsEqual(t, "h against add_bias then forward", h, hSplit)
		})
	}
}

func TestGRUGatesBackward(t *testing.T) {
	rng := newRNG()
	for _, shape := range gruShapes {
		B, H := shape[0], shape[1]
		xgIn, hg, hPrev := gruInputs(rng, B, H)
		xg, h := slices.Clone(xgIn), make([]float32, B*H)
		GRUGatesForward(xg, hg, nil, hPrev, h, B, H)
		dhOut, dhRec := randomFloats(rng, B*H, 1), randomFloats(rng, B*H, 1)

		for _, withRec := range []bool{true, false} {
			t.Run(fmt.Sprintf("B=%d,H=%d,dhRec=%v", B, H, withRec), func(t *testing.T) {
				rec := dhRec
				if !withRec {
					rec = nil
				}
				dxg, dhg, dhPrev := make([]float32, B*3*H), make([]float32, B*3*H), make([]float32, B*H)
				GRUGatesBackward(xg, hg, hPrev, dhOut, rec, dxg, dhg, dhPrev, B, H)

				dh := addFloat64(widen(dhOut), widen(rec))
				wantDxg, wantDhg, wantDhPrev := cpuref.GRUCellBackward(widen(xg), widen(hg), widen(hPrev), dh, B, H)
				assertClose(t, "dxg", dxg, wantDxg, activationAtol, activationRtol)
				assertClose(t, "dhg", dhg, wantDhg, activationAtol, activationRtol)
				assertClose(t, "dhPrev", dhPrev, wantDhPrev, activationAtol, activationRtol)

				// dxg may be xg, dhg may be hg and dhPrev may be dhOut.
				xgInPlace, hgInPlace, dhInPlace := slices.Clone(xg), slices.Clone(hg), slices.Clone(dhOut)
				GRUGatesBackward(xgInPlace, hgInPlace, hPrev, dhInPlace, rec, xgInPlace, hgInPlace, dhInPlace, B, H)
				assertBitsEqual(t, "dxg written over xg", xgInPlace, dxg)
				assertBitsEqual(t, "dhg written over hg", hgInPlace, dhg)
				assertBitsEqual(t, "dhPrev written over dhOut", dhInPlace, dhPrev)
			})
		}
	}
}

func TestRNN(t *testing.T) {
	const n = 37
	rng := newRNG()
	pre := randomFloats(rng, n, 4)
	pre[0], pre[1] = 100, -100
	h := make([]float32, n)
	RNNForward(pre, h)
	assertClose(t, "h", h, cpuref.RNNCellForward(widen(pre)), activationAtol, activationRtol)

	dhOut, dhRec := randomFloats(rng, n, 1), randomFloats(rng, n, 1)
	for _, rec := range [][]float32{dhRec, nil} {
		dpre := make([]float32, n)
		RNNBackward(h, dhOut, rec, dpre)
		want := cpuref.RNNCellBackward(widen(h), addFloat64(widen(dhOut), widen(rec)))
		assertClose(t, fmt.Sprintf("dpre (dhRec %v)", rec != nil), dpre, want, activationAtol, activationRtol)
	}
}

func TestAddBias(t *testing.T) {
	const rows, cols = 7, 5
	rng := newRNG()
	y0, bias := randomFloats(rng, rows*cols, 1), randomFloats(rng, cols, 1)
	y := slices.Clone(y0)
	AddBias(y, bias, rows, cols)
	want := widen(y0)
	for r := 0; r < rows; r++ {
		for j := 0; j < cols; j++ {
			want[r*cols+j] += float64(bias[j])
		}
	}
	assertClose(t, "y", y, want, 0, roundingRtol)
}

func TestSumRows(t *testing.T) {
	const rows, cols = 37, 5
	rng := newRNG()
	dst0, x := randomFloats(rng, cols, 1), randomFloats(rng, rows*cols, 1)
	dst := slices.Clone(dst0)
	SumRows(dst, x, rows, cols)
	want := widen(dst0)
	for r := 0; r < rows; r++ {
		for j := 0; j < cols; j++ {
			want[j] += float64(x[r*cols+j])
		}
	}
	assertClose(t, "dst", dst, want, sumAtol, sumRtol)
}

func TestEmbedding(t *testing.T) {
	const V, dim, n = 11, 5, 37
	rng := newRNG()
	table := randomFloats(rng, V*dim, 1)
	ids := make([]int32, n)
	refIDs := make([]int, n)
	for r := range ids {
		ids[r] = int32(rng.IntN(V))
		refIDs[r] = int(ids[r])
	}
	ids[0], refIDs[0] = V-1, V-1

	out := make([]float32, n*dim)
	EmbeddingForward(out, table, ids, dim)
	assertClose(t, "out", out, cpuref.EmbeddingForward(widen(table), refIDs, dim), 0, 0)

	dtable0, dout := randomFloats(rng, V*dim, 1), randomFloats(rng, n*dim, 1)
	dtable := slices.Clone(dtable0)
	EmbeddingBackward(dtable, dout, ids, dim)
	want := widen(dtable0)
	cpuref.EmbeddingBackward(want, widen(dout), refIDs, dim)
	assertClose(t, "dtable", dtable, want, sumAtol, sumRtol)
}

func TestEmbeddingRejectsOutOfRangeID(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "ids[1] = 3") {
			t.Errorf("EmbeddingForward with id 3 of a 3-row table panicked with %q, expected a message naming ids[1]", msg)
		}
	}()
	EmbeddingForward(make([]float32, 4), make([]float32, 6), []int32{0, 3}, 2)
}

// checkSoftmaxXent runs SoftmaxXent with and without a gradient and in place, and compares with cpuref.
func checkSoftmaxXent(t *testing.T, logits []float32, targets []int32, rows, V int, scale float32, threads int) {
	t.Helper()
	losses, dlogits := make([]float32, rows), make([]float32, rows*V)
	SoftmaxXent(logits, targets, losses, dlogits, rows, V, scale, threads)

	refTargets := make([]int, rows)
	for r, target := range targets {
		refTargets[r] = int(target)
	}
	wantLosses, wantGrad := cpuref.SoftmaxCrossEntropy(widen(logits), refTargets, rows, V)
	for k := range wantGrad {
		wantGrad[k] *= float64(scale)
	}
	assertClose(t, "losses", losses, wantLosses, activationAtol, activationRtol)
	assertClose(t, "dlogits", dlogits, wantGrad, activationAtol, activationRtol)

	lossesOnly := make([]float32, rows)
	SoftmaxXent(logits, targets, lossesOnly, nil, rows, V, scale, threads)
	assertBitsEqual(t, "losses without dlogits", lossesOnly, losses)

	inPlace, inPlaceLosses := slices.Clone(logits), make([]float32, rows)
	SoftmaxXent(inPlace, targets, inPlaceLosses, inPlace, rows, V, scale, threads)
	assertBitsEqual(t, "losses with dlogits written over logits", inPlaceLosses, losses)
	assertBitsEqual(t, "dlogits written over logits", inPlace, dlogits)
}

func TestSoftmaxXent(t *testing.T) {
	const rows = 9
	rng := newRNG()
	// V = 300 gives threads several columns each; threads below ReduceThreads check the partial trees.
	for _, tc := range []struct{ V, threads int }{
		{11, ReduceThreads}, {11, 7}, {300, ReduceThreads}, {300, 100}, {300, 1}, {1, ReduceThreads},
	} {
		t.Run(fmt.Sprintf("V=%d,threads=%d", tc.V, tc.threads), func(t *testing.T) {
			logits := randomFloats(rng, rows*tc.V, 5)
			targets := make([]int32, rows)
			valid := 0
			for r := range targets {
				targets[r] = int32(rng.IntN(tc.V))
				if r%3 == 1 {
					targets[r] = -1
				} else {
					valid++
				}
			}
			checkSoftmaxXent(t, logits, targets, rows, tc.V, 1/float32(valid), tc.threads)
		})
	}
}

// TestSoftmaxXentHugeLogits compares with values derived by hand, because cpuref adds the maximum
// logit back before subtracting the target's, and log 4 + 3e38 − 3e38 is 0 in float64.
func TestSoftmaxXentHugeLogits(t *testing.T) {
	const V, scale = 4, 0.5
	logits := []float32{
		1e30, -1e30, 0, 5, // target −1e30: loss 2e30
		3e38, 3e38, 3e38, 3e38, // equal logits at the top of the float32 range: loss log 4
		-3e38, -3e38, -3e38, -3e38, // and at the bottom
		88.7, 89, -87, 1e4, // one dominant logit as the target: loss and gradient 0
		1e4, 0, 0, -1e4, // one dominant logit, target another: loss 2e4
	}
	targets := []int32{1, 2, 0, 3, 3}
	wantLosses := []float64{2e30, math.Log(4), math.Log(4), 0, 2e4}
	wantGrad := []float64{
		scale, -scale, 0, 0,
		scale / 4, scale / 4, -scale * 3 / 4, scale / 4,
		-scale * 3 / 4, scale / 4, scale / 4, scale / 4,
		0, 0, 0, 0,
		scale, 0, 0, -scale,
	}
	rows := len(targets)
	losses, dlogits := make([]float32, rows), make([]float32, rows*V)
	SoftmaxXent(logits, targets, losses, dlogits, rows, V, scale, ReduceThreads)
	assertClose(t, "losses", losses, wantLosses, activationAtol, activationRtol)
	assertClose(t, "dlogits", dlogits, wantGrad, activationAtol, activationRtol)
}

func TestSoftmaxXentTargetsWithoutClass(t *testing.T) {
	const V = 5
	targets := []int32{-1, V, -2}
	rows := len(targets)
	logits := randomFloats(newRNG(), rows*V, 1)
	losses, dlogits := make([]float32, rows), make([]float32, rows*V)
	for k := range dlogits {
		dlogits[k] = 7
	}
	SoftmaxXent(logits, targets, losses, dlogits, rows, V, 1, ReduceThreads)

	if losses[0] != 0 {
		t.Errorf("loss of the ignored row (target -1) = %v, expected 0", losses[0])
	}
	assertBitsEqual(t, "dlogits of the ignored row", dlogits[:V], make([]float32, V))
	for r := 1; r < rows; r++ {
		if !math.IsNaN(float64(losses[r])) {
			t.Errorf("loss of row %d with target %d = %v, expected NaN", r, targets[r], losses[r])
		}
		for j, g := range dlogits[r*V : (r+1)*V] {
			if !math.IsNaN(float64(g)) {
				t.Errorf("dlogits[%d] of row %d with target %d = %v, expected NaN", j, r, targets[r], g)
			}
		}
	}
}

func TestDropoutKeepMatchesEngine(t *testing.T) {
	rng := newRNG()
	ps := []float32{0, 0.1, 0.25, 0.5, 0.9, 0.999, 1}
	// Small sequential indices, indices around 2^32 and 2^63, uniformly random indices, and the
	// largest ones, where index+1 wraps around.
	indexes := []func(k int) uint64{
		func(k int) uint64 { return uint64(k) },
		func(k int) uint64 { return 1<<32 - 100 + uint64(k%200) },
		func(k int) uint64 { return 1<<63 - 100 + uint64(k%200) },
		func(int) uint64 { return rng.Uint64() },
		func(k int) uint64 { return math.MaxUint64 - uint64(k%200) },
	}
	const perKind = 20_000
	for _, indexOf := range indexes {
		for k := range perKind {
			index, seed, p := indexOf(k), rng.Uint64(), ps[k%len(ps)]
			if got, want := DropoutKeep(seed, index, p), engine.DropoutKeep(seed, index, p); got != want {
				t.Fatalf("recur_dropout_keep(seed %#x, index %#x, p %v) = %v, engine.DropoutKeep returns %v",
					seed, index, p, got, want)
			}
		}
	}
}

// TestDropoutKeepBoundary checks both hashes at p = u, where random p almost never lands. The hash's
// u is k/2^24 for an integer k, and engine.DropoutKeep keeps an element exactly for p ≤ u, so
// bisection over k finds u.
func TestDropoutKeepBoundary(t *testing.T) {
	const steps = 1 << 24
	rng := newRNG()
	for range 1000 {
		seed, index := rng.Uint64(), rng.Uint64()
		lastKept, firstDropped := 0, steps // p = 0 keeps every element and p = 1 drops every one
		for firstDropped-lastKept > 1 {
			mid := (lastKept + firstDropped) / 2
			if engine.DropoutKeep(seed, index, float32(mid)/steps) {
				lastKept = mid
			} else {
				firstDropped = mid
			}
		}
		u := float32(lastKept) / steps
		if !DropoutKeep(seed, index, u) {
			t.Fatalf("recur_dropout_keep(seed %#x, index %#x) drops the element at p = u = %v, expected keep",
				seed, index, u)
		}
		if next := float32(firstDropped) / steps; DropoutKeep(seed, index, next) {
			t.Fatalf("recur_dropout_keep(seed %#x, index %#x) keeps the element at p = %v > u = %v, expected drop",
				seed, index, next, u)
		}
	}
}

func TestDropoutMask(t *testing.T) {
	const n = 100_003
	rng := newRNG()
	x0 := randomFloats(rng, n, 1)
	for _, tc := range []struct {
		p      float32
		offset uint64
	}{{0.3, 1<<32 + 7}, {0.3, math.MaxUint64 - 50_000}, {0.5, 0}, {0, 1 << 40}} {
		t.Run(fmt.Sprintf("p=%v,offset=%#x", tc.p, tc.offset), func(t *testing.T) {
			seed := rng.Uint64()
			x, mask := slices.Clone(x0), make([]float32, n)
			Dropout(x, mask, tc.p, seed, tc.offset)

			keepScale := 1 / (1 - float64(tc.p))
			keptCount := 0
			for i := range mask {
				keep := engine.DropoutKeep(seed, tc.offset+uint64(i), tc.p)
				switch {
				// The kernel rounds 1−p and then 1/(1−p) to float32.
				case keep && math.Abs(float64(mask[i])-keepScale) > elementwiseRtol*keepScale:
					t.Fatalf("mask[%d] = %.9g for a kept element, expected %.9g", i, mask[i], keepScale)
				case !keep && mask[i] != 0:
					t.Fatalf("mask[%d] = %v for a dropped element, expected 0", i, mask[i])
				case x[i] != x0[i]*mask[i]:
					t.Fatalf("x[%d] = %v, expected x·mask = %v", i, x[i], x0[i]*mask[i])
				}
				if keep {
					keptCount++
				}
			}
			// The kept share is binomial with a standard deviation below 0.0016 for n = 100003.
			if share := float64(keptCount) / n; math.Abs(share-(1-float64(tc.p))) > 0.01 {
				t.Errorf("kept %.4f of the elements, expected %.4f ± 0.01", share, 1-tc.p)
			}
		})
	}
}

func TestElementwise(t *testing.T) {
	const n = 37
	rng := newRNG()
	x, y0 := randomFloats(rng, n, 1), randomFloats(rng, n, 1)

	filled := slices.Clone(y0)
	Fill(filled, -2.5)
	assertBitsEqual(t, "fill", filled, slices.Repeat([]float32{-2.5}, n))

	const alpha = 0.7
	y := slices.Clone(y0)
	Axpy(alpha, x, y)
	wantAxpy := widen(y0)
	for i := range wantAxpy {
		wantAxpy[i] += float64(float32(alpha)) * float64(x[i])
	}
	assertClose(t, "axpy", y, wantAxpy, elementwiseAtol, elementwiseRtol)

	product := slices.Clone(y0)
	Mul(product, x)
	wantMul := make([]float64, n)
	for i := range wantMul {
		wantMul[i] = float64(y0[i]) * float64(x[i])
	}
	assertClose(t, "mul", product, wantMul, 0, roundingRtol)

	scaled := slices.Clone(y0)
	Scale(scaled, 0.3)
	wantScale := widen(y0)
	for i := range wantScale {
		wantScale[i] *= float64(float32(0.3))
	}
	assertClose(t, "scale", scaled, wantScale, 0, roundingRtol)
}

// gradNorm runs sum_squares_partial and sum_squares_final as the backend launches them.
func gradNorm(g []float32) float32 {
	partials, norm := make([]float64, NormPartials), make([]float32, 1)
	SumSquaresPartial(g, partials, ReduceThreads)
	SumSquaresFinal(partials, norm, ReduceThreads)
	return norm[0]
}

// clipGradNorm runs the three kernels of the backend's ClipGradNorm and returns the norm.
func clipGradNorm(g []float32, maxNorm float32) float32 {
	norm := []float32{gradNorm(g)}
	ClipScale(g, norm, maxNorm)
	return norm[0]
}

func TestGradNorm(t *testing.T) {
	rng := newRNG()
	// 70001 elements pass the 65536 threads of the grid, so some threads add two of them.
	for _, n := range []int{0, 1, 37, 65536, 70001} {
		g := randomFloats(rng, n, 3)
		want := cpuref.ClipGradNorm([][]float64{widen(g)}, math.Inf(1))
		assertClose(t, fmt.Sprintf("norm of %d elements", n), []float32{gradNorm(g)}, []float64{want}, 0, normRtol)
	}

	// Other block and grid sizes take other paths through the trees but add the same numbers.
	g := randomFloats(rng, 1001, 3)
	want := cpuref.ClipGradNorm([][]float64{widen(g)}, math.Inf(1))
	for _, shape := range [][2]int{{7, 100}, {1, 1}, {3, ReduceThreads}} {
		partials, norm := make([]float64, shape[0]), make([]float32, 1)
		SumSquaresPartial(g, partials, shape[1])
		SumSquaresFinal(partials, norm, shape[1])
		assertClose(t, fmt.Sprintf("norm with %d blocks of %d threads", shape[0], shape[1]), norm,
			[]float64{want}, 0, normRtol)
	}
}

func TestClipGradNorm(t *testing.T) {
	// ‖(3, 4)‖ = 5, so max_norm 2 scales by 2/(5 + 1e-6). Dividing by the squared norm, a common
	// mistake, would give (0.24, 0.32).
	g := []float32{3, 4}
	norm := clipGradNorm(g, 2)
	if norm != 5 {
		t.Errorf("norm of (3, 4) = %v, expected 5", norm)
	}
	assertClose(t, "(3, 4) clipped to norm 2", g, []float64{1.2, 1.6}, 1e-6, 0)

	rng := newRNG()
	g0 := randomFloats(rng, 70001, 3)
	g = slices.Clone(g0)
	wantG := widen(g0)
	wantNorm := cpuref.ClipGradNorm([][]float64{wantG}, 40)
	norm = clipGradNorm(g, 40)
	assertClose(t, "norm", []float32{norm}, []float64{wantNorm}, 0, normRtol)
	assertClose(t, "g clipped to norm 40", g, wantG, 0, 2*elementwiseRtol)
}

func TestClipGradNormLeavesGradient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		g       []float32
		maxNorm float32
	}{
		{"norm below max_norm", []float32{3, 4}, 5.5},
		{"max_norm 0 disables clipping", []float32{3, 4}, 0},
		{"negative max_norm disables clipping", []float32{3, 4}, -1},
		{"zero gradient", []float32{0, 0, 0}, 1},
		{"NaN norm", []float32{3, float32(math.NaN()), 4}, 1},
		{"infinite norm", []float32{3, float32(math.Inf(-1)), 4}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := slices.Clone(tc.g)
			clipGradNorm(g, tc.maxNorm)
			assertBitsEqual(t, "g", g, tc.g)
		})
	}
}

// adamSteps are the steps of TestAdamStep: the first ones, where the bias corrections matter most,
// then later ones, where they approach 1.
var adamSteps = []int{1, 2, 3, 4, 5, 100, 1000}

func TestAdamStep(t *testing.T) {
	const n = 37
	const lr, beta1, beta2, eps float32 = 1e-2, 0.9, 0.999, 1e-8
	rng := newRNG()
	p := randomFloats(rng, n, 1)
	m, v := make([]float32, n), make([]float32, n)
	wantP, wantM, wantV := widen(p), make([]float64, n), make([]float64, n)
	for _, step := range adamSteps {
		g := randomFloats(rng, n, 1)
		// Gradients near eps, where the placement of eps in the denominator matters.
		g[0], g[1], g[2] = 1e-8, 0, -3e-9
		// The backend computes the bias corrections on the host in float64 and passes them as float32.
		bc1 := float32(1 - math.Pow(float64(beta1), float64(step)))
		bc2 := float32(1 - math.Pow(float64(beta2), float64(step)))
		AdamStep(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2, nil)
		cpuref.AdamStep(wantP, widen(g), wantM, wantV, float64(lr), float64(beta1), float64(beta2),
			float64(eps), step)

		assertClose(t, fmt.Sprintf("p after step %d", step), p, wantP, paramAtol, paramRtol)
		assertClose(t, fmt.Sprintf("m after step %d", step), m, wantM, signedStateAtol, stateRtol)
		assertClose(t, fmt.Sprintf("v after step %d", step), v, wantV, squaredStateAtol, stateRtol)
	}
}

func TestSGDStep(t *testing.T) {
	const n = 37
	rng := newRNG()
	for _, momentum := range []float32{0.9, 0} {
		p := randomFloats(rng, n, 1)
		buf := make([]float32, n)
		wantP, wantBuf := widen(p), make([]float64, n)
		for step := 1; step <= 3; step++ {
			g := randomFloats(rng, n, 1)
			SGDStep(p, g, buf, 0.1, momentum, nil)
			cpuref.SGDStep(wantP, widen(g), wantBuf, float64(float32(0.1)), float64(momentum))
			name := fmt.Sprintf("after step %d with momentum %v", step, momentum)
			assertClose(t, "p "+name, p, wantP, paramAtol, paramRtol)
			assertClose(t, "buf "+name, buf, wantBuf, signedStateAtol, stateRtol)
		}
	}
}

func TestRMSpropStep(t *testing.T) {
	const n = 37
	const lr, alpha, eps float32 = 1e-2, 0.99, 1e-8
	rng := newRNG()
	p := randomFloats(rng, n, 1)
	sq := make([]float32, n)
	wantP, wantSq := widen(p), make([]float64, n)
	for step := 1; step <= 3; step++ {
		g := randomFloats(rng, n, 1)
		RMSpropStep(p, g, sq, lr, alpha, eps, nil)
		cpuref.RMSpropStep(wantP, widen(g), wantSq, float64(lr), float64(alpha), float64(eps))
		assertClose(t, fmt.Sprintf("p after step %d", step), p, wantP, paramAtol, paramRtol)
		assertClose(t, fmt.Sprintf("sq after step %d", step), sq, wantSq, squaredStateAtol, stateRtol)
	}
}

func TestFiniteGuard(t *testing.T) {
	const n = 600 // more than one element per thread, so every thread's share is checked
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	norm := []float32{2.5}
	for _, threads := range []int{1, 7, ReduceThreads} {
		finite := randomFloats(newRNG(), n, 10)
		guard := []float32{-1}
		FiniteGuard(norm, finite, guard, threads)
		if guard[0] != norm[0] {
			t.Errorf("%d threads, finite losses: guard %v, want the norm %v", threads, guard[0], norm[0])
		}
		FiniteGuard(norm, nil, guard, threads)
		if guard[0] != norm[0] {
			t.Errorf("%d threads, no losses: guard %v, want the norm %v", threads, guard[0], norm[0])
		}
		for _, i := range []int{0, 1, threads - 1, threads, n - 1} {
			for _, bad := range []float32{nan, inf, -inf} {
				x := slices.Clone(finite)
				x[i] = bad
				FiniteGuard(norm, x, guard, threads)
				if !math.IsNaN(float64(guard[0])) {
					t.Errorf("%d threads, loss %d = %v: guard %v, want NaN", threads, i, bad, guard[0])
				}
			}
		}
		for _, badNorm := range []float32{nan, inf} {
			FiniteGuard([]float32{badNorm}, finite, guard, threads)
			if !math.IsNaN(float64(guard[0])) && !math.IsInf(float64(guard[0]), 0) {
				t.Errorf("%d threads, norm %v: guard %v, want a non-finite value", threads, badNorm,
					guard[0])
			}
		}
	}
}

// TestOptimizerGuard checks that each optimizer kernel applies its update when its guard is
// finite, exactly as without a guard, and leaves the parameters and state untouched when the
// guard is NaN or infinite.
func TestOptimizerGuard(t *testing.T) {
	const n = 37
	rng := newRNG()
	p0, g := randomFloats(rng, n, 1), randomFloats(rng, n, 1)
	s0 := randomFloats(rng, n, 1)
	for i := range s0 {
		s0[i] *= s0[i] // valid second moments for Adam's v and RMSprop's sq
	}
	steps := map[string]func(p, s []float32, guard []float32){
		"adam": func(p, s, guard []float32) {
			m := slices.Clone(s0)
			AdamStep(p, g, m, s, 1e-2, 0.9, 0.999, 1e-8, 0.1, 0.001, guard)
		},
		"sgd":     func(p, s, guard []float32) { SGDStep(p, g, s, 0.1, 0.9, guard) },
		"rmsprop": func(p, s, guard []float32) { RMSpropStep(p, g, s, 1e-2, 0.99, 1e-8, guard) },
	}
	for name, step := range steps {
		wantP, wantS := slices.Clone(p0), slices.Clone(s0)
		step(wantP, wantS, nil)
		if slices.Equal(wantP, p0) {
			t.Fatalf("%s without a guard left the parameters unchanged", name)
		}

		p, s := slices.Clone(p0), slices.Clone(s0)
		step(p, s, []float32{3})
		assertBitsEqual(t, name+" p with a finite guard", p, wantP)
		assertBitsEqual(t, name+" state with a finite guard", s, wantS)

		for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			p, s := slices.Clone(p0), slices.Clone(s0)
			step(p, s, []float32{float32(bad)})
			assertBitsEqual(t, fmt.Sprintf("%s p with guard %v", name, bad), p, p0)
			assertBitsEqual(t, fmt.Sprintf("%s state with guard %v", name, bad), s, s0)
		}
	}
}

func TestShortSlicePanics(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "h has 14 elements, expected at least 15") {
			t.Errorf("LSTMGatesForward with a short h panicked with %q, expected a message naming h", msg)
		}
	}()
	LSTMGatesForward(make([]float32, 60), make([]float32, 15), make([]float32, 15), make([]float32, 14), 3, 5)
}
