package lstm

import "github.com/recur-ml/recur/engine"

// StepState returns views of layer l's state after step t (0 ≤ t < T) of the last Forward:
// h and c, each [B×H] (c is nil for an RNN), and gates [B×G·H]. For an LSTM the gate row of
// a stream holds the activated gates σ(i), σ(f), tanh(g), σ(o) in blocks of H. For an RNN it
// holds the pre-activations, whose tanh is h.
func (w *Workspace) StepState(l, t int) (h, c, gates engine.Tensor) {
	n := w.B * w.H
	h = w.h[l].Slice((t+1)*n, n)
	if w.c != nil {
		c = w.c[l].Slice((t+1)*n, n)
	}
	g := w.gates[l].Len() / w.T
	return h, c, w.gates[l].Slice(t*g, g)
}

// ChunkStates returns views of layer l's states after every step of the last Forward: h and
// c, each [T·B×H] (c is nil for an RNN), and gates [T·B×G·H], laid out as in StepState.
// Reading the whole chunk takes one download per tensor instead of one per step.
func (w *Workspace) ChunkStates(l int) (h, c, gates engine.Tensor) {
	n := w.B * w.H
	h = w.h[l].Slice(n, w.T*n)
	if w.c != nil {
		c = w.c[l].Slice(n, w.T*n)
	}
	return h, c, w.gates[l]
}
