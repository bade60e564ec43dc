package enginetest

import (
	"fmt"
	"math"

	"github.com/recur-ml/recur/cpuref"
	"github.com/recur-ml/recur/engine"
)

// cellShapes are the B×H shapes of the LSTM checks. 8×300 has 2400 units, enough for a
// threaded backend to split a step.
var cellShapes = []struct{ B, H int }{
	{1, 1},
	{3, 7},
	{8, 300},
}

func testLSTMForward(e *env) {
	for _, s := range cellShapes {
		B, H := s.B, s.H
		name := fmt.Sprintf("B=%d H=%d", B, H)
		pre := e.uniform(B*4*H, -4, 4)
		cPrev := e.uniform(B*H, -2, 2)

		// The model keeps c for all steps in one tensor and passes adjacent slots as cPrev
		// and c, so the check does too.
		slots := make([]float32, 2*B*H)
		copy(slots, cPrev)
		cWhole, cSlots := e.padded(slots, 1, 2)
		cPrevView, cView := cSlots.Slice(0, B*H), cSlots.Slice(B*H, B*H)
		gatesWhole, gatesView := e.padded(pre, 3, 1)
		hWhole, hView := e.padded(make([]float32, B*H), 2, 2)

		e.be.LSTMForward(gatesView, cPrevView, cView, hView, B, H)

		act, c, h := cpuref.LSTMCellForward(float64s(pre), float64s(cPrev), B, H)
		e.compare(kindActivation, "gates "+name, e.download(gatesView), act)
		e.compare(kindActivation, "c "+name, e.download(cView), c)
		e.compare(kindActivation, "h "+name, e.download(hView), h)
		e.exact("cPrev "+name+" is not written", e.download(cPrevView), cPrev)
		e.checkGuard("gates "+name, gatesWhole, 3, len(pre))
		e.checkGuard("c "+name, cWhole, 1, 2*B*H)
		e.checkGuard("h "+name, hWhole, 2, B*H)
	}
}

// float32s rounds x to float32.
func float32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func testLSTMBackward(e *env) {
	for _, s := range cellShapes {
		for _, withRec := range []bool{false, true} {
			for _, withDc := range []bool{false, true} {
				checkLSTMBackward(e, s.B, s.H, withRec, withDc)
			}
		}
	}
}

// checkLSTMBackward runs one backward step from activations that cpuref computed and rounded
// to float32, so that the backend and cpuref read the same values. withRec passes a gradient
// from the next step into h (else nil), and withDc a nonzero gradient into c (else zeros, as
// at the last step).
func checkLSTMBackward(e *env, B, H int, withRec, withDc bool) {
	e.t.Helper()
	name := fmt.Sprintf("B=%d H=%d dhRec=%v dc=%v", B, H, withRec, withDc)
	cPrev := e.uniform(B*H, -2, 2)
	act64, c64, _ := cpuref.LSTMCellForward(float64s(e.uniform(B*4*H, -4, 4)), float64s(cPrev), B, H)
	act, c := float32s(act64), float32s(c64)
	dhOut := e.uniform(B*H, -1, 1)
	dhRec := e.uniform(B*H, -1, 1)
	dc := make([]float32, B*H)
	if withDc {
		dc = e.uniform(B*H, -1, 1)
	}

	_, gatesView := e.padded(act, 1, 1)
	_, cSlots := e.padded(append(append([]float32(nil), cPrev...), c...), 2, 1)
	_, dhOutView := e.padded(dhOut, 1, 0)
	var dhRecView engine.Tensor
	if withRec {
		_, dhRecView = e.padded(dhRec, 3, 1)
	}
	dcWhole, dcView := e.padded(dc, 1, 1)
	dgatesWhole, dgatesView := e.padded(e.uniform(B*4*H, -1, 1), 2, 2)

	e.be.LSTMBackward(gatesView, cSlots.Slice(0, B*H), cSlots.Slice(B*H, B*H), dhOutView,
		dhRecView, dcView, dgatesView, B, H)

	dh := float64s(dhOut)
	if withRec {
		for i := range dh {
			dh[i] += float64(dhRec[i])
		}
	}
	dpre, dcPrev := cpuref.LSTMCellBackward(float64s(act), float64s(cPrev), float64s(c), dh,
		float64s(dc), B, H)
	e.compare(kindActivation, "dgates "+name, e.download(dgatesView), dpre)
	e.compare(kindActivation, "dc "+name, e.download(dcView), dcPrev)
	e.checkGuard("dgates "+name, dgatesWhole, 2, B*4*H)
	e.checkGuard("dc "+name, dcWhole, 1, B*H)
}

