// recur_kernels.cu: the device kernels of recur's CUDA backend, built into recur_kernels.fatbin by
// `make kernels`.
//
// Every kernel is extern "C" so that the backend finds it by its plain name. Element kernels run one thread
// per element, LSTM or GRU unit or column, in a 1-D grid of ceil(n/256) blocks of 256 threads. Each checks its
// index against the size and calls the matching function of recur_math.cuh, which indexes the tensors and does
// the math. The reductions run one block per row (softmax_xent) or a fixed grid (sum_squares_partial), and
// reduce in shared memory in a fixed order, so every result is the same from run to run. No kernel uses atomics.
#include "recur_math.cuh"

// Returns the calling thread's index in a 1-D grid. It is 64-bit because the last block's surplus threads
// can pass 2^31 − 1 when n is close to it.
__device__ __forceinline__ long long thread_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

// Adds buf[0..blockDim.x) into buf[0]. In round s each thread t < s adds buf[t + s] into buf[t], for
// s = 128, 64, ..., 1, so the order of the additions depends only on blockDim.x, which must be at most
// RECUR_REDUCE_THREADS. The caller fills buf and synchronizes first; every thread of the block must call it.
template <typename T>
__device__ void block_sum(T *buf) {
    for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && threadIdx.x + s < blockDim.x) {
            buf[threadIdx.x] += buf[threadIdx.x + s];
        }
        __syncthreads();
    }
}

// Like block_sum, but takes the maximum.
__device__ void block_max(float *buf) {
    for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && threadIdx.x + s < blockDim.x) {
            buf[threadIdx.x] = fmaxf(buf[threadIdx.x], buf[threadIdx.x + s]);
        }
        __syncthreads();
    }
}

// ---- LSTM, GRU and vanilla RNN (one thread per unit b·H + j, or per element) ----

extern "C" __global__ void lstm_gates_forward(float *gates, const float *c_prev, float *c, float *h, int B, int H) {
    long long unit = thread_index();
    if (unit < (long long)B * H) {
        recur_lstm_gates_forward_unit((int)unit, gates, c_prev, c, h, H);
    }
}

extern "C" __global__ void lstm_gates_backward(const float *gates, const float *c_prev, const float *c,
                                               const float *dh_out, const float *dh_rec, float *dc, float *dgates,
                                               int B, int H) {
    long long unit = thread_index();
    if (unit < (long long)B * H) {
        recur_lstm_gates_backward_unit((int)unit, gates, c_prev, c, dh_out, dh_rec, dc, dgates, H);
    }
}

// Adds bhh [3H] into hg when bhh is not NULL, so that a GRU step needs no separate bias kernel.
extern "C" __global__ void gru_gates_forward(float *xg, float *hg, const float *bhh, const float *h_prev, float *h,
                                             int B, int H) {
    long long unit = thread_index();
    if (unit < (long long)B * H) {
        recur_gru_gates_forward_unit((int)unit, xg, hg, bhh, h_prev, h, H);
    }
}

extern "C" __global__ void gru_gates_backward(const float *xg, const float *hg, const float *h_prev,
                                              const float *dh_out, const float *dh_rec, float *dxg, float *dhg,
                                              float *dh_prev, int B, int H) {
    long long unit = thread_index();
    if (unit < (long long)B * H) {
        recur_gru_gates_backward_unit((int)unit, xg, hg, h_prev, dh_out, dh_rec, dxg, dhg, dh_prev, H);
    }
}

extern "C" __global__ void rnn_forward(const float *pre, float *h, int n) {
    long long i = thread_index();
    if (i < n) {
        recur_rnn_forward_element((int)i, pre, h);
    }
}

extern "C" __global__ void rnn_backward(const float *h, const float *dh_out, const float *dh_rec, float *dpre,
                                        int n) {
    long long i = thread_index();
    if (i < n) {
        recur_rnn_backward_element((int)i, h, dh_out, dh_rec, dpre);
    }
}

// ---- bias and embedding ----

extern "C" __global__ void add_bias(float *y, const float *bias, int rows, int cols) {
    long long e = thread_index();
    if (e < (long long)rows * cols) {
        recur_add_bias_element((int)e, y, bias, cols);
    }
}

