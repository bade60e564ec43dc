package lstm

import "github.com/recur-ml/recur/engine"

// useWavefront returns the stack's backend as a MultiStream and true when Forward runs r as a
// wavefront: the backend has several streams and its wavefront option is on, and r has more
// than one layer and more than one step, so that there is something to overlap.
func (s *Stack) useWavefront(r *StackRun) (engine.MultiStream, bool) {
	ms, ok := s.be.(engine.MultiStream)
	if !ok || s.Layers < 2 || r.T < 2 || !ms.Wavefront() {
		return nil, false
	}
	return ms, true
}

// forwardWavefront runs the forward pass of Forward with layer l on stream l of ms. Step t of
// layer l waits, through an event, only for step t of layer l−1, so the layers overlap along
// a diagonal of (layer, step) instead of running one after another.
//
// Layer 0 projects its input for all T steps in one GEMM, as Forward does. A layer above
// projects its input one step at a time, because its input at step t is ready only once the
// layer below has finished step t. The per-step operations are those of Forward, in the same
// order, so each element is computed by the same float32 operations. On a backend whose GEMM
// sums each element in the same order for any number of rows, as the CPU's and the fake CUDA
// driver's do, the results are bit-identical to Forward's.
// NOTE: cuBLAS may pick another kernel for a B-row GEMM than for a T·B-row one. So on a GPU
// the layers above 0 may differ from Forward's in the last bits, although each run is still
// deterministic.
func (s *Stack) forwardWavefront(ms engine.MultiStream, r *StackRun, in StackInput) {
	L := s.Layers
	ms.Fork(L)
	s.projectInput(r, 0, in.X, s.In, s.Cell != CellGRU)
	if in.GateBias != nil {
		s.addGateBias(r, in.GateBias)
	}
	for l := 0; l < L-1; l++ {
		r.dropped[l] = in.Drop.P > 0
	}
	for t := 0; t < r.T; t++ {
		for l := 0; l < L; l++ {
			ms.UseStream(l)
			if l > 0 {
				ms.WaitFor(l - 1)
				s.projectInputStep(r, l, t)
			}
			s.forwardStep(r, l, t)
			if l < L-1 && in.Drop.P > 0 {
				s.dropoutStep(r, l, t, in.Drop)
			}
			ms.Signal()
		}
	}
	ms.Join()
}

// layerInputStep returns the input of layer l > 0 at step t: the output of layer l−1 at step
// t, after its dropout where there is one.
func (s *Stack) layerInputStep(r *StackRun, l, t int) engine.Tensor {
	if r.dropped[l-1] {
		n := r.B * s.Hidden
		return r.drop[l-1].Slice(t*n, n)
	}
	return r.hSteps[l-1][t+1]
}

// projectInputStep writes the input pre-activations of layer l > 0 at step t into its gates,
// as projectInput does for all steps: x_t·W_ih^T, then b_ih, then b_hh for LSTM and RNN.
func (s *Stack) projectInputStep(r *StackRun, l, t int) {
	be, GH := s.be, s.gates()*s.Hidden
	lp := s.p[l]
	gt := r.gateSteps[l][t]
	be.Gemm(false, true, r.B, GH, s.Hidden, 1, s.layerInputStep(r, l, t), lp.wih, 0, gt)
	be.AddBias(gt, lp.bih, r.B, GH)
	if s.Cell != CellGRU {
		be.AddBias(gt, lp.bhh, r.B, GH)
	}
}

// forwardStep runs step t of layer l once its input pre-activations are in its gates: the
// recurrent GEMM, the fused gate kernel and the reset mask, as forwardLayer and
// forwardGRULayer do.
func (s *Stack) forwardStep(r *StackRun, l, t int) {
	be, H, B := s.be, s.Hidden, r.B
	GH := s.gates() * H
	lp := s.p[l]
	gt := r.gateSteps[l][t]
	hPrev, hNext := r.hSteps[l][t], r.hSteps[l][t+1]
	switch s.Cell {
	case CellGRU:
		hgt := r.hgSteps[l][t]
		be.Gemm(false, true, B, GH, H, 1, hPrev, lp.whh, 0, hgt)
		be.GRUForward(gt, hgt, lp.bhh, hPrev, hNext, B, H)
	case CellLSTM:
		be.Gemm(false, true, B, GH, H, 1, hPrev, lp.whh, 1, gt)
		be.LSTMForward(gt, r.cSteps[l][t], r.cSteps[l][t+1], hNext, B, H)
	default:
		be.Gemm(false, true, B, GH, H, 1, hPrev, lp.whh, 1, gt)
		be.RNNForward(gt, hNext)
	}
	s.applyReset(r, l, t)
}

// dropoutStep applies the dropout between layer l and l+1 to step t of layer l's output, with
// the counters that Forward's dropout over all T steps gives those elements.
func (s *Stack) dropoutStep(r *StackRun, l, t int, drop Dropout) {
	n := r.B * s.Hidden
	dst, mask := r.drop[l].Slice(t*n, n), r.mask[l].Slice(t*n, n)
	s.be.Copy(dst, r.hSteps[l][t+1])
	off := drop.Offset + uint64(l)*uint64(r.T*n) + uint64(t*n)
	s.be.Dropout(dst, mask, drop.P, drop.Seed, off)
}
