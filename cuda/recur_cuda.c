//go:build cgo

// recur_cuda.c loads the CUDA driver and cuBLAS with dlopen, resolves the functions that
// recur_cuda.h lists and wraps them, so that each Go call into CUDA is one cgo call.
// dladdr is a GNU extension of glibc's dlfcn.h.
#define _GNU_SOURCE
#include "recur_cuda.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The driver functions that every use needs, as (exported symbol, parameter list). The symbols
// are the ones that cuda.h's macros expand to in CUDA 11 to 13, such as cuMemAlloc_v2.
#define RC_DRIVER_REQUIRED(X)                                                                  \
	X(cuInit, (unsigned int))                                                              \
	X(cuDriverGetVersion, (int *))                                                         \
	X(cuDeviceGet, (CUdevice *, int))                                                      \
	X(cuDeviceGetCount, (int *))                                                           \
	X(cuDeviceGetName, (char *, int, CUdevice))                                            \
	X(cuDeviceGetAttribute, (int *, int, CUdevice))                                        \
	X(cuDeviceTotalMem_v2, (size_t *, CUdevice))                                           \
	X(cuDevicePrimaryCtxRetain, (CUcontext *, CUdevice))                                   \
	X(cuDevicePrimaryCtxRelease_v2, (CUdevice))                                            \
	X(cuCtxSetCurrent, (CUcontext))                                                        \
	X(cuMemGetInfo_v2, (size_t *, size_t *))                                               \
	X(cuMemAlloc_v2, (CUdeviceptr *, size_t))                                              \
	X(cuMemFree_v2, (CUdeviceptr))                                                         \
	X(cuMemAllocHost_v2, (void **, size_t))                                                \
	X(cuMemFreeHost, (void *))                                                             \
	X(cuMemcpyHtoD_v2, (CUdeviceptr, const void *, size_t))                                \
	X(cuMemcpyDtoH_v2, (void *, CUdeviceptr, size_t))                                      \
	X(cuMemcpyHtoDAsync_v2, (CUdeviceptr, const void *, size_t, CUstream))                 \
	X(cuMemcpyDtoHAsync_v2, (void *, CUdeviceptr, size_t, CUstream))                       \
	X(cuMemcpyDtoDAsync_v2, (CUdeviceptr, CUdeviceptr, size_t, CUstream))                  \
	X(cuMemsetD32Async, (CUdeviceptr, unsigned int, size_t, CUstream))                     \
	X(cuModuleLoadData, (CUmodule *, const void *))                                        \
	X(cuModuleUnload, (CUmodule))                                                          \
	X(cuModuleGetFunction, (CUfunction *, CUmodule, const char *))                         \
	X(cuLaunchKernel, (CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, \
		unsigned int, unsigned int, unsigned int, CUstream, void **, void **))         \
	X(cuStreamCreate, (CUstream *, unsigned int))                                          \
	X(cuStreamSynchronize, (CUstream))                                                     \
	X(cuStreamDestroy_v2, (CUstream))                                                      \
	X(cuStreamWaitEvent, (CUstream, CUevent, unsigned int))                                \
	X(cuEventCreate, (CUevent *, unsigned int))                                            \
	X(cuEventRecord, (CUevent, CUstream))                                                  \
	X(cuEventQuery, (CUevent))                                                             \
	X(cuEventSynchronize, (CUevent))                                                       \
	X(cuEventElapsedTime, (float *, CUevent, CUevent))                                     \
	X(cuEventDestroy_v2, (CUevent))                                                        \
	X(cuGetErrorName, (CUresult, const char **))                                           \
	X(cuGetErrorString, (CUresult, const char **))

