package lstm

import (
	"fmt"

	"github.com/recur-ml/recur/engine"
)

// Workspace holds the activations of one chunk shape (B streams, T steps) and the hidden
// state that carries from one chunk to the next. Buffers are allocated once, so a training
// step allocates nothing.
type Workspace struct {
	*StackRun

	x0     engine.Tensor // [T·B×E] embedded inputs, nil when the stack reads the table
	logits engine.Tensor // [T·B×V]
	losses engine.Tensor // [T·B]

	dlogits    engine.Tensor // [T·B×V], allocated on the first backward pass
	hostLosses []float32

	ids []int32
}

// NewWorkspace allocates the buffers of a model for chunks of B streams and T steps.
func (m *Model) NewWorkspace(B, T int) *Workspace {
	be, cfg := m.Backend, m.Cfg
	E, V := cfg.Embed, len(cfg.Vocab)
	w := &Workspace{
		StackRun:   m.stack.NewRun(B, T),
		logits:     be.Alloc(T * B * V),
		losses:     be.Alloc(T * B),
		hostLosses: make([]float32, T*B),
	}
	if !ProjectsTable(V, B, T) {
		w.x0 = be.Alloc(T * B * E)
	}
	return w
}

// ProjectsTable reports whether the model's stack reads the embedding table itself
// (StackInput.Table) for a vocabulary of V tokens and chunks of B streams and T steps. Layer
// 0 then projects the V table rows, not the T·B embedded inputs, and the gather that follows
// reads T·B rows, so it pays where V is at most half of T·B.
func ProjectsTable(V, B, T int) bool { return 2*V <= B*T }

func (m *Model) allocBackward(w *Workspace) {
	if w.dlogits != nil {
		return
	}
	w.dlogits = m.Backend.Alloc(w.T * w.B * len(m.Cfg.Vocab))
	m.stack.PrepareBackward(w.StackRun, false)
}

// ResetState zeroes the carried hidden (and cell) state of every layer.
func (m *Model) ResetState(w *Workspace) {
	for l := range w.h {
		h, c := w.State(l)
		m.Backend.Fill(h, 0)
		if c != nil {
			m.Backend.Fill(c, 0)
		}
	}
}

// CarryState moves the state after the last step of the chunk into slot 0, so the next chunk
// continues from it. Gradients never flow across the boundary.
func (m *Model) CarryState(w *Workspace) {
	for l := range w.h {
		h0, c0 := w.InitState(l)
		hT, cT := w.FinalState(l)
		m.Backend.Copy(h0, hT)
		if c0 != nil {
			m.Backend.Copy(c0, cT)
		}
	}
}

// State returns the carried state of layer l: h and, for an LSTM, c (nil for an RNN or a GRU),
// each [B×H].
func (w *Workspace) State(l int) (h, c engine.Tensor) { return w.InitState(l) }

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
	H, E, V := cfg.Hidden, cfg.Embed, len(cfg.Vocab)
	B, T := w.B, w.T
	TB := T * B
	if len(ids) != TB || (targets != nil && len(targets) != TB) {
		panic(fmt.Sprintf("lstm: Forward got %d ids and %d targets for a %d×%d chunk", len(ids), len(targets), T, B))
	}
	w.ids = ids

	in := StackInput{Drop: drop}
	if w.x0 == nil {
		in.Table, in.TableGrad, in.IDs = m.p.embedding, m.g.embedding, ids
	} else {
		be.EmbeddingForward(w.x0, m.p.embedding, ids, E)
		in.X = w.x0
	}
	m.stack.Forward(w.StackRun, in)
	x := w.Output()
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
	H, V := cfg.Hidden, len(cfg.Vocab)
	B, T := w.B, w.T
	TB := T * B

	// The head reads the last layer's output, which has no dropout.
	y := w.Output()
	be.Gemm(true, false, V, H, TB, 1, w.dlogits, y, 1, m.g.headW)
	be.SumRows(m.g.headB, w.dlogits, TB, V)
	be.Gemm(false, false, TB, H, V, 1, w.dlogits, m.p.headW, 0, w.OutputGrad())
	// With the table input, the stack has added the embedding's gradient itself.
	m.stack.Backward(w.StackRun, StateGrad{})
	if w.x0 != nil {
		be.EmbeddingBackward(m.g.embedding, w.InputGrad(), w.ids, cfg.Embed)
	}
}
