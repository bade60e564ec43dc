package lstm

import (
	"fmt"

	"github.com/recur-ml/recur/engine"
)

// Workspace holds the activations of one chunk shape (B streams, T steps) and the hidden
// state that carries from one chunk to the next. Buffers are allocated once, so a training
// step allocates nothing.
type Workspace struct {
	B, T, H int

	x0     engine.Tensor   // [T·B×E] embedded inputs
	gates  []engine.Tensor // per layer [T·B×G·H]: pre-activations, then activated gates
	hg     []engine.Tensor // GRU only, per layer [T·B×3H]: every step's W_hh·h_{t−1} + b_hh
	h, c   []engine.Tensor // per layer [(T+1)·B×H]; slot 0 is the carried state
	drop   []engine.Tensor // per layer but the last [T·B×H]: the output after dropout
	mask   []engine.Tensor // per layer but the last [T·B×H]: the dropout mask
	logits engine.Tensor   // [T·B×V]
	losses engine.Tensor   // [T·B]

	// Backward buffers, allocated on the first backward pass.
	dlogits    engine.Tensor // [T·B×V]
	dgates     engine.Tensor // [T·B×G·H], reused by every layer
	dhg        engine.Tensor // GRU only, [T·B×3H], reused by every layer
	dy, dx     engine.Tensor // [T·B×H] gradients of a layer's output and input
	dx0        engine.Tensor // [T·B×E]
	dhRec, dc  engine.Tensor // [B×H]
	hostLosses []float32

	dropped []bool // per layer but the last: whether the last forward applied dropout
	ids     []int32
}

// NewWorkspace allocates the buffers of a model for chunks of B streams and T steps.
func (m *Model) NewWorkspace(B, T int) *Workspace {
	be, cfg := m.Backend, m.Cfg
	H, E, V, G, L := cfg.Hidden, cfg.Embed, len(cfg.Vocab), cfg.gatesPerUnit(), cfg.Layers
	w := &Workspace{B: B, T: T, H: H}
	w.x0 = be.Alloc(T * B * E)
	for l := 0; l < L; l++ {
		w.gates = append(w.gates, be.Alloc(T*B*G*H))
		w.h = append(w.h, be.Alloc((T+1)*B*H))
		if cfg.Model == CellLSTM {
			w.c = append(w.c, be.Alloc((T+1)*B*H))
		}
		if cfg.Model == CellGRU {
			w.hg = append(w.hg, be.Alloc(T*B*G*H))
		}
		if l < L-1 {
			w.drop = append(w.drop, be.Alloc(T*B*H))
			w.mask = append(w.mask, be.Alloc(T*B*H))
		}
	}
	w.dropped = make([]bool, max(L-1, 0))
	w.logits = be.Alloc(T * B * V)
	w.losses = be.Alloc(T * B)
	w.hostLosses = make([]float32, T*B)
	return w
}

func (m *Model) allocBackward(w *Workspace) {
	if w.dgates != nil {
		return
	}
	be, cfg := m.Backend, m.Cfg
	H, E, V, G := cfg.Hidden, cfg.Embed, len(cfg.Vocab), cfg.gatesPerUnit()
	TB := w.T * w.B
	w.dlogits = be.Alloc(TB * V)
	w.dgates = be.Alloc(TB * G * H)
	w.dy = be.Alloc(TB * H)
	w.dx = be.Alloc(TB * H)
	w.dx0 = be.Alloc(TB * E)
	w.dhRec = be.Alloc(w.B * H)
	w.dc = be.Alloc(w.B * H)
	if cfg.Model == CellGRU {
		w.dhg = be.Alloc(TB * G * H)
	}
}

// ResetState zeroes the carried hidden (and cell) state of every layer.
func (m *Model) ResetState(w *Workspace) {
	n := w.B * m.Cfg.Hidden
	for l := range w.h {
		m.Backend.Fill(w.h[l].Slice(0, n), 0)
		if w.c != nil {
			m.Backend.Fill(w.c[l].Slice(0, n), 0)
		}
	}
}

// CarryState moves the state after the last step of the chunk into slot 0, so the next chunk
// continues from it. Gradients never flow across the boundary.
func (m *Model) CarryState(w *Workspace) {
	n := w.B * m.Cfg.Hidden
	for l := range w.h {
		m.Backend.Copy(w.h[l].Slice(0, n), w.h[l].Slice(w.T*n, n))
		if w.c != nil {
			m.Backend.Copy(w.c[l].Slice(0, n), w.c[l].Slice(w.T*n, n))
		}
	}
}

