// recur_math.cuh: the per-thread work of recur's CUDA kernels, shared by nvcc and a host test.
//
// Each kernel in recur_kernels.cu computes its thread's index and checks it against the size. It then calls
// one recur_*_element, recur_*_unit or recur_*_column function below, which indexes the tensors and does the
// math. Package kernels/hostmath compiles this header with gcc as C99 and calls the same functions
// for every index, so a machine without a GPU tests the kernels' formulas and indexing against cpuref. Only
// the block reductions (softmax_xent, sum_squares_*) keep their shared-memory trees in the .cu file, and
// hostmath repeats those trees in the same order.
//
// Conventions (the same as engine.Backend): float32 tensors, row-major, time-major activations, int sizes.
// Tensors of 2^31 elements or more are not supported, so every index fits in an int.
#ifndef RECUR_MATH_CUH
#define RECUR_MATH_CUH

#ifdef __CUDACC__
#define RECUR_HD __host__ __device__ __forceinline__
#else
#include <math.h>
#define RECUR_HD static inline
#endif

// Threads per block of the reduction kernels (softmax_xent, sum_squares_partial, sum_squares_final). Their
// shared-memory buffers have this many entries, so they must be launched with at most this many threads.
#define RECUR_REDUCE_THREADS 256

// Blocks of sum_squares_partial, and so the number of partial sums that sum_squares_final adds.
#define RECUR_NORM_PARTIALS 256

// LSTM gate blocks in PyTorch's order i, f, g, o: row b of a [B×4H] gate matrix holds gate k of unit j in
// column k·H + j. This is the only place that fixes the order.
enum { RECUR_GATE_I = 0, RECUR_GATE_F = 1, RECUR_GATE_G = 2, RECUR_GATE_O = 3, RECUR_GATES = 4 };

// GRU gate blocks in PyTorch's order r, z, n: row b of a [B×3H] gate matrix holds gate k of unit j in column
// k·H + j, for the input projections xg and the recurrent projections hg alike.
enum { RECUR_GRU_R = 0, RECUR_GRU_Z = 1, RECUR_GRU_N = 2, RECUR_GRU_GATES = 3 };

RECUR_HD float recur_sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

// ---- LSTM ----

// Activates one unit's gate pre-activations in place (σ for i, f, o and tanh for g) and returns the unit's
// new cell state c = f·c_prev + i·g and hidden state h = o·tanh(c).
RECUR_HD void recur_lstm_cell_forward(float gate[RECUR_GATES], float c_prev, float *c, float *h) {
    float i = recur_sigmoid(gate[RECUR_GATE_I]);
    float f = recur_sigmoid(gate[RECUR_GATE_F]);
    float g = tanhf(gate[RECUR_GATE_G]);
    float o = recur_sigmoid(gate[RECUR_GATE_O]);
    float c_new = f * c_prev + i * g;
    gate[RECUR_GATE_I] = i;
    gate[RECUR_GATE_F] = f;
    gate[RECUR_GATE_G] = g;
    gate[RECUR_GATE_O] = o;
    *c = c_new;
    *h = o * tanhf(c_new);
}

// Reverses recur_lstm_cell_forward for one unit. act contains the activated gates, dh the total gradient at
// h and *dc the gradient at c from the next step, which is replaced by the gradient at c_prev. Writes the
// gradients at the four gate pre-activations into dpre, using σ' = σ(1−σ) and tanh' = 1−tanh².
RECUR_HD void recur_lstm_cell_backward(const float act[RECUR_GATES], float c_prev, float c, float dh, float *dc,
                                       float dpre[RECUR_GATES]) {
    float i = act[RECUR_GATE_I], f = act[RECUR_GATE_F], g = act[RECUR_GATE_G], o = act[RECUR_GATE_O];
    float tc = tanhf(c);
    // dL/dc at this step: the gradient from the next step plus the path through h = o·tanh(c).
    float dct = *dc + dh * o * (1.0f - tc * tc);
    dpre[RECUR_GATE_I] = dct * g * i * (1.0f - i);
    dpre[RECUR_GATE_F] = dct * c_prev * f * (1.0f - f);
    dpre[RECUR_GATE_G] = dct * i * (1.0f - g * g);
    dpre[RECUR_GATE_O] = dh * tc * o * (1.0f - o);
    *dc = dct * f;
}