// One thread per column, which adds the rows in order.
extern "C" __global__ void sum_rows(float *dst, const float *x, int rows, int cols) {
    long long j = thread_index();
    if (j < cols) {
        recur_sum_rows_column((int)j, dst, x, rows, cols);
    }
}

extern "C" __global__ void embedding_forward(float *out, const float *table, const int *ids, int n, int dim) {
    long long e = thread_index();
    if (e < (long long)n * dim) {
        recur_embedding_forward_element((int)e, out, table, ids, dim);
    }
}

// One thread per column of dim, which adds the n rows of dout in order.
extern "C" __global__ void embedding_backward(float *dtable, const float *dout, const int *ids, int n, int dim) {
    long long j = thread_index();
    if (j < dim) {
        recur_embedding_backward_column((int)j, dtable, dout, ids, n, dim);
    }
}

// ---- softmax cross-entropy (one block of at most RECUR_REDUCE_THREADS threads per row) ----

// Writes losses[r] = −log softmax(logits[r])[targets[r]] and, when dlogits is not NULL,
// dlogits[r] = scale·(softmax(logits[r]) − onehot(targets[r])). dlogits may be the same tensor as logits:
// every read of a logit other than a thread's own column happens before the barriers of the sum.
extern "C" __global__ void softmax_xent(const float *logits, const int *targets, float *losses, float *dlogits,
                                        int rows, int V, float scale) {
    __shared__ float max_buf[RECUR_REDUCE_THREADS];
    __shared__ float sum_buf[RECUR_REDUCE_THREADS];
    int r = blockIdx.x, tid = threadIdx.x;
    if (r >= rows) {
        return;
    }
    const float *x = logits + r * V;
    float *dx = dlogits != 0 ? dlogits + r * V : 0;
    int target = targets[r];

    // The whole block takes this branch or none of it, so no thread skips a barrier.
    if (!recur_xent_target_is_class(target, V)) {
        float fill = recur_xent_fill_value(target);
        if (tid == 0) {
            losses[r] = fill;
        }
        for (int j = tid; dx != 0 && j < V; j += blockDim.x) {
            dx[j] = fill;
        }
        return;
    }

    max_buf[tid] = recur_softmax_partial_max(x, V, tid, blockDim.x);
    __syncthreads();
    block_max(max_buf);
    float top = max_buf[0];
    float shifted_target = x[target] - top;

    sum_buf[tid] = recur_softmax_partial_sum(x, V, top, tid, blockDim.x);
    __syncthreads();
    block_sum(sum_buf);
    float sum = sum_buf[0];

    if (tid == 0) {
        losses[r] = recur_xent_loss(sum, shifted_target);
    }
    for (int j = tid; dx != 0 && j < V; j += blockDim.x) {
        dx[j] = recur_xent_grad(x[j], top, sum, scale, j == target);
    }
}

// ---- dropout and element-wise helpers ----

// The first counter is offset, or offset_dev[0] when offset_dev is not NULL. A captured CUDA graph passes
// offset_dev, whose value the host replaces before each replay, because a graph's launch arguments are fixed.
extern "C" __global__ void dropout(float *x, float *mask, int n, float p, unsigned long long seed,
                                   unsigned long long offset, const unsigned long long *offset_dev) {
    long long i = thread_index();
    unsigned long long first = offset_dev != 0 ? offset_dev[0] : offset;
    if (i < n) {
        recur_dropout_element((int)i, x, mask, p, seed, first);
    }
}

extern "C" __global__ void fill(float *x, int n, float v) {
    long long i = thread_index();
    if (i < n) {
        recur_fill_element((int)i, x, v);
    }
}

extern "C" __global__ void axpy(float alpha, const float *x, float *y, int n) {
    long long i = thread_index();
    if (i < n) {
        recur_axpy_element((int)i, alpha, x, y);
    }
}

extern "C" __global__ void mul(float *dst, const float *x, int n) {
    long long i = thread_index();
    if (i < n) {
        recur_mul_element((int)i, dst, x);
    }
}