// State returns the carried state of layer l: h and, for an LSTM, c (nil for an RNN or a GRU),
// each [B×H].
func (w *Workspace) State(l int) (h, c engine.Tensor) {
	n := w.B * w.H
	h = w.h[l].Slice(0, n)
	if w.c != nil {
		c = w.c[l].Slice(0, n)
	}
	return h, c
}

// Logits returns the view of the logits of the last forward pass, [T·B×V].
func (w *Workspace) Logits() engine.Tensor { return w.logits }

// Dropout describes the dropout of one forward pass. P = 0 disables it.
type Dropout struct {
	P      float32
	Seed   uint64
	Offset uint64 // first counter of this pass; each layer uses T·B·H counters after it
}

// Forward runs the model over one chunk: ids and targets are time-major [T][B] (index t·B+b);
// a target of −1 is not scored. It starts from the workspace's carried state, leaves the
// final state in slot T (CarryState moves it), and returns the number of scored targets;
// LossSum reads their losses back. With targets nil it computes the logits only. The
// workspace keeps ids for Backward, so the caller must not change them in between. Forward
// only queues work on the backend and reads nothing back from it.
func (m *Model) Forward(w *Workspace, ids, targets []int32, drop Dropout) (count int) {
	be, cfg := m.Backend, m.Cfg
	H, E, V, L := cfg.Hidden, cfg.Embed, len(cfg.Vocab), cfg.Layers
	B, T := w.B, w.T
	TB := T * B
	if len(ids) != TB || (targets != nil && len(targets) != TB) {
		panic(fmt.Sprintf("lstm: Forward got %d ids and %d targets for a %d×%d chunk", len(ids), len(targets), T, B))
	}
	w.ids = ids

	be.EmbeddingForward(w.x0, m.p.embedding, ids, E)
	x, in := w.x0, E
	for l := 0; l < L; l++ {
		if cfg.Model == CellGRU {
			m.forwardGRULayer(w, l, x, in)
		} else {
			m.forwardLayer(w, l, x, in)
		}
		x, in = w.h[l].Slice(B*H, TB*H), H
		if l < L-1 {
			w.dropped[l] = drop.P > 0
			if drop.P > 0 {
				be.Copy(w.drop[l], x)
				off := drop.Offset + uint64(l)*uint64(TB*H)
				be.Dropout(w.drop[l], w.mask[l], drop.P, drop.Seed, off)
				x = w.drop[l]
			}
		}
	}
	be.Gemm(false, true, TB, V, H, 1, x, m.p.headW, 0, w.logits)
	be.AddBias(w.logits, m.p.headB, TB, V)
	if targets == nil {
		return 0
	}

	for _, t := range targets {
		if t >= 0 {
			count++
		}
	}
	var dlogits engine.Tensor
	scale := float32(0)
	if w.dlogits != nil {
		dlogits = w.dlogits
		if count > 0 {
			scale = 1 / float32(count)
		}
	}
	be.SoftmaxCrossEntropy(w.logits, targets, w.losses, dlogits, TB, V, scale)
	return count
}

// forwardLayer runs LSTM or RNN layer l over the chunk, reading its input x [T·B×in] and
// writing every step's h into w.h[l].
func (m *Model) forwardLayer(w *Workspace, l int, x engine.Tensor, in int) {
	be, cfg := m.Backend, m.Cfg
	H, G, B, T := cfg.Hidden, cfg.gatesPerUnit(), w.B, w.T
	TB := T * B
	lp := m.p.layers[l]
	gates := w.gates[l]
	be.Gemm(false, true, TB, G*H, in, 1, x, lp.wih, 0, gates)
	be.AddBias(gates, lp.bih, TB, G*H)
	be.AddBias(gates, lp.bhh, TB, G*H)
	for t := 0; t < T; t++ {
		gt := gates.Slice(t*B*G*H, B*G*H)
		hPrev := w.h[l].Slice(t*B*H, B*H)
		hNext := w.h[l].Slice((t+1)*B*H, B*H)
		be.Gemm(false, true, B, G*H, H, 1, hPrev, lp.whh, 1, gt)
		if cfg.Model == CellLSTM {
			be.LSTMForward(gt, w.c[l].Slice(t*B*H, B*H), w.c[l].Slice((t+1)*B*H, B*H), hNext, B, H)
		} else {
			be.RNNForward(gt, hNext)
		}
	}
}