// Thread `unit` = b·H + j of lstm_gates_forward. gates [B×4H] contains pre-activations on entry and
// activations on return. c may be the same tensor as c_prev, because the unit reads c_prev before writing c.
RECUR_HD void recur_lstm_gates_forward_unit(int unit, float *gates, const float *c_prev, float *c, float *h,
                                            int H) {
    int b = unit / H, j = unit - b * H;
    float *row = gates + b * RECUR_GATES * H;
    float gate[RECUR_GATES];
    float c_new, h_new;
    for (int k = 0; k < RECUR_GATES; k++) {
        gate[k] = row[k * H + j];
    }
    recur_lstm_cell_forward(gate, c_prev[unit], &c_new, &h_new);
    for (int k = 0; k < RECUR_GATES; k++) {
        row[k * H + j] = gate[k];
    }
    c[unit] = c_new;
    h[unit] = h_new;
}

// Thread `unit` = b·H + j of lstm_gates_backward. dh_rec may be NULL, and dc is read and then overwritten.
// dgates may be the same tensor as gates, because the unit reads its four gates before writing their gradients.
RECUR_HD void recur_lstm_gates_backward_unit(int unit, const float *gates, const float *c_prev, const float *c,
                                             const float *dh_out, const float *dh_rec, float *dc, float *dgates,
                                             int H) {
    int b = unit / H, j = unit - b * H;
    int row = b * RECUR_GATES * H;
    float act[RECUR_GATES], dpre[RECUR_GATES];
    for (int k = 0; k < RECUR_GATES; k++) {
        act[k] = gates[row + k * H + j];
    }
    float dh = dh_out[unit];
    if (dh_rec != 0) {
        dh += dh_rec[unit];
    }
    float dc_unit = dc[unit];
    recur_lstm_cell_backward(act, c_prev[unit], c[unit], dh, &dc_unit, dpre);
    for (int k = 0; k < RECUR_GATES; k++) {
        dgates[row + k * H + j] = dpre[k];
    }
    dc[unit] = dc_unit;
}

// ---- GRU ----

// Activates one unit's gates as PyTorch's GRU does and returns its new hidden state. x contains the input
// pre-activations on entry and r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r·h_n) on return, where hg
// contains the recurrent pre-activations. *h = (1 − z)·n + z·h_prev.
RECUR_HD void recur_gru_cell_forward(float x[RECUR_GRU_GATES], const float hg[RECUR_GRU_GATES], float h_prev,
                                     float *h) {
    float r = recur_sigmoid(x[RECUR_GRU_R] + hg[RECUR_GRU_R]);
    float z = recur_sigmoid(x[RECUR_GRU_Z] + hg[RECUR_GRU_Z]);
    float n = tanhf(x[RECUR_GRU_N] + r * hg[RECUR_GRU_N]);
    x[RECUR_GRU_R] = r;
    x[RECUR_GRU_Z] = z;
    x[RECUR_GRU_N] = n;
    *h = (1.0f - z) * n + z * h_prev;
}

// Reverses recur_gru_cell_forward for one unit. act contains the activated gates r, z, n, h_n the recurrent
// pre-activation of the n gate and dh the total gradient at h. Writes the gradients at the input
// pre-activations into dx, at the recurrent pre-activations into dhg, and the gradient at h_prev through
// z·h_prev alone into *dh_prev. dhg differs from dx only in its n entry, which the reset gate scales.
RECUR_HD void recur_gru_cell_backward(const float act[RECUR_GRU_GATES], float h_n, float h_prev, float dh,
                                      float dx[RECUR_GRU_GATES], float dhg[RECUR_GRU_GATES], float *dh_prev) {
    float r = act[RECUR_GRU_R], z = act[RECUR_GRU_Z], n = act[RECUR_GRU_N];
    float dn_pre = dh * (1.0f - z) * (1.0f - n * n);
    float dz_pre = dh * (h_prev - n) * z * (1.0f - z);
    float dr_pre = dn_pre * h_n * r * (1.0f - r);
    dx[RECUR_GRU_R] = dr_pre;
    dx[RECUR_GRU_Z] = dz_pre;
    dx[RECUR_GRU_N] = dn_pre;
    dhg[RECUR_GRU_R] = dr_pre;
    dhg[RECUR_GRU_Z] = dz_pre;
    dhg[RECUR_GRU_N] = dn_pre * r;
    *dh_prev = dh * z;
}

