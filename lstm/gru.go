package lstm

import "github.com/recur-ml/recur/engine"

// forwardGRULayer runs GRU layer l over the chunk, reading its input x [T·B×in] and writing
// every step's h into w.h[l]. The input projections, with b_ih, are one GEMM over all T steps.
// The recurrent projections W_hh·h_{t−1} + b_hh stay separate in w.hg[l], because r multiplies
// only their n block and backward reads every step's.
func (m *Model) forwardGRULayer(w *Workspace, l int, x engine.Tensor, in int) {
	be, H, B, T := m.Backend, m.Cfg.Hidden, w.B, w.T
	TB, G := T*B, 3
	lp := m.p.layers[l]
	gates, hg := w.gates[l], w.hg[l]
	be.Gemm(false, true, TB, G*H, in, 1, x, lp.wih, 0, gates)
	be.AddBias(gates, lp.bih, TB, G*H)
	for t := 0; t < T; t++ {
		gt := gates.Slice(t*B*G*H, B*G*H)
		hgt := hg.Slice(t*B*G*H, B*G*H)
		hPrev := w.h[l].Slice(t*B*H, B*H)
		hNext := w.h[l].Slice((t+1)*B*H, B*H)
		be.Gemm(false, true, B, G*H, H, 1, hPrev, lp.whh, 0, hgt)
		be.AddBias(hgt, lp.bhh, B, G*H)
		be.GRUForward(gt, hgt, hPrev, hNext, B, H)
	}
}

// backwardGRULayer backpropagates through GRU layer l over all T steps, from dy [T·B×H], the
// gradient at the layer's output. It accumulates the layer's weight gradients into m.Grads
// and writes the gradient at the layer's input into dx [T·B×H], or for layer 0 passes it on
// to the embedding.
func (m *Model) backwardGRULayer(w *Workspace, l int, dy, dx engine.Tensor) {
	be, cfg := m.Backend, m.Cfg
	H, B, T := cfg.Hidden, w.B, w.T
	G := 3
	lp := m.p.layers[l]

	// dhPrev alternates between two buffers, so that GRUBackward never writes the dhRec it
	// reads in the same call.
	dhBufs := [2]engine.Tensor{w.dhRec, w.dc}
	var dhRec engine.Tensor
	for t := T - 1; t >= 0; t-- {
		gt := w.gates[l].Slice(t*B*G*H, B*G*H)
		hgt := w.hg[l].Slice(t*B*G*H, B*G*H)
		dxgt := w.dgates.Slice(t*B*G*H, B*G*H)
		dhgt := w.dhg.Slice(t*B*G*H, B*G*H)
		hPrev := w.h[l].Slice(t*B*H, B*H)
		dhPrev := dhBufs[t%2]
		be.GRUBackward(gt, hgt, hPrev, dy.Slice(t*B*H, B*H), dhRec, dxgt, dhgt, dhPrev, B, H)
		if t > 0 {
			// GRUBackward leaves only the z·h_{t−1} path in dhPrev; add the path through hg.
			be.Gemm(false, false, B, H, G*H, 1, dhgt, lp.whh, 1, dhPrev)
			dhRec = dhPrev
		}
	}

	m.backwardLayerWeights(w, l, w.dhg, dx)
}
