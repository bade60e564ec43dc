package cpuref

import "math"

// GRUCellForward applies one GRU step to B rows of H units, with PyTorch's gate order r, z, n:
// r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r·h_n), h = (1 − z)·n + z·hPrev.
//
//	xg:    [B×3H] input projections x·W_ihᵀ + b_ih, row b = r, z, n blocks of H columns each
//	hg:    [B×3H] recurrent projections hPrev·W_hhᵀ + b_hh in the same layout
//	hPrev: [B×H]
//	act:   [B×3H] activated gates r, z, n, kept for GRUCellBackward
//	h:     [B×H]
func GRUCellForward(xg, hg, hPrev []float64, B, H int) (act, h []float64) {
	checkLen("GRUCellForward xg", xg, B*3*H)
	checkLen("GRUCellForward hg", hg, B*3*H)
	checkLen("GRUCellForward hPrev", hPrev, B*H)
	act = make([]float64, B*3*H)
	h = make([]float64, B*H)
	for b := 0; b < B; b++ {
		row := b * 3 * H
		for j := 0; j < H; j++ {
			r := sigmoid(xg[row+j] + hg[row+j])
			z := sigmoid(xg[row+H+j] + hg[row+H+j])
			n := math.Tanh(xg[row+2*H+j] + r*hg[row+2*H+j])
			act[row+j], act[row+H+j], act[row+2*H+j] = r, z, n
			h[b*H+j] = (1-z)*n + z*hPrev[b*H+j]
		}
	}
	return act, h
}

// GRUCellBackward reverses GRUCellForward. dh is the total loss gradient at h, from the layer
// above and from the next step together.
//
//	act:    [B×3H] activated gates from GRUCellForward
//	hg:     [B×3H] recurrent projections given to GRUCellForward
//	hPrev:  [B×H]
//	dh:     [B×H]
//	dxg:    [B×3H] gradient at the input projections xg
//	dhg:    [B×3H] gradient at the recurrent projections hg
//	dhPrev: [B×H] gradient at hPrev through z·hPrev only, so the caller adds dhg·W_hh
func GRUCellBackward(act, hg, hPrev, dh []float64, B, H int) (dxg, dhg, dhPrev []float64) {
	checkLen("GRUCellBackward act", act, B*3*H)
	checkLen("GRUCellBackward hg", hg, B*3*H)
	checkLen("GRUCellBackward hPrev", hPrev, B*H)
	checkLen("GRUCellBackward dh", dh, B*H)
	dxg = make([]float64, B*3*H)
	dhg = make([]float64, B*3*H)
	dhPrev = make([]float64, B*H)
	for b := 0; b < B; b++ {
		row := b * 3 * H
		for j := 0; j < H; j++ {
			r, z, n := act[row+j], act[row+H+j], act[row+2*H+j]
			g := dh[b*H+j]

			// h = (1 − z)·n + z·hPrev
			dn := g * (1 - z)
			dz := g * (hPrev[b*H+j] - n)
			dhPrev[b*H+j] = g * z

			// n = tanh(x_n + r·h_n), r = σ(x_r + h_r), z = σ(x_z + h_z)
			dnPre := dn * (1 - n*n)
			drPre := dnPre * hg[row+2*H+j] * r * (1 - r)
			dzPre := dz * z * (1 - z)

			dxg[row+j], dxg[row+H+j], dxg[row+2*H+j] = drPre, dzPre, dnPre
			dhg[row+j], dhg[row+H+j], dhg[row+2*H+j] = drPre, dzPre, dnPre*r
		}
	}
	return dxg, dhg, dhPrev
}
