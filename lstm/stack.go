package lstm

import (
	"fmt"

	"github.com/recur-ml/recur/engine"
)

// Stack is a stack of recurrent layers (LSTM, GRU or vanilla RNN) without an input layer or a
// head. Every model of recur composes it: the language model, the classifier, the tagger, the
// encoder and decoder of a sequence-to-sequence model, and the caption decoder.
// Its parameters and gradients are views into the flat vectors of the model that contains it,
// in PyTorch's order: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} per layer.
type Stack struct {
	Cell   string // CellLSTM, CellGRU or CellRNN
	Layers int
	Hidden int // H
	In     int // width of layer 0's input
	be     engine.Backend
	p, g   []layerParams
}

// AppendStackSpecs appends the parameter specs of a stack named prefix (for example "lstm" or
// "encoder.gru") to specs, starting at offset off, and returns the new list and offset.
func AppendStackSpecs(
	specs []ParamSpec, off int, prefix, cell string, layers, hidden, in int,
) ([]ParamSpec, int) {
	G := GatesPerUnit(cell)
	for k := 0; k < layers; k++ {
		w := hidden
		if k == 0 {
			w = in
		}
		for _, s := range []ParamSpec{
			{Name: fmt.Sprintf("%s.weight_ih_l%d", prefix, k), Shape: []int{G * hidden, w}},
			{Name: fmt.Sprintf("%s.weight_hh_l%d", prefix, k), Shape: []int{G * hidden, hidden}},
			{Name: fmt.Sprintf("%s.bias_ih_l%d", prefix, k), Shape: []int{G * hidden}},
			{Name: fmt.Sprintf("%s.bias_hh_l%d", prefix, k), Shape: []int{G * hidden}},
		} {
			s.Offset = off
			off += s.Len()
			specs = append(specs, s)
		}
	}
	return specs, off
}

// GatesPerUnit returns G, the number of gate blocks per hidden unit of a cell: 4 (i, f, g, o) for
// LSTM, 3 (r, z, n) for GRU, 1 for a vanilla RNN.
func GatesPerUnit(cell string) int {
	switch cell {
	case CellLSTM:
		return 4
	case CellGRU:
		return 3
	}
	return 1
}

// NewStack returns a stack whose layer k's four tensors are specs[first+4k .. first+4k+3],
// viewed in params and grads.
func NewStack(
	be engine.Backend, cell string, layers, hidden, in int, specs []ParamSpec, first int,
	params, grads engine.Tensor,
) *Stack {
	s := &Stack{Cell: cell, Layers: layers, Hidden: hidden, In: in, be: be}
	for k := 0; k < layers; k++ {
		var lp, lg [4]engine.Tensor
		for j := range 4 {
			sp := specs[first+4*k+j]
			lp[j] = params.Slice(sp.Offset, sp.Len())
			lg[j] = grads.Slice(sp.Offset, sp.Len())
		}
		s.p = append(s.p, layerParams{lp[0], lp[1], lp[2], lp[3]})
		s.g = append(s.g, layerParams{lg[0], lg[1], lg[2], lg[3]})
	}
	return s
}

// gates returns G for the stack's cell.
func (s *Stack) gates() int { return GatesPerUnit(s.Cell) }

