package engine

import (
	"fmt"

	"github.com/recur-ml/recur/engine/internal/vecmath"
)

// checkLSTM panics unless B and H are valid and returns the lengths of a gate matrix and of a
// state matrix.
func checkLSTM(op string, B, H int) (gateLen, stateLen int) {
	if B < 0 || H < 0 {
		panic(fmt.Sprintf("engine: %s: invalid shape B=%d H=%d", op, B, H))
	}
	return B * 4 * H, B * H
}

// LSTMForward applies one LSTM step as Backend documents. The activations are accurate to about one
// float32 ulp (see fastmath.go), and c and h are computed in float32 from the rounded gates.
// cNext, the new cell state c, may be the same tensor as cPrev.
func (c *CPU) LSTMForward(gates, cPrev, cNext, h Tensor, B, H int) {
	gateLen, stateLen := checkLSTM("LSTMForward", B, H)
	t := lstmForwardTask{
		gates: tensorData("LSTMForward", "gates", gates, gateLen),
		cPrev: tensorData("LSTMForward", "cPrev", cPrev, stateLen),
		c:     tensorData("LSTMForward", "c", cNext, stateLen),
		h:     tensorData("LSTMForward", "h", h, stateLen),
		H:     H,
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.lstmFwd = t
	c.pool.run(&c.tasks.lstmFwd, stateLen, grainLSTM)
}

// lstmForwardTask's items are the B·H units in row-major order.
type lstmForwardTask struct {
	gates, cPrev, c, h []float32
	H                  int
}

func (t *lstmForwardTask) run(lo, hi int) {
	H := t.H
	for pos := lo; pos < hi; {
		b, j0 := pos/H, pos%H
		j1 := min(H, j0+hi-pos)
		n := j1 - j0
		row := t.gates[b*4*H : (b+1)*4*H]
		gi := row[j0:j1]
		gf := row[H+j0 : H+j1][:n]
		gg := row[2*H+j0 : 2*H+j1][:n]
		gO := row[3*H+j0 : 3*H+j1][:n]
		cPrev := t.cPrev[b*H+j0 : b*H+j1][:n]
		c := t.c[b*H+j0 : b*H+j1][:n]
		h := t.h[b*H+j0 : b*H+j1][:n]
		// Whole gate rows at a time, so the inlined activation loops make no calls.
		sigmoidSlice(gi)
		sigmoidSlice(gf)
		tanhSlice(gg, gg)
		sigmoidSlice(gO)
		for j := range gi {
			c[j] = flushf(gf[j]*cPrev[j] + gi[j]*gg[j])
		}
		tanhSlice(h, c)
		for j := range h {
			h[j] = flushf(h[j] * gO[j])
		}
		pos += n
	}
}

// LSTMBackward reverses LSTMForward as Backend documents. cNext is the cell state c that the forward
// step wrote, and dhRec may be nil. dgates may be the same
// tensor as gates, because each unit reads its four gates before writing their gradients.
func (c *CPU) LSTMBackward(gates, cPrev, cNext, dhOut, dhRec, dc, dgates Tensor, B, H int) {
	gateLen, stateLen := checkLSTM("LSTMBackward", B, H)
	t := lstmBackwardTask{
		gates:  tensorData("LSTMBackward", "gates", gates, gateLen),
		cPrev:  tensorData("LSTMBackward", "cPrev", cPrev, stateLen),
		c:      tensorData("LSTMBackward", "c", cNext, stateLen),
		dhOut:  tensorData("LSTMBackward", "dhOut", dhOut, stateLen),
		dc:     tensorData("LSTMBackward", "dc", dc, stateLen),
		dgates: tensorData("LSTMBackward", "dgates", dgates, gateLen),
		H:      H,
	}
	if dhRec != nil {
		t.dhRec = tensorData("LSTMBackward", "dhRec", dhRec, stateLen)
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.lstmBwd = t
	c.pool.run(&c.tasks.lstmBwd, stateLen, grainLSTM)
}

// lstmBackwardTask's items are the B·H units in row-major order.
type lstmBackwardTask struct {
	gates, cPrev, c, dhOut, dhRec, dc, dgates []float32 // dhRec is nil where there is none
	H                                         int
}

func (t *lstmBackwardTask) run(lo, hi int) {
	H := t.H
	// tanh(c) in blocks on the stack, so that dgates may share memory with gates.
	var tanhC [256]float32
	for pos := lo; pos < hi; {
		b, j0 := pos/H, pos%H
		j1 := min(H, j0+hi-pos, j0+len(tanhC))
		n := j1 - j0
		s0 := b*H + j0
		tc := tanhC[:n]
		tanhSlice(tc, t.c[s0:s0+n])
		done := 0
		if useAVX2 {
			done = n &^ 7
		}
		if done > 0 {
			a := vecmath.LSTMBackwardArgs{
				Gates:  &t.gates[b*4*H+j0],
				DGates: &t.dgates[b*4*H+j0],
				Stride: uintptr(4 * H),
				CPrev:  &t.cPrev[s0],
				TanhC:  &tc[0],
				DhOut:  &t.dhOut[s0],
				Dc:     &t.dc[s0],
				N:      done,
			}
			if t.dhRec != nil {
				a.DhRec = &t.dhRec[s0]
			}
			vecmath.LSTMBackward(&a)
		}
		t.backwardUnits(b, j0+done, j1, tc[done:])
		pos += n
	}
}

// backwardUnits runs the backward step of units [j0, j1) of row b, given their tanh(c) in tc.
// vecmath.LSTMBackward computes the other units of a row, and these must get the same bits.
// So every product that feeds an addition or a subtraction is rounded by an explicit float32
// conversion, which keeps any build from fusing the two into an FMA.
func (t *lstmBackwardTask) backwardUnits(b, j0, j1 int, tc []float32) {
	H := t.H
	n := j1 - j0
	row := t.gates[b*4*H : (b+1)*4*H]
	gi := row[j0:j1]
	gf := row[H+j0 : H+j1][:n]
	gg := row[2*H+j0 : 2*H+j1][:n]
	gO := row[3*H+j0 : 3*H+j1][:n]
	drow := t.dgates[b*4*H : (b+1)*4*H]
	di := drow[j0:j1][:n]
	df := drow[H+j0 : H+j1][:n]
	dg := drow[2*H+j0 : 2*H+j1][:n]
	dO := drow[3*H+j0 : 3*H+j1][:n]
	s0, s1 := b*H+j0, b*H+j1
	cPrev := t.cPrev[s0:s1][:n]
	dhOut, dc := t.dhOut[s0:s1][:n], t.dc[s0:s1][:n]
	var dhRec []float32
	if t.dhRec != nil {
		dhRec = t.dhRec[s0:s1][:n]
	}
	tc = tc[:n]

	for j := range gi {
		i, f, g, o := gi[j], gf[j], gg[j], gO[j]
		dh := dhOut[j]
		if dhRec != nil {
			dh += dhRec[j]
		}
		// dL/dc at this step: the gradient from step t+1 plus the path through h.
		dct := dc[j] + float32(float32(dh*o)*(1-float32(tc[j]*tc[j])))
		di[j] = flushf(dct * g * i * (1 - i))
		df[j] = flushf(dct * cPrev[j] * f * (1 - f))
		dg[j] = flushf(dct * i * (1 - float32(g*g)))
		dO[j] = flushf(dh * tc[j] * o * (1 - o))
		dc[j] = flushf(dct * f)
	}
}