// The graph functions. cuGraphInstantiateWithFlags keeps one signature from CUDA 11.4 on,
// while the symbol cuGraphInstantiate changed its parameters in CUDA 12. A driver without
// them still runs everything but graphs.
#define RC_DRIVER_GRAPH(X)                                                          \
	X(cuStreamBeginCapture_v2, (CUstream, int))                                 \
	X(cuStreamEndCapture, (CUstream, CUgraph *))                                \
	X(cuGraphInstantiateWithFlags, (CUgraphExec *, CUgraph, unsigned long long)) \
	X(cuGraphLaunch, (CUgraphExec, CUstream))                                   \
	X(cuGraphExecDestroy, (CUgraphExec))                                        \
	X(cuGraphDestroy, (CUgraph))

// cuBLAS's functions. Enumerations are passed as int, which is their size in the C ABI.
#define RC_BLAS_REQUIRED(X)                                                                    \
	X(cublasCreate_v2, (cublasHandle_t *))                                                 \
	X(cublasDestroy_v2, (cublasHandle_t))                                                  \
	X(cublasSetStream_v2, (cublasHandle_t, CUstream))                                      \
	X(cublasSetMathMode, (cublasHandle_t, int))                                            \
	X(cublasSetAtomicsMode, (cublasHandle_t, int))                                         \
	X(cublasGetVersion_v2, (cublasHandle_t, int *))                                        \
	X(cublasGetProperty, (int, int *))                                                     \
	X(cublasSgemm_v2, (cublasHandle_t, int, int, int, int, int, const float *,             \
		const float *, int, const float *, int, const float *, float *, int))          \
	X(cublasGemmEx, (cublasHandle_t, int, int, int, int, int, const void *, const void *,  \
		int, int, const void *, int, int, const void *, void *, int, int, int, int))   \
	X(cublasSgemmStridedBatched, (cublasHandle_t, int, int, int, int, int, const float *,  \
		const float *, int, long long, const float *, int, long long, const float *,   \
		float *, int, long long, int))

#define RC_DRIVER_TYPEDEF(name, params) typedef CUresult(*rc_##name##_fn) params;
#define RC_BLAS_TYPEDEF(name, params) typedef cublasStatus_t(*rc_##name##_fn) params;
#define RC_FIELD(name, params) rc_##name##_fn name;

RC_DRIVER_REQUIRED(RC_DRIVER_TYPEDEF)
RC_DRIVER_GRAPH(RC_DRIVER_TYPEDEF)
RC_BLAS_REQUIRED(RC_BLAS_TYPEDEF)
typedef const char *(*rc_cublasGetStatusName_fn)(cublasStatus_t);

static struct {
	RC_DRIVER_REQUIRED(RC_FIELD)
	RC_DRIVER_GRAPH(RC_FIELD)
	int graphs;
} drv;

static struct {
	RC_BLAS_REQUIRED(RC_FIELD)
	rc_cublasGetStatusName_fn cublasGetStatusName; // cuBLAS 11.4.2 and later
} blas;

// Values of cuBLAS's and CUDA's enumerations that the wrappers pass.
enum {
	RC_CUDA_R_32F = 0,          // cudaDataType CUDA_R_32F
	RC_CUBLAS_GEMM_DEFAULT = -1 // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT
};

// rc_symbol looks name up in lib. cuDevicePrimaryCtxRelease_v2 first appeared in CUDA 11, so
// an older driver's cuDevicePrimaryCtxRelease, with the same parameters, replaces it there.
static void *rc_symbol(void *lib, const char *name) {
	void *sym = dlsym(lib, name);
	if (sym == NULL && strcmp(name, "cuDevicePrimaryCtxRelease_v2") == 0) {
		sym = dlsym(lib, "cuDevicePrimaryCtxRelease");
	}
	return sym;
}

static void *rc_open(const char *path, char *err, int err_len) {
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *msg = dlerror();
		snprintf(err, err_len, "%s", msg != NULL ? msg : "dlopen failed");
	}
	return lib;
}