// StackRun contains the activations of one stack over B rows and T steps, and the buffers of
// its backward pass. Buffers are allocated once, so a training step allocates nothing.
type StackRun struct {
	B, T, H int

	gates []engine.Tensor // per layer [T·B×G·H]: pre-activations, then activated gates
	hg    []engine.Tensor // GRU only, per layer [T·B×3H]: every step's W_hh·h_{t−1} + b_hh
	h, c  []engine.Tensor // per layer [(T+1)·B×H], where slot 0 is the initial state
	drop  []engine.Tensor // per layer except the last [T·B×H]: the output after dropout
	mask  []engine.Tensor // per layer except the last [T·B×H]: the dropout mask

	// Backward buffers, allocated by PrepareBackward.
	dgates    engine.Tensor   // [T·B×G·H], reused by every layer
	dhg       engine.Tensor   // GRU only, [T·B×3H], reused by every layer
	dy, dx    engine.Tensor   // [T·B×H] gradients of a layer's output and input
	dhRec, dc engine.Tensor   // [B×H]
	dIn       engine.Tensor   // [T·B×In]: the gradient at the stack's input
	dh0, dc0  []engine.Tensor // per layer [B×H]: the gradient at the initial state

	dropped []bool        // per layer except the last: whether the last forward applied dropout
	x       engine.Tensor // the input of the last forward
	reset   engine.Tensor // the reset mask of the last forward, or nil

	noInputGrad bool // the last forward's input is data, so Backward skips its gradient

	// Table input of the last forward (StackInput.Table), or nil when it read X.
	table, tableGrad engine.Tensor
	ids              []int32
	tableRows        int           // V, the rows of table
	proj, dproj      engine.Tensor // [V×G·H]: the projected table rows and their gradient

	// Views of single steps and step ranges, made once with the buffers, because a view is a
	// new Tensor value on every backend and a step must not allocate.
	gateSteps, hgSteps   [][]engine.Tensor // per layer, T views [B×G·H] of gates and hg
	hSteps, cSteps       [][]engine.Tensor // per layer, T+1 views [B×H] of h and c
	outs, hPrev          []engine.Tensor   // per layer, h of steps 1..T and 0..T−1, [T·B×H]
	dgateSteps, dhgSteps []engine.Tensor   // T views [B×G·H] of dgates and dhg
	dySteps, dxSteps     []engine.Tensor   // T views [B×H] of dy and dx
	resetSteps           []engine.Tensor   // T views [B×H] of resetSource
	resetSource          engine.Tensor     // the reset mask that resetSteps views

	prefixes map[int]*StackRun // by step count, the runs that Prefix returned
}

// stepViews returns count views of n elements each, view i starting at element i·n of t.
func stepViews(t engine.Tensor, n, count int) []engine.Tensor {
	if t == nil {
		return nil
	}
	views := make([]engine.Tensor, count)
	for i := range views {
		views[i] = t.Slice(i*n, n)
	}
	return views
}

// makeLayerViews builds the per-layer views of r's forward buffers.
func (r *StackRun) makeLayerViews() {
	B, H := r.B, r.H
	r.gateSteps, r.hgSteps = nil, nil
	r.hSteps, r.cSteps = nil, nil
	r.outs, r.hPrev = nil, nil
	for l := range r.gates {
		r.gateSteps = append(r.gateSteps, stepViews(r.gates[l], r.gates[l].Len()/r.T, r.T))
		if r.hg != nil {
			r.hgSteps = append(r.hgSteps, stepViews(r.hg[l], r.hg[l].Len()/r.T, r.T))
		}
		r.hSteps = append(r.hSteps, stepViews(r.h[l], B*H, r.T+1))
		if r.c != nil {
			r.cSteps = append(r.cSteps, stepViews(r.c[l], B*H, r.T+1))
		}
		r.outs = append(r.outs, r.h[l].Slice(B*H, r.T*B*H))
		r.hPrev = append(r.hPrev, r.h[l].Slice(0, r.T*B*H))
	}
}

// makeBackwardViews builds the views of r's backward buffers.
func (r *StackRun) makeBackwardViews() {
	if r.dgates == nil {
		return
	}
	B, H, T := r.B, r.H, r.T
	r.dgateSteps = stepViews(r.dgates, r.dgates.Len()/T, T)
	if r.dhg != nil {
		r.dhgSteps = stepViews(r.dhg, r.dhg.Len()/T, T)
	}
	r.dySteps = stepViews(r.dy, B*H, T)
	r.dxSteps = stepViews(r.dx, B*H, T)
}

