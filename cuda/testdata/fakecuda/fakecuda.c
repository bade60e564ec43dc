// fakecuda.c: a test double for libcuda.so.1 and libcublas.so that runs every kernel and GEMM
// on the CPU. It exists only so that engine/enginetest can test recur's cgo binding, C wrappers
// and CUDA backend end to end on a machine without a GPU. It is never a runtime fallback: recur
// loads it only when a test puts it first on LD_LIBRARY_PATH and names it in RECUR_CUBLAS.
//
// Build: gcc -std=c99 -Wall -shared -fPIC -I kernels -o libcuda.so.1 fakecuda.c -lm -lpthread,
// then link libcublas.so to libcuda.so.1, because one library exports both APIs.
//
// Device memory is host memory. Work queued on a stream does not run at once. It waits in a
// queue until a call forces it: stream or event synchronization, a synchronous copy, a copy to
// pageable host memory, a free or a module unload. So a host read without synchronization, or a
// pinned buffer overwritten before its queued copy ran, shows up as wrong data. Kernels call the
// per-thread functions of kernels/recur_math.cuh. GEMM inputs are rounded to the mantissa of
// TF32 or BF16 when the compute type requests it.
//
// Misuse that the real driver may not report (a call without the primary context current, a
// device range outside every allocation, a leading dimension too small) prints a line starting
// with "fakecuda: violation:" to stderr, and the Go test fails on that line. A Go program exits
// without running C destructors, so the line is printed at once instead of being counted.
//
// Stream capture records the work queued while it lasts into a graph instead of running it,
// and cuGraphLaunch queues a copy of that work. So a replay runs the captured kernels with
// their captured arguments, and a copy from page-locked memory reads that memory when the
// replay runs, as on a GPU. While a capture lasts, the calls that the driver forbids in
// global capture mode (synchronization, allocation, a copy to or from pageable memory) fail
// with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidate the capture.
//
// NOTE: all streams share one queue in submission order, so a missing cuStreamWaitEvent
// between two streams goes unnoticed, and the work of every stream goes into a capture, not
// only that of the streams that joined it through an event.
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recur_math.cuh"

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

// CUresult values from cuda.h.
#define OK 0                   // CUDA_SUCCESS
#define E_INVALID_VALUE 1      // CUDA_ERROR_INVALID_VALUE
#define E_OOM 2                // CUDA_ERROR_OUT_OF_MEMORY
#define E_NOT_INITIALIZED 3    // CUDA_ERROR_NOT_INITIALIZED
#define E_INVALID_DEVICE 101   // CUDA_ERROR_INVALID_DEVICE
#define E_INVALID_IMAGE 200    // CUDA_ERROR_INVALID_IMAGE
#define E_INVALID_CONTEXT 201  // CUDA_ERROR_INVALID_CONTEXT
#define E_INVALID_HANDLE 400   // CUDA_ERROR_INVALID_HANDLE
#define E_NOT_FOUND 500        // CUDA_ERROR_NOT_FOUND
#define E_NOT_READY 600        // CUDA_ERROR_NOT_READY
#define E_ILLEGAL_STATE 401    // CUDA_ERROR_ILLEGAL_STATE
#define E_CAPTURE_UNSUPPORTED 900 // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
#define E_CAPTURE_INVALIDATED 901 // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED

// cuDeviceGetAttribute's attributes (CUdevice_attribute) that recur reads.
#define ATTR_MULTIPROCESSOR_COUNT 16
#define ATTR_COMPUTE_MAJOR 75
#define ATTR_COMPUTE_MINOR 76

// The first 4 bytes of every CUDA fat binary, little-endian.
#define FATBIN_MAGIC 0xBA55ED50u

// The reported device memory: 141 GiB, as on an H200.
#define DEVICE_MEMORY (141ULL << 30)

// cuBLAS values from cublas_api.h and library_types.h.
#define BLAS_OK 0                  // CUBLAS_STATUS_SUCCESS
#define BLAS_NOT_INITIALIZED 1     // CUBLAS_STATUS_NOT_INITIALIZED
#define BLAS_INVALID_VALUE 7       // CUBLAS_STATUS_INVALID_VALUE
#define BLAS_NOT_SUPPORTED 15      // CUBLAS_STATUS_NOT_SUPPORTED
#define MATH_TF32_TENSOR_OP 3      // CUBLAS_TF32_TENSOR_OP_MATH
#define COMPUTE_32F 68             // CUBLAS_COMPUTE_32F
#define COMPUTE_32F_FAST_16BF 75   // CUBLAS_COMPUTE_32F_FAST_16BF
#define COMPUTE_32F_FAST_TF32 77   // CUBLAS_COMPUTE_32F_FAST_TF32
#define CUDA_R_32F 0               // cudaDataType CUDA_R_32F
#define GEMM_DEFAULT (-1)          // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static int primary_refs;
static char primary_ctx_storage;
#define PRIMARY ((void *)&primary_ctx_storage)
static __thread void *current_ctx;
// Bytes of device memory allocated, and the limit beyond which cuMemAlloc_v2 fails with
// CUDA_ERROR_OUT_OF_MEMORY. FAKECUDA_MEM_LIMIT (bytes) replaces the default of 64 GiB.
static long long total_alloc, alloc_limit = 64LL << 30;

// violation reports misuse on stderr. The Go test fails when it finds this prefix.
static void violation(const char *what) {
	fprintf(stderr, "fakecuda: violation: %s\n", what);
}

static CUresult need_ctx(const char *call) {
	if (!initialized) return E_NOT_INITIALIZED;
	if (current_ctx != PRIMARY || primary_refs <= 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "%s called without the primary context current", call);
		violation(msg);
		return E_INVALID_CONTEXT;
	}
	return OK;
}

// ---- allocations ----

