package cpuref

import (
	"fmt"
	"math"
)

// checkLen panics unless x has exactly want elements.
func checkLen(name string, x []float64, want int) {
	if len(x) != want {
		panic(fmt.Sprintf("cpuref: %s has length %d, expected %d", name, len(x), want))
	}
}

// checkDim panics unless dim is positive.
func checkDim(fn string, dim int) {
	if dim <= 0 {
		panic(fmt.Sprintf("cpuref: %s dim is %d, expected a positive width", fn, dim))
	}
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major contiguous matrices, where op(A)
// is m×k (A is k×m when transA), op(B) is k×n (B is n×k when transB) and C is m×n. When beta is
// 0, C is overwritten and its old contents, NaN included, are ignored, as in BLAS.
//
//	a: [m×k], or [k×m] when transA
//	b: [k×n], or [n×k] when transB
//	c: [m×n]
func Gemm(transA, transB bool, m, n, k int, alpha float64, a, b []float64, beta float64, c []float64) {
	checkLen("Gemm a", a, m*k)
	checkLen("Gemm b", b, k*n)
	checkLen("Gemm c", c, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			sum := 0.0
			for p := 0; p < k; p++ {
				aip := a[i*k+p]
				if transA {
					aip = a[p*m+i]
				}
				bpj := b[p*n+j]
				if transB {
					bpj = b[j*k+p]
				}
				sum += aip * bpj
			}
			if beta == 0 {
				c[i*n+j] = alpha * sum
			} else {
				c[i*n+j] = alpha*sum + beta*c[i*n+j]
			}
		}
	}
}

// addBias adds bias [cols] to every row of y [rows×cols].
func addBias(y, bias []float64, rows, cols int) {
	for r := 0; r < rows; r++ {
		for j := 0; j < cols; j++ {
			y[r*cols+j] += bias[j]
		}
	}
}

// sumRows accumulates the column sums of x [rows×cols] into dst [cols].
func sumRows(dst, x []float64, rows, cols int) {
	for r := 0; r < rows; r++ {
		for j := 0; j < cols; j++ {
			dst[j] += x[r*cols+j]
		}
	}
}

// EmbeddingForward returns the rows of table selected by ids.
//
//	table: [V×dim]
//	ids:   [N], each in [0, V)
//	out:   [N×dim], row r is table row ids[r]
func EmbeddingForward(table []float64, ids []int, dim int) []float64 {
	checkDim("EmbeddingForward", dim)
	V := len(table) / dim
	checkLen("EmbeddingForward table", table, V*dim)
	out := make([]float64, len(ids)*dim)
	for r, id := range ids {
		if id < 0 || id >= V {
			panic(fmt.Sprintf("cpuref: EmbeddingForward id %d at index %d is outside [0, %d)", id, r, V))
		}
		copy(out[r*dim:(r+1)*dim], table[id*dim:(id+1)*dim])
	}
	return out
}

// EmbeddingBackward accumulates row r of dout into row ids[r] of dtable, so an id that occurs
// several times receives the sum of its rows.
//
//	dtable: [V×dim], accumulated into
//	dout:   [N×dim]
//	ids:    [N], each in [0, V)
func EmbeddingBackward(dtable, dout []float64, ids []int, dim int) {
	checkDim("EmbeddingBackward", dim)
	V := len(dtable) / dim
	checkLen("EmbeddingBackward dtable", dtable, V*dim)
	checkLen("EmbeddingBackward dout", dout, len(ids)*dim)
	for r, id := range ids {
		if id < 0 || id >= V {
			panic(fmt.Sprintf("cpuref: EmbeddingBackward id %d at index %d is outside [0, %d)", id, r, V))
		}
		for j := 0; j < dim; j++ {
			dtable[id*dim+j] += dout[r*dim+j]
		}
	}
}

func sigmoid(x float64) float64 {
	return 1 / (1 + math.Exp(-x))
}

// LSTMCellForward applies one LSTM step to B rows of H units:
// i = σ(pre_i), f = σ(pre_f), g = tanh(pre_g), o = σ(pre_o), c = f·cPrev + i·g, h = o·tanh(c).
//
//	pre:   [B×4H] gate pre-activations, row b = i, f, g, o blocks of H columns each
//	cPrev: [B×H]
//	act:   [B×4H] activated gates in the same layout, kept for LSTMCellBackward
//	c, h:  [B×H]
func LSTMCellForward(pre, cPrev []float64, B, H int) (act, c, h []float64) {
	checkLen("LSTMCellForward pre", pre, B*4*H)
	checkLen("LSTMCellForward cPrev", cPrev, B*H)
	act = make([]float64, B*4*H)
	c = make([]float64, B*H)
	h = make([]float64, B*H)
	for b := 0; b < B; b++ {
		row := b * 4 * H
		for j := 0; j < H; j++ {
			i := sigmoid(pre[row+j])
			f := sigmoid(pre[row+H+j])
			g := math.Tanh(pre[row+2*H+j])
			o := sigmoid(pre[row+3*H+j])
			act[row+j], act[row+H+j], act[row+2*H+j], act[row+3*H+j] = i, f, g, o
			c[b*H+j] = f*cPrev[b*H+j] + i*g
			h[b*H+j] = o * math.Tanh(c[b*H+j])
		}
	}
	return act, c, h
}