// setReset records the reset mask of a forward pass, building its step views when the mask
// is a different tensor from the last one.
func (r *StackRun) setReset(reset engine.Tensor) {
	r.reset = reset
	if reset != r.resetSource {
		r.resetSource = reset
		r.resetSteps = stepViews(reset, r.B*r.H, r.T)
	}
}

// NewRun allocates the activations of the stack for B rows and T steps.
func (s *Stack) NewRun(B, T int) *StackRun {
	be, H, G, L := s.be, s.Hidden, s.gates(), s.Layers
	r := &StackRun{B: B, T: T, H: H}
	for l := 0; l < L; l++ {
		r.gates = append(r.gates, be.Alloc(T*B*G*H))
		r.h = append(r.h, be.Alloc((T+1)*B*H))
		if s.Cell == CellLSTM {
			r.c = append(r.c, be.Alloc((T+1)*B*H))
		}
		if s.Cell == CellGRU {
			r.hg = append(r.hg, be.Alloc(T*B*G*H))
		}
		if l < L-1 {
			r.drop = append(r.drop, be.Alloc(T*B*H))
			r.mask = append(r.mask, be.Alloc(T*B*H))
		}
	}
	r.dropped = make([]bool, max(L-1, 0))
	r.makeLayerViews()
	return r
}

// PrepareBackward allocates the backward buffers of r. With initGrad, Backward also writes
// the gradient at the initial state (InitGrad). A stack whose initial state comes from
// another model needs it, for example a decoder started from an encoder's final state.
func (s *Stack) PrepareBackward(r *StackRun, initGrad bool) {
	be, H, G := s.be, s.Hidden, s.gates()
	TB := r.T * r.B
	if r.dgates == nil {
		r.dgates = be.Alloc(TB * G * H)
		r.dy = be.Alloc(TB * H)
		r.dx = be.Alloc(TB * H)
		r.dhRec = be.Alloc(r.B * H)
		r.dc = be.Alloc(r.B * H)
		r.dIn = be.Alloc(TB * s.In)
		if s.Cell == CellGRU {
			r.dhg = be.Alloc(TB * G * H)
		}
		r.makeBackwardViews()
	}
	if initGrad && r.dh0 == nil {
		for range s.Layers {
			r.dh0 = append(r.dh0, be.Alloc(r.B*H))
			if s.Cell == CellLSTM {
				r.dc0 = append(r.dc0, be.Alloc(r.B*H))
			}
		}
	}
}

// InitState returns views of layer l's initial state, which Forward reads: h and, for an
// LSTM, c (nil otherwise), each [B×H]. Write into them to start from a given state.
func (r *StackRun) InitState(l int) (h, c engine.Tensor) { return r.stateAt(l, 0) }

// FinalState returns views of layer l's state after the last step of the last Forward.
func (r *StackRun) FinalState(l int) (h, c engine.Tensor) { return r.stateAt(l, r.T) }

func (r *StackRun) stateAt(l, t int) (h, c engine.Tensor) {
	h = r.hSteps[l][t]
	if r.cSteps != nil {
		c = r.cSteps[l][t]
	}
	return h, c
}

// Output returns the top layer's h at every step of the last Forward, [T·B×H].
func (r *StackRun) Output() engine.Tensor { return r.outs[len(r.outs)-1] }

// OutputGrad returns the buffer, [T·B×H], that the caller fills with the gradient at the
// top layer's output before Backward. Backward overwrites it.
func (r *StackRun) OutputGrad() engine.Tensor { return r.dy }

// InputGrad returns the gradient at the stack's input, [T·B×In], written by Backward.
func (r *StackRun) InputGrad() engine.Tensor { return r.dIn }