typedef struct alloc {
	char *p;
	size_t n;
	int pinned;
	struct alloc *next;
} alloc;
static alloc *allocs;

static alloc *find_alloc(const void *p, size_t n) {
	for (alloc *a = allocs; a; a = a->next) {
		if ((const char *)p >= a->p && (const char *)p + n <= a->p + a->n) return a;
	}
	return NULL;
}

static int range_ok(const void *p, size_t n, int pinned) {
	alloc *a = find_alloc(p, n);
	return a != NULL && a->pinned == pinned;
}

// ---- the queue of stream work ----

enum { OP_COPY, OP_MEMSET, OP_KERNEL, OP_GEMM, OP_EVENT };

typedef struct op {
	int kind;
	// OP_COPY
	void *dst;
	const void *src;
	size_t bytes;
	void *staged; // a copy of pageable source memory, freed after the copy runs
	// OP_MEMSET
	unsigned value;
	size_t count;
	// OP_KERNEL
	int kernel;
	unsigned grid, block;
	unsigned char params[16][8];
	// OP_GEMM
	int transa, transb, m, n, k, lda, ldb, ldc, compute;
	float alpha, beta;
	const float *a, *b;
	float *c;
	// OP_EVENT
	int *done;
	struct op *next;
} op;
static op *qhead, *qtail;
static long long queued_total;

// The capture in progress: the stream that began it, or NULL, and the work recorded so far.
static void *capture_stream;
static op *chead, *ctail;
static int capture_invalid; // a forbidden call invalidated the capture

static void enqueue(op *o) {
	o->next = NULL;
	if (capture_stream) {
		if (ctail) ctail->next = o; else chead = o;
		ctail = o;
		return;
	}
	if (qtail) qtail->next = o; else qhead = o;
	qtail = o;
	queued_total++;
}

// capture_forbids fails call when a capture is in progress, as the driver does in global
// capture mode, and invalidates the capture. The caller holds mu.
static CUresult capture_forbids(const char *call) {
	(void)call;
	if (!capture_stream) return OK;
	capture_invalid = 1;
	return E_CAPTURE_UNSUPPORTED;
}

static CUresult capture_forbids_locked(const char *call) {
	pthread_mutex_lock(&mu);
	CUresult r = capture_forbids(call);
	pthread_mutex_unlock(&mu);
	return r;
}

static void run_kernel(op *o);
static void run_gemm(op *o);

static void run_one(void) {
	op *o = qhead;
	qhead = o->next;
	if (!qhead) qtail = NULL;
	switch (o->kind) {
	case OP_COPY:
		memcpy(o->dst, o->src, o->bytes);
		free(o->staged);
		break;
	case OP_MEMSET:
		for (size_t i = 0; i < o->count; i++) ((unsigned *)o->dst)[i] = o->value;
		break;
	case OP_KERNEL: run_kernel(o); break;
	case OP_GEMM: run_gemm(o); break;
	case OP_EVENT: *o->done = 1; break;
	}
	free(o);
}

static void flush(void) {
	while (qhead) run_one();
}

// queued_refers returns whether a queued copy reads or writes [p, p+n).
static int queued_refers(const char *p, size_t n) {
	for (op *o = qhead; o; o = o->next) {
		if (o->kind == OP_COPY) {
			if ((const char *)o->src < p + n && p < (const char *)o->src + o->bytes) return 1;
			if ((char *)o->dst < p + n && p < (char *)o->dst + o->bytes) return 1;
		}
	}
	return 0;
}

// ---- driver API ----

