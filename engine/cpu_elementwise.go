package engine

import "fmt"

// Minimum items per part for the worker pool. Each is an estimate of the work that takes
// tens of microseconds on a recent x86 core, well above the few microseconds it costs to
// wake a worker. Smaller operations run on the calling goroutine.
const (
	grainMemory     = 1 << 15 // elements of a memory-bound loop: Fill, Axpy, Mul, AddBias
	grainTanh       = 1 << 12 // elements with one tanh each: RNNForward, RNNBackward
	grainLSTM       = 1 << 10 // units of an LSTM step, five activations each
	grainGRU        = 1 << 10 // units of a GRU step, three activations each
	grainDropout    = 1 << 13 // elements of Dropout, one hash each
	grainOptimizer  = 1 << 13 // parameters of an optimizer step
	grainExpPerPart = 1 << 13 // exponentials per part of SoftmaxCrossEntropy
)

// Fill sets every element of t to v.
func (c *CPU) Fill(t Tensor, v float32) {
	x := anyTensorData("Fill", "t", t)
	c.lock()
	defer c.mu.Unlock()
	c.tasks.fill = fillTask{x: x, v: v}
	c.pool.run(&c.tasks.fill, len(x), grainMemory)
}

type fillTask struct {
	x []float32
	v float32
}

func (t *fillTask) run(lo, hi int) {
	x, v := t.x[lo:hi], t.v
	for i := range x {
		x[i] = v
	}
}

// Axpy computes y += alpha·x.
func (c *CPU) Axpy(alpha float32, x, y Tensor) {
	xd := anyTensorData("Axpy", "x", x)
	yd := tensorData("Axpy", "y", y, len(xd))
	c.lock()
	defer c.mu.Unlock()
	c.tasks.axpy = axpyTask{alpha: alpha, x: xd, y: yd}
	c.pool.run(&c.tasks.axpy, len(xd), grainMemory)
}

type axpyTask struct {
	alpha float32
	x, y  []float32
}

func (t *axpyTask) run(lo, hi int) {
	x, alpha := t.x[lo:hi], t.alpha
	y := t.y[lo:hi]
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Mul computes dst[i] *= x[i].
func (c *CPU) Mul(dst, x Tensor) {
	xd := anyTensorData("Mul", "x", x)
	dd := tensorData("Mul", "dst", dst, len(xd))
	c.lock()
	defer c.mu.Unlock()
	c.tasks.mul = mulTask{dst: dd, x: xd}
	c.pool.run(&c.tasks.mul, len(xd), grainMemory)
}

type mulTask struct {
	dst, x []float32
}

func (t *mulTask) run(lo, hi int) {
	x := t.x[lo:hi]
	dst := t.dst[lo:hi]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] *= v
	}
}

// checkMatrix panics unless rows and cols are valid dimensions.
func checkMatrix(op string, rows, cols int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("engine: %s: invalid shape %d×%d", op, rows, cols))
	}
}

// AddBias adds bias [cols] to every row of y [rows×cols] and flushes subnormal sums to zero,
// as the fused kernels do, because a bias is the last addition before an activation or a
// loss.
func (c *CPU) AddBias(y, bias Tensor, rows, cols int) {
	checkMatrix("AddBias", rows, cols)
	yd := tensorData("AddBias", "y", y, rows*cols)
	bd := tensorData("AddBias", "bias", bias, cols)
	c.lock()
	defer c.mu.Unlock()
	c.tasks.addBias = addBiasTask{y: yd, bias: bd, cols: cols}
	c.pool.run(&c.tasks.addBias, rows*cols, grainMemory)
}

// addBiasTask's items are the elements of y in row-major order.
type addBiasTask struct {
	y, bias []float32
	cols    int
}

func (t *addBiasTask) run(lo, hi int) {
	cols := t.cols
	for pos := lo; pos < hi; {
		r, j0 := pos/cols, pos%cols
		j1 := min(cols, j0+hi-pos)
		b := t.bias[j0:j1]
		y := t.y[r*cols+j0 : r*cols+j1]
		y = y[:len(b)]
		for j, v := range b {
			y[j] = flushf(y[j] + v)
		}
		pos += j1 - j0
	}
}

// SumRows adds the rows of each block of sumRowsBlock rows in float64 and then adds the block
// sums in block order, so its result is the same for any thread count.
const (
	sumRowsBlock = 256 // rows per partial sum
	sumColsChunk = 256 // columns per work item
)

// SumRows accumulates the column sums of x [rows×cols] into dst [cols] in float64 and rounds
// once per column: dst[j] = float32(dst[j] + Σ_r x[r,j]).
func (c *CPU) SumRows(dst, x Tensor, rows, cols int) {
	checkMatrix("SumRows", rows, cols)
	xd := tensorData("SumRows", "x", x, rows*cols)
	dd := tensorData("SumRows", "dst", dst, cols)
	if cols == 0 {
		return
	}
	c.lock()
	defer c.mu.Unlock()

	blocks := (rows + sumRowsBlock - 1) / sumRowsBlock
	chunks := (cols + sumColsChunk - 1) / sumColsChunk
	partials := c.partialSums(blocks * cols)
	c.tasks.sumRows = sumRowsTask{x: xd, rows: rows, cols: cols, chunks: chunks,
		partials: partials}
	c.pool.run(&c.tasks.sumRows, blocks*chunks, 1)

	c.tasks.combine = combineRowsTask{dst: dd, partials: partials, blocks: blocks}
	c.pool.run(&c.tasks.combine, cols, max(1, grainMemory/max(blocks, 1)))
}