// InitGrad returns the gradient at layer l's initial state, written by Backward after
// PrepareBackward with initGrad: dh and, for an LSTM, dc (nil otherwise), each [B×H].
func (r *StackRun) InitGrad(l int) (dh, dc engine.Tensor) {
	dh = r.dh0[l]
	if r.dc0 != nil {
		dc = r.dc0[l]
	}
	return dh, dc
}

// Layer0GateGrad returns the gradient at layer 0's input pre-activations, [T·B×G·H], which
// Backward leaves behind. A caller that added a gate bias sums it over the steps to get the
// bias's gradient.
func (r *StackRun) Layer0GateGrad() engine.Tensor { return r.dgates }

// StackInput is the input of one forward pass of a stack.
type StackInput struct {
	X engine.Tensor // [T·B×In], time-major: row t·B+b is step t of sequence b
	// Table, when not nil, gives the input as rows of a table [V×In] in place of X, which is
	// then not read: row r of the input is row IDs[r] of Table. Layer 0 projects the V table
	// rows once and gathers the projections, which takes fewer operations than projecting
	// T·B rows when V is smaller than T·B. Backward then accumulates the gradient at the
	// table into TableGrad [V×In] (unless it is nil or NoInputGrad is set) in place of
	// writing InputGrad.
	Table, TableGrad engine.Tensor
	IDs              []int32
	// Reset is nil or [T·B×H]: after step t, every layer's h (and c) of row b is multiplied
	// by row t·B+b, which is 0 at a left-padding step and 1 otherwise. A left-padded row then
	// ends in the state it would reach alone, unpadded, from the initial state zero.
	Reset engine.Tensor
	// GateBias is nil or [B×G·H], added to layer 0's input pre-activations at every step, for
	// example a projected image feature.
	GateBias engine.Tensor
	Drop     Dropout
	// NoInputGrad skips the gradient at X in Backward, for inputs that are data.
	NoInputGrad bool
}

// Forward runs the stack over r.T steps from the initial state in slot 0, writing every
// step's state. It only queues work on the backend. It panics when in.X is not [T·B×In].
func (s *Stack) Forward(r *StackRun, in StackInput) {
	be, H, L := s.be, s.Hidden, s.Layers
	B, T := r.B, r.T
	TB := T * B
	r.table = nil
	if in.Table != nil {
		s.setTable(r, in)
	} else if in.X.Len() != TB*s.In {
		panic(fmt.Sprintf("lstm: Stack.Forward input has %d values, want %d steps × %d rows × "+
			"width %d", in.X.Len(), T, B, s.In))
	}
	r.x = in.X
	r.setReset(in.Reset)
	if ms, ok := s.useWavefront(r); ok {
		s.forwardWavefront(ms, r, in)
		r.noInputGrad = in.NoInputGrad
		return
	}
	x, width := in.X, s.In
	for l := 0; l < L; l++ {
		var bias engine.Tensor
		if l == 0 {
			bias = in.GateBias
		}
		if s.Cell == CellGRU {
			s.forwardGRULayer(r, l, x, width, bias)
		} else {
			s.forwardLayer(r, l, x, width, bias)
		}
		x, width = r.outs[l], H
		if l < L-1 {
			r.dropped[l] = in.Drop.P > 0
			if in.Drop.P > 0 {
				be.Copy(r.drop[l], x)
				off := in.Drop.Offset + uint64(l)*uint64(TB*H)
				be.Dropout(r.drop[l], r.mask[l], in.Drop.P, in.Drop.Seed, off)
				x = r.drop[l]
			}
		}
	}
	r.noInputGrad = in.NoInputGrad
}