CUresult cuInit(unsigned flags) {
	(void)flags;
	initialized = 1;
	if (getenv("FAKECUDA_MEM_LIMIT")) alloc_limit = atoll(getenv("FAKECUDA_MEM_LIMIT"));
	return OK;
}
CUresult cuDriverGetVersion(int *v) {
	*v = 12040; // CUDA 12.4
	return OK;
}
CUresult cuDeviceGetCount(int *n) { if (!initialized) return E_NOT_INITIALIZED; *n = 1; return OK; }
CUresult cuDeviceGet(int *dev, int ordinal) {
	if (!initialized) return E_NOT_INITIALIZED;
	if (ordinal != 0) return E_INVALID_DEVICE;
	*dev = 0;
	return OK;
}
CUresult cuDeviceGetName(char *name, int len, int dev) {
	(void)dev;
	snprintf(name, len, "Fake H200");
	return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int dev) {
	(void)dev;
	switch (attr) {
	case ATTR_MULTIPROCESSOR_COUNT: *v = 132; return OK;
	case ATTR_COMPUTE_MAJOR: *v = 9; return OK;
	case ATTR_COMPUTE_MINOR: *v = 0; return OK;
	}
	return E_INVALID_VALUE;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, int dev) {
	(void)dev;
	*bytes = DEVICE_MEMORY;
	return OK;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) {
	(void)dev;
	pthread_mutex_lock(&mu);
	primary_refs++;
	pthread_mutex_unlock(&mu);
	*ctx = PRIMARY;
	return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(int dev) {
	(void)dev;
	pthread_mutex_lock(&mu);
	if (primary_refs <= 0) {
		violation("primary context released more often than retained");
		pthread_mutex_unlock(&mu);
		return E_INVALID_CONTEXT;
	}
	if (--primary_refs == 0) flush();
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuCtxSetCurrent(void *ctx) {
	if (!initialized) return E_NOT_INITIALIZED;
	current_ctx = ctx;
	return OK;
}
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) {
	CUresult r = need_ctx("cuMemGetInfo_v2");
	if (r) return r;
	*t = DEVICE_MEMORY;
	*f = *t - total_alloc;
	return OK;
}

static CUresult do_alloc(void **p, size_t n, int pinned) {
	if (n == 0) return E_INVALID_VALUE;
	pthread_mutex_lock(&mu);
	if (!pinned && total_alloc + (long long)n > alloc_limit) {
		pthread_mutex_unlock(&mu);
		return E_OOM;
	}
	// cuMemAlloc returns memory aligned to at least 256 bytes.
	size_t rounded = (n + 255) / 256 * 256;
	char *mem = aligned_alloc(256, rounded);
	alloc *a = malloc(sizeof *a);
	if (mem == NULL || a == NULL) {
		free(mem);
		free(a);
		pthread_mutex_unlock(&mu);
		return E_OOM;
	}
	// A fill pattern, so that a read of memory that nothing wrote shows up as wrong data.
	memset(mem, 0xA5, rounded);
	a->p = mem;
	a->n = n;
	a->pinned = pinned;
	a->next = allocs;
	allocs = a;
	if (!pinned) total_alloc += n;
	pthread_mutex_unlock(&mu);
	*p = mem;
	return OK;
}

static CUresult do_free(void *p, int pinned) {
	pthread_mutex_lock(&mu);
	for (alloc **pp = &allocs; *pp; pp = &(*pp)->next) {
		alloc *a = *pp;
		if (a->p == p && a->pinned == pinned) {
			if (pinned && queued_refers(a->p, a->n)) {
				violation("cuMemFreeHost of a buffer that a queued copy still reads");
			}
			flush();
			*pp = a->next;
			if (!pinned) total_alloc -= a->n;
			free(a->p);
			free(a);
			pthread_mutex_unlock(&mu);
			return OK;
		}
	}
	pthread_mutex_unlock(&mu);
	violation("free of an address that was not allocated");
	return E_INVALID_VALUE;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	CUresult r = need_ctx("cuMemAlloc_v2");
	if (r || (r = capture_forbids_locked("cuMemAlloc_v2"))) return r;
	void *mem;
	if ((r = do_alloc(&mem, n, 0))) return r;
	*p = (CUdeviceptr)(uintptr_t)mem;
	return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
	CUresult r = need_ctx("cuMemFree_v2");
	if (r || (r = capture_forbids_locked("cuMemFree_v2"))) return r;
	return do_free((void *)(uintptr_t)p, 0);
}
CUresult cuMemAllocHost_v2(void **p, size_t n) {
	CUresult r = need_ctx("cuMemAllocHost_v2");
	if (r || (r = capture_forbids_locked("cuMemAllocHost_v2"))) return r;
	return do_alloc(p, n, 1);
}
CUresult cuMemFreeHost(void *p) {
	CUresult r = need_ctx("cuMemFreeHost");
	if (r || (r = capture_forbids_locked("cuMemFreeHost"))) return r;
	return do_free(p, 1);
}

static CUresult check_dev(const char *call, CUdeviceptr p, size_t n) {
	if (!range_ok((void *)(uintptr_t)p, n, 0)) {
		char msg[160];
		snprintf(msg, sizeof msg, "%s: device range %#llx+%zu is outside every allocation", call,
			p, n);
		violation(msg);
		return E_INVALID_VALUE;
	}
	return OK;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
	CUresult r = need_ctx("cuMemcpyHtoD_v2");
	if (r || (r = check_dev("cuMemcpyHtoD_v2", dst, n))) return r;
	if ((r = capture_forbids_locked("cuMemcpyHtoD_v2"))) return r;
	pthread_mutex_lock(&mu);
	flush();
	memcpy((void *)(uintptr_t)dst, src, n);
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
	CUresult r = need_ctx("cuMemcpyDtoH_v2");
	if (r || (r = check_dev("cuMemcpyDtoH_v2", src, n))) return r;
	if ((r = capture_forbids_locked("cuMemcpyDtoH_v2"))) return r;
	pthread_mutex_lock(&mu);
	flush();
	memcpy(dst, (void *)(uintptr_t)src, n);
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *stream) {
	(void)stream;
	CUresult r = need_ctx("cuMemcpyHtoDAsync_v2");
	if (r || (r = check_dev("cuMemcpyHtoDAsync_v2", dst, n))) return r;
	pthread_mutex_lock(&mu);
	if (!range_ok(src, n, 1) && (r = capture_forbids("cuMemcpyHtoDAsync_v2"))) {
		pthread_mutex_unlock(&mu);
		return r;
	}
	op *o = calloc(1, sizeof *o);
	o->kind = OP_COPY;
	o->dst = (void *)(uintptr_t)dst;
	o->bytes = n;
	if (range_ok(src, n, 1)) {
		o->src = src; // pinned memory is read when the copy runs
	} else {
		// The driver stages pageable memory before the call returns.
		o->staged = malloc(n);
		memcpy(o->staged, src, n);
		o->src = o->staged;
	}
	enqueue(o);
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *stream) {
	(void)stream;
	CUresult r = need_ctx("cuMemcpyDtoHAsync_v2");
	if (r || (r = check_dev("cuMemcpyDtoHAsync_v2", src, n))) return r;
	pthread_mutex_lock(&mu);
	if (!range_ok(dst, n, 1) && (r = capture_forbids("cuMemcpyDtoHAsync_v2"))) {
		pthread_mutex_unlock(&mu);
		return r;
	}
	op *o = calloc(1, sizeof *o);
	o->kind = OP_COPY;
	o->dst = dst;
	o->src = (void *)(uintptr_t)src;
	o->bytes = n;
	enqueue(o);
	// To pageable memory, the driver returns only when the copy is done. A pinned destination
	// is written later, when something forces the queue.
	if (!range_ok(dst, n, 1)) flush();
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void *stream) {
	(void)stream;
	CUresult r = need_ctx("cuMemcpyDtoDAsync_v2");
	if (r || (r = check_dev("cuMemcpyDtoDAsync dst", dst, n)) ||
		(r = check_dev("cuMemcpyDtoDAsync src", src, n)))
		return r;
	if (dst < src + n && src < dst + n) violation("cuMemcpyDtoDAsync with overlapping ranges");
	pthread_mutex_lock(&mu);
	op *o = calloc(1, sizeof *o);
	o->kind = OP_COPY;
	o->dst = (void *)(uintptr_t)dst;
	o->src = (void *)(uintptr_t)src;
	o->bytes = n;
	enqueue(o);
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, void *stream) {
	(void)stream;
	CUresult r = need_ctx("cuMemsetD32Async");
	if (r || (r = check_dev("cuMemsetD32Async", dst, 4 * count))) return r;
	if (dst % 4) {
		violation("cuMemsetD32Async at an address not aligned to 4 bytes");
		return E_INVALID_VALUE;
	}
	pthread_mutex_lock(&mu);
	op *o = calloc(1, sizeof *o);
	o->kind = OP_MEMSET;
	o->dst = (void *)(uintptr_t)dst;
	o->value = value;
	o->count = count;
	enqueue(o);
	pthread_mutex_unlock(&mu);
	return OK;
}

// ---- modules and kernels ----

static const struct {
	const char *name;
	const char *sig; // one letter per parameter: p pointer, i int, f float, u unsigned long long
} kernels[] = {
	{"lstm_gates_forward", "ppppii"},
	{"lstm_gates_backward", "pppppppii"},
	{"gru_gates_forward", "pppppii"},
	{"gru_gates_backward", "ppppppppii"},
	{"rnn_forward", "ppi"},
	{"rnn_backward", "ppppi"},
	{"add_bias", "ppii"},
	{"sum_rows", "ppii"},
	{"embedding_forward", "pppii"},
	{"embedding_backward", "pppii"},
	{"softmax_xent", "ppppiif"},
	{"dropout", "ppifuup"},
	{"fill", "pif"},
	{"axpy", "fppi"},
	{"mul", "ppi"},
	{"scale", "pif"},
	{"sum_squares_partial", "pip"},
	{"sum_squares_final", "pip"},
	{"clip_scale", "pipf"},
	{"finite_guard", "ppip"},
	{"adam_step", "ppppiffffffpp"},
	{"sgd_step", "pppiffp"},
	{"rmsprop_step", "pppifffp"},
};
#define NKERNELS (int)(sizeof kernels / sizeof kernels[0])
static int function_ids[NKERNELS];
static char module_storage;
static int modules_loaded;

CUresult cuModuleLoadData(void **module, const void *image) {
	CUresult r = need_ctx("cuModuleLoadData");
	if (r) return r;
	unsigned magic;
	memcpy(&magic, image, sizeof magic);
	if (magic != FATBIN_MAGIC) return E_INVALID_IMAGE;
	modules_loaded++;
	*module = &module_storage;
	return OK;
}
CUresult cuModuleUnload(void *module) {
	CUresult r = need_ctx("cuModuleUnload");
	if (r) return r;
	if (module != &module_storage || modules_loaded <= 0) return E_INVALID_HANDLE;
	modules_loaded--;
	pthread_mutex_lock(&mu);
	flush();
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuModuleGetFunction(void **fn, void *module, const char *name) {
	CUresult r = need_ctx("cuModuleGetFunction");
	if (r) return r;
	if (module != &module_storage) return E_INVALID_HANDLE;
	for (int i = 0; i < NKERNELS; i++) {
		if (strcmp(kernels[i].name, name) == 0) {
			*fn = &function_ids[i];
			return OK;
		}
	}
	return E_NOT_FOUND;
}

// Readers of a queued launch's parameter i, by type.
#define P(i) (*(void **)o->params[i])
#define I(i) (*(int *)o->params[i])
#define F(i) (*(float *)o->params[i])
#define U(i) (*(unsigned long long *)o->params[i])

// The shared-memory reduction trees of recur_kernels.cu's block_sum and block_max, which
// combine the partial results in the same order as the GPU does.
static void tree_max(float *buf, int threads) {
	for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1)
		for (int t = 0; t < s && t + s < threads; t++) buf[t] = fmaxf(buf[t], buf[t + s]);
}
static void tree_sum_f(float *buf, int threads) {
	for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1)
		for (int t = 0; t < s && t + s < threads; t++) buf[t] += buf[t + s];
}
static void tree_sum_d(double *buf, int threads) {
	for (int s = RECUR_REDUCE_THREADS / 2; s > 0; s >>= 1)
		for (int t = 0; t < s && t + s < threads; t++) buf[t] += buf[t + s];
}

