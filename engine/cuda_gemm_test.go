package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// columnMajorSgemm is the reference column-major GEMM of BLAS: C = alpha·op(A)·op(B) + beta·C
// with op(A) m×k, op(B) k×n and C m×n, element (i, j) of a matrix X with leading dimension
// ld being X[i + j·ld]. It multiplies in float64.
func columnMajorSgemm(transa, transb bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	opA := func(i, l int) float64 {
		if transa {
			return float64(a[l+i*lda])
		}
		return float64(a[i+l*lda])
	}
	opB := func(l, j int) float64 {
		if transb {
			return float64(b[j+l*ldb])
		}
		return float64(b[l+j*ldb])
	}
	for j := 0; j < n; j++ {
		for i := 0; i < m; i++ {
			var sum float64
			for l := 0; l < k; l++ {
				sum += opA(i, l) * opB(l, j)
			}
			c[i+j*ldc] = float32(float64(alpha)*sum + float64(beta)*float64(c[i+j*ldc]))
		}
	}
}

// TestRowMajorGemmMapping executes the cuBLAS call that rowMajorGemm returns with a plain
// column-major GEMM and compares C with gonum's row-major Sgemm, for every transpose and for
// shapes whose dimensions all differ.
func TestRowMajorGemmMapping(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.Float64()*2 - 1)
		}
		return x
	}
	shapes := []struct{ m, n, k int }{{1, 1, 1}, {3, 5, 7}, {7, 2, 9}, {13, 17, 4}, {1, 9, 5},
		{6, 1, 3}, {4, 3, 1}}
	for _, s := range shapes {
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				name := fmt.Sprintf("%d×%d×%d transA=%v transB=%v", s.m, s.n, s.k, transA, transB)
				a, b := random(s.m*s.k), random(s.k*s.n)
				c := random(s.m * s.n)
				const alpha, beta = 1.5, -0.5

				want := append([]float32(nil), c...)
				lda, ldb := s.k, s.n
				tA, tB := blas.NoTrans, blas.NoTrans
				if transA {
					lda, tA = s.m, blas.Trans
				}
				if transB {
					ldb, tB = s.k, blas.Trans
				}
				gonum.Implementation{}.Sgemm(tA, tB, s.m, s.n, s.k, alpha, a, lda, b, ldb,
					beta, want, s.n)

				g := rowMajorGemm(transA, transB, s.m, s.n, s.k, a, b)
				got := append([]float32(nil), c...)
				columnMajorSgemm(g.transa, g.transb, g.m, g.n, g.k, alpha, g.a, g.lda, g.b,
					g.ldb, beta, got, g.ldc)

				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
						t.Errorf("%s: C[%d] = %g, want %g", name, i, got[i], want[i])
						break
					}
				}
				checkLeadingDimensions(t, name, g)
			}
		}
	}
}

// checkLeadingDimensions checks cuBLAS's requirements on a call's leading dimensions:
// lda ≥ max(1, transa ? k : m), ldb ≥ max(1, transb ? n : k), ldc ≥ max(1, m).
func checkLeadingDimensions(t *testing.T, name string, g columnMajorGemm[[]float32]) {
	t.Helper()
	rowsA, rowsB := g.m, g.k
	if g.transa {
		rowsA = g.k
	}
	if g.transb {
		rowsB = g.n
	}
	if g.lda < max(1, rowsA) || g.ldb < max(1, rowsB) || g.ldc < max(1, g.m) {
		t.Errorf("%s: lda=%d ldb=%d ldc=%d, want at least %d, %d and %d", name, g.lda, g.ldb,
			g.ldc, max(1, rowsA), max(1, rowsB), max(1, g.m))
	}
}

func TestCUDAGemmQueuesMappedCall(t *testing.T) {
	c, dev, _, _ := newFakeCUDA(t)
	a, b, cm := c.Alloc(2*3), c.Alloc(3*4), c.Alloc(2*4+1).Slice(1, 8)

	c.Gemm(true, false, 2, 4, 3, 2, a, b, 0, cm)

	if len(dev.gemms) != 1 {
		t.Fatalf("Gemm queued %d cuBLAS calls, want 1", len(dev.gemms))
	}
	got := dev.gemms[0]
	want := rowMajorGemm(true, false, 2, 4, 3, ptrOf(a), ptrOf(b))
	if got.g != want || got.alpha != 2 || got.beta != 0 || got.c != ptrOf(cm) {
		t.Errorf("queued %+v alpha=%g beta=%g C=%v; want %+v alpha=2 beta=0 C=%v", got.g,
			got.alpha, got.beta, got.c, want, ptrOf(cm))
	}
	if got.g.a != ptrOf(b) || got.g.b != ptrOf(a) {
		t.Errorf("cuBLAS operands (%v, %v), want B first and A second (%v, %v)", got.g.a,
			got.g.b, ptrOf(b), ptrOf(a))
	}
}

func TestCUDAGemmDegenerate(t *testing.T) {
	c, dev, _, _ := newFakeCUDA(t)
	empty, cm := c.Alloc(0), c.Alloc(6)
	dev.memsets, dev.launches = nil, nil

	c.Gemm(false, false, 2, 3, 0, 1, empty, empty, 0, cm)
	if len(dev.memsets) != 1 || dev.memsets[0] != (fakeMemset{ptrOf(cm), 0, 6}) {
		t.Errorf("k=0 beta=0 queued memsets %+v, want one zeroing C's 6 elements", dev.memsets)
	}
	dev.memsets = nil
	c.Gemm(false, false, 2, 3, 0, 1, empty, empty, 1, cm)            // C = 1·C
	c.Gemm(false, false, 0, 3, 4, 1, empty, c.Alloc(12), 0.5, empty) // C has no elements
	if len(dev.gemms) != 0 || len(dev.launches) != 0 || len(dev.memsets) != 1 {
		t.Errorf("beta=1 and m=0 queued %d GEMMs, %d launches and %d memsets; want only the "+
			"memset that zero-fills the Alloc(12)", len(dev.gemms), len(dev.launches),
			len(dev.memsets))
	}
}

func TestParsePrecision(t *testing.T) {
	tests := []struct {
		in, name string
		fast     bool
	}{{"", "fp32", false}, {"fp32", "fp32", false}, {"tf32", "tf32", true}, {"bf16", "bf16", true}}
	for _, tc := range tests {
		p, err := parsePrecision(tc.in)
		if err != nil || p.name != tc.name || p.fast != tc.fast {
			t.Errorf("parsePrecision(%q) = %+v, %v; want %s, fast %v", tc.in, p, err, tc.name,
				tc.fast)
		}
	}
	for _, in := range []string{"fp16", "FP32", "tf-32"} {
		if _, err := parsePrecision(in); err == nil {
			t.Errorf("parsePrecision(%q) succeeded, want an error", in)
		}
	}
}