// setTable records the table input of a forward pass, allocating the projection buffers on
// the first call for a table of its size. It panics unless the table has rows of width In
// and there are T·B ids.
func (s *Stack) setTable(r *StackRun, in StackInput) {
	GH := s.gates() * s.Hidden
	if n := in.Table.Len(); n == 0 || n%s.In != 0 || len(in.IDs) != r.T*r.B {
		panic(fmt.Sprintf("lstm: Stack.Forward table has %d values and %d ids, want rows of "+
			"width %d and %d steps × %d rows of ids", in.Table.Len(), len(in.IDs), s.In, r.T, r.B))
	}
	r.table, r.tableGrad, r.ids = in.Table, in.TableGrad, in.IDs
	r.tableRows = in.Table.Len() / s.In
	if r.proj == nil || r.proj.Len() != r.tableRows*GH {
		r.proj = s.be.Alloc(r.tableRows * GH)
		r.dproj = s.be.Alloc(r.tableRows * GH)
	}
}

// projectInput writes layer l's input pre-activations x·W_ih^T + b_ih, plus b_hh when
// withHidden, into r.gates[l] [T·B×G·H]. For layer 0 with a table input it computes them
// for the V table rows and gathers row ids[r] into row r.
func (s *Stack) projectInput(r *StackRun, l int, x engine.Tensor, in int, withHidden bool) {
	be, GH := s.be, s.gates()*s.Hidden
	lp := s.p[l]
	rows, out := r.T*r.B, r.gates[l]
	fromTable := l == 0 && r.table != nil
	if fromTable {
		rows, out, x = r.tableRows, r.proj, r.table
	}
	be.Gemm(false, true, rows, GH, in, 1, x, lp.wih, 0, out)
	be.AddBias(out, lp.bih, rows, GH)
	if withHidden {
		be.AddBias(out, lp.bhh, rows, GH)
	}
	if fromTable {
		be.EmbeddingForward(r.gates[l], r.proj, r.ids, GH)
	}
}

// addGateBias adds bias [B×G·H] to each of the T steps of layer 0's gates.
func (s *Stack) addGateBias(r *StackRun, bias engine.Tensor) {
	for _, gt := range r.gateSteps[0] {
		s.be.Axpy(1, bias, gt)
	}
}

// applyReset multiplies step t's new state by the reset mask, if there is one.
func (s *Stack) applyReset(r *StackRun, l, t int) {
	if r.reset == nil {
		return
	}
	m := r.resetSteps[t]
	s.be.Mul(r.hSteps[l][t+1], m)
	if r.cSteps != nil {
		s.be.Mul(r.cSteps[l][t+1], m)
	}
}

// forwardLayer runs LSTM or RNN layer l over all steps, reading its input x [T·B×in] and
// writing every step's h into r.h[l].
func (s *Stack) forwardLayer(r *StackRun, l int, x engine.Tensor, in int, bias engine.Tensor) {
	be, H, G, B, T := s.be, s.Hidden, s.gates(), r.B, r.T
	lp := s.p[l]
	s.projectInput(r, l, x, in, true)
	if bias != nil {
		s.addGateBias(r, bias)
	}
	for t := 0; t < T; t++ {
		gt := r.gateSteps[l][t]
		hPrev, hNext := r.hSteps[l][t], r.hSteps[l][t+1]
		be.Gemm(false, true, B, G*H, H, 1, hPrev, lp.whh, 1, gt)
		if s.Cell == CellLSTM {
			be.LSTMForward(gt, r.cSteps[l][t], r.cSteps[l][t+1], hNext, B, H)
		} else {
			be.RNNForward(gt, hNext)
		}
		s.applyReset(r, l, t)
	}
}

// forwardGRULayer runs GRU layer l over all steps. The input projections, with b_ih, are one
// GEMM over all T steps. The recurrent projections W_hh·h_{t−1} + b_hh stay separate in
// r.hg[l], because the reset gate multiplies only their n block and backward reads every
// step's.
func (s *Stack) forwardGRULayer(r *StackRun, l int, x engine.Tensor, in int, bias engine.Tensor) {
	be, H, B, T := s.be, s.Hidden, r.B, r.T
	G := 3
	lp := s.p[l]
	s.projectInput(r, l, x, in, false)
	if bias != nil {
		s.addGateBias(r, bias)
	}
	for t := 0; t < T; t++ {
		gt, hgt := r.gateSteps[l][t], r.hgSteps[l][t]
		hPrev, hNext := r.hSteps[l][t], r.hSteps[l][t+1]
		be.Gemm(false, true, B, G*H, H, 1, hPrev, lp.whh, 0, hgt)
		be.GRUForward(gt, hgt, lp.bhh, hPrev, hNext, B, H)
		s.applyReset(r, l, t)
	}
}

