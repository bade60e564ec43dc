package enginetest

import (
	"fmt"

	"github.com/recur-ml/recur/cpuref"
	"github.com/recur-ml/recur/engine"
)

func testGRUForward(e *env) {
	for _, s := range cellShapes {
		B, H := s.B, s.H
		name := fmt.Sprintf("B=%d H=%d", B, H)
		xg := e.uniform(B*3*H, -4, 4)
		hg := e.uniform(B*3*H, -4, 4)
		hPrev := e.uniform(B*H, -1, 1)

		// The model keeps h for all steps in one tensor and passes adjacent slots as hPrev
		// and h, so the check does too.
		slots := make([]float32, 2*B*H)
		copy(slots, hPrev)
		hWhole, hSlots := e.padded(slots, 1, 2)
		hPrevView, hView := hSlots.Slice(0, B*H), hSlots.Slice(B*H, B*H)
		xgWhole, xgView := e.padded(xg, 3, 1)
		hgWhole, hgView := e.padded(hg, 2, 2)

		e.be.GRUForward(xgView, hgView, nil, hPrevView, hView, B, H)

		act, h := cpuref.GRUCellForward(float64s(xg), float64s(hg), float64s(hPrev), B, H)
		e.compare(kindActivation, "xg "+name, e.download(xgView), act)
		e.compare(kindActivation, "h "+name, e.download(hView), h)
		e.exact("hg "+name+" is not written", e.download(hgView), hg)
		e.exact("hPrev "+name+" is not written", e.download(hPrevView), hPrev)
		e.checkGuard("xg "+name, xgWhole, 3, len(xg))
		e.checkGuard("hg "+name, hgWhole, 2, len(hg))
		e.checkGuard("h "+name, hWhole, 1, 2*B*H)
	}
}

// testGRUForwardBias checks the bias_hh that GRUForward adds into hg: hg afterwards holds the
// float32 sums hg + bhh, exactly, and the gates and h are those of the biased projections.
func testGRUForwardBias(e *env) {
	for _, s := range cellShapes {
		B, H := s.B, s.H
		name := fmt.Sprintf("B=%d H=%d", B, H)
		xg := e.uniform(B*3*H, -4, 4)
		hg := e.uniform(B*3*H, -4, 4)
		bhh := e.uniform(3*H, -1, 1)
		hPrev := e.uniform(B*H, -1, 1)
		_, xgView := e.padded(xg, 1, 2)
		hgWhole, hgView := e.padded(hg, 2, 1)
		bhhWhole, bhhView := e.padded(bhh, 1, 1)
		_, hPrevView := e.padded(hPrev, 2, 2)
		hWhole, hView := e.padded(make([]float32, B*H), 1, 3)

		e.be.GRUForward(xgView, hgView, bhhView, hPrevView, hView, B, H)

		biased := make([]float32, len(hg))
		for i := range hg {
			biased[i] = hg[i] + bhh[i%(3*H)]
		}
		act, h := cpuref.GRUCellForward(float64s(xg), float64s(biased), float64s(hPrev), B, H)
		e.exact("hg "+name+" holds hg + bhh", e.download(hgView), biased)
		e.compare(kindActivation, "xg "+name, e.download(xgView), act)
		e.compare(kindActivation, "h "+name, e.download(hView), h)
		e.exact("bhh "+name+" is not written", e.download(bhhView), bhh)
		e.checkGuard("hg "+name, hgWhole, 2, len(hg))
		e.checkGuard("bhh "+name, bhhWhole, 1, len(bhh))
		e.checkGuard("h "+name, hWhole, 1, B*H)
	}
}

func testGRUBackward(e *env) {
	for _, s := range cellShapes {
		for _, withRec := range []bool{false, true} {
			checkGRUBackward(e, s.B, s.H, withRec)
		}
	}
}

// checkGRUBackward runs one backward step from activations that cpuref computed and rounded
// to float32, so that the backend and cpuref read the same values. withRec passes a gradient
// from the next step into h, else nil.
func checkGRUBackward(e *env, B, H int, withRec bool) {
	e.t.Helper()
	name := fmt.Sprintf("B=%d H=%d dhRec=%v", B, H, withRec)
	hg := e.uniform(B*3*H, -3, 3)
	hPrev := e.uniform(B*H, -1, 1)
	act64, _ := cpuref.GRUCellForward(float64s(e.uniform(B*3*H, -4, 4)), float64s(hg),
		float64s(hPrev), B, H)
	act := float32s(act64)
	dhOut := e.uniform(B*H, -1, 1)
	dhRec := e.uniform(B*H, -1, 1)

	_, actView := e.padded(act, 1, 1)
	_, hgView := e.padded(hg, 2, 1)
	_, hPrevView := e.padded(hPrev, 1, 2)
	_, dhOutView := e.padded(dhOut, 1, 0)
	var dhRecView engine.Tensor
	if withRec {
		_, dhRecView = e.padded(dhRec, 3, 1)
	}
	dxgWhole, dxgView := e.padded(e.uniform(B*3*H, -1, 1), 2, 2)
	dhgWhole, dhgView := e.padded(e.uniform(B*3*H, -1, 1), 1, 3)
	dhPrevWhole, dhPrevView := e.padded(e.uniform(B*H, -1, 1), 2, 1)

	e.be.GRUBackward(actView, hgView, hPrevView, dhOutView, dhRecView, dxgView, dhgView,
		dhPrevView, B, H)

	dh := float64s(dhOut)
	if withRec {
		for i := range dh {
			dh[i] += float64(dhRec[i])
		}
	}
	dxg, dhg, dhPrev := cpuref.GRUCellBackward(float64s(act), float64s(hg), float64s(hPrev), dh, B, H)
	e.compare(kindActivation, "dxg "+name, e.download(dxgView), dxg)
	e.compare(kindActivation, "dhg "+name, e.download(dhgView), dhg)
	e.compare(kindActivation, "dhPrev "+name, e.download(dhPrevView), dhPrev)
	e.exact("xg "+name+" is not written", e.download(actView), act)
	e.checkGuard("dxg "+name, dxgWhole, 2, B*3*H)
	e.checkGuard("dhg "+name, dhgWhole, 1, B*3*H)
	e.checkGuard("dhPrev "+name, dhPrevWhole, 2, B*H)
}
