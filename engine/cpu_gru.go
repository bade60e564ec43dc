package engine

import "fmt"

// checkGRU panics unless B and H are valid and returns the lengths of a gate matrix and of a
// state matrix.
func checkGRU(op string, B, H int) (gateLen, stateLen int) {
	if B < 0 || H < 0 {
		panic(fmt.Sprintf("engine: %s: invalid shape B=%d H=%d", op, B, H))
	}
	return B * 3 * H, B * H
}

// GRUForward applies one GRU step as Backend documents. The activations are accurate to about
// one float32 ulp (see fastmath.go), and h is computed in float32 from the rounded gates.
// h may be the same tensor as hPrev, because each unit reads hPrev before writing h.
func (c *CPU) GRUForward(xg, hg, bhh, hPrev, h Tensor, B, H int) {
	gateLen, stateLen := checkGRU("GRUForward", B, H)
	t := gruForwardTask{
		xg:    tensorData("GRUForward", "xg", xg, gateLen),
		hg:    tensorData("GRUForward", "hg", hg, gateLen),
		hPrev: tensorData("GRUForward", "hPrev", hPrev, stateLen),
		h:     tensorData("GRUForward", "h", h, stateLen),
		H:     H,
	}
	if bhh != nil {
		t.bhh = tensorData("GRUForward", "bhh", bhh, 3*H)
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.gruFwd = t
	c.pool.run(&c.tasks.gruFwd, stateLen, grainGRU)
}

// gruForwardTask's items are the B·H units in row-major order.
type gruForwardTask struct {
	xg, hg, hPrev, h []float32
	bhh              []float32 // nil, or bias_hh [3H], added into hg
	H                int
}

func (t *gruForwardTask) run(lo, hi int) {
	H := t.H
	for pos := lo; pos < hi; {
		b, j0 := pos/H, pos%H
		j1 := min(H, j0+hi-pos)
		n := j1 - j0
		xrow := t.xg[b*3*H : (b+1)*3*H]
		hrow := t.hg[b*3*H : (b+1)*3*H]
		xr := xrow[j0:j1]
		xz := xrow[H+j0 : H+j1][:n]
		xn := xrow[2*H+j0 : 2*H+j1][:n]
		hr := hrow[j0:j1][:n]
		hz := hrow[H+j0 : H+j1][:n]
		hn := hrow[2*H+j0 : 2*H+j1][:n]
		hPrev := t.hPrev[b*H+j0 : b*H+j1][:n]
		h := t.h[b*H+j0 : b*H+j1][:n]
		if t.bhh != nil {
			addGRUBias(hr, hz, hn, t.bhh, H, j0)
		}
		// Whole gate rows at a time, so the inlined activation loops make no calls.
		for j := range xr {
			xr[j] += hr[j]
			xz[j] += hz[j]
		}
		sigmoidSlice(xr)
		sigmoidSlice(xz)
		for j := range xn {
			xn[j] += xr[j] * hn[j]
		}
		tanhSlice(xn, xn)
		for j := range h {
			h[j] = (1-xz[j])*xn[j] + xz[j]*hPrev[j]
		}
		pos += n
	}
}

// addGRUBias adds columns [j0, j0+len(hr)) of each block of bias_hh [3H] to the r, z and n
// blocks of one row of hg, as AddBias adds a bias.
func addGRUBias(hr, hz, hn, bhh []float32, H, j0 int) {
	br := bhh[j0 : j0+len(hr)]
	bz := bhh[H+j0 : H+j0+len(hr)][:len(hz)]
	bn := bhh[2*H+j0 : 2*H+j0+len(hr)][:len(hn)]
	for j := range hr {
		hr[j] += br[j]
		hz[j] += bz[j]
		hn[j] += bn[j]
	}
}

// GRUBackward reverses GRUForward as Backend documents; dhRec may be nil. dxg may be the same
// tensor as xg, and dhPrev the same as dhOut or dhRec, because each unit reads its inputs
// before writing its gradients.
func (c *CPU) GRUBackward(xg, hg, hPrev, dhOut, dhRec, dxg, dhg, dhPrev Tensor, B, H int) {
	gateLen, stateLen := checkGRU("GRUBackward", B, H)
	t := gruBackwardTask{
		act:    tensorData("GRUBackward", "xg", xg, gateLen),
		hg:     tensorData("GRUBackward", "hg", hg, gateLen),
		hPrev:  tensorData("GRUBackward", "hPrev", hPrev, stateLen),
		dhOut:  tensorData("GRUBackward", "dhOut", dhOut, stateLen),
		dxg:    tensorData("GRUBackward", "dxg", dxg, gateLen),
		dhg:    tensorData("GRUBackward", "dhg", dhg, gateLen),
		dhPrev: tensorData("GRUBackward", "dhPrev", dhPrev, stateLen),
		H:      H,
	}
	if dhRec != nil {
		t.dhRec = tensorData("GRUBackward", "dhRec", dhRec, stateLen)
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.gruBwd = t
	c.pool.run(&c.tasks.gruBwd, stateLen, grainGRU)
}

// gruBackwardTask's items are the B·H units in row-major order.
type gruBackwardTask struct {
	act, hg, hPrev, dhOut, dhRec, dxg, dhg, dhPrev []float32 // dhRec is nil where there is none
	H                                              int
}

func (t *gruBackwardTask) run(lo, hi int) {
	H := t.H
	for pos := lo; pos < hi; pos++ {
		b, j := pos/H, pos%H
		g, u := b*3*H+j, b*H+j
		r, z, n := t.act[g], t.act[g+H], t.act[g+2*H]
		hn := t.hg[g+2*H]
		dh := t.dhOut[u]
		if t.dhRec != nil {
			dh += t.dhRec[u]
		}
		// h = (1 − z)·n + z·hPrev, n = tanh(x_n + r·h_n), r = σ(x_r + h_r), z = σ(x_z + h_z)
		dnPre := dh * (1 - z) * (1 - n*n)
		dzPre := dh * (t.hPrev[u] - n) * z * (1 - z)
		drPre := dnPre * hn * r * (1 - r)
		t.dhPrev[u] = dh * z
		t.dxg[g], t.dxg[g+H], t.dxg[g+2*H] = drPre, dzPre, dnPre
		t.dhg[g], t.dhg[g+H], t.dhg[g+2*H] = drPre, dzPre, dnPre*r
	}
}