// StateGrad is the gradient at a stack's final state: per layer dh and, for an LSTM, dc,
// each [B×H]. A nil slice or entry means zero.
type StateGrad struct {
	H, C []engine.Tensor
}

func (g StateGrad) at(l int) (dh, dc engine.Tensor) {
	if l < len(g.H) {
		dh = g.H[l]
	}
	if l < len(g.C) {
		dc = g.C[l]
	}
	return dh, dc
}

// Backward accumulates into the stack's gradients the gradient of a loss whose gradient at
// the top layer's output is in OutputGrad (which it overwrites) and at the final state in
// final. It writes the gradient at the input into InputGrad unless the forward pass had
// NoInputGrad, and at the initial state into InitGrad when prepared for it. The last
// Forward must have run on r after PrepareBackward.
func (s *Stack) Backward(r *StackRun, final StateGrad) {
	dy, dx := r.dy, r.dx
	dySteps, dxSteps := r.dySteps, r.dxSteps
	for l := s.Layers - 1; l >= 0; l-- {
		dhT, dcT := final.at(l)
		if s.Cell == CellGRU {
			s.backwardGRULayer(r, l, dySteps, dhT)
		} else {
			s.backwardLayer(r, l, dySteps, dhT, dcT)
		}
		// For LSTM and RNN, the input and recurrent pre-activations share one gradient.
		dhh := r.dgates
		if s.Cell == CellGRU {
			dhh = r.dhg
		}
		s.backwardLayerWeights(r, l, dhh, dx)
		dy, dx = dx, dy
		dySteps, dxSteps = dxSteps, dySteps
	}
}

// maskGrad multiplies a gradient reaching step t's new state by the reset mask, as the
// forward step multiplied the state.
func (s *Stack) maskGrad(r *StackRun, t int, d engine.Tensor) {
	if r.reset == nil || d == nil {
		return
	}
	s.be.Mul(d, r.resetSteps[t])
}

// backwardLayer backpropagates through LSTM or RNN layer l over all steps, from dy (T views
// [B×H]), the gradient at the layer's output, and dhT, dcT (nil for zero), at its final
// state. It leaves the gradient at the pre-activations in r.dgates.
func (s *Stack) backwardLayer(r *StackRun, l int, dy []engine.Tensor, dhT, dcT engine.Tensor) {
	be, H, G, B, T := s.be, s.Hidden, s.gates(), r.B, r.T
	lp := s.p[l]
	if s.Cell == CellLSTM {
		if dcT != nil {
			be.Copy(r.dc, dcT)
		} else {
			be.Fill(r.dc, 0)
		}
	}
	var dhRec engine.Tensor
	if dhT != nil {
		be.Copy(r.dhRec, dhT)
		dhRec = r.dhRec
	}
	for t := T - 1; t >= 0; t-- {
		dgt, dyt := r.dgateSteps[t], dy[t]
		s.maskGrad(r, t, dyt)
		s.maskGrad(r, t, dhRec)
		if s.Cell == CellLSTM {
			s.maskGrad(r, t, r.dc)
			gt, cPrev, c := r.gateSteps[l][t], r.cSteps[l][t], r.cSteps[l][t+1]
			be.LSTMBackward(gt, cPrev, c, dyt, dhRec, r.dc, dgt, B, H)
		} else {
			be.RNNBackward(r.hSteps[l][t+1], dyt, dhRec, dgt)
		}
		if t > 0 {
			be.Gemm(false, false, B, H, G*H, 1, dgt, lp.whh, 0, r.dhRec)
			dhRec = r.dhRec
		}
	}
	if r.dh0 != nil {
		be.Gemm(false, false, B, H, G*H, 1, r.dgateSteps[0], lp.whh, 0, r.dh0[l])
		if s.Cell == CellLSTM {
			be.Copy(r.dc0[l], r.dc)
		}
	}
}