// sumRowsTask's item b·chunks+k sums rows [b·sumRowsBlock, (b+1)·sumRowsBlock) of the
// columns of chunk k, writing the sum of column j into partials[b·cols+j].
type sumRowsTask struct {
	x                  []float32
	rows, cols, chunks int
	partials           []float64
}

func (t *sumRowsTask) run(lo, hi int) {
	cols := t.cols
	for item := lo; item < hi; item++ {
		block, chunk := item/t.chunks, item%t.chunks
		r0, j0 := block*sumRowsBlock, chunk*sumColsChunk
		r1, j1 := min(t.rows, r0+sumRowsBlock), min(cols, j0+sumColsChunk)
		acc := t.partials[block*cols+j0 : block*cols+j1]
		clear(acc)
		for r := r0; r < r1; r++ {
			x := t.x[r*cols+j0 : r*cols+j1]
			x = x[:len(acc)]
			for j, v := range x {
				acc[j] += float64(v)
			}
		}
	}
}

// combineRowsTask's item j adds the block sums of column j, in block order, to dst[j].
type combineRowsTask struct {
	dst      []float32
	partials []float64
	blocks   int
}

func (t *combineRowsTask) run(lo, hi int) {
	cols := len(t.dst)
	for j := lo; j < hi; j++ {
		s := float64(t.dst[j])
		for b := range t.blocks {
			s += t.partials[b*cols+j]
		}
		t.dst[j] = float32(s)
	}
}

// RNNForward applies h = tanh(pre) element-wise. pre and h may be the same tensor.
func (c *CPU) RNNForward(pre, h Tensor) {
	pd := anyTensorData("RNNForward", "pre", pre)
	hd := tensorData("RNNForward", "h", h, len(pd))
	c.lock()
	defer c.mu.Unlock()
	c.tasks.rnnFwd = rnnForwardTask{pre: pd, h: hd}
	c.pool.run(&c.tasks.rnnFwd, len(pd), grainTanh)
}

type rnnForwardTask struct {
	pre, h []float32
}

func (t *rnnForwardTask) run(lo, hi int) {
	tanhSlice(t.h[lo:hi], t.pre[lo:hi])
}

// RNNBackward writes dpre = (dhOut + dhRec)·(1 − h²). dhRec may be nil.
func (c *CPU) RNNBackward(h, dhOut, dhRec, dpre Tensor) {
	hd := anyTensorData("RNNBackward", "h", h)
	n := len(hd)
	t := rnnBackwardTask{h: hd, dhOut: tensorData("RNNBackward", "dhOut", dhOut, n),
		dpre: tensorData("RNNBackward", "dpre", dpre, n)}
	if dhRec != nil {
		t.dhRec = tensorData("RNNBackward", "dhRec", dhRec, n)
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.rnnBwd = t
	c.pool.run(&c.tasks.rnnBwd, n, grainMemory)
}

type rnnBackwardTask struct {
	h, dhOut, dhRec, dpre []float32 // dhRec is nil where there is none
}

func (t *rnnBackwardTask) run(lo, hi int) {
	h := t.h[lo:hi]
	dhOut := t.dhOut[lo:hi]
	dhOut = dhOut[:len(h)]
	dpre := t.dpre[lo:hi]
	dpre = dpre[:len(h)]
	if t.dhRec == nil {
		for i, v := range h {
			dpre[i] = dhOut[i] * (1 - v*v)
		}
		return
	}
	dhRec := t.dhRec[lo:hi]
	dhRec = dhRec[:len(h)]
	for i, v := range h {
		dpre[i] = (dhOut[i] + dhRec[i]) * (1 - v*v)
	}
}

// Dropout writes the inverted-dropout mask of x into mask and multiplies x by it. Kept
// elements get the mask value float32(1/(1−p)), computed in float64. It panics unless
// 0 ≤ p < 1; p = 0 gives a mask of ones.
func (c *CPU) Dropout(x, mask Tensor, p float32, seed, offset uint64) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("engine: Dropout: invalid drop probability %v; want 0 ≤ p < 1", p))
	}
	xd := anyTensorData("Dropout", "x", x)
	md := tensorData("Dropout", "mask", mask, len(xd))
	c.lock()
	defer c.mu.Unlock()
	c.tasks.dropout = dropoutTask{x: xd, mask: md, p: p, scale: float32(1 / (1 - float64(p))),
		seed: seed, offset: offset}
	c.pool.run(&c.tasks.dropout, len(xd), grainDropout)
}

type dropoutTask struct {
	x, mask      []float32
	p, scale     float32
	seed, offset uint64
}

func (t *dropoutTask) run(lo, hi int) {
	x := t.x[lo:hi]
	mask := t.mask[lo:hi]
	mask = mask[:len(x)]
	index := t.offset + uint64(lo)
	for i := range x {
		var m float32
		if DropoutKeep(t.seed, index+uint64(i), t.p) {
			m = t.scale
		}
		mask[i] = m
		x[i] *= m
	}
}