// Thread `unit` = b·H + j of gru_gates_forward. xg [B×3H] contains input pre-activations on entry and the
// activated gates on return. hg [B×3H] contains the recurrent projections W_hh·h_prev on entry. When bhh [3H]
// is not NULL, the unit adds bias_hh to its three entries of hg in float32 and stores the sums back, because
// backward reads the n entry with its bias. With bhh NULL, hg is only read. h may be the same tensor as h_prev,
// because the unit reads h_prev before writing h.
RECUR_HD void recur_gru_gates_forward_unit(int unit, float *xg, float *hg, const float *bhh, const float *h_prev,
                                           float *h, int H) {
    int b = unit / H, j = unit - b * H;
    int row = b * RECUR_GRU_GATES * H;
    float x[RECUR_GRU_GATES], hgate[RECUR_GRU_GATES];
    float h_new;
    for (int k = 0; k < RECUR_GRU_GATES; k++) {
        x[k] = xg[row + k * H + j];
        hgate[k] = hg[row + k * H + j];
        if (bhh != 0) {
            hgate[k] += bhh[k * H + j];
            hg[row + k * H + j] = hgate[k];
        }
    }
    recur_gru_cell_forward(x, hgate, h_prev[unit], &h_new);
    for (int k = 0; k < RECUR_GRU_GATES; k++) {
        xg[row + k * H + j] = x[k];
    }
    h[unit] = h_new;
}

// Thread `unit` = b·H + j of gru_gates_backward. dh_rec may be NULL. The unit reads all its inputs before it
// writes, so dxg may be the same tensor as xg, dhg as hg and dh_prev as dh_out or dh_rec.
RECUR_HD void recur_gru_gates_backward_unit(int unit, const float *xg, const float *hg, const float *h_prev,
                                            const float *dh_out, const float *dh_rec, float *dxg, float *dhg,
                                            float *dh_prev, int H) {
    int b = unit / H, j = unit - b * H;
    int row = b * RECUR_GRU_GATES * H;
    float act[RECUR_GRU_GATES], dx[RECUR_GRU_GATES], dh_gate[RECUR_GRU_GATES];
    float dh_prev_unit;
    for (int k = 0; k < RECUR_GRU_GATES; k++) {
        act[k] = xg[row + k * H + j];
    }
    float h_n = hg[row + RECUR_GRU_N * H + j];
    float dh = dh_out[unit];
    if (dh_rec != 0) {
        dh += dh_rec[unit];
    }
    recur_gru_cell_backward(act, h_n, h_prev[unit], dh, dx, dh_gate, &dh_prev_unit);
    for (int k = 0; k < RECUR_GRU_GATES; k++) {
        dxg[row + k * H + j] = dx[k];
        dhg[row + k * H + j] = dh_gate[k];
    }
    dh_prev[unit] = dh_prev_unit;
}

// ---- vanilla RNN ----

// Element i of rnn_forward: h = tanh(pre). pre and h may be the same tensor.
RECUR_HD void recur_rnn_forward_element(int i, const float *pre, float *h) {
    h[i] = tanhf(pre[i]);
}

// Element i of rnn_backward: dpre = (dh_out + dh_rec)·(1 − h²), where dh_rec may be NULL.
RECUR_HD void recur_rnn_backward_element(int i, const float *h, const float *dh_out, const float *dh_rec,
                                         float *dpre) {
    float dh = dh_out[i];
    if (dh_rec != 0) {
        dh += dh_rec[i];
    }
    dpre[i] = dh * (1.0f - h[i] * h[i]);
}

// ---- bias, embedding ----

// Element e = r·cols + j of add_bias: y[r][j] += bias[j].
RECUR_HD void recur_add_bias_element(int e, float *y, const float *bias, int cols) {
    y[e] += bias[e % cols];
}

// Column j of sum_rows: dst[j] += Σ_r x[r][j], adding the rows in order r = 0, 1, ... in float32, so the
// result does not depend on the launch.
RECUR_HD void recur_sum_rows_column(int j, float *dst, const float *x, int rows, int cols) {
    float acc = dst[j];
    for (int r = 0; r < rows; r++) {
        acc += x[r * cols + j];
    }
    dst[j] = acc;
}

// Element e = r·dim + j of embedding_forward: out[r][j] = table[ids[r]][j]. The caller checks that every id is
// in [0, V), because the kernel does not know V.
RECUR_HD void recur_embedding_forward_element(int e, float *out, const float *table, const int *ids, int dim) {
    int r = e / dim, j = e - r * dim;
    out[e] = table[ids[r] * dim + j];
}