// backwardGRULayer backpropagates through GRU layer l over all steps, from dy (T views [B×H])
// at the layer's output and dhT (nil for zero) at its final state. It leaves the gradients at the
// input and recurrent pre-activations in r.dgates and r.dhg.
func (s *Stack) backwardGRULayer(r *StackRun, l int, dy []engine.Tensor, dhT engine.Tensor) {
	be, H, B, T := s.be, s.Hidden, r.B, r.T
	G := 3
	lp := s.p[l]

	// dhPrev alternates between two buffers, so that GRUBackward never writes the dhRec it
	// reads in the same call.
	dhBufs := [2]engine.Tensor{r.dhRec, r.dc}
	var dhRec engine.Tensor
	if dhT != nil {
		// Step T−1 writes dhBufs[(T−1)%2], so the final-state gradient goes in the other.
		dhRec = dhBufs[T%2]
		be.Copy(dhRec, dhT)
	}
	for t := T - 1; t >= 0; t-- {
		gt, hgt := r.gateSteps[l][t], r.hgSteps[l][t]
		dxgt, dhgt := r.dgateSteps[t], r.dhgSteps[t]
		hPrev := r.hSteps[l][t]
		dhPrev := dhBufs[t%2]
		dyt := dy[t]
		s.maskGrad(r, t, dyt)
		s.maskGrad(r, t, dhRec)
		be.GRUBackward(gt, hgt, hPrev, dyt, dhRec, dxgt, dhgt, dhPrev, B, H)
		if t > 0 || r.dh0 != nil {
			// GRUBackward leaves only the z·h_{t−1} path in dhPrev, so add the path through hg.
			be.Gemm(false, false, B, H, G*H, 1, dhgt, lp.whh, 1, dhPrev)
			dhRec = dhPrev
		}
	}
	if r.dh0 != nil {
		be.Copy(r.dh0[l], dhRec)
	}
}

// backwardLayerWeights accumulates layer l's weight and bias gradients as one GEMM or column
// sum each over all T steps, from r.dgates (the gradient of the input pre-activations) and
// dhh (of the recurrent pre-activations). It then writes the gradient of the layer's input
// into dx, or, for layer 0, into r.dIn unless the input was data.
func (s *Stack) backwardLayerWeights(r *StackRun, l int, dhh, dx engine.Tensor) {
	be, H, G := s.be, s.Hidden, s.gates()
	TB := r.T * r.B
	lp, lg := s.p[l], s.g[l]

	be.Gemm(true, false, G*H, H, TB, 1, dhh, r.hPrev[l], 1, lg.whh)
	if l == 0 && r.table != nil {
		s.backwardTableWeights(r, dhh)
		return
	}
	x, in := r.x, s.In
	if l > 0 {
		x, in = r.outs[l-1], H
		if r.dropped[l-1] {
			x = r.drop[l-1]
		}
	}
	be.Gemm(true, false, G*H, in, TB, 1, r.dgates, x, 1, lg.wih)
	be.SumRows(lg.bih, r.dgates, TB, G*H)
	be.SumRows(lg.bhh, dhh, TB, G*H)

	if l == 0 {
		if !r.noInputGrad {
			be.Gemm(false, false, TB, s.In, G*H, 1, r.dgates, lp.wih, 0, r.dIn)
		}
		return
	}
	be.Gemm(false, false, TB, H, G*H, 1, r.dgates, lp.wih, 0, dx)
	if r.dropped[l-1] {
		be.Mul(dx, r.mask[l-1])
	}
}