#define RC_RESOLVE_REQUIRED(name, params)                                          \
	api->name = (rc_##name##_fn)rc_symbol(lib, #name);                         \
	if (api->name == NULL) {                                                   \
		snprintf(err, err_len, "symbol %s not found in %s", #name, path); \
		memset(api, 0, sizeof(*api));                                      \
		dlclose(lib);                                                      \
		return 1;                                                          \
	}

#define RC_RESOLVE_OPTIONAL(name, params)                  \
	api->name = (rc_##name##_fn)rc_symbol(lib, #name); \
	if (api->name == NULL) {                           \
		found = 0;                                 \
	}

int rc_load_driver(const char *path, char *err, int err_len) {
	void *lib = rc_open(path, err, err_len);
	if (lib == NULL) {
		return 1;
	}
	__typeof__(drv) *api = &drv;
	RC_DRIVER_REQUIRED(RC_RESOLVE_REQUIRED)
	int found = 1;
	RC_DRIVER_GRAPH(RC_RESOLVE_OPTIONAL)
	drv.graphs = found;
	return 0;
}

int rc_load_blas(const char *path, char *err, int err_len) {
	void *lib = rc_open(path, err, err_len);
	if (lib == NULL) {
		return 1;
	}
	__typeof__(blas) *api = &blas;
	RC_BLAS_REQUIRED(RC_RESOLVE_REQUIRED)
	blas.cublasGetStatusName = (rc_cublasGetStatusName_fn)dlsym(lib, "cublasGetStatusName");
	return 0;
}

// rc_symbol_file writes the file that contains the loaded function fn, with symbolic links resolved,
// into path. dladdr returns the file name under which the loader opened the library, which is a full
// path when the loader found it through its search path, and realpath resolves links such as
// libcuda.so.1 -> libcuda.so.550.54.15.
static int rc_symbol_file(void *fn, char *path, int len) {
	Dl_info info;
	char resolved[PATH_MAX];
	if (fn == NULL || len <= 0 || dladdr(fn, &info) == 0 || info.dli_fname == NULL) {
		return 0;
	}
	const char *name = info.dli_fname;
	if (realpath(name, resolved) != NULL) {
		name = resolved;
	}
	snprintf(path, len, "%s", name);
	return 1;
}

int rc_driver_file(char *path, int len) { return rc_symbol_file((void *)drv.cuInit, path, len); }

int rc_blas_file(char *path, int len) { return rc_symbol_file((void *)blas.cublasCreate_v2, path, len); }

int rc_graphs_available(void) { return drv.graphs; }

int rc_blas_status_names_available(void) { return blas.cublasGetStatusName != NULL; }

static rc_status rc_result(int code, int is_blas, const char *call) {
	rc_status s;
	s.code = code;
	s.blas = is_blas;
	s.call = code != 0 ? call : NULL;
	return s;
}

static const rc_status rc_ok = {0, 0, NULL};

// RC_DRIVER and RC_BLAS return from the wrapper when a call fails, naming the call.
#define RC_DRIVER(name, args)                                       \
	do {                                                        \
		CUresult rc_code_ = drv.name args;                  \
		if (rc_code_ != 0) return rc_result(rc_code_, 0, #name); \
	} while (0)

#define RC_BLAS(name, args)                                           \
	do {                                                          \
		cublasStatus_t rc_code_ = blas.name args;             \
		if (rc_code_ != 0) return rc_result(rc_code_, 1, #name); \
	} while (0)

// RC_CURRENT makes ctx current on the calling thread. A goroutine can move between threads
// between two cgo calls but not during one, so every wrapper that works in a context starts
// with it.
#define RC_CURRENT(ctx) RC_DRIVER(cuCtxSetCurrent, (ctx))

rc_status rc_init(void) {
	RC_DRIVER(cuInit, (0));
	return rc_ok;
}

rc_status rc_driver_version(int *version) {
	RC_DRIVER(cuDriverGetVersion, (version));
	return rc_ok;
}

rc_status rc_device_count(int *count) {
	RC_DRIVER(cuDeviceGetCount, (count));
	return rc_ok;
}

rc_status rc_device_get(int ordinal, CUdevice *dev) {
	RC_DRIVER(cuDeviceGet, (dev, ordinal));
	return rc_ok;
}

rc_status rc_device_name(CUdevice dev, char *name, int len) {
	RC_DRIVER(cuDeviceGetName, (name, len, dev));
	return rc_ok;
}

rc_status rc_device_attribute(CUdevice dev, int attribute, int *value) {
	RC_DRIVER(cuDeviceGetAttribute, (value, attribute, dev));
	return rc_ok;
}

rc_status rc_device_total_mem(CUdevice dev, size_t *bytes) {
	RC_DRIVER(cuDeviceTotalMem_v2, (bytes, dev));
	return rc_ok;
}

void rc_error_text(int code, const char **name, const char **description) {
	*name = NULL;
	*description = NULL;
	if (drv.cuGetErrorName == NULL || drv.cuGetErrorName(code, name) != 0) {
		*name = NULL;
	}
	if (drv.cuGetErrorString == NULL || drv.cuGetErrorString(code, description) != 0) {
		*description = NULL;
	}
}

rc_status rc_primary_ctx_retain(CUdevice dev, CUcontext *ctx) {
	RC_DRIVER(cuDevicePrimaryCtxRetain, (ctx, dev));
	return rc_ok;
}

rc_status rc_primary_ctx_release(CUdevice dev) {
	RC_DRIVER(cuDevicePrimaryCtxRelease_v2, (dev));
	return rc_ok;
}

rc_status rc_mem_get_info(CUcontext ctx, size_t *free_bytes, size_t *total_bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemGetInfo_v2, (free_bytes, total_bytes));
	return rc_ok;
}

rc_status rc_mem_alloc(CUcontext ctx, CUdeviceptr *ptr, size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemAlloc_v2, (ptr, bytes));
	return rc_ok;
}

rc_status rc_mem_free(CUcontext ctx, CUdeviceptr ptr) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemFree_v2, (ptr));
	return rc_ok;
}

rc_status rc_mem_alloc_host(CUcontext ctx, void **ptr, size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemAllocHost_v2, (ptr, bytes));
	return rc_ok;
}

