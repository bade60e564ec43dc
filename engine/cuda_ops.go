package engine

import (
	"fmt"
	"math"

	"github.com/recur-ml/recur/kernels"
)

// The operations below check their arguments on the host, panicking on a caller mistake as
// the CPU backend does, and queue one kernel each. Every kernel's arguments are listed in the
// order of its signature in recur_kernels.cu.

// Axpy computes y += alpha·x.
func (c *CUDA) Axpy(alpha float32, x, y Tensor) {
	xt := c.anyTensor("Axpy", "x", x)
	yt := c.tensor("Axpy", "y", y, xt.n)
	c.lock()
	defer c.mu.Unlock()
	// axpy(float alpha, const float *x, float *y, int n)
	c.launch("Axpy", kernelAxpy, elementLaunch(xt.n),
		c.args.Reset().Float32(alpha).Ptr(xt.ptr).Ptr(yt.ptr).Int(xt.n))
}

// Mul computes dst[i] *= x[i].
func (c *CUDA) Mul(dst, x Tensor) {
	xt := c.anyTensor("Mul", "x", x)
	dt := c.tensor("Mul", "dst", dst, xt.n)
	c.lock()
	defer c.mu.Unlock()
	// mul(float *dst, const float *x, int n)
	c.launch("Mul", kernelMul, elementLaunch(xt.n),
		c.args.Reset().Ptr(dt.ptr).Ptr(xt.ptr).Int(xt.n))
}

// AddBias adds bias [cols] to every row of y [rows×cols].
func (c *CUDA) AddBias(y, bias Tensor, rows, cols int) {
	checkMatrix("AddBias", rows, cols)
	yt := c.tensor("AddBias", "y", y, rows*cols)
	bt := c.tensor("AddBias", "bias", bias, cols)
	c.lock()
	defer c.mu.Unlock()
	// add_bias(float *y, const float *bias, int rows, int cols)
	c.launch("AddBias", kernelAddBias, elementLaunch(rows*cols),
		c.args.Reset().Ptr(yt.ptr).Ptr(bt.ptr).Int(rows).Int(cols))
}