static void run_kernel(op *o) {
	long long total = (long long)o->grid * o->block;
	const char *name = kernels[o->kernel].name;
	if (!strcmp(name, "lstm_gates_forward")) {
		for (long long u = 0; u < total; u++)
			if (u < (long long)I(4) * I(5))
				recur_lstm_gates_forward_unit((int)u, P(0), P(1), P(2), P(3), I(5));
	} else if (!strcmp(name, "lstm_gates_backward")) {
		for (long long u = 0; u < total; u++)
			if (u < (long long)I(7) * I(8))
				recur_lstm_gates_backward_unit((int)u, P(0), P(1), P(2), P(3), P(4), P(5),
					P(6), I(8));
	} else if (!strcmp(name, "gru_gates_forward")) {
		for (long long u = 0; u < total; u++)
			if (u < (long long)I(5) * I(6))
				recur_gru_gates_forward_unit((int)u, P(0), P(1), P(2), P(3), P(4), I(6));
	} else if (!strcmp(name, "gru_gates_backward")) {
		for (long long u = 0; u < total; u++)
			if (u < (long long)I(8) * I(9))
				recur_gru_gates_backward_unit((int)u, P(0), P(1), P(2), P(3), P(4), P(5),
					P(6), P(7), I(9));
	} else if (!strcmp(name, "rnn_forward")) {
		for (long long i = 0; i < total && i < I(2); i++) recur_rnn_forward_element((int)i, P(0), P(1));
	} else if (!strcmp(name, "rnn_backward")) {
		for (long long i = 0; i < total && i < I(4); i++)
			recur_rnn_backward_element((int)i, P(0), P(1), P(2), P(3));
	} else if (!strcmp(name, "add_bias")) {
		for (long long e = 0; e < total && e < (long long)I(2) * I(3); e++)
			recur_add_bias_element((int)e, P(0), P(1), I(3));
	} else if (!strcmp(name, "sum_rows")) {
		for (long long j = 0; j < total && j < I(3); j++)
			recur_sum_rows_column((int)j, P(0), P(1), I(2), I(3));
	} else if (!strcmp(name, "embedding_forward")) {
		for (long long e = 0; e < total && e < (long long)I(3) * I(4); e++)
			recur_embedding_forward_element((int)e, P(0), P(1), P(2), I(4));
	} else if (!strcmp(name, "embedding_backward")) {
		for (long long j = 0; j < total && j < I(4); j++)
			recur_embedding_backward_column((int)j, P(0), P(1), P(2), I(3), I(4));
	} else if (!strcmp(name, "softmax_xent")) {
		const float *logits = P(0);
		const int *targets = P(1);
		float *losses = P(2), *dlogits = P(3);
		int rows = I(4), V = I(5), threads = (int)o->block;
		float scale = F(6);
		float max_buf[RECUR_REDUCE_THREADS], sum_buf[RECUR_REDUCE_THREADS];
		for (unsigned r = 0; r < o->grid && (int)r < rows; r++) {
			const float *x = logits + (size_t)r * V;
			float *dx = dlogits ? dlogits + (size_t)r * V : NULL;
			int target = targets[r];
			if (!recur_xent_target_is_class(target, V)) {
				float fill = recur_xent_fill_value(target);
				losses[r] = fill;
				for (int j = 0; dx && j < V; j++) dx[j] = fill;
				continue;
			}
			for (int t = 0; t < threads; t++) max_buf[t] = recur_softmax_partial_max(x, V, t, threads);
			tree_max(max_buf, threads);
			float top = max_buf[0];
			float shifted_target = x[target] - top;
			for (int t = 0; t < threads; t++)
				sum_buf[t] = recur_softmax_partial_sum(x, V, top, t, threads);
			tree_sum_f(sum_buf, threads);
			float sum = sum_buf[0];
			losses[r] = recur_xent_loss(sum, shifted_target);
			for (int j = 0; dx && j < V; j++)
				dx[j] = recur_xent_grad(x[j], top, sum, scale, j == target);
		}
	} else if (!strcmp(name, "dropout")) {
		unsigned long long first = P(6) ? *(const unsigned long long *)P(6) : U(5);
		for (long long i = 0; i < total && i < I(2); i++)
			recur_dropout_element((int)i, P(0), P(1), F(3), U(4), first);
	} else if (!strcmp(name, "fill")) {
		for (long long i = 0; i < total && i < I(1); i++) recur_fill_element((int)i, P(0), F(2));
	} else if (!strcmp(name, "axpy")) {
		for (long long i = 0; i < total && i < I(3); i++) recur_axpy_element((int)i, F(0), P(1), P(2));
	} else if (!strcmp(name, "mul")) {
		for (long long i = 0; i < total && i < I(2); i++) recur_mul_element((int)i, P(0), P(1));
	} else if (!strcmp(name, "scale")) {
		for (long long i = 0; i < total && i < I(1); i++) recur_scale_element((int)i, P(0), F(2));
	} else if (!strcmp(name, "sum_squares_partial")) {
		double buf[RECUR_REDUCE_THREADS];
		int threads = (int)o->block;
		for (unsigned b = 0; b < o->grid; b++) {
			for (int t = 0; t < threads; t++)
				buf[t] = recur_sum_squares_strided(P(0), I(1), (long long)b * threads + t, total);
			tree_sum_d(buf, threads);
			((double *)P(2))[b] = buf[0];
		}
	} else if (!strcmp(name, "sum_squares_final")) {
		double buf[RECUR_REDUCE_THREADS];
		int threads = (int)o->block;
		for (int t = 0; t < threads; t++) buf[t] = recur_sum_strided(P(0), I(1), t, threads);
		tree_sum_d(buf, threads);
		((float *)P(2))[0] = recur_norm_from_sum_squares(buf[0]);
	} else if (!strcmp(name, "clip_scale")) {
		float factor = recur_clip_factor(((const float *)P(2))[0], F(3));
		for (long long i = 0; i < total && i < I(1); i++)
			if (factor != 1.0f) recur_scale_element((int)i, P(0), factor);
	} else if (!strcmp(name, "finite_guard")) {
		int finite = 1, threads = (int)o->block;
		for (int t = 0; t < threads; t++)
			finite = finite && recur_all_finite_strided(P(1), I(2), t, threads);
		((float *)P(3))[0] = recur_guard_value(((const float *)P(0))[0], finite);
	} else if (!strcmp(name, "adam_step")) {
		float bc1 = F(9), bc2 = F(10);
		if (P(11)) {
			bc1 = ((const float *)P(11))[0];
			bc2 = ((const float *)P(11))[1];
		}
		for (long long i = 0; i < total && i < I(4) && recur_update_allowed(P(12)); i++)
			recur_adam_element((int)i, P(0), P(1), P(2), P(3), F(5), F(6), F(7), F(8), bc1, bc2);
	} else if (!strcmp(name, "sgd_step")) {
		for (long long i = 0; i < total && i < I(3) && recur_update_allowed(P(6)); i++)
			recur_sgd_element((int)i, P(0), P(1), P(2), F(4), F(5));
	} else if (!strcmp(name, "rmsprop_step")) {
		for (long long i = 0; i < total && i < I(3) && recur_update_allowed(P(7)); i++)
			recur_rmsprop_element((int)i, P(0), P(1), P(2), F(4), F(5), F(6));
	}
}

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
	unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
	(void)stream;
	CUresult r = need_ctx("cuLaunchKernel");
	if (r) return r;
	int k = (int)((int *)fn - function_ids);
	if (k < 0 || k >= NKERNELS) return E_INVALID_HANDLE;
	if (gx == 0 || gy != 1 || gz != 1 || by != 1 || bz != 1 || bx == 0 || bx > 1024 ||
		gx > 0x7fffffffu || shared != 0 || extra != NULL || params == NULL)
		return E_INVALID_VALUE;
	const char *sig = kernels[k].sig;
	if (strlen(sig) > 16) return E_INVALID_VALUE;
	if ((!strncmp(kernels[k].name, "softmax", 7) || !strncmp(kernels[k].name, "sum_squares", 11)) &&
		bx > RECUR_REDUCE_THREADS) {
		violation("reduction kernel launched with more threads than its shared memory holds");
		return E_INVALID_VALUE;
	}
	pthread_mutex_lock(&mu);
	op *o = calloc(1, sizeof *o);
	o->kind = OP_KERNEL;
	o->kernel = k;
	o->grid = gx;
	o->block = bx;
	for (int i = 0; sig[i]; i++) {
		size_t size = (sig[i] == 'p' || sig[i] == 'u') ? 8 : 4;
		memcpy(o->params[i], params[i], size); // the driver copies parameter values at launch
	}
	enqueue(o);
	pthread_mutex_unlock(&mu);
	return OK;
}