// Column j of embedding_backward: dtable[ids[r]][j] += dout[r][j] for r = 0, 1, ..., n−1 in order. One
// thread owns the whole column, so repeated ids need no atomics and the sums do not depend on the launch.
RECUR_HD void recur_embedding_backward_column(int j, float *dtable, const float *dout, const int *ids, int n,
                                              int dim) {
    for (int r = 0; r < n; r++) {
        dtable[ids[r] * dim + j] += dout[r * dim + j];
    }
}

// ---- softmax cross-entropy ----

// Reports whether target names a class of a row of V logits. Other targets give the row no softmax: see
// recur_xent_fill_value.
RECUR_HD int recur_xent_target_is_class(int target, int V) {
    return target >= 0 && target < V;
}

// Returns the loss, and every gradient entry, of a row whose target is not a class: 0 for an ignored row
// (target −1), NaN for a target outside [−1, V). A kernel cannot panic as the CPU backend does, so the NaN
// reaches the loss and the gradient norm, where the training loop detects it.
RECUR_HD float recur_xent_fill_value(int target) {
    return target == -1 ? 0.0f : nanf("");
}

// Returns the maximum of x[j] over the columns j = tid, tid + nthreads, ... < V that thread tid of a block of
// nthreads threads visits, or −∞ when it visits none.
RECUR_HD float recur_softmax_partial_max(const float *x, int V, int tid, int nthreads) {
    float top = -INFINITY;
    for (long long j = tid; j < V; j += nthreads) {
        top = fmaxf(top, x[j]);
    }
    return top;
}

// Returns Σ exp(x[j] − top) over the same columns as recur_softmax_partial_max, in float32.
RECUR_HD float recur_softmax_partial_sum(const float *x, int V, float top, int tid, int nthreads) {
    float sum = 0.0f;
    for (long long j = tid; j < V; j += nthreads) {
        sum += expf(x[j] - top);
    }
    return sum;
}

// Returns the loss −log softmax(x)[target] = log Σ exp(x − top) − (x[target] − top) in nats.
RECUR_HD float recur_xent_loss(float sum, float shifted_target) {
    return logf(sum) - shifted_target;
}

// Returns one entry of the gradient scale·(softmax(x) − onehot(target)).
RECUR_HD float recur_xent_grad(float x, float top, float sum, float scale, int is_target) {
    float p = expf(x - top) / sum;
    return scale * (is_target ? p - 1.0f : p);
}

// ---- dropout ----

