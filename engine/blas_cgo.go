//go:build cgo

package engine

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <xmmintrin.h>

// recur_ftz_begin sets MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) modes on
// the calling thread and returns the previous MXCSR, which recur_ftz_end restores. Between
// the two, subnormal inputs read as zero and subnormal results are written as zero, so
// subnormal numbers cannot slow a matrix product. A C call keeps its goroutine on one thread,
// so the mode covers the product and nothing else.
static inline unsigned recur_ftz_begin(void) {
	unsigned old = _mm_getcsr();
	_mm_setcsr(old | 0x8040);
	return old;
}
static inline void recur_ftz_end(unsigned old) { _mm_setcsr(old); }
#else
static inline unsigned recur_ftz_begin(void) { return 0; }
static inline void recur_ftz_end(unsigned old) {}
#endif

typedef void (*recur_sgemm_fn)(int order, int transA, int transB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*recur_set_threads_fn)(int threads);
typedef char *(*recur_get_config_fn)(void);

// dlerror's message belongs to the calling OS thread, so it is read in the same C call as
// the failing dlopen or dlsym.
static void *recur_dlopen(const char *path, const char **err) {
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) *err = dlerror();
	return handle;
}

static void *recur_dlsym(void *handle, const char *name) {
	dlerror();
	return dlsym(handle, name);
}

static void recur_dlclose(void *handle) { dlclose(handle); }

static const char *recur_openblas_config(void *getConfig) {
	return ((recur_get_config_fn)getConfig)();
}

// recur_sgemm calls cblas_sgemm on row-major matrices, first setting OpenBLAS's thread count
// when threads > 0, so that each GEMM costs one cgo call. 101 is CblasRowMajor, 111
// CblasNoTrans and 112 CblasTrans. On x86-64 the calling thread runs with flush-to-zero, which
// covers the whole product where OpenBLAS runs it on one thread, as the CPU backend requests.
static void recur_sgemm(void *sgemm, void *setThreads, int threads, int transA, int transB,
		int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
		float beta, float *c, int ldc) {
	if (threads > 0) ((recur_set_threads_fn)setThreads)(threads);
	unsigned csr = recur_ftz_begin();
	((recur_sgemm_fn)sgemm)(101, transA ? 112 : 111, transB ? 112 : 111, m, n, k,
		alpha, a, lda, b, ldb, beta, c, ldc);
	recur_ftz_end(csr);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// cgoEnabled reports whether this build can load a system BLAS, which needs cgo.
const cgoEnabled = true

// systemBLAS is an OpenBLAS library loaded with dlopen. One value exists per loaded library
// and is shared by every CPU backend that uses it, because OpenBLAS's thread count is global.
type systemBLAS struct {
	path       string
	config     string // openblas_get_config's output, for example "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
	sgemm      unsafe.Pointer
	setThreads unsafe.Pointer
	threads    atomic.Int32 // thread count last passed to openblas_set_num_threads
}

var (
	loadedBLASMu sync.Mutex
	loadedBLAS   = map[uintptr]*systemBLAS{} // by dlopen handle
)

// blasCandidates lists the libraries tried, in order. libblas.so.3 is accepted only where it
// is OpenBLAS, as Debian's alternatives make it once an OpenBLAS package is installed.
// Otherwise it is Netlib's reference BLAS, whose unblocked loops are expected (not measured
// here) to be slower than gonum's. Builds with 64-bit integers (libopenblas64_.so.0) take a
// different ABI and are not tried.
var blasCandidates = []string{"libopenblas.so.0", "libopenblas.so", "libblas.so.3"}

// loadSystemBLAS loads the library named by RECUR_BLAS or, where that is unset, the first
// usable one of blasCandidates. The error lists why each library tried was rejected.
func loadSystemBLAS() (*systemBLAS, error) {
	paths := blasCandidates
	if p := os.Getenv("RECUR_BLAS"); p != "" {
		paths = []string{p}
	}
	var reasons []string
	for _, path := range paths {
		lib, err := openOpenBLAS(path)
		if err == nil {
			return lib, nil
		}
		reasons = append(reasons, fmt.Sprintf("%s: %v", path, err))
	}
	return nil, fmt.Errorf("no usable OpenBLAS found (%s); install libopenblas0-pthread "+
		"or set RECUR_BLAS to the path of an OpenBLAS library", strings.Join(reasons, "; "))
}

func openOpenBLAS(path string) (*systemBLAS, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	handle := C.recur_dlopen(cpath, &cerr)
	if handle == nil {
		return nil, errors.New(dlMessage(cerr, "dlopen failed"))
	}

	loadedBLASMu.Lock()
	defer loadedBLASMu.Unlock()
	if lib, ok := loadedBLAS[uintptr(handle)]; ok {
		C.recur_dlclose(handle) // drops the reference this call added
		return lib, nil
	}

	getConfig := lookupSymbol(handle, "openblas_get_config")
	if getConfig == nil {
		C.recur_dlclose(handle)
		return nil, errors.New("not OpenBLAS (no openblas_get_config symbol)")
	}
	config := C.GoString(C.recur_openblas_config(getConfig))
	// NOTE: a rejected OpenBLAS stays loaded, because unloading a library that has started
	// its thread pool is not safe on every version.
	if strings.Contains(config, "USE64BITINT") {
		return nil, fmt.Errorf("built with 64-bit integers (%s)", config)
	}
	lib := &systemBLAS{path: path, config: config}
	lib.sgemm = lookupSymbol(handle, "cblas_sgemm")
	lib.setThreads = lookupSymbol(handle, "openblas_set_num_threads")
	if lib.sgemm == nil || lib.setThreads == nil {
		return nil, fmt.Errorf("missing cblas_sgemm or openblas_set_num_threads (%s)", config)
	}
	loadedBLAS[uintptr(handle)] = lib
	return lib, nil
}

func lookupSymbol(handle unsafe.Pointer, name string) unsafe.Pointer {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.recur_dlsym(handle, cname)
}

func dlMessage(msg *C.char, fallback string) string {
	if msg == nil {
		return fallback
	}
	return C.GoString(msg)
}

// gemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices with OpenBLAS using the
// given number of threads. The caller has checked the shapes and that m, n and k are
// positive, so every slice has a first element.
//
// NOTE: OpenBLAS's thread count is process-wide. Two CPU backends with different thread
// counts that run GEMMs at the same time from different goroutines race on it.
func (s *systemBLAS) gemm(threads int, transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for _, d := range [...]int{m, n, k, lda, ldb, ldc} {
		if d > math.MaxInt32 {
			panic(fmt.Sprintf("engine: GEMM dimension %d exceeds OpenBLAS's 32-bit integers", d))
		}
	}
	setThreads := 0
	if s.threads.Load() != int32(threads) {
		s.threads.Store(int32(threads))
		setThreads = threads
	}
	C.recur_sgemm(s.sgemm, s.setThreads, C.int(setThreads), cBool(transA), cBool(transB),
		C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.int(ldb), C.float(beta),
		(*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

func cBool(v bool) C.int {
	if v {
		return 1
	}
	return 0
}
