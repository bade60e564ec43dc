package engine

import (
	"fmt"
	"math"

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
	if useSmallGemm(transA, transB, m, n, k, alpha, beta, c.blas != nil) {
		parts := 1
		if m*n*k >= blasParallelWork {
			parts = c.threads
		}
		c.tasks.small = smallGemmTask{transB: transB, m: m, n: n, k: k, a: ad, b: bd, c: cd,
			accumulate: beta == 1, parts: parts}
		c.pool.run(&c.tasks.small, parts, 1)
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
		// Go cannot set flush-to-zero for its own code, so the tile is flushed afterwards,
		// which gives what the C paths give unless an input was subnormal.
		for i := i0; i < i0+rows; i++ {
			row := t.c[i*t.n+j0 : i*t.n+j0+cols]
			for j, v := range row {
				row[j] = flushf(v)
			}
		}
	}
}

// Limits of the products that the AVX2 small-GEMM kernels take. The kernels read A and B in
// place, where OpenBLAS first copies both into packed buffers, which costs about as much as
// the product itself when m is a small batch. Past smallGemmMaxRows rows the packing pays for
// itself. The kernels do not block B for the cache, so where OpenBLAS is loaded they take only
// a B of at most smallGemmMaxB elements (1 MiB), which stays in a core's L2 cache. On one
// thread of a 2-core AMD EPYC (Zen 4), BenchmarkSmallGemm measured them 1 to 18% faster than
// OpenBLAS 0.3.21 on the recurrent products of H = 128 and 256 with B = 32, and 11 to 33%
// slower at H = 512 with B = 64.
const (
	smallGemmMaxRows = 64
	smallGemmMaxB    = 1 << 18
)

// useSmallGemm reports whether Gemm runs the AVX2 small-GEMM kernels. They must be built and
// supported by the processor. A must not be transposed, alpha must be 1 and beta 0 or 1, and
// m at most smallGemmMaxRows. Where OpenBLAS is loaded (haveBLAS), B may have at most
// smallGemmMaxB elements. The kernels read B's rows (or a transposed B's rows, of k elements)
// in blocks of 8, so their length must be a multiple of 8.
func useSmallGemm(transA, transB bool, m, n, k int, alpha, beta float32, haveBLAS bool) bool {
	if !smallGemmBuilt || transA || alpha != 1 || (beta != 0 && beta != 1) ||
		m > smallGemmMaxRows || n > math.MaxInt32/max(k, 1) {
		return false
	}
	if haveBLAS && k*n > smallGemmMaxB {
		return false
	}
	if transB {
		return k%8 == 0
	}
	return n%8 == 0
}

// smallGemmTask splits C's columns into parts, on multiples of 16, and computes each part's
// columns of every row with one call of the small-GEMM kernels.
type smallGemmTask struct {
	transB     bool
	m, n, k    int
	a, b, c    []float32
	accumulate bool
	parts      int
}

func (t *smallGemmTask) run(lo, hi int) {
	for part := lo; part < hi; part++ {
		j0, j1 := blockRange(t.n, t.parts, part)
		if j0 < j1 {
			smallGemm(t.transB, t.m, t.n, t.k, t.a, t.b, t.c, j0, j1, t.accumulate)
		}
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