rc_status rc_mem_free_host(CUcontext ctx, void *ptr) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemFreeHost, (ptr));
	return rc_ok;
}

rc_status rc_memcpy_htod(CUcontext ctx, CUdeviceptr dst, const void *src, size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemcpyHtoD_v2, (dst, src, bytes));
	return rc_ok;
}

rc_status rc_memcpy_dtoh(CUcontext ctx, void *dst, CUdeviceptr src, size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemcpyDtoH_v2, (dst, src, bytes));
	return rc_ok;
}

// rc_upload queues the copy on stream, after the work already queued there, and returns when
// the stream is idle, so src is no longer read.
rc_status rc_upload(CUcontext ctx, CUstream stream, CUdeviceptr dst, const void *src,
		size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemcpyHtoDAsync_v2, (dst, src, bytes, stream));
	RC_DRIVER(cuStreamSynchronize, (stream));
	return rc_ok;
}

// rc_download queues the copy on stream, after the work that writes src, and returns when dst
// contains the data.
rc_status rc_download(CUcontext ctx, CUstream stream, void *dst, CUdeviceptr src, size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemcpyDtoHAsync_v2, (dst, src, bytes, stream));
	RC_DRIVER(cuStreamSynchronize, (stream));
	return rc_ok;
}

rc_status rc_memcpy_htod_async(CUcontext ctx, CUstream stream, CUdeviceptr dst, const void *src,
		size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemcpyHtoDAsync_v2, (dst, src, bytes, stream));
	return rc_ok;
}