// rnnSizes are the lengths of the RNN checks. 9001 is odd and more than twice the 4096
// elements above which a threaded backend splits a tanh loop.
var rnnSizes = []int{1, 21, 9001}

func testRNNForward(e *env) {
	for _, n := range rnnSizes {
		name := fmt.Sprintf("h of %d", n)
		pre := e.uniform(n, -3, 3)
		_, preView := e.padded(pre, 1, 2)
		hWhole, hView := e.padded(make([]float32, n), 2, 1)

		e.be.RNNForward(preView, hView)

		e.compare(kindActivation, name, e.download(hView), cpuref.RNNCellForward(float64s(pre)))
		e.checkGuard(name, hWhole, 2, n)
	}
}

func testRNNBackward(e *env) {
	for _, n := range rnnSizes {
		for _, withRec := range []bool{false, true} {
			name := fmt.Sprintf("dpre of %d dhRec=%v", n, withRec)
			h := float32s(cpuref.RNNCellForward(float64s(e.uniform(n, -3, 3))))
			dhOut := e.uniform(n, -1, 1)
			dhRec := e.uniform(n, -1, 1)
			_, hView := e.padded(h, 1, 1)
			_, dhOutView := e.padded(dhOut, 2, 0)
			var dhRecView engine.Tensor
			if withRec {
				_, dhRecView = e.padded(dhRec, 1, 3)
			}
			dpreWhole, dpreView := e.padded(e.uniform(n, -1, 1), 3, 1)

			e.be.RNNBackward(hView, dhOutView, dhRecView, dpreView)

			dh := float64s(dhOut)
			if withRec {
				for i := range dh {
					dh[i] += float64(dhRec[i])
				}
			}
			e.compare(kindActivation, name, e.download(dpreView), cpuref.RNNCellBackward(float64s(h), dh))
			e.checkGuard(name, dpreWhole, 3, n)
		}
	}
}

// softmaxCase is one input of the SoftmaxCrossEntropy checks.
type softmaxCase struct {
	name    string
	rows, V int
	logits  []float32
	targets []int32
}

// softmaxCases returns random logits with some ignored rows, logits near ±1e4 that overflow
// a softmax that does not subtract the row maximum, and 40 rows of 517 classes, enough for a
// threaded backend to split the rows.
func softmaxCases(e *env) []softmaxCase {
	random := softmaxCase{name: "9×13", rows: 9, V: 13, logits: e.uniform(9*13, -5, 5)}
	random.targets = e.ids(9, 13)
	random.targets[2], random.targets[5] = -1, -1

	// Row 0 lies near 1e4, row 1 near −1e4, row 2 mixes both with its target at −1e4 (a loss
	// of about 2e4), and row 3 is 1e4 in every column (a loss of log 13).
	const V = 13
	huge := softmaxCase{name: "logits near ±1e4", rows: 4, V: V, logits: make([]float32, 4*V)}
	for j := 0; j < V; j++ {
		huge.logits[0*V+j] = float32(1e4 + 6*e.rng.Float64() - 3)
		huge.logits[1*V+j] = float32(-1e4 + 6*e.rng.Float64() - 3)
		huge.logits[2*V+j] = float32(1e4 * float64(1-2*(j%2)))
		huge.logits[3*V+j] = 1e4
	}
	huge.targets = []int32{4, 11, 1, 7}

	large := softmaxCase{name: "40×517", rows: 40, V: 517, logits: e.uniform(40*517, -3, 3)}
	large.targets = e.ids(40, 517)
	large.targets[0], large.targets[39] = -1, -1

	one := softmaxCase{name: "1×1", rows: 1, V: 1, logits: []float32{0.5}, targets: []int32{0}}
	ignored := softmaxCase{name: "all ignored", rows: 2, V: 3, logits: e.uniform(6, -1, 1),
		targets: []int32{-1, -1}}
	return []softmaxCase{random, huge, large, one, ignored}
}

