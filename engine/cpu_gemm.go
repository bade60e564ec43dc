package engine

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Tiles of C for the gonum path. gonum v0.17.0's Sgemm spreads any product of 4 or more 64×64
// blocks of C over GOMAXPROCS goroutines that it starts per call. A 64×192 tile is 3 blocks,
// so gonum runs it serially, and the worker pool alone decides the thread count. Each tile is
// computed by one worker over the whole k, in a fixed order, so the result is the same for
// any thread count.
const (
	gemmTileRows = 64
	gemmTileCols = 192
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major contiguous matrices, where op(A)
// is m×k (A is k×m when transA), op(B) is k×n (B is n×k when transB) and C is m×n. a, b and
// c must have exactly m·k, k·n and m·n elements. As in BLAS, beta = 0 overwrites C, NaN
// included.
func (c *CPU) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b Tensor, beta float32,
	cTensor Tensor) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("engine: Gemm: invalid shape m=%d n=%d k=%d", m, n, k))
	}
	ad := tensorData("Gemm", "a", a, m*k)
	bd := tensorData("Gemm", "b", b, k*n)
	cd := tensorData("Gemm", "c", cTensor, m*n)
	if m == 0 || n == 0 {
		return
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	c.lock()
	defer c.mu.Unlock()

	if k == 0 || alpha == 0 {
		c.scaleMatrix(cd, beta)
		return
	}
	if c.blas != nil {
		parts := 1
		if m*n*k >= blasParallelWork {
			parts = c.threads
		}
		c.tasks.blasGemm = blasGemmTask{blas: c.blas, transA: transA, transB: transB, m: m, n: n,
			k: k, alpha: alpha, a: ad, lda: lda, b: bd, ldb: ldb, beta: beta, c: cd, parts: parts}
		c.pool.run(&c.tasks.blasGemm, parts, 1)
		return
	}
	tileRows := (m + gemmTileRows - 1) / gemmTileRows
	tileCols := (n + gemmTileCols - 1) / gemmTileCols
	c.tasks.gemm = gonumGemmTask{transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: ad, lda: lda, b: bd, ldb: ldb, beta: beta, c: cd, tileCols: tileCols}
	c.pool.run(&c.tasks.gemm, tileRows*tileCols, 1)
}

// scaleMatrix sets C = beta·C, writing zeros when beta is 0 as BLAS does.
func (c *CPU) scaleMatrix(cd []float32, beta float32) {
	if beta == 1 {
		return
	}
	if beta == 0 {
		c.tasks.fill = fillTask{x: cd}
		c.pool.run(&c.tasks.fill, len(cd), grainMemory)
		return
	}
	c.tasks.scale = scaleTask{x: cd, scale: beta}
	c.pool.run(&c.tasks.scale, len(cd), grainMemory)
}

// gonumGemmTask's item i·tileCols+j computes tile (i, j) of C with gonum's Sgemm.
type gonumGemmTask struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb       int
	tileCols       int
}

func (t *gonumGemmTask) run(lo, hi int) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if t.transA {
		tA = blas.Trans
	}
	if t.transB {
		tB = blas.Trans
	}
	for item := lo; item < hi; item++ {
		i0 := item / t.tileCols * gemmTileRows
		j0 := item % t.tileCols * gemmTileCols
		rows := min(gemmTileRows, t.m-i0)
		cols := min(gemmTileCols, t.n-j0)

		// Row i of op(A) starts at A[i][0], or at A[0][i] when A is transposed. Column j of
		// op(B) starts at B[0][j], or at B[j][0] when B is transposed.
		aOff, bOff := i0*t.lda, j0
		if t.transA {
			aOff = i0
		}
		if t.transB {
			bOff = j0 * t.ldb
		}
		gonum.Implementation{}.Sgemm(tA, tB, rows, cols, t.k, t.alpha, t.a[aOff:], t.lda,
			t.b[bOff:], t.ldb, t.beta, t.c[i0*t.n+j0:], t.n)
	}
}

// blasParallelWork is the m·n·k below which a system-BLAS GEMM runs on the calling thread
// alone: under it, waking a second thread costs more than it saves.
const blasParallelWork = 1 << 18

// blasGemmTask splits one GEMM into parts along the longer of C's two dimensions and runs
// each part as a single-threaded OpenBLAS call on a worker of the pool. OpenBLAS's own
// threads would otherwise spin in sched_yield between calls, taking the cores that the
// element-wise work runs on.
type blasGemmTask struct {
	blas           *systemBLAS
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb       int
	parts          int
}

func (t *blasGemmTask) run(lo, hi int) {
	for part := lo; part < hi; part++ {
		if t.m >= t.n {
			r0, r1 := blockRange(t.m, t.parts, part)
			if r0 == r1 {
				continue
			}
			// Row i of op(A) starts at A[i][0], or at A[0][i] when A is transposed.
			aOff := r0 * t.lda
			if t.transA {
				aOff = r0
			}
			t.blas.gemm(1, t.transA, t.transB, r1-r0, t.n, t.k, t.alpha, t.a[aOff:], t.lda,
				t.b, t.ldb, t.beta, t.c[r0*t.n:], t.n)
			continue
		}
		c0, c1 := blockRange(t.n, t.parts, part)
		if c0 == c1 {
			continue
		}
		// Column j of op(B) starts at B[0][j], or at B[j][0] when B is transposed.
		bOff := c0
		if t.transB {
			bOff = c0 * t.ldb
		}
		t.blas.gemm(1, t.transA, t.transB, t.m, c1-c0, t.k, t.alpha, t.a, t.lda,
			t.b[bOff:], t.ldb, t.beta, t.c[c0:], t.n)
	}
}

// blockRange splits n into parts ranges whose boundaries are multiples of 16, the width of
// the BLAS kernels' register blocks, and returns the range of part number part.
func blockRange(n, parts, part int) (lo, hi int) {
	const align = 16
	blocks := (n + align - 1) / align
	lo = min(n, part*blocks/parts*align)
	hi = min(n, (part+1)*blocks/parts*align)
	return lo, hi
}
