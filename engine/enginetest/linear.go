package enginetest

import (
	"fmt"
	"math"

	"github.com/recur-ml/recur/cpuref"
)

// gemmShape is one m×n×k product of the Gemm checks.
type gemmShape struct{ m, n, k int }

var gemmShapes = []gemmShape{
	{1, 1, 1},
	{7, 5, 3},
	{64, 96, 80},
	// More than one 64-row block of C in each direction, so that a backend that tiles C
	// across threads computes several tiles.
	{130, 200, 33},
}

// gemmScalings are the (alpha, beta) pairs of the Gemm checks. beta = 0 must overwrite C
// without reading it, as in BLAS, so those checks start from a C full of NaN.
var gemmScalings = []struct{ alpha, beta float32 }{
	{1, 0},
	{0.5, -1.5},
	{-2, 1},
}

func testGemm(e *env) {
	for _, s := range gemmShapes {
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				for _, sc := range gemmScalings {
					name := fmt.Sprintf("C %d×%d×%d transA=%v transB=%v alpha=%g beta=%g",
						s.m, s.n, s.k, transA, transB, sc.alpha, sc.beta)
					checkGemm(e, name, s, transA, transB, sc.alpha, sc.beta)
				}
			}
		}
	}

	// alpha = 0 scales C by beta and reads neither A nor B.
	checkGemm(e, "C 7×5×3 alpha=0 beta=0.5", gemmShape{7, 5, 3}, false, false, 0, 0.5)
}

// checkGemm runs one product on views at odd offsets into larger tensors, compares C with
// cpuref.Gemm and checks that nothing outside C's view changed.
func checkGemm(e *env, name string, s gemmShape, transA, transB bool, alpha, beta float32) {
	e.t.Helper()
	a := e.uniform(s.m*s.k, -1, 1)
	b := e.uniform(s.k*s.n, -1, 1)
	c := e.uniform(s.m*s.n, -1, 1)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	_, aView := e.padded(a, 3, 1)
	_, bView := e.padded(b, 5, 2)
	cWhole, cView := e.padded(c, 2, 3)

	e.be.Gemm(transA, transB, s.m, s.n, s.k, alpha, aView, bView, beta, cView)

	want := float64s(c)
	cpuref.Gemm(transA, transB, s.m, s.n, s.k, float64(alpha), float64s(a), float64s(b),
		float64(beta), want)
	e.compare(kindGEMM, name, e.download(cView), want)
	e.checkGuard(name, cWhole, 2, len(c))
}

// matrixShapes are the rows×cols shapes of the AddBias and SumRows checks: a small odd one
// and one of more than 10⁵ elements and 256 rows, which a threaded backend splits.
var matrixShapes = []struct{ rows, cols int }{
	{1, 1},
	{5, 7},
	{600, 257},
}

func testAddBias(e *env) {
	for _, s := range matrixShapes {
		name := fmt.Sprintf("y %d×%d", s.rows, s.cols)
		y := e.uniform(s.rows*s.cols, -1, 1)
		bias := e.uniform(s.cols, -1, 1)
		yWhole, yView := e.padded(y, 1, 2)
		_, biasView := e.padded(bias, 3, 1)

		e.be.AddBias(yView, biasView, s.rows, s.cols)

		want := make([]float64, len(y))
		for r := 0; r < s.rows; r++ {
			for j := 0; j < s.cols; j++ {
				want[r*s.cols+j] = float64(y[r*s.cols+j]) + float64(bias[j])
			}
		}
		e.compare(kindElementwise, name, e.download(yView), want)
		e.checkGuard(name, yWhole, 1, len(y))
	}
}

func testSumRows(e *env) {
	for _, s := range matrixShapes {
		name := fmt.Sprintf("dst of x %d×%d", s.rows, s.cols)
		x := e.uniform(s.rows*s.cols, -1, 1)
		dst := e.uniform(s.cols, -1, 1) // SumRows accumulates, so dst starts nonzero
		dstWhole, dstView := e.padded(dst, 2, 1)
		_, xView := e.padded(x, 1, 1)

		e.be.SumRows(dstView, xView, s.rows, s.cols)

		want := float64s(dst)
		for r := 0; r < s.rows; r++ {
			for j := 0; j < s.cols; j++ {
				want[j] += float64(x[r*s.cols+j])
			}
		}
		e.compare(kindReduction, name, e.download(dstView), want)
		e.checkGuard(name, dstWhole, 2, len(dst))
	}
}
