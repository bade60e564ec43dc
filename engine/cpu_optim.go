package engine

import (
	"fmt"
	"math"
)

// normBlock is the number of elements per float64 partial sum of ClipGradNorm. The partial
// sums are added in block order, so the norm is the same for any thread count.
const normBlock = 4096

// ClipGradNorm computes the L2 norm of g with float64 accumulation, writes it into norm[0]
// and, when maxNorm > 0, scales g by min(1, maxNorm/(norm+1e-6)). A NaN or infinite norm is
// written but g is left unscaled, so the caller can detect it and skip the step.
func (c *CPU) ClipGradNorm(g Tensor, maxNorm float32, norm Tensor) {
	gd := anyTensorData("ClipGradNorm", "g", g)
	nd := anyTensorData("ClipGradNorm", "norm", norm)
	if len(nd) == 0 {
		panic("engine: ClipGradNorm: norm has 0 elements, want at least 1")
	}
	c.lock()
	defer c.mu.Unlock()

	blocks := (len(gd) + normBlock - 1) / normBlock
	partials := c.partialSums(blocks)
	c.tasks.sumSq = sumSquaresTask{x: gd, partials: partials}
	c.pool.run(&c.tasks.sumSq, blocks, grainMemory/normBlock)
	var sum float64
	for _, p := range partials {
		sum += p
	}
	total := math.Sqrt(sum)
	nd[0] = float32(total)

	if maxNorm <= 0 || math.IsNaN(total) || math.IsInf(total, 0) {
		return
	}
	scale := float64(maxNorm) / (total + 1e-6)
	if scale >= 1 {
		return
	}
	c.tasks.scale = scaleTask{x: gd, scale: float32(scale)}
	c.pool.run(&c.tasks.scale, len(gd), grainMemory)
}

// sumSquaresTask's item b writes the sum of squares of x[b·normBlock : (b+1)·normBlock]
// into partials[b].
type sumSquaresTask struct {
	x        []float32
	partials []float64
}

func (t *sumSquaresTask) run(lo, hi int) {
	for b := lo; b < hi; b++ {
		x := t.x[b*normBlock : min(len(t.x), (b+1)*normBlock)]
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		t.partials[b] = s
	}
}

// scaleTask multiplies x by scale.
type scaleTask struct {
	x     []float32
	scale float32
}

func (t *scaleTask) run(lo, hi int) {
	x, s := t.x[lo:hi], t.scale
	for i := range x {
		x[i] *= s
	}
}

// AdamStep applies one Adam update as PyTorch's torch.optim.Adam does without weight decay:
// m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g², and
// param −= lr/(1−β1^step) · m / (√v/√(1−β2^step) + eps). The bias corrections are computed
// in float64, the rest in float32. It panics when step < 1.
func (c *CPU) AdamStep(param, grad, m, v Tensor, lr, beta1, beta2, eps float32, step int) {
	const op = "AdamStep"
	if step < 1 {
		panic(fmt.Sprintf("engine: %s: invalid step %d; steps count from 1", op, step))
	}
	pd := anyTensorData(op, "param", param)
	n := len(pd)
	bc1 := 1 - math.Pow(float64(beta1), float64(step))
	bc2 := 1 - math.Pow(float64(beta2), float64(step))
	t := adamTask{
		param: pd, grad: tensorData(op, "grad", grad, n),
		m: tensorData(op, "m", m, n), v: tensorData(op, "v", v, n),
		beta1: beta1, beta2: beta2, eps: eps,
		stepSize: float32(float64(lr) / bc1), bc2Sqrt: float32(math.Sqrt(bc2)),
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.adam = t
	c.pool.run(&c.tasks.adam, n, grainOptimizer)
}

type adamTask struct {
	param, grad, m, v []float32
	beta1, beta2, eps float32
	stepSize, bc2Sqrt float32
}

func (t *adamTask) run(lo, hi int) {
	param := t.param[lo:hi]
	n := len(param)
	grad, m, v := t.grad[lo:hi][:n], t.m[lo:hi][:n], t.v[lo:hi][:n]
	b1, b2, eps := t.beta1, t.beta2, t.eps
	stepSize, bc2Sqrt := t.stepSize, t.bc2Sqrt
	for i, g := range grad {
		mi := b1*m[i] + (1-b1)*g
		vi := b2*v[i] + (1-b2)*g*g
		m[i], v[i] = flushf(mi), flushf(vi)
		denom := float32(math.Sqrt(float64(vi)))/bc2Sqrt + eps
		param[i] = flushf(param[i] - stepSize*mi/denom)
	}
}

// SGDStep applies SGD with momentum as PyTorch's torch.optim.SGD does without dampening,
// Nesterov or weight decay: buf = momentum·buf + grad, param −= lr·buf. With a zero buf,
// the first step matches PyTorch's, which starts buf at grad.
func (c *CPU) SGDStep(param, grad, buf Tensor, lr, momentum float32) {
	const op = "SGDStep"
	pd := anyTensorData(op, "param", param)
	n := len(pd)
	t := sgdTask{param: pd, grad: tensorData(op, "grad", grad, n),
		buf: tensorData(op, "buf", buf, n), lr: lr, momentum: momentum}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.sgd = t
	c.pool.run(&c.tasks.sgd, n, grainOptimizer)
}

type sgdTask struct {
	param, grad, buf []float32
	lr, momentum     float32
}

func (t *sgdTask) run(lo, hi int) {
	param := t.param[lo:hi]
	n := len(param)
	grad, buf := t.grad[lo:hi][:n], t.buf[lo:hi][:n]
	lr, mu := t.lr, t.momentum
	for i, g := range grad {
		b := mu*buf[i] + g
		buf[i] = flushf(b)
		param[i] = flushf(param[i] - lr*b)
	}
}

// RMSpropStep applies PyTorch's torch.optim.RMSprop without momentum, centering or weight
// decay: sq = alpha·sq + (1−alpha)·grad², param −= lr·grad/(√sq + eps).
func (c *CPU) RMSpropStep(param, grad, sq Tensor, lr, alpha, eps float32) {
	const op = "RMSpropStep"
	pd := anyTensorData(op, "param", param)
	n := len(pd)
	t := rmspropTask{param: pd, grad: tensorData(op, "grad", grad, n),
		sq: tensorData(op, "sq", sq, n), lr: lr, alpha: alpha, eps: eps}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.rmsprop = t
	c.pool.run(&c.tasks.rmsprop, n, grainOptimizer)
}

type rmspropTask struct {
	param, grad, sq []float32
	lr, alpha, eps  float32
}

func (t *rmspropTask) run(lo, hi int) {
	param := t.param[lo:hi]
	n := len(param)
	grad, sq := t.grad[lo:hi][:n], t.sq[lo:hi][:n]
	lr, alpha, eps := t.lr, t.alpha, t.eps
	for i, g := range grad {
		s := alpha*sq[i] + (1-alpha)*g*g
		sq[i] = flushf(s)
		param[i] = flushf(param[i] - lr*g/(float32(math.Sqrt(float64(s)))+eps))
	}
}