// LSTMCellBackward reverses LSTMCellForward. dh is the total loss gradient at h (from the layer
// above and from the next step together) and dcNext the gradient at c from the next step, nil
// for none.
//
//	act:          [B×4H] activated gates from LSTMCellForward
//	cPrev, c:     [B×H]
//	dh, dcNext:   [B×H], dcNext may be nil
//	dpre:         [B×4H] gradient at the gate pre-activations
//	dcPrev:       [B×H] gradient at cPrev
func LSTMCellBackward(act, cPrev, c, dh, dcNext []float64, B, H int) (dpre, dcPrev []float64) {
	checkLen("LSTMCellBackward act", act, B*4*H)
	checkLen("LSTMCellBackward cPrev", cPrev, B*H)
	checkLen("LSTMCellBackward c", c, B*H)
	checkLen("LSTMCellBackward dh", dh, B*H)
	if dcNext != nil {
		checkLen("LSTMCellBackward dcNext", dcNext, B*H)
	}
	dpre = make([]float64, B*4*H)
	dcPrev = make([]float64, B*H)
	for b := 0; b < B; b++ {
		row := b * 4 * H
		for j := 0; j < H; j++ {
			i, f, g, o := act[row+j], act[row+H+j], act[row+2*H+j], act[row+3*H+j]
			tc := math.Tanh(c[b*H+j])

			// h = o·tanh(c) gives dh/do and, through tanh, a share of dL/dc.
			do := dh[b*H+j] * tc
			dc := dh[b*H+j] * o * (1 - tc*tc)
			if dcNext != nil {
				dc += dcNext[b*H+j]
			}

			// c = f·cPrev + i·g
			di := dc * g
			df := dc * cPrev[b*H+j]
			dg := dc * i
			dcPrev[b*H+j] = dc * f

			// σ' = σ(1−σ) and tanh' = 1−tanh², both written with the saved activations.
			dpre[row+j] = di * i * (1 - i)
			dpre[row+H+j] = df * f * (1 - f)
			dpre[row+2*H+j] = dg * (1 - g*g)
			dpre[row+3*H+j] = do * o * (1 - o)
		}
	}
	return dpre, dcPrev
}

// RNNCellForward applies the vanilla RNN activation h = tanh(pre) element-wise.
//
//	pre, h: [B×H]
func RNNCellForward(pre []float64) (h []float64) {
	h = make([]float64, len(pre))
	for k, x := range pre {
		h[k] = math.Tanh(x)
	}
	return h
}

// RNNCellBackward returns dpre = dh·(1 − h²), the gradient through h = tanh(pre).
//
//	h, dh, dpre: [B×H]
func RNNCellBackward(h, dh []float64) (dpre []float64) {
	checkLen("RNNCellBackward dh", dh, len(h))
	dpre = make([]float64, len(h))
	for k := range h {
		dpre[k] = dh[k] * (1 - h[k]*h[k])
	}
	return dpre
}

// SoftmaxCrossEntropy returns, for each row, the cross-entropy loss in nats of softmax(logits)
// against the target class, and dlogits = softmax − onehot(target). The gradient is that of
// each row's own loss, with no averaging. A target of -1 marks an ignored row, whose loss and
// gradient are 0. The maximum logit is subtracted before exponentiating, so large logits stay
// finite.
//
//	logits:  [rows×V]
//	targets: [rows], each in [0, V) or -1
//	losses:  [rows]
//	dlogits: [rows×V]
func SoftmaxCrossEntropy(logits []float64, targets []int, rows, V int) (losses, dlogits []float64) {
	checkLen("SoftmaxCrossEntropy logits", logits, rows*V)
	if len(targets) != rows {
		panic(fmt.Sprintf("cpuref: SoftmaxCrossEntropy targets has length %d, expected %d",
			len(targets), rows))
	}
	losses = make([]float64, rows)
	dlogits = make([]float64, rows*V)
	for r := 0; r < rows; r++ {
		target := targets[r]
		if target == -1 {
			continue
		}
		if target < 0 || target >= V {
			panic(fmt.Sprintf("cpuref: SoftmaxCrossEntropy target %d at row %d is outside [0, %d) and not -1",
				target, r, V))
		}
		x := logits[r*V : (r+1)*V]
		maxLogit := math.Inf(-1)
		for _, v := range x {
			maxLogit = math.Max(maxLogit, v)
		}
		sum := 0.0
		for _, v := range x {
			sum += math.Exp(v - maxLogit)
		}
		// loss = log Σ exp(x) − x_target, with the maximum taken out of the sum. The two
		// large terms are subtracted first, so logits near the float64 range keep log Σ.
		losses[r] = (maxLogit - x[target]) + math.Log(sum)
		for j, v := range x {
			dlogits[r*V+j] = math.Exp(v-maxLogit) / sum
		}
		dlogits[r*V+target] -= 1
	}
	return losses, dlogits
}