// SumRows accumulates the column sums of x [rows×cols] into dst [cols]. One thread per
// column adds the rows in order, so the result does not vary from run to run.
func (c *CUDA) SumRows(dst, x Tensor, rows, cols int) {
	checkMatrix("SumRows", rows, cols)
	xt := c.tensor("SumRows", "x", x, rows*cols)
	dt := c.tensor("SumRows", "dst", dst, cols)
	if rows == 0 {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	// sum_rows(float *dst, const float *x, int rows, int cols)
	c.launch("SumRows", kernelSumRows, columnLaunch(cols),
		c.args.Reset().Ptr(dt.ptr).Ptr(xt.ptr).Int(rows).Int(cols))
}

// checkEmbeddingIDs panics unless dim is positive, the table of tableLen elements is a whole
// number of rows and every id is a row of it. It returns the number of rows V.
func checkEmbeddingIDs(op string, tableLen int, ids []int32, dim int) int {
	if dim <= 0 {
		panic(fmt.Sprintf("engine: %s: invalid dim %d", op, dim))
	}
	if tableLen%dim != 0 {
		panic(fmt.Sprintf("engine: %s: table of %d elements is not a whole number of rows of %d",
			op, tableLen, dim))
	}
	V := tableLen / dim
	for r, id := range ids {
		if id < 0 || int(id) >= V {
			panic(fmt.Sprintf("engine: %s: ids[%d] = %d is outside [0, %d)", op, r, id, V))
		}
	}
	return V
}

// EmbeddingForward writes row ids[r] of table [V×dim] into row r of out [len(ids)×dim]. It
// panics when an id is outside [0, V).
func (c *CUDA) EmbeddingForward(out, table Tensor, ids []int32, dim int) {
	const op = "EmbeddingForward"
	tt := c.anyTensor(op, "table", table)
	checkEmbeddingIDs(op, tt.n, ids, dim)
	ot := c.tensor(op, "out", out, len(ids)*dim)
	if len(ids) == 0 {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	idsPtr, ok := c.stageIDs(op, ids)
	if !ok {
		return
	}
	// embedding_forward(float *out, const float *table, const int *ids, int n, int dim)
	c.launch(op, kernelEmbeddingForward, elementLaunch(len(ids)*dim),
		c.args.Reset().Ptr(ot.ptr).Ptr(tt.ptr).Ptr(idsPtr).Int(len(ids)).Int(dim))
}

// EmbeddingBackward accumulates row r of dout [len(ids)×dim] into row ids[r] of dtable. One
// thread per column adds the rows in order, so repeated ids give the same sums from run to
// run. It panics when an id is outside [0, V).
func (c *CUDA) EmbeddingBackward(dtable, dout Tensor, ids []int32, dim int) {
	const op = "EmbeddingBackward"
	tt := c.anyTensor(op, "dtable", dtable)
	checkEmbeddingIDs(op, tt.n, ids, dim)
	dt := c.tensor(op, "dout", dout, len(ids)*dim)
	if len(ids) == 0 {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	idsPtr, ok := c.stageIDs(op, ids)
	if !ok {
		return
	}
	// embedding_backward(float *dtable, const float *dout, const int *ids, int n, int dim)
	c.launch(op, kernelEmbeddingBackward, columnLaunch(dim),
		c.args.Reset().Ptr(tt.ptr).Ptr(dt.ptr).Ptr(idsPtr).Int(len(ids)).Int(dim))
}

// LSTMForward applies one LSTM step as Backend documents. c may be the same tensor as cPrev.
func (c *CUDA) LSTMForward(gates, cPrev, cNext, h Tensor, B, H int) {
	const op = "LSTMForward"
	gateLen, stateLen := checkLSTM(op, B, H)
	gt := c.tensor(op, "gates", gates, gateLen)
	pt := c.tensor(op, "cPrev", cPrev, stateLen)
	ct := c.tensor(op, "c", cNext, stateLen)
	ht := c.tensor(op, "h", h, stateLen)
	c.lock()
	defer c.mu.Unlock()
	// lstm_gates_forward(float *gates, const float *c_prev, float *c, float *h, int B, int H)
	c.launch(op, kernelLSTMForward, unitLaunch(B, H),
		c.args.Reset().Ptr(gt.ptr).Ptr(pt.ptr).Ptr(ct.ptr).Ptr(ht.ptr).Int(B).Int(H))
}

// LSTMBackward reverses LSTMForward as Backend documents; dhRec may be nil.
func (c *CUDA) LSTMBackward(gates, cPrev, cNext, dhOut, dhRec, dc, dgates Tensor, B, H int) {
	const op = "LSTMBackward"
	gateLen, stateLen := checkLSTM(op, B, H)
	gt := c.tensor(op, "gates", gates, gateLen)
	pt := c.tensor(op, "cPrev", cPrev, stateLen)
	ct := c.tensor(op, "c", cNext, stateLen)
	ot := c.tensor(op, "dhOut", dhOut, stateLen)
	rt := c.optionalTensor(op, "dhRec", dhRec, stateLen)
	dct := c.tensor(op, "dc", dc, stateLen)
	dgt := c.tensor(op, "dgates", dgates, gateLen)
	c.lock()
	defer c.mu.Unlock()
	// lstm_gates_backward(const float *gates, const float *c_prev, const float *c,
	//     const float *dh_out, const float *dh_rec, float *dc, float *dgates, int B, int H)
	c.launch(op, kernelLSTMBackward, unitLaunch(B, H),
		c.args.Reset().Ptr(gt.ptr).Ptr(pt.ptr).Ptr(ct.ptr).Ptr(ot.ptr).Ptr(ptrOrNull(rt)).
			Ptr(dct.ptr).Ptr(dgt.ptr).Int(B).Int(H))
}

// RNNForward applies h = tanh(pre) element-wise. pre and h may be the same tensor.
func (c *CUDA) RNNForward(pre, h Tensor) {
	pt := c.anyTensor("RNNForward", "pre", pre)
	ht := c.tensor("RNNForward", "h", h, pt.n)
	c.lock()
	defer c.mu.Unlock()
	// rnn_forward(const float *pre, float *h, int n)
	c.launch("RNNForward", kernelRNNForward, elementLaunch(pt.n),
		c.args.Reset().Ptr(pt.ptr).Ptr(ht.ptr).Int(pt.n))
}

// RNNBackward writes dpre = (dhOut + dhRec)·(1 − h²); dhRec may be nil.
func (c *CUDA) RNNBackward(h, dhOut, dhRec, dpre Tensor) {
	const op = "RNNBackward"
	ht := c.anyTensor(op, "h", h)
	n := ht.n
	ot := c.tensor(op, "dhOut", dhOut, n)
	rt := c.optionalTensor(op, "dhRec", dhRec, n)
	pt := c.tensor(op, "dpre", dpre, n)
	c.lock()
	defer c.mu.Unlock()
	// rnn_backward(const float *h, const float *dh_out, const float *dh_rec, float *dpre,
	//     int n)
	c.launch(op, kernelRNNBackward, elementLaunch(n),
		c.args.Reset().Ptr(ht.ptr).Ptr(ot.ptr).Ptr(ptrOrNull(rt)).Ptr(pt.ptr).Int(n))
}

// SoftmaxCrossEntropy computes the per-row loss and, when dlogits is not nil, its gradient,
// as Backend documents, with one block per row. logits and dlogits may be the same tensor.
// It panics, before queuing anything, when a target is outside [−1, V).
func (c *CUDA) SoftmaxCrossEntropy(logits Tensor, targets []int32, losses, dlogits Tensor,
	rows, V int, scale float32) {
	const op = "SoftmaxCrossEntropy"
	checkMatrix(op, rows, V)
	if len(targets) != rows {
		panic(fmt.Sprintf("engine: %s: %d targets for %d rows", op, len(targets), rows))
	}
	lt := c.tensor(op, "logits", logits, rows*V)
	st := c.tensor(op, "losses", losses, rows)
	dt := c.optionalTensor(op, "dlogits", dlogits, rows*V)
	for r, target := range targets {
		if target < -1 || int(target) >= V {
			panic(fmt.Sprintf("engine: %s: row %d has target %d, outside [-1, %d) for V=%d",
				op, r, target, V, V))
		}
	}
	if rows == 0 {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	targetsPtr, ok := c.stageIDs(op, targets)
	if !ok {
		return
	}
	// softmax_xent(const float *logits, const int *targets, float *losses, float *dlogits,
	//     int rows, int V, float scale)
	c.launch(op, kernelSoftmaxXent, rowLaunch(rows),
		c.args.Reset().Ptr(lt.ptr).Ptr(targetsPtr).Ptr(st.ptr).Ptr(ptrOrNull(dt)).
			Int(rows).Int(V).Float32(scale))
}

// Dropout applies inverted dropout with the mask of DropoutKeep, as Backend documents. It
// panics unless 0 ≤ p < 1. Inside a captured or replayed step, offset reaches the kernel
// through device memory, because it changes from step to step.
func (c *CUDA) Dropout(x, mask Tensor, p float32, seed, offset uint64) {
	const op = "Dropout"
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("engine: Dropout: invalid drop probability %v; want 0 ≤ p < 1", p))
	}
	xt := c.anyTensor(op, "x", x)
	mt := c.tensor(op, "mask", mask, xt.n)
	c.lock()
	defer c.mu.Unlock()
	if c.err != nil || xt.n == 0 {
		return
	}
	words := uint64Words(offset)
	offsetPtr, ok := c.stepValue(op, words[:])
	if !ok {
		return
	}
	if offsetPtr != 0 {
		offset = 0
	}
	// dropout(float *x, float *mask, int n, float p, unsigned long long seed,
	//     unsigned long long offset, const unsigned long long *offset_dev)
	c.launch(op, kernelDropout, elementLaunch(xt.n),
		c.args.Reset().Ptr(xt.ptr).Ptr(mt.ptr).Int(xt.n).Float32(p).Uint64(seed).Uint64(offset).
			Ptr(offsetPtr))
}

// ClipGradNorm computes the L2 norm of g in float64 on the device, writes it into norm[0]
// and, when maxNorm > 0, scales g by min(1, maxNorm/(norm+1e-6)). The norm never leaves the
// device: a fixed grid writes kernels.NormPartials partial sums, one block adds them in a
// fixed order, and the scaling kernel reads norm[0] itself. A NaN or infinite norm leaves g
// unscaled.
func (c *CUDA) ClipGradNorm(g Tensor, maxNorm float32, norm Tensor) {
	const op = "ClipGradNorm"
	gt := c.anyTensor(op, "g", g)
	nt := c.anyTensor(op, "norm", norm)
	if nt.n == 0 {
		panic("engine: ClipGradNorm: norm has 0 elements, want at least 1")
	}
	c.lock()
	defer c.mu.Unlock()
	// sum_squares_partial(const float *x, int n, double *partials)
	c.launch(op, kernelSumSquaresPartial, normPartialLaunch(),
		c.args.Reset().Ptr(gt.ptr).Int(gt.n).Ptr(c.partials.ptr))
	// sum_squares_final(const double *partials, int P, float *norm)
	c.launch(op, kernelSumSquaresFinal, normFinalLaunch(),
		c.args.Reset().Ptr(c.partials.ptr).Int(kernels.NormPartials).Ptr(nt.ptr))
	if maxNorm > 0 {
		// clip_scale(float *g, int n, const float *norm, float max_norm)
		c.launch(op, kernelClipScale, elementLaunch(gt.n),
			c.args.Reset().Ptr(gt.ptr).Int(gt.n).Ptr(nt.ptr).Float32(maxNorm))
	}
}

// AdamStep applies one Adam update as PyTorch's torch.optim.Adam does without weight decay.
// The bias corrections 1−β1^step and 1−β2^step are computed on the host in float64, from the
// step number, so the update needs no synchronization; inside a captured or replayed step
// they reach the kernel through device memory. After GuardUpdates the kernel skips the update
// unless the guard is finite. It panics when step < 1.
func (c *CUDA) AdamStep(param, grad, m, v Tensor, lr, beta1, beta2, eps float32, step int) {
	const op = "AdamStep"
	if step < 1 {
		panic(fmt.Sprintf("engine: %s: invalid step %d; steps count from 1", op, step))
	}
	pt := c.anyTensor(op, "param", param)
	n := pt.n
	gt := c.tensor(op, "grad", grad, n)
	mt := c.tensor(op, "m", m, n)
	vt := c.tensor(op, "v", v, n)
	bc1 := float32(1 - math.Pow(float64(beta1), float64(step)))
	bc2 := float32(1 - math.Pow(float64(beta2), float64(step)))
	c.lock()
	defer c.mu.Unlock()
	if c.err != nil || n == 0 {
		return
	}
	bcPtr, ok := c.stepValue(op, []int32{int32(math.Float32bits(bc1)),
		int32(math.Float32bits(bc2))})
	if !ok {
		return
	}
	if bcPtr != 0 {
		bc1, bc2 = 0, 0
	}
	// adam_step(float *p, const float *g, float *m, float *v, int n, float lr, float beta1,
	//     float beta2, float eps, float bias_correction1, float bias_correction2,
	//     const float *bias_corrections, const float *guard)
	c.launch(op, kernelAdam, elementLaunch(n),
		c.args.Reset().Ptr(pt.ptr).Ptr(gt.ptr).Ptr(mt.ptr).Ptr(vt.ptr).Int(n).
			Float32(lr).Float32(beta1).Float32(beta2).Float32(eps).Float32(bc1).Float32(bc2).
			Ptr(bcPtr).Ptr(c.updateGuard()))
}

// SGDStep applies SGD with momentum as PyTorch does: buf = momentum·buf + grad,
// param −= lr·buf. After GuardUpdates the kernel skips the update unless the guard is finite.
func (c *CUDA) SGDStep(param, grad, buf Tensor, lr, momentum float32) {
	const op = "SGDStep"
	pt := c.anyTensor(op, "param", param)
	n := pt.n
	gt := c.tensor(op, "grad", grad, n)
	bt := c.tensor(op, "buf", buf, n)
	c.lock()
	defer c.mu.Unlock()
	// sgd_step(float *p, const float *g, float *buf, int n, float lr, float momentum,
	//     const float *guard)
	c.launch(op, kernelSGD, elementLaunch(n),
		c.args.Reset().Ptr(pt.ptr).Ptr(gt.ptr).Ptr(bt.ptr).Int(n).Float32(lr).Float32(momentum).
			Ptr(c.updateGuard()))
}

// RMSpropStep applies PyTorch's RMSprop: sq = alpha·sq + (1−alpha)·grad²,
// param −= lr·grad/(√sq + eps). After GuardUpdates the kernel skips the update unless the
// guard is finite.
func (c *CUDA) RMSpropStep(param, grad, sq Tensor, lr, alpha, eps float32) {
	const op = "RMSpropStep"
	pt := c.anyTensor(op, "param", param)
	n := pt.n
	gt := c.tensor(op, "grad", grad, n)
	st := c.tensor(op, "sq", sq, n)
	c.lock()
	defer c.mu.Unlock()
	// rmsprop_step(float *p, const float *g, float *sq, int n, float lr, float alpha,
	//     float eps, const float *guard)
	c.launch(op, kernelRMSprop, elementLaunch(n),
		c.args.Reset().Ptr(pt.ptr).Ptr(gt.ptr).Ptr(st.ptr).Int(n).Float32(lr).Float32(alpha).
			Float32(eps).Ptr(c.updateGuard()))
}