extern "C" __global__ void scale(float *x, int n, float s) {
    long long i = thread_index();
    if (i < n) {
        recur_scale_element((int)i, x, s);
    }
}

// ---- gradient norm and clipping: sum_squares_partial, then sum_squares_final, then clip_scale ----

// Writes into partials[blockIdx.x] the float64 sum of x[i]² over the indices of a grid-stride loop. Launch
// it with a fixed grid of RECUR_NORM_PARTIALS blocks of RECUR_REDUCE_THREADS threads, whatever n is, so the
// order of the additions, and so the norm, depends only on n.
extern "C" __global__ void sum_squares_partial(const float *x, int n, double *partials) {
    __shared__ double buf[RECUR_REDUCE_THREADS];
    long long stride = (long long)gridDim.x * blockDim.x;
    buf[threadIdx.x] = recur_sum_squares_strided(x, n, thread_index(), stride);
    __syncthreads();
    block_sum(buf);
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = buf[0];
    }
}

// Adds the P partial sums in a fixed order and writes norm[0] = sqrt(Σ). Launch it as one block.
extern "C" __global__ void sum_squares_final(const double *partials, int P, float *norm) {
    __shared__ double buf[RECUR_REDUCE_THREADS];
    buf[threadIdx.x] = recur_sum_strided(partials, P, threadIdx.x, blockDim.x);
    __syncthreads();
    block_sum(buf);
    if (threadIdx.x == 0) {
        norm[0] = recur_norm_from_sum_squares(buf[0]);
    }
}

// Scales g by recur_clip_factor(norm[0], max_norm). It reads the norm from device memory, so the host need not
// download it between the norm and the clipping. When the factor is 1, the threads return without writing.
extern "C" __global__ void clip_scale(float *g, int n, const float *norm, float max_norm) {
    long long i = thread_index();
    float factor = recur_clip_factor(norm[0], max_norm);
    if (i < n && factor != 1.0f) {
        recur_scale_element((int)i, g, factor);
    }
}

// Writes guard[0] = norm[0] when every x[i] is finite, else NaN. Launch it as one block of at most
// RECUR_REDUCE_THREADS threads. x holds a step's losses, so the optimizer kernels that read guard skip the
// update after a non-finite loss or gradient.
extern "C" __global__ void finite_guard(const float *norm, const float *x, int n, float *guard) {
    int finite = __syncthreads_and(recur_all_finite_strided(x, n, threadIdx.x, blockDim.x));
    if (threadIdx.x == 0) {
        guard[0] = recur_guard_value(norm[0], finite);
    }
}

// ---- optimizers ----
//
// Each update is skipped unless recur_update_allowed(guard): guard is NULL or guard[0] is finite.

// The bias corrections are the arguments, or bias_corrections[0] and [1] when that is not NULL, which a
// captured CUDA graph passes because its launch arguments are fixed.
extern "C" __global__ void adam_step(float *p, const float *g, float *m, float *v, int n, float lr, float beta1,
                                     float beta2, float eps, float bias_correction1, float bias_correction2,
                                     const float *bias_corrections, const float *guard) {
    long long i = thread_index();
    if (i < n && recur_update_allowed(guard)) {
        if (bias_corrections != 0) {
            bias_correction1 = bias_corrections[0];
            bias_correction2 = bias_corrections[1];
        }
        recur_adam_element((int)i, p, g, m, v, lr, beta1, beta2, eps, bias_correction1, bias_correction2);
    }
}

extern "C" __global__ void sgd_step(float *p, const float *g, float *buf, int n, float lr, float momentum,
                                    const float *guard) {
    long long i = thread_index();
    if (i < n && recur_update_allowed(guard)) {
        recur_sgd_element((int)i, p, g, buf, lr, momentum);
    }
}

extern "C" __global__ void rmsprop_step(float *p, const float *g, float *sq, int n, float lr, float alpha,
                                        float eps, const float *guard) {
    long long i = thread_index();
    if (i < n && recur_update_allowed(guard)) {
        recur_rmsprop_element((int)i, p, g, sq, lr, alpha, eps);
    }
}