// LossSum returns the sum in nats of the losses of the last Forward with targets. It reads
// them from the backend, so on a device it waits for the queued work.
func (m *Model) LossSum(w *Workspace) float64 {
	m.Backend.Download(w.hostLosses, w.losses)
	var sum float64
	for _, v := range w.hostLosses {
		sum += float64(v)
	}
	return sum
}

// PrepareBackward allocates the backward buffers, so that the next Forward also writes the
// gradient of the mean loss with respect to the logits.
func (m *Model) PrepareBackward(w *Workspace) { m.allocBackward(w) }

// Backward accumulates into m.Grads the gradient of the mean loss of the last Forward, which
// must have run with targets after PrepareBackward. It backpropagates through all T steps of
// the chunk and stops at the carried state.
func (m *Model) Backward(w *Workspace) {
	be, cfg := m.Backend, m.Cfg
	H, V, G, L := cfg.Hidden, len(cfg.Vocab), cfg.gatesPerUnit(), cfg.Layers
	B, T := w.B, w.T
	TB := T * B

	// The head reads the last layer's output, which has no dropout.
	y := w.h[L-1].Slice(B*H, TB*H)
	be.Gemm(true, false, V, H, TB, 1, w.dlogits, y, 1, m.g.headW)
	be.SumRows(m.g.headB, w.dlogits, TB, V)
	be.Gemm(false, false, TB, H, V, 1, w.dlogits, m.p.headW, 0, w.dy)

	dy, dx := w.dy, w.dx
	for l := L - 1; l >= 0; l-- {
		lp := m.p.layers[l]
		if cfg.Model == CellGRU {
			m.backwardGRULayer(w, l, dy, dx)
			if l == 0 {
				break
			}
			dy, dx = dx, dy
			continue
		}
		if cfg.Model == CellLSTM {
			be.Fill(w.dc, 0)
		}
		var dhRec engine.Tensor
		for t := T - 1; t >= 0; t-- {
			dgt := w.dgates.Slice(t*B*G*H, B*G*H)
			dyt := dy.Slice(t*B*H, B*H)
			if cfg.Model == CellLSTM {
				gt := w.gates[l].Slice(t*B*G*H, B*G*H)
				cPrev := w.c[l].Slice(t*B*H, B*H)
				c := w.c[l].Slice((t+1)*B*H, B*H)
				be.LSTMBackward(gt, cPrev, c, dyt, dhRec, w.dc, dgt, B, H)
			} else {
				be.RNNBackward(w.h[l].Slice((t+1)*B*H, B*H), dyt, dhRec, dgt)
			}
			if t > 0 {
				be.Gemm(false, false, B, H, G*H, 1, dgt, lp.whh, 0, w.dhRec)
				dhRec = w.dhRec
			}
		}

		// For LSTM and RNN, the input and recurrent pre-activations share one gradient.
		m.backwardLayerWeights(w, l, w.dgates, dx)
		if l == 0 {
			break
		}
		dy, dx = dx, dy
	}
}

// backwardLayerWeights accumulates layer l's weight and bias gradients as one GEMM or column
// sum each over all T steps, from w.dgates (the gradient of the input pre-activations) and
// dhh (of the recurrent pre-activations). It then writes the gradient of the layer's input into
// dx, or, for layer 0, passes it on to the embedding's gradient.
func (m *Model) backwardLayerWeights(w *Workspace, l int, dhh, dx engine.Tensor) {
	be, cfg := m.Backend, m.Cfg
	H, E, G := cfg.Hidden, cfg.Embed, cfg.gatesPerUnit()
	B, TB := w.B, w.T*w.B
	lp, lg := m.p.layers[l], m.g.layers[l]

	x, in := w.x0, E
	if l > 0 {
		x, in = w.h[l-1].Slice(B*H, TB*H), H
		if w.dropped[l-1] {
			x = w.drop[l-1]
		}
	}
	be.Gemm(true, false, G*H, H, TB, 1, dhh, w.h[l].Slice(0, TB*H), 1, lg.whh)
	be.Gemm(true, false, G*H, in, TB, 1, w.dgates, x, 1, lg.wih)
	be.SumRows(lg.bih, w.dgates, TB, G*H)
	be.SumRows(lg.bhh, dhh, TB, G*H)

	if l == 0 {
		be.Gemm(false, false, TB, E, G*H, 1, w.dgates, lp.wih, 0, w.dx0)
		be.EmbeddingBackward(m.g.embedding, w.dx0, w.ids, E)
		return
	}
	be.Gemm(false, false, TB, H, G*H, 1, w.dgates, lp.wih, 0, dx)
	if w.dropped[l-1] {
		be.Mul(dx, w.mask[l-1])
	}
}
