// recur_cuda.h declares the part of the CUDA driver API and of cuBLAS that package cuda uses,
// and the C wrappers that the Go code calls. Nothing here comes from CUDA's own headers: the
// functions are resolved at run time with dlsym by their exported names (cuMemAlloc_v2, not
// the cuMemAlloc macro of cuda.h), so building needs only a C compiler. The signatures are
// those of CUDA 11 to 13, where every function used here kept its ABI.
#ifndef RECUR_CUDA_H
#define RECUR_CUDA_H

#include <stddef.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUstream;
typedef void *CUevent;
typedef void *CUgraph;
typedef void *CUgraphExec;
typedef int cublasStatus_t;
typedef void *cublasHandle_t;

// rc_status is the outcome of a wrapper: the status of the first call that failed, or 0.
typedef struct {
	int code;         // a CUresult, or a cublasStatus_t when blas is 1; 0 is success
	int blas;         // 1 when code is a cublasStatus_t
	const char *call; // the exported name of the failing function, a string literal
} rc_status;

// The maximum number of kernel arguments of rc_launch; recur's widest kernel takes 13. Argument
// i starts at byte RC_ARG_SLOT·i of rc_launch's args.
#define RC_MAX_ARGS 32
#define RC_ARG_SLOT 8

// Loading. Each returns 0 on success. On failure it writes the reason into err (err_len bytes,
// NUL-terminated): dlerror's message, or the name of the first required symbol not found.
int rc_load_driver(const char *path, char *err, int err_len);
int rc_load_blas(const char *path, char *err, int err_len);
int rc_graphs_available(void);
// rc_driver_file and rc_blas_file write the file of the loaded driver or cuBLAS, with symbolic links
// resolved, into path (len bytes, NUL-terminated). They return 1 on success and 0 when nothing is loaded
// or the loader cannot name the file.
int rc_driver_file(char *path, int len);
int rc_blas_file(char *path, int len);
int rc_blas_status_names_available(void);

// Driver queries, valid after rc_load_driver.
rc_status rc_init(void);
rc_status rc_driver_version(int *version);
rc_status rc_device_count(int *count);
rc_status rc_device_get(int ordinal, CUdevice *dev);
rc_status rc_device_name(CUdevice dev, char *name, int len);
rc_status rc_device_attribute(CUdevice dev, int attribute, int *value);
rc_status rc_device_total_mem(CUdevice dev, size_t *bytes);
void rc_error_text(int code, const char **name, const char **description);

// Contexts. Every wrapper below that takes ctx makes it current on the calling thread first.
rc_status rc_primary_ctx_retain(CUdevice dev, CUcontext *ctx);
rc_status rc_primary_ctx_release(CUdevice dev);
rc_status rc_mem_get_info(CUcontext ctx, size_t *free_bytes, size_t *total_bytes);

// Memory.
rc_status rc_mem_alloc(CUcontext ctx, CUdeviceptr *ptr, size_t bytes);
rc_status rc_mem_free(CUcontext ctx, CUdeviceptr ptr);
rc_status rc_mem_alloc_host(CUcontext ctx, void **ptr, size_t bytes);
rc_status rc_mem_free_host(CUcontext ctx, void *ptr);
rc_status rc_memcpy_htod(CUcontext ctx, CUdeviceptr dst, const void *src, size_t bytes);
rc_status rc_memcpy_dtoh(CUcontext ctx, void *dst, CUdeviceptr src, size_t bytes);
rc_status rc_upload(CUcontext ctx, CUstream stream, CUdeviceptr dst, const void *src, size_t bytes);
rc_status rc_download(CUcontext ctx, CUstream stream, void *dst, CUdeviceptr src, size_t bytes);
rc_status rc_memcpy_htod_async(CUcontext ctx, CUstream stream, CUdeviceptr dst, const void *src,
	size_t bytes);
rc_status rc_memcpy_dtod_async(CUcontext ctx, CUstream stream, CUdeviceptr dst, CUdeviceptr src,
	size_t bytes);
rc_status rc_memset_d32_async(CUcontext ctx, CUstream stream, CUdeviceptr dst, unsigned int value,
	size_t count);

// Modules and launches.
rc_status rc_module_load(CUcontext ctx, CUmodule *module, const void *image);
rc_status rc_module_unload(CUcontext ctx, CUmodule module);
rc_status rc_module_function(CUcontext ctx, CUmodule module, const char *name, CUfunction *fn);
rc_status rc_launch(CUcontext ctx, CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz,
	unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared_bytes, CUstream stream,
	const unsigned char *args, int nargs);

// Streams and events.
rc_status rc_stream_create(CUcontext ctx, CUstream *stream, unsigned int flags);
rc_status rc_stream_synchronize(CUcontext ctx, CUstream stream);
rc_status rc_stream_destroy(CUcontext ctx, CUstream stream);
rc_status rc_stream_wait_event(CUcontext ctx, CUstream stream, CUevent event);
rc_status rc_event_create(CUcontext ctx, CUevent *event, unsigned int flags);
rc_status rc_event_record(CUcontext ctx, CUevent event, CUstream stream);
rc_status rc_event_query(CUcontext ctx, CUevent event);
rc_status rc_event_synchronize(CUcontext ctx, CUevent event);
rc_status rc_event_elapsed(CUcontext ctx, float *ms, CUevent start, CUevent end);
rc_status rc_event_destroy(CUcontext ctx, CUevent event);

// CUDA graphs, valid when rc_graphs_available returns 1.
rc_status rc_begin_capture(CUcontext ctx, CUstream stream, int mode);
rc_status rc_end_capture(CUcontext ctx, CUstream stream, CUgraph *graph);
rc_status rc_graph_instantiate(CUcontext ctx, CUgraphExec *exec, CUgraph graph);
rc_status rc_graph_launch(CUcontext ctx, CUgraphExec exec, CUstream stream);
rc_status rc_graph_exec_destroy(CUcontext ctx, CUgraphExec exec);
rc_status rc_graph_destroy(CUcontext ctx, CUgraph graph);

// cuBLAS, valid after rc_load_blas. The GEMMs take alpha and beta by value and pass their
// addresses, as the default host pointer mode expects.
rc_status rc_blas_property(int type, int *value);
const char *rc_blas_status_name(int status);
rc_status rc_blas_create(CUcontext ctx, cublasHandle_t *handle);
rc_status rc_blas_destroy(CUcontext ctx, cublasHandle_t handle);
rc_status rc_blas_set_stream(CUcontext ctx, cublasHandle_t handle, CUstream stream);
rc_status rc_blas_set_math_mode(CUcontext ctx, cublasHandle_t handle, int mode);
rc_status rc_blas_set_atomics_mode(CUcontext ctx, cublasHandle_t handle, int mode);
rc_status rc_blas_version(CUcontext ctx, cublasHandle_t handle, int *version);
rc_status rc_sgemm(CUcontext ctx, cublasHandle_t handle, int transa, int transb, int m, int n,
	int k, float alpha, CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta,
	CUdeviceptr c, int ldc);
rc_status rc_gemm_ex(CUcontext ctx, cublasHandle_t handle, int transa, int transb, int m, int n,
	int k, float alpha, CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta,
	CUdeviceptr c, int ldc, int compute_type);
rc_status rc_sgemm_strided_batched(CUcontext ctx, cublasHandle_t handle, int transa,
	int transb, int m, int n, int k, float alpha, CUdeviceptr a, int lda, long long stride_a,
	CUdeviceptr b, int ldb, long long stride_b, float beta, CUdeviceptr c, int ldc,
	long long stride_c, int batch);

#endif
