//go:build cgo

package engine

/*
#if defined(__x86_64__)
#include <immintrin.h>

// The kernels below are compiled for AVX2 and FMA whatever the build's target, and the Go side
// calls them only where the processor has both. Each element of C is computed the same way
// whatever block it falls in, so the split of C over threads never changes a result. Every
// multiply-add is an explicit FMA intrinsic and there is no separate multiply, so the
// compiler has no product to contract into an FMA of its own.
#define RECUR_AVX2 __attribute__((target("avx2,fma")))

// recur_small_ftz_begin and recur_small_ftz_end set and restore MXCSR's flush-to-zero and
// denormals-are-zero modes around a product, as recur_ftz_begin in blas_cgo.go does.
static inline unsigned recur_small_ftz_begin(void) {
	unsigned old = _mm_getcsr();
	_mm_setcsr(old | 0x8040);
	return old;
}
static inline void recur_small_ftz_end(unsigned old) { _mm_setcsr(old); }

// recur_store8 writes v to c[0:8], or adds it to c[0:8] when accumulate is set.
RECUR_AVX2 static inline void recur_store8(float *c, __m256 v, int accumulate) {
	if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(c), v);
	_mm256_storeu_ps(c, v);
}

// recur_store4 writes v to c[0:4], or adds it to c[0:4] when accumulate is set.
RECUR_AVX2 static inline void recur_store4(float *c, __m128 v, int accumulate) {
	if (accumulate) v = _mm_add_ps(_mm_loadu_ps(c), v);
	_mm_storeu_ps(c, v);
}

// recur_nn_strip computes columns [0, w) of rows [0, m) of C = A·B, where w is 8 or 16, with
// one FMA chain per element over p = 0..k-1 in order, then stores or adds it.
RECUR_AVX2 static void recur_nn_strip(int m, int w, int k, const float *a, int lda,
		const float *b, int ldb, float *c, int ldc, int accumulate) {
	int i = 0;
	for (; i + 4 <= m; i += 4) {
		const float *a0 = a + (size_t)i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
		float *c0 = c + (size_t)i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
		__m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00;
		__m256 s20 = s00, s21 = s00, s30 = s00, s31 = s00;
		const float *bp = b;
		if (w == 16) {
			for (int p = 0; p < k; p++, bp += ldb) {
				__m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
				__m256 x = _mm256_broadcast_ss(a0 + p);
				s00 = _mm256_fmadd_ps(x, b0, s00);
				s01 = _mm256_fmadd_ps(x, b1, s01);
				x = _mm256_broadcast_ss(a1 + p);
				s10 = _mm256_fmadd_ps(x, b0, s10);
				s11 = _mm256_fmadd_ps(x, b1, s11);
				x = _mm256_broadcast_ss(a2 + p);
				s20 = _mm256_fmadd_ps(x, b0, s20);
				s21 = _mm256_fmadd_ps(x, b1, s21);
				x = _mm256_broadcast_ss(a3 + p);
				s30 = _mm256_fmadd_ps(x, b0, s30);
				s31 = _mm256_fmadd_ps(x, b1, s31);
			}
			recur_store8(c0 + 8, s01, accumulate);
			recur_store8(c1 + 8, s11, accumulate);
			recur_store8(c2 + 8, s21, accumulate);
			recur_store8(c3 + 8, s31, accumulate);
		} else {
			for (int p = 0; p < k; p++, bp += ldb) {
				__m256 b0 = _mm256_loadu_ps(bp);
				s00 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + p), b0, s00);
				s10 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + p), b0, s10);
				s20 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + p), b0, s20);
				s30 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + p), b0, s30);
			}
		}
		recur_store8(c0, s00, accumulate);
		recur_store8(c1, s10, accumulate);
		recur_store8(c2, s20, accumulate);
		recur_store8(c3, s30, accumulate);
	}
	for (; i < m; i++) {
		const float *a0 = a + (size_t)i * lda;
		float *c0 = c + (size_t)i * ldc;
		for (int j = 0; j < w; j += 8) {
			__m256 s = _mm256_setzero_ps();
			const float *bp = b + j;
			for (int p = 0; p < k; p++, bp += ldb) {
				s = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + p), _mm256_loadu_ps(bp), s);
			}
			recur_store8(c0 + j, s, accumulate);
		}
	}
}

// recur_sgemm_nn computes C = A·B, or C += A·B when accumulate is set, for row-major A
// (m×k), B (k×n) and C (m×n) with n a multiple of 8, with flush-to-zero.
RECUR_AVX2 static void recur_sgemm_nn(int m, int n, int k, const float *a, int lda,
		const float *b, int ldb, float *c, int ldc, int accumulate) {
	unsigned csr = recur_small_ftz_begin();
	for (int j = 0; j < n; j += 16) {
		int w = n - j >= 16 ? 16 : 8;
		recur_nn_strip(m, w, k, a, lda, b + j, ldb, c + j, ldc, accumulate);
	}
	recur_small_ftz_end(csr);
}

// recur_hsum4 returns the lane sums of v0..v3, each as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)).
RECUR_AVX2 static inline __m128 recur_hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
	__m256 h = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
	return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// recur_dot8 returns the eight lane sums of the dot product of x and y over k elements, k a
// multiple of 8: lane l sums the products of elements l, l+8, l+16, ... in order by FMA.
RECUR_AVX2 static inline __m256 recur_dot8(int k, const float *x, const float *y) {
	__m256 s = _mm256_setzero_ps();
	for (int p = 0; p < k; p += 8) {
		s = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(y + p), s);
	}
	return s;
}

// recur_sgemm_nt computes C = A·W^T, or C += A·W^T when accumulate is set, for row-major A
// (m×k), W (n×k) and C (m×n) with k a multiple of 8, with flush-to-zero. Element (i, j) is the
// dot product of row i of A and row j of W: eight FMA chains, one per lane, then
// recur_hsum4's sum of the lanes.
RECUR_AVX2 static void recur_sgemm_nt(int m, int n, int k, const float *a, int lda,
		const float *w, int ldw, float *c, int ldc, int accumulate) {
	unsigned csr = recur_small_ftz_begin();
	int j = 0;
	for (; j + 4 <= n; j += 4) {
		const float *w0 = w + (size_t)j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
		int i = 0;
		for (; i + 2 <= m; i += 2) {
			const float *a0 = a + (size_t)i * lda, *a1 = a0 + lda;
			__m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00;
			__m256 s10 = s00, s11 = s00, s12 = s00, s13 = s00;
			for (int p = 0; p < k; p += 8) {
				__m256 x0 = _mm256_loadu_ps(a0 + p), x1 = _mm256_loadu_ps(a1 + p);
				__m256 y = _mm256_loadu_ps(w0 + p);
				s00 = _mm256_fmadd_ps(x0, y, s00);
				s10 = _mm256_fmadd_ps(x1, y, s10);
				y = _mm256_loadu_ps(w1 + p);
				s01 = _mm256_fmadd_ps(x0, y, s01);
				s11 = _mm256_fmadd_ps(x1, y, s11);
				y = _mm256_loadu_ps(w2 + p);
				s02 = _mm256_fmadd_ps(x0, y, s02);
				s12 = _mm256_fmadd_ps(x1, y, s12);
				y = _mm256_loadu_ps(w3 + p);
				s03 = _mm256_fmadd_ps(x0, y, s03);
				s13 = _mm256_fmadd_ps(x1, y, s13);
			}
			recur_store4(c + (size_t)i * ldc + j, recur_hsum4(s00, s01, s02, s03), accumulate);
			recur_store4(c + (size_t)(i + 1) * ldc + j, recur_hsum4(s10, s11, s12, s13),
				accumulate);
		}
		for (; i < m; i++) {
			const float *a0 = a + (size_t)i * lda;
			__m128 r = recur_hsum4(recur_dot8(k, a0, w0), recur_dot8(k, a0, w1),
				recur_dot8(k, a0, w2), recur_dot8(k, a0, w3));
			recur_store4(c + (size_t)i * ldc + j, r, accumulate);
		}
	}
	for (; j < n; j++) {
		const float *w0 = w + (size_t)j * ldw;
		for (int i = 0; i < m; i++) {
			__m256 s = recur_dot8(k, a + (size_t)i * lda, w0);
			float r = _mm_cvtss_f32(recur_hsum4(s, s, s, s));
			float *cp = c + (size_t)i * ldc + j;
			*cp = accumulate ? *cp + r : r;
		}
	}
	recur_small_ftz_end(csr);
}

static int recur_small_gemm_built(void) { return 1; }
#else
static void recur_sgemm_nn(int m, int n, int k, const float *a, int lda, const float *b,
		int ldb, float *c, int ldc, int accumulate) {}
static void recur_sgemm_nt(int m, int n, int k, const float *a, int lda, const float *w,
		int ldw, float *c, int ldc, int accumulate) {}
static int recur_small_gemm_built(void) { return 0; }
#endif
*/
import "C"

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// smallGemmBuilt reports whether this build has the AVX2 kernels of small GEMMs and the
// processor can run them.
var smallGemmBuilt = C.recur_small_gemm_built() != 0 && cpu.X86.HasAVX2 && cpu.X86.HasFMA

// smallGemm computes rows [0, m) and columns [j0, j1) of C = op(A)·op(B), or adds the product
// to C when accumulate is set, with the AVX2 kernels. A is m×k; B is k×n, or n×k when
// transB. The caller has checked the shapes and the conditions of useSmallGemm.
func smallGemm(transB bool, m, n, k int, a, b []float32, c []float32, j0, j1 int,
	accumulate bool) {
	acc := C.int(0)
	if accumulate {
		acc = 1
	}
	pa := (*C.float)(unsafe.Pointer(&a[0]))
	pc := (*C.float)(unsafe.Pointer(&c[j0]))
	if transB {
		pb := (*C.float)(unsafe.Pointer(&b[j0*k]))
		C.recur_sgemm_nt(C.int(m), C.int(j1-j0), C.int(k), pa, C.int(k), pb, C.int(k), pc,
			C.int(n), acc)
		return
	}
	pb := (*C.float)(unsafe.Pointer(&b[j0]))
	C.recur_sgemm_nn(C.int(m), C.int(j1-j0), C.int(k), pa, C.int(k), pb, C.int(n), pc,
		C.int(n), acc)
}
