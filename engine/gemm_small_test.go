package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// smallGemmShapes covers the kernels' blocks and their edges: rows in blocks of 4 (A·B) or 2
// (A·W^T) with leftover rows, strips of 16 and 8 columns, groups of 4 output columns with
// leftover columns, and one to several blocks of 8 along k.
var smallGemmShapes = [][3]int{
	{1, 8, 8}, {2, 16, 16}, {3, 24, 40}, {4, 40, 8}, {5, 48, 128}, {7, 8, 24},
	{9, 136, 64}, {32, 512, 128}, {64, 128, 512},
}

// TestSmallGemmMatchesReference runs the shapes that Gemm hands to the AVX2 kernels, with
// beta 0 over NaN and beta 1, on both GEMM paths, and compares with float64 loops.
func TestSmallGemmMatchesReference(t *testing.T) {
	if !smallGemmBuilt {
		t.Skip("the AVX2 small-GEMM kernels are not built or not supported here")
	}
	forEachGemm(t, 2, func(t *testing.T, cpu *CPU) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, shape := range smallGemmShapes {
			m, n, k := shape[0], shape[1], shape[2]
			for _, transB := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					name := fmt.Sprintf("m%d_n%d_k%d_transB=%v_beta=%v", m, n, k, transB, beta)
					if !useSmallGemm(false, transB, m, n, k, 1, beta, cpu.blas != nil) {
						t.Fatalf("%s: Gemm does not use the small kernels", name)
					}
					a := randomValues(rng, m*k, -1, 1)
					b := randomValues(rng, k*n, -1, 1)
					c0 := randomValues(rng, m*n, -1, 1)
					if beta == 0 {
						for i := range c0 {
							c0[i] = float32(math.NaN())
						}
					}
					cv := newView(cpu, c0)
					cpu.Gemm(false, transB, m, n, k, 1, newView(cpu, a), newView(cpu, b), beta, cv)
					want := gemmReference(false, transB, m, n, k, 1, a, b, float64(beta), c0)
					checkClose(t, name+" C", Float32s(cv), want, gemmAtol, gemmRtol)
					checkGuards(t, name+" C", cv)
				}
			}
		}
	})
}

// TestSmallGemmSplitIdentical checks that the small kernels give the same bits for any
// thread count, and so for any split of C's columns.
func TestSmallGemmSplitIdentical(t *testing.T) {
	if !smallGemmBuilt {
		t.Skip("the AVX2 small-GEMM kernels are not built or not supported here")
	}
	const m, n, k = 33, 520, 136
	rng := rand.New(rand.NewPCG(9, 10))
	a, b := randomValues(rng, m*k, -1, 1), randomValues(rng, k*n, -1, 1)
	for _, transB := range []bool{false, true} {
		var first []float32
		for _, threads := range []int{1, 2, 3, 7} {
			cpu := newTestCPU(t, threads, "gonum")
			cv := newView(cpu, make([]float32, m*n))
			cpu.Gemm(false, transB, m, n, k, 1, newView(cpu, a), newView(cpu, b), 0, cv)
			if first == nil {
				first = Float32s(cv)
				continue
			}
			checkEqual(t, fmt.Sprintf("transB=%v C with %d threads", transB, threads),
				Float32s(cv), first)
		}
	}
}

// TestUseSmallGemm checks which products Gemm hands to the small kernels.
func TestUseSmallGemm(t *testing.T) {
	if !smallGemmBuilt {
		t.Skip("the AVX2 small-GEMM kernels are not built or not supported here")
	}
	cases := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		alpha, beta    float32
		haveBLAS       bool
		want           bool
	}{
		{"recurrent step", false, true, 32, 512, 128, 1, 1, true, true},
		{"state gradient", false, false, 32, 128, 512, 1, 0, true, true},
		{"transposed A", true, false, 32, 128, 512, 1, 0, true, false},
		{"alpha 2", false, false, 32, 128, 512, 2, 0, true, false},
		{"beta 0.5", false, false, 32, 128, 512, 1, 0.5, true, false},
		{"too many rows", false, false, smallGemmMaxRows + 1, 128, 512, 1, 0, true, false},
		{"n not a multiple of 8", false, false, 32, 100, 512, 1, 0, true, false},
		{"k not a multiple of 8", false, true, 32, 512, 100, 1, 0, true, false},
		{"large B with OpenBLAS", false, true, 64, 2048, 512, 1, 1, true, false},
		{"large B without OpenBLAS", false, true, 64, 2048, 512, 1, 1, false, true},
	}
	for _, c := range cases {
		got := useSmallGemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, c.beta, c.haveBLAS)
		if got != c.want {
			t.Errorf("%s: useSmallGemm = %v, want %v", c.name, got, c.want)
		}
	}
}
