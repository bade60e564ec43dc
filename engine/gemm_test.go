package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmReference returns alpha·op(A)·op(B) + beta·C in float64, with beta = 0 ignoring C.
func gemmReference(transA, transB bool, m, n, k int, alpha float64, a, b []float32,
	beta float64, c []float32) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				av := a[i*k+l]
				if transA {
					av = a[l*m+i]
				}
				bv := b[l*n+j]
				if transB {
					bv = b[j*k+l]
				}
				s += float64(av) * float64(bv)
			}
			out[i*n+j] = alpha * s
			if beta != 0 {
				out[i*n+j] += beta * float64(c[i*n+j])
			}
		}
	}
	return out
}

// forEachGemm runs test as a subtest on the gonum GEMM and on the system OpenBLAS, whose
// subtest skips where it is missing.
func forEachGemm(t *testing.T, threads int, test func(t *testing.T, cpu *CPU)) {
	t.Run("gonum", func(t *testing.T) { test(t, newTestCPU(t, threads, "gonum")) })
	t.Run("blas", func(t *testing.T) { test(t, systemBLASCPU(t, threads)) })
}

func TestGemmTransposes(t *testing.T) {
	// 7×5×3 is smaller than a tile; 70×200×9 spans 2×2 tiles of the gonum path with partial
	// edge tiles.
	shapes := [][3]int{{7, 5, 3}, {70, 200, 9}}
	forEachGemm(t, 2, func(t *testing.T, cpu *CPU) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, shape := range shapes {
			m, n, k := shape[0], shape[1], shape[2]
			for _, trans := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				name := fmt.Sprintf("m%d_n%d_k%d_transA=%v_transB=%v", m, n, k, trans[0], trans[1])
				a := randomValues(rng, m*k, -1, 1)
				b := randomValues(rng, k*n, -1, 1)
				c0 := randomValues(rng, m*n, -1, 1)
				av, bv, cv := newView(cpu, a), newView(cpu, b), newView(cpu, c0)
				cpu.Gemm(trans[0], trans[1], m, n, k, 0.75, av, bv, -0.5, cv)
				want := gemmReference(trans[0], trans[1], m, n, k, 0.75, a, b, -0.5, c0)
				checkClose(t, name+" C", Float32s(cv), want, gemmAtol, gemmRtol)
				checkGuards(t, name+" C", cv)
				checkEqual(t, name+" A", Float32s(av), a)
			}
		}
	})
}

func TestGemmBetaZeroOverwritesNaN(t *testing.T) {
	forEachGemm(t, 1, func(t *testing.T, cpu *CPU) {
		const m, n, k = 3, 4, 2
		rng := rand.New(rand.NewPCG(3, 4))
		a, b := randomValues(rng, m*k, -1, 1), randomValues(rng, k*n, -1, 1)
		c0 := make([]float32, m*n)
		for i := range c0 {
			c0[i] = float32(math.NaN())
		}
		cv := newView(cpu, c0)
		cpu.Gemm(false, false, m, n, k, 1, newView(cpu, a), newView(cpu, b), 0, cv)
		want := gemmReference(false, false, m, n, k, 1, a, b, 0, nil)
		checkClose(t, "C", Float32s(cv), want, gemmAtol, gemmRtol)
	})
}

func TestGemmZeroK(t *testing.T) {
	forEachGemm(t, 1, func(t *testing.T, cpu *CPU) {
		cv := newView(cpu, []float32{1, 2, 3, 4, 5, 6})
		cpu.Gemm(false, true, 2, 3, 0, 1, cpu.Alloc(0), cpu.Alloc(0), 2, cv)
		checkEqual(t, "C", Float32s(cv), []float32{2, 4, 6, 8, 10, 12})
		checkGuards(t, "C", cv)
	})
}

func TestGemmShapeMismatchPanics(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	expectPanic(t, func() {
		cpu.Gemm(false, false, 2, 3, 4, 1, cpu.Alloc(8), cpu.Alloc(11), 0, cpu.Alloc(6))
	}, "Gemm", "b has 11 elements, want 12")
}

// TestGemmGonumThreadsIdentical checks that the tiling of the gonum path gives the same bits
// for any thread count.
func TestGemmGonumThreadsIdentical(t *testing.T) {
	const m, n, k = 130, 400, 37
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := randomValues(rng, m*k, -1, 1), randomValues(rng, k*n, -1, 1)
	var first []float32
	for _, threads := range []int{1, 2, 3} {
		cpu := newTestCPU(t, threads, "gonum")
		cv := newView(cpu, make([]float32, m*n))
		cpu.Gemm(true, false, m, n, k, 1, newView(cpu, a), newView(cpu, b), 0, cv)
		if first == nil {
			first = Float32s(cv)
			continue
		}
		checkEqual(t, fmt.Sprintf("C with %d threads", threads), Float32s(cv), first)
	}
}