func testSoftmaxCrossEntropy(e *env) {
	for _, c := range softmaxCases(e) {
		count := 0
		for _, t := range c.targets {
			if t >= 0 {
				count++
			}
		}
		scale := float32(1) / float32(max(count, 1))
		checkSoftmax(e, c, scale, true)
	}
	cases := softmaxCases(e)
	checkSoftmax(e, cases[0], 1, false)
	checkSoftmax(e, cases[0], 2.5, true)
	checkSoftmaxPanics(e)
}

// checkSoftmax runs one SoftmaxCrossEntropy call on outputs filled with a nonzero value, so
// that a row the backend skips shows up, and compares with cpuref. withGrad false passes a
// nil dlogits.
func checkSoftmax(e *env, c softmaxCase, scale float32, withGrad bool) {
	e.t.Helper()
	name := fmt.Sprintf("%s scale=%g", c.name, scale)
	_, logitsView := e.padded(c.logits, 1, 2)
	lossesWhole, lossesView := e.padded(e.uniform(c.rows, 5, 6), 2, 1)
	var dlogitsWhole, dlogitsView engine.Tensor
	if withGrad {
		dlogitsWhole, dlogitsView = e.padded(e.uniform(c.rows*c.V, 5, 6), 3, 1)
	} else {
		name += " without dlogits"
	}

	e.be.SoftmaxCrossEntropy(logitsView, c.targets, lossesView, dlogitsView, c.rows, c.V, scale)

	losses, dlogits := cpuref.SoftmaxCrossEntropy(float64s(c.logits), ints(c.targets), c.rows, c.V)
	for i := range dlogits {
		dlogits[i] *= float64(scale)
	}
	gotLosses := e.download(lossesView)
	e.compare(kindActivation, "losses "+name, gotLosses, losses)
	e.checkGuard("losses "+name, lossesWhole, 2, c.rows)
	var gotDlogits []float32
	if withGrad {
		gotDlogits = e.download(dlogitsView)
		e.compare(kindActivation, "dlogits "+name, gotDlogits, dlogits)
		e.checkGuard("dlogits "+name, dlogitsWhole, 3, c.rows*c.V)
	}

	// An ignored row has a loss of exactly 0 and a gradient row of exactly 0.
	for r, t := range c.targets {
		if t != -1 {
			continue
		}
		if gotLosses[r] != 0 {
			e.t.Errorf("losses %s[%d]: got %g for an ignored row, want 0", name, r, gotLosses[r])
		}
		for j := 0; withGrad && j < c.V; j++ {
			if v := gotDlogits[r*c.V+j]; v != 0 {
				e.t.Errorf("dlogits %s[%d]: got %g in ignored row %d, want 0", name, r*c.V+j, v, r)
				break
			}
		}
	}
	for r, v := range gotLosses {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			e.t.Errorf("losses %s[%d]: got %g, want a finite loss", name, r, v)
		}
	}
}

// checkSoftmaxPanics checks that a target outside [−1, V) panics, as the Backend contract
// requires.
func checkSoftmaxPanics(e *env) {
	e.t.Helper()
	const rows, V = 2, 3
	logits := e.upload(e.uniform(rows*V, -1, 1))
	losses := e.be.Alloc(rows)
	dlogits := e.be.Alloc(rows * V)
	for _, bad := range []int32{V, -2} {
		targets := []int32{0, bad}
		if !panics(func() {
			e.be.SoftmaxCrossEntropy(logits, targets, losses, dlogits, rows, V, 1)
		}) {
			e.t.Errorf("SoftmaxCrossEntropy with target %d and V=%d: no panic, want one", bad, V)
		}
	}
}

// panics reports whether fn panics.
func panics(fn func()) (panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	fn()
	return false
}
