package engine

import (
	"fmt"
	"math"

	"github.com/recur-ml/recur/engine/internal/vecmath"
)

// SoftmaxCrossEntropy computes the per-row loss and, when dlogits is not nil, its gradient,
// as Backend documents. Each row subtracts its maximum logit before exponentiating, so large logits
// stay finite, and sums the exponentials in float64. logits and dlogits may be the same
// tensor. It panics, before writing anything, when a target is outside [−1, V).
func (c *CPU) SoftmaxCrossEntropy(logits Tensor, targets []int32, losses, dlogits Tensor,
	rows, V int, scale float32) {
	const op = "SoftmaxCrossEntropy"
	checkMatrix(op, rows, V)
	if len(targets) != rows {
		panic(fmt.Sprintf("engine: %s: %d targets for %d rows", op, len(targets), rows))
	}
	t := softmaxCETask{
		logits:  tensorData(op, "logits", logits, rows*V),
		targets: targets,
		losses:  tensorData(op, "losses", losses, rows),
		V:       V,
		scale:   scale,
	}
	if dlogits != nil {
		t.dlogits = tensorData(op, "dlogits", dlogits, rows*V)
	}
	for r, target := range targets {
		if target < -1 || int(target) >= V {
			panic(fmt.Sprintf("engine: %s: row %d has target %d, outside [-1, %d) for V=%d",
				op, r, target, V, V))
		}
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.softmaxCE = t
	c.pool.run(&c.tasks.softmaxCE, rows, max(1, grainExpPerPart/max(V, 1)))
}

// softmaxCETask's items are rows.
type softmaxCETask struct {
	logits, losses, dlogits []float32 // dlogits is nil when no gradient is requested
	targets                 []int32
	V                       int
	scale                   float32
}

func (t *softmaxCETask) run(lo, hi int) {
	V := t.V
	for r := lo; r < hi; r++ {
		target := int(t.targets[r])
		var grad []float32
		if t.dlogits != nil {
			grad = t.dlogits[r*V : (r+1)*V]
		}
		if target < 0 {
			t.losses[r] = 0
			clear(grad)
			continue
		}
		logits := t.logits[r*V : (r+1)*V]
		top := float64(logits[0])
		for _, v := range logits[1:] {
			top = max(top, float64(v))
		}

		// Read before the loop below, because dlogits may be logits.
		shifted := float64(logits[target]) - top

		// The gradient row holds the exponentials until the sum is known.
		var sum float64
		if grad == nil {
			for _, v := range logits {
				sum += exp64(clampExp(float64(v) - top))
			}
		} else {
			grad = grad[:len(logits)]
			for j, v := range logits {
				e := exp64(clampExp(float64(v) - top))
				grad[j] = float32(e)
				sum += e
			}
		}
		t.losses[r] = float32(math.Log(sum) - shifted)
		if grad == nil {
			continue
		}

		k := float64(t.scale) / sum
		for j, e := range grad {
			grad[j] = float32(float64(e) * k)
		}
		// The target's entry is recomputed from the unrounded exponential, because
		// p − 1 cancels when p is close to 1.
		p := exp64(clampExp(shifted)) / sum
		grad[target] = float32(float64(t.scale) * (p - 1))
	}
}

// checkEmbedding panics unless dim is positive, the table length is a multiple of it and
// every id is a row of the table. It returns the number of rows V.
func checkEmbedding(op string, table []float32, ids []int32, dim int) int {
	if dim <= 0 {
		panic(fmt.Sprintf("engine: %s: invalid dim %d", op, dim))
	}
	if len(table)%dim != 0 {
		panic(fmt.Sprintf("engine: %s: table of %d elements is not a whole number of rows of %d",
			op, len(table), dim))
	}
	V := len(table) / dim
	for r, id := range ids {
		if id < 0 || int(id) >= V {
			panic(fmt.Sprintf("engine: %s: ids[%d] = %d is outside [0, %d)", op, r, id, V))
		}
	}
	return V
}

// EmbeddingForward writes row ids[r] of table [V×dim] into row r of out [len(ids)×dim]. It
// panics when an id is outside [0, V).
func (c *CPU) EmbeddingForward(out, table Tensor, ids []int32, dim int) {
	const op = "EmbeddingForward"
	td := anyTensorData(op, "table", table)
	checkEmbedding(op, td, ids, dim)
	od := tensorData(op, "out", out, len(ids)*dim)
	c.lock()
	defer c.mu.Unlock()
	c.tasks.embedFwd = embeddingForwardTask{out: od, table: td, ids: ids, dim: dim}
	c.pool.run(&c.tasks.embedFwd, len(ids), max(1, grainMemory/dim))
}

// embeddingForwardTask's items are the rows of out.
type embeddingForwardTask struct {
	out, table []float32
	ids        []int32
	dim        int
}

func (t *embeddingForwardTask) run(lo, hi int) {
	dim := t.dim
	for r := lo; r < hi; r++ {
		id := int(t.ids[r])
		copy(t.out[r*dim:(r+1)*dim], t.table[id*dim:(id+1)*dim])
	}
}

// embeddingColumns is the number of columns per work item of EmbeddingBackward: one 64-byte
// cache line of float32.
const embeddingColumns = 16

// EmbeddingBackward accumulates row r of dout [len(ids)×dim] into row ids[r] of dtable. Work
// is split over columns and rows are added in order, so repeated ids give the same sums for
// any thread count. It panics when an id is outside [0, V).
func (c *CPU) EmbeddingBackward(dtable, dout Tensor, ids []int32, dim int) {
	const op = "EmbeddingBackward"
	td := anyTensorData(op, "dtable", dtable)
	checkEmbedding(op, td, ids, dim)
	dd := tensorData(op, "dout", dout, len(ids)*dim)
	if len(ids) == 0 {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	c.tasks.embedBwd = embeddingBackwardTask{dtable: td, dout: dd, ids: ids, dim: dim}
	groups := (dim + embeddingColumns - 1) / embeddingColumns
	c.pool.run(&c.tasks.embedBwd, groups, max(1, grainMemory/(embeddingColumns*len(ids))))
}

// embeddingBackwardTask's item g covers columns [16g, 16g+16).
type embeddingBackwardTask struct {
	dtable, dout []float32
	ids          []int32
	dim          int
}

func (t *embeddingBackwardTask) run(lo, hi int) {
	dim := t.dim
	j0, j1 := lo*embeddingColumns, min(dim, hi*embeddingColumns)
	vector := 0
	if useAVX2 {
		vector = (j1 - j0) &^ 7
	}
	for r, id := range t.ids {
		src := t.dout[r*dim+j0 : r*dim+j1]
		dst := t.dtable[int(id)*dim+j0 : int(id)*dim+j1]
		dst = dst[:len(src)]
		if vector > 0 {
			vecmath.AddTo(dst[:vector], src[:vector])
		}
		for j := vector; j < len(src); j++ {
			dst[j] += src[j]
		}
	}
}