// Reports whether element `index` of the dropout draw `seed` is kept at drop probability p. It is the
// SplitMix64 hash of engine.DropoutKeep, constant for constant, so both backends draw the same mask: the top
// 24 bits of the hash become u in [0, 1), exactly, and the element is kept when u ≥ p.
RECUR_HD int recur_dropout_keep(unsigned long long seed, unsigned long long index, float p) {
    unsigned long long z = seed + (index + 1ULL) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    float u = (float)(z >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}

// Element i of dropout: mask[i] = 1/(1−p) when element offset+i is kept, else 0, and x[i] *= mask[i].
// 1/(1−p) is computed in double and rounded once, as the CPU backend does, so both backends write the
// same mask bit for bit.
RECUR_HD void recur_dropout_element(int i, float *x, float *mask, float p, unsigned long long seed,
                                    unsigned long long offset) {
    float m = 0.0f;
    if (recur_dropout_keep(seed, offset + (unsigned long long)i, p)) {
        m = (float)(1.0 / (1.0 - (double)p));
    }
    mask[i] = m;
    x[i] *= m;
}

// ---- element-wise helpers ----

RECUR_HD void recur_fill_element(int i, float *x, float v) {
    x[i] = v;
}

// Element i of axpy: y[i] += alpha·x[i].
RECUR_HD void recur_axpy_element(int i, float alpha, const float *x, float *y) {
    y[i] += alpha * x[i];
}

// Element i of mul: dst[i] *= x[i].
RECUR_HD void recur_mul_element(int i, float *dst, const float *x) {
    dst[i] *= x[i];
}

// Element i of scale: x[i] *= s.
RECUR_HD void recur_scale_element(int i, float *x, float s) {
    x[i] *= s;
}

// ---- gradient norm and clipping ----

// Returns Σ x[i]² in float64 over i = first, first + stride, ... < n: one thread's share of the grid-stride
// loop of sum_squares_partial.
RECUR_HD double recur_sum_squares_strided(const float *x, int n, long long first, long long stride) {
    double sum = 0.0;
    for (long long i = first; i < n; i += stride) {
        double v = (double)x[i];
        sum += v * v;
    }
    return sum;
}

// Returns Σ partials[i] over i = first, first + stride, ... < P: one thread's share of sum_squares_final.
RECUR_HD double recur_sum_strided(const double *partials, int P, int first, int stride) {
    double sum = 0.0;
    for (int i = first; i < P; i += stride) {
        sum += partials[i];
    }
    return sum;
}

// Returns the norm sqrt(sum_squares), taken in float64 and rounded once to float32.
RECUR_HD float recur_norm_from_sum_squares(double sum_squares) {
    return (float)sqrt(sum_squares);
}

// Returns the factor that clip_scale multiplies every gradient by: min(1, max_norm/(norm + 1e-6)), where
// 1e-6 keeps an all-zero gradient from dividing by zero, as in PyTorch's clip_grad_norm_. It is 1 when
// max_norm ≤ 0 (no clipping) or when norm is NaN or infinite, which leaves g unscaled for the caller to skip.
RECUR_HD float recur_clip_factor(float norm, float max_norm) {
    if (!(max_norm > 0.0f) || !isfinite(norm)) {
        return 1.0f;
    }
    float factor = max_norm / (norm + 1e-6f);
    return factor < 1.0f ? factor : 1.0f;
}

// ---- the update guard of a training step ----

// Reports whether x[i] is finite for every i = first, first + stride, ... < n: one thread's share of
// finite_guard.
RECUR_HD int recur_all_finite_strided(const float *x, int n, int first, int stride) {
    for (int i = first; i < n; i += stride) {
        if (!isfinite(x[i])) {
            return 0;
        }
    }
    return 1;
}

// Returns the value that finite_guard stores: the gradient norm when every loss is finite, else NaN. A NaN or
// infinite norm stays as it is, so the guard is finite exactly when the norm and every loss are.
RECUR_HD float recur_guard_value(float norm, int losses_finite) {
    return losses_finite ? norm : nanf("");
}

// Reports whether an optimizer step applies its update: always when guard is NULL, else only when guard[0] is
// finite. The training loop points guard at the value of finite_guard, so a step whose loss or gradient is
// NaN or infinite changes no parameter and no moment, without the host reading anything back first.
RECUR_HD int recur_update_allowed(const float *guard) {
    return guard == 0 || isfinite(guard[0]);
}

// ---- optimizers (PyTorch's update formulas) ----

// Element i of adam_step, as torch.optim.Adam without weight decay: m = β1·m + (1−β1)·g,
// v = β2·v + (1−β2)·g², p −= (lr/bc1)·m/(√v/√bc2 + eps), where the caller computes the bias corrections
// bc1 = 1−β1^t and bc2 = 1−β2^t for step t, counted from 1.
RECUR_HD void recur_adam_element(int i, float *p, const float *g, float *m, float *v, float lr, float beta1,
                                 float beta2, float eps, float bias_correction1, float bias_correction2) {
    float gi = g[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float step_size = lr / bias_correction1;
    float denom = sqrtf(vi) / sqrtf(bias_correction2) + eps;
    p[i] -= step_size * mi / denom;
}

// Element i of sgd_step, as torch.optim.SGD without dampening or Nesterov: buf = momentum·buf + g,
// p −= lr·buf.
RECUR_HD void recur_sgd_element(int i, float *p, const float *g, float *buf, float lr, float momentum) {
    float b = momentum * buf[i] + g[i];
    buf[i] = b;
    p[i] -= lr * b;
}

// Element i of rmsprop_step, as torch.optim.RMSprop, not centered and without momentum:
// sq = alpha·sq + (1−alpha)·g², p −= lr·g/(√sq + eps).
RECUR_HD void recur_rmsprop_element(int i, float *p, const float *g, float *sq, float lr, float alpha,
                                    float eps) {
    float gi = g[i];
    float s = alpha * sq[i] + (1.0f - alpha) * gi * gi;
    sq[i] = s;
    p[i] -= lr * gi / (sqrtf(s) + eps);
}

#endif // RECUR_MATH_CUH
