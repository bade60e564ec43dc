package engine

import (
	"fmt"

	"github.com/recur-ml/recur/cuda"
)

// columnMajorGemm holds the parameters of a cuBLAS GEMM call, named as in cuBLAS:
// C = op(A)·op(B) on column-major matrices, with op(A) m×k and op(B) k×n. T is the type of
// an operand: a device address in the backend, a slice in tests.
type columnMajorGemm[T any] struct {
	transa, transb bool
	m, n, k        int
	a              T
	lda            int
	b              T
	ldb            int
	ldc            int
}

// rowMajorGemm maps the row-major product C = op(a)·op(b), with op(a) m×k, op(b) k×n and C
// m×n, onto a column-major cuBLAS call. A row-major matrix read as column-major is its
// transpose, so cuBLAS computes Cᵀ = op(b)ᵀ·op(a)ᵀ: its first operand is b and its second a,
// its dimensions are n×m with inner dimension k, and each operand keeps its transpose flag.
// The leading dimensions are the row lengths of the stored matrices: b is k×n (n×k when
// transposed), a is m×k (k×m when transposed) and C is m×n.
func rowMajorGemm[T any](transA, transB bool, m, n, k int, a, b T) columnMajorGemm[T] {
	g := columnMajorGemm[T]{
		transa: transB, transb: transA,
		m: n, n: m, k: k,
		a: b, lda: n,
		b: a, ldb: k,
		ldc: n,
	}
	if transB {
		g.lda = k
	}
	if transA {
		g.ldb = m
	}
	return g
}

func cublasOp(trans bool) cuda.Op {
	if trans {
		return cuda.Trans
	}
	return cuda.NoTrans
}

// gemmPrecision is the arithmetic of the CUDA backend's matrix products.
type gemmPrecision struct {
	name    string // "fp32", "tf32" or "bf16"
	fast    bool   // use cublasGemmEx with compute, else cublasSgemm
	compute cuda.ComputeType
}

// parsePrecision returns the precision named by a CUDAOptions.Precision value.
func parsePrecision(s string) (gemmPrecision, error) {
	switch s {
	case "", "fp32":
		return gemmPrecision{name: "fp32"}, nil
	case "tf32":
		return gemmPrecision{name: "tf32", fast: true, compute: cuda.ComputeFastTF32}, nil
	case "bf16":
		return gemmPrecision{name: "bf16", fast: true, compute: cuda.ComputeFastBF16}, nil
	}
	return gemmPrecision{}, fmt.Errorf("engine: invalid CUDA precision %q; use fp32, tf32 or "+
		"bf16", s)
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major contiguous matrices, as Backend
// documents, with cuBLAS in the backend's precision. a, b and c must have exactly m·k, k·n
// and m·n elements. With k = 0 or alpha = 0, C is scaled by beta without reading A or B;
// with beta = 0, C is overwritten, NaN included.
func (c *CUDA) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b Tensor, beta float32,
	cTensor Tensor) {
	const op = "Gemm"
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("engine: Gemm: invalid shape m=%d n=%d k=%d", m, n, k))
	}
	at := c.tensor(op, "a", a, m*k)
	bt := c.tensor(op, "b", b, k*n)
	ct := c.tensor(op, "c", cTensor, m*n)
	if m == 0 || n == 0 {
		return
	}
	c.lock()
	defer c.mu.Unlock()

	if k == 0 || alpha == 0 {
		c.scaleLocked(ct, beta)
		return
	}
	if c.err != nil {
		return
	}
	g := rowMajorGemm(transA, transB, m, n, k, at.ptr, bt.ptr)
	c.record(op, c.dev.gemm(g, alpha, beta, ct.ptr))
}

// scaleLocked sets t = beta·t, writing zeros when beta is 0 as BLAS does.
func (c *CUDA) scaleLocked(t *cudaTensor, beta float32) {
	switch beta {
	case 1:
	case 0:
		c.fillLocked(t, 0)
	default:
		c.launch("Gemm", kernelScale, elementLaunch(t.n),
			c.args.Reset().Ptr(t.ptr).Int(t.n).Float32(beta))
	}
}
