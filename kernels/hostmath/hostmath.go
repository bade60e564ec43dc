//go:build cgo

package hostmath

/*
#cgo CFLAGS: -std=c99 -O2
#cgo LDFLAGS: -lm
#include "../recur_math.cuh"

// Element kernels: one call per thread index, in place of the grid.

static void lstm_gates_forward(float *gates, const float *c_prev, float *c, float *h, int B, int H) {
	for (int unit = 0; unit < B * H; unit++) {
		recur_lstm_gates_forward_unit(unit, gates, c_prev, c, h, H);
	}
}

static void lstm_gates_backward(const float *gates, const float *c_prev, const float *c, const float *dh_out,
                                const float *dh_rec, float *dc, float *dgates, int B, int H) {
	for (int unit = 0; unit < B * H; unit++) {
		recur_lstm_gates_backward_unit(unit, gates, c_prev, c, dh_out, dh_rec, dc, dgates, H);
	}
}

static void gru_gates_forward(float *xg, float *hg, const float *bhh, const float *h_prev, float *h, int B,
                              int H) {
	for (int unit = 0; unit < B * H; unit++) {
		recur_gru_gates_forward_unit(unit, xg, hg, bhh, h_prev, h, H);
	}
}

static void gru_gates_backward(const float *xg, const float *hg, const float *h_prev, const float *dh_out,
                               const float *dh_rec, float *dxg, float *dhg, float *dh_prev, int B, int H) {
	for (int unit = 0; unit < B * H; unit++) {
		recur_gru_gates_backward_unit(unit, xg, hg, h_prev, dh_out, dh_rec, dxg, dhg, dh_prev, H);
	}
}

static void rnn_forward(const float *pre, float *h, int n) {
	for (int i = 0; i < n; i++) {
		recur_rnn_forward_element(i, pre, h);
	}
}

static void rnn_backward(const float *h, const float *dh_out, const float *dh_rec, float *dpre, int n) {
	for (int i = 0; i < n; i++) {
		recur_rnn_backward_element(i, h, dh_out, dh_rec, dpre);
	}
}

static void add_bias(float *y, const float *bias, int rows, int cols) {
	for (int e = 0; e < rows * cols; e++) {
		recur_add_bias_element(e, y, bias, cols);
	}
}

static void sum_rows(float *dst, const float *x, int rows, int cols) {
	for (int j = 0; j < cols; j++) {
		recur_sum_rows_column(j, dst, x, rows, cols);
	}
}

static void embedding_forward(float *out, const float *table, const int *ids, int n, int dim) {
	for (int e = 0; e < n * dim; e++) {
		recur_embedding_forward_element(e, out, table, ids, dim);
	}
}

static void embedding_backward(float *dtable, const float *dout, const int *ids, int n, int dim) {
	for (int j = 0; j < dim; j++) {
		recur_embedding_backward_column(j, dtable, dout, ids, n, dim);
	}
}

static void dropout(float *x, float *mask, int n, float p, unsigned long long seed, unsigned long long offset) {
	for (int i = 0; i < n; i++) {
		recur_dropout_element(i, x, mask, p, seed, offset);
	}
}

static void fill(float *x, int n, float v) {
	for (int i = 0; i < n; i++) {
		recur_fill_element(i, x, v);
	}
}

static void axpy(float alpha, const float *x, float *y, int n) {
	for (int i = 0; i < n; i++) {
		recur_axpy_element(i, alpha, x, y);
	}
}

static void mul(float *dst, const float *x, int n) {
	for (int i = 0; i < n; i++) {
		recur_mul_element(i, dst, x);
	}
}

static void scale(float *x, int n, float s) {
	for (int i = 0; i < n; i++) {
		recur_scale_element(i, x, s);
	}
}

static void clip_scale(float *g, int n, const float *norm, float max_norm) {
	float factor = recur_clip_factor(norm[0], max_norm);
	for (int i = 0; i < n && factor != 1.0f; i++) {
		recur_scale_element(i, g, factor);
	}
}

// finite_guard as one block of `threads` threads: __syncthreads_and becomes a loop over the threads' shares.
static void finite_guard(const float *norm, const float *x, int n, float *guard, int threads) {
	int finite = 1;
	for (int t = 0; t < threads; t++) {
		finite = finite && recur_all_finite_strided(x, n, t, threads);
	}
	guard[0] = recur_guard_value(norm[0], finite);
}

// The optimizer kernels, with their update guard as in recur_kernels.cu.

static void adam_step(float *p, const float *g, float *m, float *v, int n, float lr, float beta1, float beta2,
                      float eps, float bias_correction1, float bias_correction2, const float *guard) {
	for (int i = 0; i < n && recur_update_allowed(guard); i++) {
		recur_adam_element(i, p, g, m, v, lr, beta1, beta2, eps, bias_correction1, bias_correction2);
	}
}

static void sgd_step(float *p, const float *g, float *buf, int n, float lr, float momentum, const float *guard) {
	for (int i = 0; i < n && recur_update_allowed(guard); i++) {
		recur_sgd_element(i, p, g, buf, lr, momentum);
	}
}

static void rmsprop_step(float *p, const float *g, float *sq, int n, float lr, float alpha, float eps,
                         const float *guard) {
	for (int i = 0; i < n && recur_update_allowed(guard); i++) {
		recur_rmsprop_element(i, p, g, sq, lr, alpha, eps);
	}
}

// Block reductions: the rounds of block_sum and block_max in recur_kernels.cu, with the threads of one round
// run one after another. Within a round thread t writes buf[t] and reads buf[t + s], which no thread of the
// round writes, so the sequential order gives the kernel's result.

static void block_max(float *buf, int threads) {
	for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1) {
		for (int t = 0; t < s && t + s < threads; t++) {
			buf[t] = fmaxf(buf[t], buf[t + s]);
		}
	}
}

static void block_sum_float(float *buf, int threads) {
	for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1) {
		for (int t = 0; t < s && t + s < threads; t++) {
			buf[t] += buf[t + s];
		}
	}
}

static void block_sum_double(double *buf, int threads) {
	for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1) {
		for (int t = 0; t < s && t + s < threads; t++) {
			buf[t] += buf[t + s];
		}
	}
}

// softmax_xent with blocks of `threads` threads, one block per row.
static void softmax_xent(const float *logits, const int *targets, float *losses, float *dlogits, int rows, int V,
                         float scale, int threads) {
	float max_buf[RECUR_REDUCE_THREADS], sum_buf[RECUR_REDUCE_THREADS];
	for (int r = 0; r < rows; r++) {
		const float *x = logits + r * V;
		float *dx = dlogits != 0 ? dlogits + r * V : 0;
		int target = targets[r];
		if (!recur_xent_target_is_class(target, V)) {
			float fill = recur_xent_fill_value(target);
			losses[r] = fill;
			for (int j = 0; dx != 0 && j < V; j++) {
				dx[j] = fill;
			}
			continue;
		}
		for (int t = 0; t < threads; t++) {
			max_buf[t] = recur_softmax_partial_max(x, V, t, threads);
		}
		block_max(max_buf, threads);
		float top = max_buf[0];
		float shifted_target = x[target] - top;
		for (int t = 0; t < threads; t++) {
			sum_buf[t] = recur_softmax_partial_sum(x, V, top, t, threads);
		}
		block_sum_float(sum_buf, threads);
		float sum = sum_buf[0];
		losses[r] = recur_xent_loss(sum, shifted_target);
		// Each column is read and written by one thread only, so the order of the columns does not matter.
		for (int j = 0; dx != 0 && j < V; j++) {
			dx[j] = recur_xent_grad(x[j], top, sum, scale, j == target);
		}
	}
}

// sum_squares_partial with a grid of P blocks of `threads` threads.
static void sum_squares_partial(const float *x, int n, double *partials, int P, int threads) {
	double buf[RECUR_REDUCE_THREADS];
	long long stride = (long long)P * threads;
	for (int block = 0; block < P; block++) {
		for (int t = 0; t < threads; t++) {
			buf[t] = recur_sum_squares_strided(x, n, (long long)block * threads + t, stride);
		}
		block_sum_double(buf, threads);
		partials[block] = buf[0];
	}
}

// sum_squares_final as one block of `threads` threads.
static void sum_squares_final(const double *partials, int P, float *norm, int threads) {
	double buf[RECUR_REDUCE_THREADS];
	for (int t = 0; t < threads; t++) {
		buf[t] = recur_sum_strided(partials, P, t, threads);
	}
	block_sum_double(buf, threads);
	norm[0] = recur_norm_from_sum_squares(buf[0]);
}

static int dropout_keep(unsigned long long seed, unsigned long long index, float p) {
	return recur_dropout_keep(seed, index, p);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	// The header is embedded there, so importing it makes this package rebuild when the header changes.
	_ "github.com/recur-ml/recur/kernels"
)

// ReduceThreads and NormPartials are RECUR_REDUCE_THREADS and RECUR_NORM_PARTIALS of the header.
const (
	ReduceThreads = C.RECUR_REDUCE_THREADS
	NormPartials  = C.RECUR_NORM_PARTIALS
)

// checkLen panics unless x has at least want elements, so the C loops stay inside the slice.
func checkLen(op, name string, n, want int) {
	if n < want {
		panic(fmt.Sprintf("hostmath: %s: %s has %d elements, expected at least %d", op, name, n, want))
	}
}

// checkShape panics when a size is negative or when the element count would not fit the kernels' int.
func checkShape(op string, dims ...int) {
	total := 1
	for _, d := range dims {
		if d < 0 || (d > 0 && total > (1<<31-1)/d) {
			panic(fmt.Sprintf("hostmath: %s: invalid shape %v", op, dims))
		}
		total *= d
	}
}

// checkThreads panics unless threads is a block size the reduction kernels accept.
func checkThreads(op string, threads int) {
	if threads < 1 || threads > ReduceThreads {
		panic(fmt.Sprintf("hostmath: %s: %d threads per block, expected 1 to %d", op, threads, ReduceThreads))
	}
}

// floats returns a C pointer to x's elements, or NULL for a nil or empty slice.
func floats(x []float32) *C.float {
	if len(x) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&x[0]))
}

func doubles(x []float64) *C.double {
	if len(x) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&x[0]))
}

// ints returns a C pointer to ids, whose int32 elements have the layout of C's int on every
// platform cgo supports.
func ints(ids []int32) *C.int {
	if len(ids) == 0 {
		return nil
	}
	return (*C.int)(unsafe.Pointer(&ids[0]))
}

// LSTMGatesForward runs lstm_gates_forward: it activates gates [B×4H] in place and writes c and
// h [B×H]. c may be cPrev.
func LSTMGatesForward(gates, cPrev, c, h []float32, B, H int) {
	const op = "LSTMGatesForward"
	checkShape(op, B, 4, H)
	checkLen(op, "gates", len(gates), B*4*H)
	for name, x := range map[string][]float32{"cPrev": cPrev, "c": c, "h": h} {
		checkLen(op, name, len(x), B*H)
	}
	C.lstm_gates_forward(floats(gates), floats(cPrev), floats(c), floats(h), C.int(B), C.int(H))
}

// LSTMGatesBackward runs lstm_gates_backward. dhRec may be nil. dc contains the gradient at c on
// entry and the gradient at cPrev on return. dgates [B×4H] may be gates.
func LSTMGatesBackward(gates, cPrev, c, dhOut, dhRec, dc, dgates []float32, B, H int) {
	const op = "LSTMGatesBackward"
	checkShape(op, B, 4, H)
	checkLen(op, "gates", len(gates), B*4*H)
	checkLen(op, "dgates", len(dgates), B*4*H)
	for name, x := range map[string][]float32{"cPrev": cPrev, "c": c, "dhOut": dhOut, "dc": dc} {
		checkLen(op, name, len(x), B*H)
	}
	if dhRec != nil {
		checkLen(op, "dhRec", len(dhRec), B*H)
	}
	C.lstm_gates_backward(floats(gates), floats(cPrev), floats(c), floats(dhOut), floats(dhRec), floats(dc),
		floats(dgates), C.int(B), C.int(H))
}

// GRUGatesForward runs gru_gates_forward: it activates xg [B×3H] in place, given the recurrent
// projections hg [B×3H], and writes h [B×H]. When bhh [3H] is not nil, it first adds bhh to
// every row of hg, in place. h may be hPrev.
func GRUGatesForward(xg, hg, bhh, hPrev, h []float32, B, H int) {
	const op = "GRUGatesForward"
	checkShape(op, B, 3, H)
	checkLen(op, "xg", len(xg), B*3*H)
	checkLen(op, "hg", len(hg), B*3*H)
	if bhh != nil {
		checkLen(op, "bhh", len(bhh), 3*H)
	}
	checkLen(op, "hPrev", len(hPrev), B*H)
	checkLen(op, "h", len(h), B*H)
	C.gru_gates_forward(floats(xg), floats(hg), floats(bhh), floats(hPrev), floats(h), C.int(B), C.int(H))
}

// GRUGatesBackward runs gru_gates_backward. xg contains the activated gates and dhRec may be nil.
// It writes dxg and dhg [B×3H], which may be xg and hg, and dhPrev [B×H], the gradient through
// z·hPrev alone.
func GRUGatesBackward(xg, hg, hPrev, dhOut, dhRec, dxg, dhg, dhPrev []float32, B, H int) {
	const op = "GRUGatesBackward"
	checkShape(op, B, 3, H)
	for name, x := range map[string][]float32{"xg": xg, "hg": hg, "dxg": dxg, "dhg": dhg} {
		checkLen(op, name, len(x), B*3*H)
	}
	for name, x := range map[string][]float32{"hPrev": hPrev, "dhOut": dhOut, "dhPrev": dhPrev} {
		checkLen(op, name, len(x), B*H)
	}
	if dhRec != nil {
		checkLen(op, "dhRec", len(dhRec), B*H)
	}
	C.gru_gates_backward(floats(xg), floats(hg), floats(hPrev), floats(dhOut), floats(dhRec), floats(dxg),
		floats(dhg), floats(dhPrev), C.int(B), C.int(H))
}

// RNNForward runs rnn_forward over len(pre) elements: h = tanh(pre).
func RNNForward(pre, h []float32) {
	checkLen("RNNForward", "h", len(h), len(pre))
	C.rnn_forward(floats(pre), floats(h), C.int(len(pre)))
}

// RNNBackward runs rnn_backward over len(h) elements. dhRec may be nil.
func RNNBackward(h, dhOut, dhRec, dpre []float32) {
	const op = "RNNBackward"
	checkLen(op, "dhOut", len(dhOut), len(h))
	checkLen(op, "dpre", len(dpre), len(h))
	if dhRec != nil {
		checkLen(op, "dhRec", len(dhRec), len(h))
	}
	C.rnn_backward(floats(h), floats(dhOut), floats(dhRec), floats(dpre), C.int(len(h)))
}

// AddBias runs add_bias: bias [cols] is added to every row of y [rows×cols].
func AddBias(y, bias []float32, rows, cols int) {
	checkShape("AddBias", rows, cols)
	checkLen("AddBias", "y", len(y), rows*cols)
	checkLen("AddBias", "bias", len(bias), cols)
	C.add_bias(floats(y), floats(bias), C.int(rows), C.int(cols))
}

// SumRows runs sum_rows: dst[j] += Σ_r x[r][j] for x [rows×cols].
func SumRows(dst, x []float32, rows, cols int) {
	checkShape("SumRows", rows, cols)
	checkLen("SumRows", "x", len(x), rows*cols)
	checkLen("SumRows", "dst", len(dst), cols)
	C.sum_rows(floats(dst), floats(x), C.int(rows), C.int(cols))
}

// checkIDs panics unless every id is a row of a table of the given length and row width dim,
// because the kernels read and write table rows without a bounds check.
func checkIDs(op string, ids []int32, tableLen, dim int) {
	for r, id := range ids {
		if id < 0 || (int(id)+1)*dim > tableLen {
			panic(fmt.Sprintf("hostmath: %s: ids[%d] = %d is not a row of a table of %d rows",
				op, r, id, tableLen/dim))
		}
	}
}

// EmbeddingForward runs embedding_forward: row r of out [len(ids)×dim] = row ids[r] of table.
func EmbeddingForward(out, table []float32, ids []int32, dim int) {
	const op = "EmbeddingForward"
	checkShape(op, len(ids), dim)
	checkLen(op, "out", len(out), len(ids)*dim)
	checkIDs(op, ids, len(table), dim)
	C.embedding_forward(floats(out), floats(table), ints(ids), C.int(len(ids)), C.int(dim))
}

// EmbeddingBackward runs embedding_backward: row r of dout [len(ids)×dim] is added to row ids[r]
// of dtable.
func EmbeddingBackward(dtable, dout []float32, ids []int32, dim int) {
	const op = "EmbeddingBackward"
	checkShape(op, len(ids), dim)
	checkLen(op, "dout", len(dout), len(ids)*dim)
	checkIDs(op, ids, len(dtable), dim)
	C.embedding_backward(floats(dtable), floats(dout), ints(ids), C.int(len(ids)), C.int(dim))
}

// SoftmaxXent runs softmax_xent with blocks of the given number of threads (the backend launches
// ReduceThreads). It writes losses [rows] and, when dlogits is not nil, dlogits [rows×V], which
// may be logits. Targets outside [−1, V) are not rejected: they give NaN, as on the device.
func SoftmaxXent(logits []float32, targets []int32, losses, dlogits []float32, rows, V int, scale float32,
	threads int) {
	const op = "SoftmaxXent"
	checkShape(op, rows, V)
	checkThreads(op, threads)
	checkLen(op, "logits", len(logits), rows*V)
	checkLen(op, "targets", len(targets), rows)
	checkLen(op, "losses", len(losses), rows)
	if dlogits != nil {
		checkLen(op, "dlogits", len(dlogits), rows*V)
	}
	C.softmax_xent(floats(logits), ints(targets), floats(losses), floats(dlogits), C.int(rows), C.int(V),
		C.float(scale), C.int(threads))
}

// DropoutKeep calls the header's dropout hash for one element.
func DropoutKeep(seed, index uint64, p float32) bool {
	return C.dropout_keep(C.ulonglong(seed), C.ulonglong(index), C.float(p)) != 0
}

// Dropout runs dropout over len(x) elements, drawing element i at index offset+i.
func Dropout(x, mask []float32, p float32, seed, offset uint64) {
	checkShape("Dropout", len(x))
	checkLen("Dropout", "mask", len(mask), len(x))
	C.dropout(floats(x), floats(mask), C.int(len(x)), C.float(p), C.ulonglong(seed), C.ulonglong(offset))
}

// Fill runs fill: every element of x becomes v.
func Fill(x []float32, v float32) {
	checkShape("Fill", len(x))
	C.fill(floats(x), C.int(len(x)), C.float(v))
}

// Axpy runs axpy: y += alpha·x.
func Axpy(alpha float32, x, y []float32) {
	checkShape("Axpy", len(x))
	checkLen("Axpy", "y", len(y), len(x))
	C.axpy(C.float(alpha), floats(x), floats(y), C.int(len(x)))
}

// Mul runs mul: dst[i] *= x[i].
func Mul(dst, x []float32) {
	checkShape("Mul", len(x))
	checkLen("Mul", "dst", len(dst), len(x))
	C.mul(floats(dst), floats(x), C.int(len(x)))
}

// Scale runs scale: x *= s.
func Scale(x []float32, s float32) {
	checkShape("Scale", len(x))
	C.scale(floats(x), C.int(len(x)), C.float(s))
}

// SumSquaresPartial runs sum_squares_partial with a grid of len(partials) blocks of the given
// number of threads (the backend launches NormPartials blocks of ReduceThreads).
func SumSquaresPartial(x []float32, partials []float64, threads int) {
	checkShape("SumSquaresPartial", len(x))
	checkShape("SumSquaresPartial", len(partials), threads)
	checkThreads("SumSquaresPartial", threads)
	C.sum_squares_partial(floats(x), C.int(len(x)), doubles(partials), C.int(len(partials)), C.int(threads))
}

// SumSquaresFinal runs sum_squares_final as one block of the given number of threads, writing
// the norm into norm[0].
func SumSquaresFinal(partials []float64, norm []float32, threads int) {
	checkShape("SumSquaresFinal", len(partials))
	checkThreads("SumSquaresFinal", threads)
	checkLen("SumSquaresFinal", "norm", len(norm), 1)
	C.sum_squares_final(doubles(partials), C.int(len(partials)), floats(norm), C.int(threads))
}

// ClipScale runs clip_scale: g is scaled by min(1, maxNorm/(norm[0]+1e-6)) when maxNorm > 0 and
// norm[0] is finite.
func ClipScale(g, norm []float32, maxNorm float32) {
	checkShape("ClipScale", len(g))
	checkLen("ClipScale", "norm", len(norm), 1)
	C.clip_scale(floats(g), C.int(len(g)), floats(norm), C.float(maxNorm))
}

// FiniteGuard runs finite_guard with one block of threads threads: guard[0] = norm[0] when every
// element of x is finite, else NaN.
func FiniteGuard(norm, x, guard []float32, threads int) {
	checkThreads("FiniteGuard", threads)
	checkLen("FiniteGuard", "norm", len(norm), 1)
	checkLen("FiniteGuard", "guard", len(guard), 1)
	C.finite_guard(floats(norm), floats(x), C.int(len(x)), floats(guard), C.int(threads))
}

// checkGuard panics unless guard is nil or has an element for the optimizer kernels to read.
func checkGuard(op string, guard []float32) {
	if guard != nil {
		checkLen(op, "guard", len(guard), 1)
	}
}

// AdamStep runs adam_step over len(p) parameters. The caller passes the bias corrections
// 1−beta1^t and 1−beta2^t of step t, as the backend does. With guard not nil, the update is
// skipped unless guard[0] is finite.
func AdamStep(p, g, m, v []float32, lr, beta1, beta2, eps, biasCorrection1, biasCorrection2 float32,
	guard []float32) {
	const op = "AdamStep"
	checkShape(op, len(p))
	for name, x := range map[string][]float32{"g": g, "m": m, "v": v} {
		checkLen(op, name, len(x), len(p))
	}
	checkGuard(op, guard)
	C.adam_step(floats(p), floats(g), floats(m), floats(v), C.int(len(p)), C.float(lr), C.float(beta1),
		C.float(beta2), C.float(eps), C.float(biasCorrection1), C.float(biasCorrection2), floats(guard))
}

// SGDStep runs sgd_step over len(p) parameters, skipped unless guard is nil or guard[0] is
// finite.
func SGDStep(p, g, buf []float32, lr, momentum float32, guard []float32) {
	checkShape("SGDStep", len(p))
	checkLen("SGDStep", "g", len(g), len(p))
	checkLen("SGDStep", "buf", len(buf), len(p))
	checkGuard("SGDStep", guard)
	C.sgd_step(floats(p), floats(g), floats(buf), C.int(len(p)), C.float(lr), C.float(momentum), floats(guard))
}

// RMSpropStep runs rmsprop_step over len(p) parameters, skipped unless guard is nil or guard[0]
// is finite.
func RMSpropStep(p, g, sq []float32, lr, alpha, eps float32, guard []float32) {
	checkShape("RMSpropStep", len(p))
	checkLen("RMSpropStep", "g", len(g), len(p))
	checkLen("RMSpropStep", "sq", len(sq), len(p))
	checkGuard("RMSpropStep", guard)
	C.rmsprop_step(floats(p), floats(g), floats(sq), C.int(len(p)), C.float(lr), C.float(alpha), C.float(eps),
		floats(guard))
}