rc_status rc_memcpy_dtod_async(CUcontext ctx, CUstream stream, CUdeviceptr dst, CUdeviceptr src,
		size_t bytes) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemcpyDtoDAsync_v2, (dst, src, bytes, stream));
	return rc_ok;
}

rc_status rc_memset_d32_async(CUcontext ctx, CUstream stream, CUdeviceptr dst, unsigned int value,
		size_t count) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuMemsetD32Async, (dst, value, count, stream));
	return rc_ok;
}

rc_status rc_module_load(CUcontext ctx, CUmodule *module, const void *image) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuModuleLoadData, (module, image));
	return rc_ok;
}

rc_status rc_module_unload(CUcontext ctx, CUmodule module) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuModuleUnload, (module));
	return rc_ok;
}

rc_status rc_module_function(CUcontext ctx, CUmodule module, const char *name, CUfunction *fn) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuModuleGetFunction, (fn, module, name));
	return rc_ok;
}

// rc_launch builds the kernelParams array that cuLaunchKernel reads: one pointer per argument,
// to the argument's slot in args. cuLaunchKernel copies the values before it returns, so the
// array and args only need to live for this call.
rc_status rc_launch(CUcontext ctx, CUfunction fn, unsigned int gx, unsigned int gy,
		unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz,
		unsigned int shared_bytes, CUstream stream, const unsigned char *args, int nargs) {
	void *params[RC_MAX_ARGS];
	if (nargs < 0 || nargs > RC_MAX_ARGS) {
		return rc_result(1 /* CUDA_ERROR_INVALID_VALUE */, 0, "cuLaunchKernel");
	}
	for (int i = 0; i < nargs; i++) {
		params[i] = (void *)(args + RC_ARG_SLOT * i);
	}
	RC_CURRENT(ctx);
	RC_DRIVER(cuLaunchKernel, (fn, gx, gy, gz, bx, by, bz, shared_bytes, stream,
		nargs > 0 ? params : NULL, NULL));
	return rc_ok;
}

rc_status rc_stream_create(CUcontext ctx, CUstream *stream, unsigned int flags) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuStreamCreate, (stream, flags));
	return rc_ok;
}

rc_status rc_stream_synchronize(CUcontext ctx, CUstream stream) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuStreamSynchronize, (stream));
	return rc_ok;
}

rc_status rc_stream_destroy(CUcontext ctx, CUstream stream) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuStreamDestroy_v2, (stream));
	return rc_ok;
}

rc_status rc_stream_wait_event(CUcontext ctx, CUstream stream, CUevent event) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuStreamWaitEvent, (stream, event, 0));
	return rc_ok;
}

rc_status rc_event_create(CUcontext ctx, CUevent *event, unsigned int flags) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuEventCreate, (event, flags));
	return rc_ok;
}

rc_status rc_event_record(CUcontext ctx, CUevent event, CUstream stream) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuEventRecord, (event, stream));
	return rc_ok;
}

// rc_event_query returns CUDA_ERROR_NOT_READY (600) while the event's work is pending.
rc_status rc_event_query(CUcontext ctx, CUevent event) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuEventQuery, (event));
	return rc_ok;
}

rc_status rc_event_synchronize(CUcontext ctx, CUevent event) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuEventSynchronize, (event));
	return rc_ok;
}

rc_status rc_event_elapsed(CUcontext ctx, float *ms, CUevent start, CUevent end) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuEventElapsedTime, (ms, start, end));
	return rc_ok;
}

rc_status rc_event_destroy(CUcontext ctx, CUevent event) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuEventDestroy_v2, (event));
	return rc_ok;
}

rc_status rc_begin_capture(CUcontext ctx, CUstream stream, int mode) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuStreamBeginCapture_v2, (stream, mode));
	return rc_ok;
}

rc_status rc_end_capture(CUcontext ctx, CUstream stream, CUgraph *graph) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuStreamEndCapture, (stream, graph));
	return rc_ok;
}