// ---- streams and events ----

static char stream_storage[64];
static int stream_used[64];
CUresult cuStreamCreate(void **s, unsigned flags) {
	CUresult r = need_ctx("cuStreamCreate");
	if (r) return r;
	if (flags > 1) return E_INVALID_VALUE;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < 64; i++) {
		if (!stream_used[i]) {
			stream_used[i] = 1;
			*s = &stream_storage[i];
			pthread_mutex_unlock(&mu);
			return OK;
		}
	}
	pthread_mutex_unlock(&mu);
	return E_OOM;
}
static int stream_valid(void *s) {
	char *c = s;
	return c >= stream_storage && c < stream_storage + 64 && stream_used[c - stream_storage];
}
CUresult cuStreamSynchronize(void *s) {
	CUresult r = need_ctx("cuStreamSynchronize");
	if (r) return r;
	if (s && !stream_valid(s)) return E_INVALID_HANDLE;
	pthread_mutex_lock(&mu);
	if ((r = capture_forbids("cuStreamSynchronize"))) {
		pthread_mutex_unlock(&mu);
		return r;
	}
	flush();
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuStreamDestroy_v2(void *s) {
	CUresult r = need_ctx("cuStreamDestroy_v2");
	if (r) return r;
	if (!stream_valid(s)) return E_INVALID_HANDLE;
	pthread_mutex_lock(&mu);
	stream_used[(char *)s - stream_storage] = 0;
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuStreamWaitEvent(void *s, void *e, unsigned flags) {
	(void)s; (void)e; (void)flags;
	return need_ctx("cuStreamWaitEvent");
}

typedef struct { int done; int recorded; } event;
CUresult cuEventCreate(void **e, unsigned flags) {
	CUresult r = need_ctx("cuEventCreate");
	if (r) return r;
	(void)flags;
	event *ev = calloc(1, sizeof *ev);
	ev->done = 1;
	*e = ev;
	return OK;
}
CUresult cuEventRecord(void *e, void *s) {
	(void)s;
	CUresult r = need_ctx("cuEventRecord");
	if (r) return r;
	event *ev = e;
	pthread_mutex_lock(&mu);
	if (capture_stream) {
		// Inside a capture, a record only orders the captured work, which the one queue of
		// this fake orders anyway.
		pthread_mutex_unlock(&mu);
		return OK;
	}
	ev->done = 0;
	ev->recorded = 1;
	op *o = calloc(1, sizeof *o);
	o->kind = OP_EVENT;
	o->done = &ev->done;
	enqueue(o);
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuEventQuery(void *e) {
	CUresult r = need_ctx("cuEventQuery");
	if (r) return r;
	return ((event *)e)->done ? OK : E_NOT_READY;
}
CUresult cuEventSynchronize(void *e) {
	CUresult r = need_ctx("cuEventSynchronize");
	if (r) return r;
	event *ev = e;
	pthread_mutex_lock(&mu);
	if ((r = capture_forbids("cuEventSynchronize"))) {
		pthread_mutex_unlock(&mu);
		return r;
	}
	// Runs the queue up to and including the event's marker.
	while (!ev->done && qhead) run_one();
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { (void)a; (void)b; *ms = 0; return OK; }
CUresult cuEventDestroy_v2(void *e) {
	CUresult r = need_ctx("cuEventDestroy_v2");
	if (r) return r;
	pthread_mutex_lock(&mu);
	for (op *o = qhead; o; o = o->next) {
		if (o->kind == OP_EVENT && o->done == &((event *)e)->done) {
			violation("cuEventDestroy of an event still queued");
			// The marker now writes to a leaked int instead of the freed event.
			o->done = malloc(sizeof(int));
		}
	}
	pthread_mutex_unlock(&mu);
	free(e);
	return OK;
}

// ---- CUDA graphs ----

// A graph, captured or instantiated, is a list of copies of the ops that the capture recorded.
typedef struct {
	op *ops;
	int n;
} graph;

static void free_ops(op *head) {
	while (head) {
		op *next = head->next;
		free(head);
		head = next;
	}
}

CUresult cuStreamBeginCapture_v2(void *s, int mode) {
	CUresult r = need_ctx("cuStreamBeginCapture_v2");
	if (r) return r;
	if (!stream_valid(s)) return E_INVALID_HANDLE;
	if (mode < 0 || mode > 2) return E_INVALID_VALUE;
	pthread_mutex_lock(&mu);
	if (capture_stream) {
		pthread_mutex_unlock(&mu);
		return E_ILLEGAL_STATE;
	}
	capture_stream = s;
	chead = ctail = NULL;
	capture_invalid = 0;
	pthread_mutex_unlock(&mu);
	return OK;
}

CUresult cuStreamEndCapture(void *s, void **out) {
	CUresult r = need_ctx("cuStreamEndCapture");
	if (r) return r;
	pthread_mutex_lock(&mu);
	if (!capture_stream || s != capture_stream) {
		pthread_mutex_unlock(&mu);
		return E_ILLEGAL_STATE;
	}
	op *head = chead;
	int invalid = capture_invalid;
	capture_stream = NULL;
	chead = ctail = NULL;
	capture_invalid = 0;
	pthread_mutex_unlock(&mu);
	*out = NULL;
	if (invalid) {
		free_ops(head);
		return E_CAPTURE_INVALIDATED;
	}
	graph *g = calloc(1, sizeof *g);
	g->ops = head;
	for (op *o = head; o; o = o->next) g->n++;
	*out = g;
	return OK;
}

CUresult cuGraphInstantiateWithFlags(void **exec, void *g, unsigned long long flags) {
	CUresult r = need_ctx("cuGraphInstantiateWithFlags");
	if (r) return r;
	if (g == NULL || flags != 0) return E_INVALID_VALUE;
	graph *src = g, *dst = calloc(1, sizeof *dst);
	op **tail = &dst->ops;
	for (op *o = src->ops; o; o = o->next) {
		op *c = malloc(sizeof *c);
		*c = *o;
		c->next = NULL;
		*tail = c;
		tail = &c->next;
		dst->n++;
	}
	*exec = dst;
	return OK;
}

CUresult cuGraphLaunch(void *exec, void *s) {
	CUresult r = need_ctx("cuGraphLaunch");
	if (r) return r;
	if (exec == NULL || !stream_valid(s)) return E_INVALID_HANDLE;
	pthread_mutex_lock(&mu);
	if (capture_stream) {
		pthread_mutex_unlock(&mu);
		return E_CAPTURE_UNSUPPORTED;
	}
	for (op *o = ((graph *)exec)->ops; o; o = o->next) {
		op *c = malloc(sizeof *c);
		*c = *o;
		enqueue(c);
	}
	pthread_mutex_unlock(&mu);
	return OK;
}

static CUresult destroy_graph(void *g) {
	if (g == NULL) return E_INVALID_HANDLE;
	pthread_mutex_lock(&mu);
	// The queue holds copies, so a launched graph may be destroyed before it has run.
	free_ops(((graph *)g)->ops);
	free(g);
	pthread_mutex_unlock(&mu);
	return OK;
}

CUresult cuGraphExecDestroy(void *exec) {
	CUresult r = need_ctx("cuGraphExecDestroy");
	return r ? r : destroy_graph(exec);
}

CUresult cuGraphDestroy(void *g) {
	CUresult r = need_ctx("cuGraphDestroy");
	return r ? r : destroy_graph(g);
}

CUresult cuGetErrorName(CUresult code, const char **name) {
	static char buf[64];
	snprintf(buf, sizeof buf, "FAKE_CUDA_ERROR_%d", code);
	*name = buf;
	return OK;
}
CUresult cuGetErrorString(CUresult code, const char **s) {
	(void)code;
	*s = "fake driver";
	return OK;
}

// ---- cuBLAS ----

typedef struct { void *stream; int math; } blas_handle;

int cublasCreate_v2(void **h) {
	if (need_ctx("cublasCreate_v2")) return BLAS_NOT_INITIALIZED;
	*h = calloc(1, sizeof(blas_handle));
	return BLAS_OK;
}
int cublasDestroy_v2(void *h) {
	if (need_ctx("cublasDestroy_v2")) return BLAS_NOT_INITIALIZED;
	free(h);
	return BLAS_OK;
}
int cublasSetStream_v2(void *h, void *s) {
	if (need_ctx("cublasSetStream_v2")) return BLAS_NOT_INITIALIZED;
	((blas_handle *)h)->stream = s;
	return BLAS_OK;
}
int cublasSetAtomicsMode(void *h, int mode) {
	if (need_ctx("cublasSetAtomicsMode")) return BLAS_NOT_INITIALIZED;
	// CUBLAS_ATOMICS_NOT_ALLOWED and CUBLAS_ATOMICS_ALLOWED. The fake never uses atomics.
	if (mode != 0 && mode != 1) return BLAS_INVALID_VALUE;
	return BLAS_OK;
}
int cublasSetMathMode(void *h, int mode) {
	if (need_ctx("cublasSetMathMode")) return BLAS_NOT_INITIALIZED;
	// CUBLAS_DEFAULT_MATH, TENSOR_OP, PEDANTIC, TF32_TENSOR_OP and DISALLOW_REDUCED_PRECISION.
	if (mode != 0 && mode != 1 && mode != 2 && mode != 3 && mode != 16) return BLAS_INVALID_VALUE;
	((blas_handle *)h)->math = mode;
	return BLAS_OK;
}
int cublasGetVersion_v2(void *h, int *v) {
	(void)h;
	*v = 120405; // cuBLAS 12.4.5
	return BLAS_OK;
}
// cublasGetProperty returns MAJOR_VERSION, MINOR_VERSION or PATCH_LEVEL (types 0 to 2).
int cublasGetProperty(int type, int *v) {
	static const int version[3] = {12, 4, 5};
	if (type < 0 || type > 2) return BLAS_INVALID_VALUE;
	*v = version[type];
	return BLAS_OK;
}
const char *cublasGetStatusName(int s) {
	static char buf[64];
	snprintf(buf, sizeof buf, "FAKE_CUBLAS_STATUS_%d", s);
	return buf;
}

// round_mantissa rounds x to `bits` stored fraction bits, to nearest with ties to even. With
// FAKECUDA_TRUNCATE set in the environment it truncates toward zero instead.
static float round_mantissa(float x, int bits) {
	if (bits >= 23 || !isfinite(x)) return x;
	uint32_t u;
	memcpy(&u, &x, 4);
	uint32_t drop = 23 - bits;
	uint32_t half = 1u << (drop - 1);
	uint32_t lsb = (u >> drop) & 1u;
	if (!getenv("FAKECUDA_TRUNCATE")) u += half - 1 + lsb;
	u &= ~((1u << drop) - 1);
	memcpy(&x, &u, 4);
	return x;
}

static void run_gemm(op *o) {
	int bits = 23; // float32
	if (o->compute == COMPUTE_32F_FAST_TF32) bits = 10;
	if (o->compute == COMPUTE_32F_FAST_16BF) bits = 7;
	for (int j = 0; j < o->n; j++) {
		for (int i = 0; i < o->m; i++) {
			float sum = 0;
			for (int l = 0; l < o->k; l++) {
				float a = o->transa ? o->a[l + (size_t)i * o->lda] : o->a[i + (size_t)l * o->lda];
				float b = o->transb ? o->b[j + (size_t)l * o->ldb] : o->b[l + (size_t)j * o->ldb];
				sum = fmaf(round_mantissa(a, bits), round_mantissa(b, bits), sum);
			}
			float *c = &o->c[i + (size_t)j * o->ldc];
			*c = o->beta == 0 ? o->alpha * sum : o->alpha * sum + o->beta * *c;
		}
	}
}

static int queue_gemm(const char *call, void *h, int ta, int tb, int m, int n, int k,
	const float *alpha, const float *a, int lda, const float *b, int ldb, const float *beta,
	float *c, int ldc, int compute) {
	if (need_ctx(call)) return BLAS_NOT_INITIALIZED;
	if (!h) return BLAS_NOT_INITIALIZED;
	if (((blas_handle *)h)->stream == NULL) violation("GEMM on the legacy default stream");
	if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0)
		return BLAS_INVALID_VALUE;
	int rowsA = ta ? k : m, rowsB = tb ? n : k;
	if (lda < (rowsA > 1 ? rowsA : 1) || ldb < (rowsB > 1 ? rowsB : 1) || ldc < (m > 1 ? m : 1)) {
		char msg[160];
		snprintf(msg, sizeof msg, "%s: leading dimension too small (m=%d n=%d k=%d lda=%d ldb=%d "
			"ldc=%d)", call, m, n, k, lda, ldb, ldc);
		violation(msg);
		return BLAS_INVALID_VALUE;
	}
	if ((uintptr_t)a % 4 || (uintptr_t)b % 4 || (uintptr_t)c % 4) return BLAS_INVALID_VALUE;
	size_t colsA = ta ? m : k, colsB = tb ? k : n;
	if (m && n && k) {
		if (!range_ok(a, ((colsA - 1) * lda + rowsA) * 4, 0) ||
			!range_ok(b, ((colsB - 1) * ldb + rowsB) * 4, 0))
			violation("GEMM operand outside device memory");
	}
	if (m && n && !range_ok(c, ((size_t)(n - 1) * ldc + m) * 4, 0))
		violation("GEMM result outside device memory");
	pthread_mutex_lock(&mu);
	op *o = calloc(1, sizeof *o);
	o->kind = OP_GEMM;
	o->transa = ta; o->transb = tb; o->m = m; o->n = n; o->k = k;
	// In CUBLAS_POINTER_MODE_HOST, alpha and beta are read when the call is made.
	o->alpha = *alpha; o->beta = *beta;
	o->a = a; o->b = b; o->c = c; o->lda = lda; o->ldb = ldb; o->ldc = ldc;
	o->compute = compute;
	enqueue(o);
	pthread_mutex_unlock(&mu);
	return BLAS_OK;
}

// sgemm_compute returns the compute type of cublasSgemm under the handle's math mode.
static int sgemm_compute(void *h) {
	if (h && ((blas_handle *)h)->math == MATH_TF32_TENSOR_OP) return COMPUTE_32F_FAST_TF32;
	return COMPUTE_32F;
}

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha,
	const float *a, int lda, const float *b, int ldb, const float *beta, float *c, int ldc) {
	return queue_gemm("cublasSgemm_v2", h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
		sgemm_compute(h));
}
int cublasGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *a,
	int atype, int lda, const void *b, int btype, int ldb, const void *beta, void *c, int ctype,
	int ldc, int compute, int algo) {
	if (atype != CUDA_R_32F || btype != CUDA_R_32F || ctype != CUDA_R_32F) return BLAS_INVALID_VALUE;
	if (compute != COMPUTE_32F && compute != COMPUTE_32F_FAST_16BF && compute != COMPUTE_32F_FAST_TF32)
		return BLAS_NOT_SUPPORTED;
	if (algo != GEMM_DEFAULT) return BLAS_INVALID_VALUE;
	return queue_gemm("cublasGemmEx", h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
		compute);
}
int cublasSgemmStridedBatched(void *h, int ta, int tb, int m, int n, int k, const float *alpha,
	const float *a, int lda, long long sa, const float *b, int ldb, long long sb,
	const float *beta, float *c, int ldc, long long sc, int batch) {
	for (int i = 0; i < batch; i++) {
		int r = queue_gemm("cublasSgemmStridedBatched", h, ta, tb, m, n, k, alpha, a + i * sa,
			lda, b + i * sb, ldb, beta, c + i * sc, ldc, sgemm_compute(h));
		if (r) return r;
	}
	return BLAS_OK;
}