// backwardTableWeights finishes backwardLayerWeights for layer 0 with a table input. It sums
// the gate gradients of the rows that read each table row into r.dproj [V×G·H], so that the
// gradients of W_ih, b_ih and the table are products and sums over V rows, not T·B.
func (s *Stack) backwardTableWeights(r *StackRun, dhh engine.Tensor) {
	be, GH, V := s.be, s.gates()*s.Hidden, r.tableRows
	lp, lg := s.p[0], s.g[0]
	be.Fill(r.dproj, 0)
	be.EmbeddingBackward(r.dproj, r.dgates, r.ids, GH)
	be.Gemm(true, false, GH, s.In, V, 1, r.dproj, r.table, 1, lg.wih)
	be.SumRows(lg.bih, r.dproj, V, GH)
	if s.Cell == CellGRU {
		be.SumRows(lg.bhh, dhh, r.T*r.B, GH)
	} else {
		// The input and recurrent pre-activations share one gradient, r.dgates.
		be.SumRows(lg.bhh, r.dproj, V, GH)
	}
	if r.tableGrad != nil && !r.noInputGrad {
		be.Gemm(false, false, V, s.In, GH, 1, r.dproj, lp.wih, 1, r.tableGrad)
	}
}

// Prefix returns a run over the first T steps of r, sharing r's memory, so that batches of
// different lengths reuse the buffers of the longest. Its backward buffers are those of r at
// the time of the call. Prefix returns the same run for the same T while r's backward buffers
// stay the same, so that a step allocates nothing. Prefix panics unless 1 ≤ T ≤ r.T.
func (r *StackRun) Prefix(T int) *StackRun {
	if T < 1 || T > r.T {
		panic(fmt.Sprintf("lstm: invalid prefix of %d steps for a run of %d steps", T, r.T))
	}
	if T == r.T {
		return r
	}
	if p, ok := r.prefixes[T]; ok && (p.dgates == nil) == (r.dgates == nil) &&
		len(p.dh0) == len(r.dh0) {
		return p
	}
	p := r.newPrefix(T)
	if r.prefixes == nil {
		r.prefixes = make(map[int]*StackRun)
	}
	r.prefixes[T] = p
	return p
}

// newPrefix builds the run that Prefix returns.
func (r *StackRun) newPrefix(T int) *StackRun {
	p := &StackRun{B: r.B, T: T, H: r.H, dh0: r.dh0, dc0: r.dc0, dropped: r.dropped}
	// prefixEach cuts each per-layer tensor of r.T+extra steps to its first T+extra steps.
	prefixEach := func(ts []engine.Tensor, extra int) []engine.Tensor {
		if ts == nil {
			return nil
		}
		out := make([]engine.Tensor, len(ts))
		for i, t := range ts {
			per := t.Len() / (r.T + extra)
			out[i] = t.Slice(0, per*(T+extra))
		}
		return out
	}
	p.gates, p.hg = prefixEach(r.gates, 0), prefixEach(r.hg, 0)
	p.drop, p.mask = prefixEach(r.drop, 0), prefixEach(r.mask, 0)
	p.h, p.c = prefixEach(r.h, 1), prefixEach(r.c, 1)
	if r.dgates != nil {
		prefixOne := func(t engine.Tensor) engine.Tensor {
			if t == nil {
				return nil
			}
			return t.Slice(0, t.Len()/r.T*T)
		}
		p.dgates, p.dhg = prefixOne(r.dgates), prefixOne(r.dhg)
		p.dy, p.dx, p.dIn = prefixOne(r.dy), prefixOne(r.dx), prefixOne(r.dIn)
		p.dhRec, p.dc = r.dhRec, r.dc
	}
	p.makeLayerViews()
	p.makeBackwardViews()
	return p
}