rc_status rc_graph_instantiate(CUcontext ctx, CUgraphExec *exec, CUgraph graph) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuGraphInstantiateWithFlags, (exec, graph, 0));
	return rc_ok;
}

rc_status rc_graph_launch(CUcontext ctx, CUgraphExec exec, CUstream stream) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuGraphLaunch, (exec, stream));
	return rc_ok;
}

rc_status rc_graph_exec_destroy(CUcontext ctx, CUgraphExec exec) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuGraphExecDestroy, (exec));
	return rc_ok;
}

rc_status rc_graph_destroy(CUcontext ctx, CUgraph graph) {
	RC_CURRENT(ctx);
	RC_DRIVER(cuGraphDestroy, (graph));
	return rc_ok;
}

rc_status rc_blas_property(int type, int *value) {
	RC_BLAS(cublasGetProperty, (type, value));
	return rc_ok;
}

const char *rc_blas_status_name(int status) {
	return blas.cublasGetStatusName != NULL ? blas.cublasGetStatusName(status) : NULL;
}

rc_status rc_blas_create(CUcontext ctx, cublasHandle_t *handle) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasCreate_v2, (handle));
	return rc_ok;
}

rc_status rc_blas_destroy(CUcontext ctx, cublasHandle_t handle) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasDestroy_v2, (handle));
	return rc_ok;
}

rc_status rc_blas_set_stream(CUcontext ctx, cublasHandle_t handle, CUstream stream) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasSetStream_v2, (handle, stream));
	return rc_ok;
}

rc_status rc_blas_set_math_mode(CUcontext ctx, cublasHandle_t handle, int mode) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasSetMathMode, (handle, mode));
	return rc_ok;
}

rc_status rc_blas_set_atomics_mode(CUcontext ctx, cublasHandle_t handle, int mode) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasSetAtomicsMode, (handle, mode));
	return rc_ok;
}

rc_status rc_blas_version(CUcontext ctx, cublasHandle_t handle, int *version) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasGetVersion_v2, (handle, version));
	return rc_ok;
}

rc_status rc_sgemm(CUcontext ctx, cublasHandle_t handle, int transa, int transb, int m, int n,
		int k, float alpha, CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta,
		CUdeviceptr c, int ldc) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasSgemm_v2, (handle, transa, transb, m, n, k, &alpha, (const float *)a, lda,
		(const float *)b, ldb, &beta, (float *)c, ldc));
	return rc_ok;
}

// rc_gemm_ex runs cublasGemmEx on float32 matrices; compute_type (a cublasComputeType_t)
// decides whether the products use float32, TF32 or BF16 inputs. Accumulation is float32.
rc_status rc_gemm_ex(CUcontext ctx, cublasHandle_t handle, int transa, int transb, int m, int n,
		int k, float alpha, CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta,
		CUdeviceptr c, int ldc, int compute_type) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasGemmEx, (handle, transa, transb, m, n, k, &alpha, (const void *)a,
		RC_CUDA_R_32F, lda, (const void *)b, RC_CUDA_R_32F, ldb, &beta, (void *)c,
		RC_CUDA_R_32F, ldc, compute_type, RC_CUBLAS_GEMM_DEFAULT));
	return rc_ok;
}

rc_status rc_sgemm_strided_batched(CUcontext ctx, cublasHandle_t handle, int transa,
		int transb, int m, int n, int k, float alpha, CUdeviceptr a, int lda, long long stride_a,
		CUdeviceptr b, int ldb, long long stride_b, float beta, CUdeviceptr c, int ldc,
		long long stride_c, int batch) {
	RC_CURRENT(ctx);
	RC_BLAS(cublasSgemmStridedBatched, (handle, transa, transb, m, n, k, &alpha,
		(const float *)a, lda, stride_a, (const float *)b, ldb, stride_b, &beta, (float *)c,
		ldc, stride_c, batch));
	return rc_ok;
}
