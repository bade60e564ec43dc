//go:build cgo

package cuda

/*
#include "recur_cuda.h"
*/
import "C"

import "unsafe"

// NewBLAS creates a cuBLAS handle in c. It queues work on the legacy default stream until
// SetStream.
func (c *Context) NewBLAS() (*BLAS, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var h C.cublasHandle_t
	if err := status(C.rc_blas_create(c.ctx(), &h)); err != nil {
		return nil, err
	}
	return &BLAS{ctx: c, handle: unsafe.Pointer(h)}, nil
}

func (b *BLAS) check() error {
	if b == nil || b.handle == nil {
		return errClosed
	}
	return b.ctx.check()
}

func (b *BLAS) blas() C.cublasHandle_t { return C.cublasHandle_t(b.handle) }

// Destroy releases the handle. A second call does nothing.
func (b *BLAS) Destroy() error {
	if b.handle == nil {
		return nil
	}
	h := b.handle
	b.handle = nil
	if err := b.ctx.check(); err != nil {
		return err
	}
	return status(C.rc_blas_destroy(b.ctx.ctx(), C.cublasHandle_t(h)))
}

// SetStream makes the handle queue its work on s.
func (b *BLAS) SetStream(s *Stream) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := s.check(); err != nil {
		return err
	}
	return status(C.rc_blas_set_stream(b.ctx.ctx(), b.blas(), s.stream()))
}

// SetMathMode sets the math mode of the handle's later calls.
func (b *BLAS) SetMathMode(mode MathMode) error {
	if err := b.check(); err != nil {
		return err
	}
	return status(C.rc_blas_set_math_mode(b.ctx.ctx(), b.blas(), C.int(mode)))
}

// SetAtomicsMode allows or forbids the cuBLAS routines that have an implementation with
// atomic additions, whose results can vary from run to run, to use it.
func (b *BLAS) SetAtomicsMode(allowed bool) error {
	if err := b.check(); err != nil {
		return err
	}
	mode := C.int(0) // CUBLAS_ATOMICS_NOT_ALLOWED
	if allowed {
		mode = 1 // CUBLAS_ATOMICS_ALLOWED
	}
	return status(C.rc_blas_set_atomics_mode(b.ctx.ctx(), b.blas(), mode))
}

// Version returns cuBLAS's version as cublasGetVersion does: 10000·major + 100·minor + patch
// for cuBLAS 11 and later.
func (b *BLAS) Version() (int, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	var v C.int
	if err := status(C.rc_blas_version(b.ctx.ctx(), b.blas(), &v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on column-major float32 matrices in float32
// (cublasSgemm_v2), with op(A) m×k, op(B) k×n and C m×n. With beta = 0, C is not read.
func (b *BLAS) Sgemm(transA, transB Op, m, n, k int, alpha float32, a DevicePtr, lda int,
	bMat DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkGemm("cublasSgemm_v2", m, n, k, lda, ldb, ldc); err != nil {
		return err
	}
	return status(C.rc_sgemm(b.ctx.ctx(), b.blas(), C.int(transA), C.int(transB),
		C.int(m), C.int(n), C.int(k), C.float(alpha), C.CUdeviceptr(a), C.int(lda),
		C.CUdeviceptr(bMat), C.int(ldb), C.float(beta), C.CUdeviceptr(c), C.int(ldc)))
}

// GemmEx is Sgemm through cublasGemmEx with float32 matrices and float32 accumulation, where
// compute decides the precision of the products: ComputeFastTF32 and ComputeFastBF16 round
// the inputs for the tensor cores.
func (b *BLAS) GemmEx(transA, transB Op, m, n, k int, alpha float32, a DevicePtr, lda int,
	bMat DevicePtr, ldb int, beta float32, c DevicePtr, ldc int, compute ComputeType) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkGemm("cublasGemmEx", m, n, k, lda, ldb, ldc); err != nil {
		return err
	}
	return status(C.rc_gemm_ex(b.ctx.ctx(), b.blas(), C.int(transA), C.int(transB),
		C.int(m), C.int(n), C.int(k), C.float(alpha), C.CUdeviceptr(a), C.int(lda),
		C.CUdeviceptr(bMat), C.int(ldb), C.float(beta), C.CUdeviceptr(c), C.int(ldc),
		C.int(compute)))
}

// SgemmStridedBatched runs batch Sgemms, the i-th on the matrices at a + i·strideA,
// bMat + i·strideB and c + i·strideC, strides counted in elements
// (cublasSgemmStridedBatched).
func (b *BLAS) SgemmStridedBatched(transA, transB Op, m, n, k int, alpha float32,
	a DevicePtr, lda int, strideA int64, bMat DevicePtr, ldb int, strideB int64,
	beta float32, c DevicePtr, ldc int, strideC int64, batch int) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkGemm("cublasSgemmStridedBatched", m, n, k, lda, ldb, ldc,
		batch); err != nil {
		return err
	}
	return status(C.rc_sgemm_strided_batched(b.ctx.ctx(), b.blas(), C.int(transA),
		C.int(transB), C.int(m), C.int(n), C.int(k), C.float(alpha), C.CUdeviceptr(a),
		C.int(lda), C.longlong(strideA), C.CUdeviceptr(bMat), C.int(ldb), C.longlong(strideB),
		C.float(beta), C.CUdeviceptr(c), C.int(ldc), C.longlong(strideC), C.int(batch)))
}
