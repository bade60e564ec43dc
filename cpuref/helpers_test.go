package cpuref

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Tolerances, each used as |got − want| ≤ atol + rtol·|want|.
const (
	// Hand-computed values repeat the same float64 formula in another order, so only a few
	// roundings separate them.
	handAtol = 1e-12
	handRtol = 1e-12

	// Central differences with step fdStep have a truncation error near fdStep²·|f'''|, about
	// 1e-12, and a rounding error near 1e-16/fdStep, about 1e-10, for losses of order 1. A wrong
	// gradient formula is off by 1e-3 or more on these small models.
	fdStep = 1e-6
	fdAtol = 1e-7
	fdRtol = 1e-5
)

// maxReported caps the mismatches one assertClose call lists.
const maxReported = 8

func withinTolerance(got, want, atol, rtol float64) bool {
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

// assertClose reports every index where got and want differ by more than atol + rtol·|want|,
// up to maxReported of them, with the tensor's name and both values. NaN never passes.
func assertClose(t *testing.T, name string, got, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has length %d, expected %d", name, len(got), len(want))
		return
	}
	reported := 0
	for k := range got {
		if withinTolerance(got[k], want[k], atol, rtol) {
			continue
		}
		t.Errorf("%s[%d] = %.17g, expected %.17g (|diff| %.3g, tolerance %.3g)",
			name, k, got[k], want[k], math.Abs(got[k]-want[k]), atol+rtol*math.Abs(want[k]))
		reported++
		if reported == maxReported {
			t.Errorf("%s: more mismatches not listed", name)
			return
		}
	}
}

func assertScalar(t *testing.T, name string, got, want, atol, rtol float64) {
	t.Helper()
	assertClose(t, name, []float64{got}, []float64{want}, atol, rtol)
}

// randomSlice returns n values drawn uniformly from [−scale, scale).
func randomSlice(rng *rand.Rand, n int, scale float64) []float64 {
	x := make([]float64, n)
	for k := range x {
		x[k] = scale * (2*rng.Float64() - 1)
	}
	return x
}

// centralDifference estimates d loss / d x[k] as (loss(x+h) − loss(x−h)) / 2h with h = fdStep,
// and restores x[k].
func centralDifference(loss func() float64, x []float64, k int) float64 {
	saved := x[k]
	x[k] = saved + fdStep
	plus := loss()
	x[k] = saved - fdStep
	minus := loss()
	x[k] = saved
	return (plus - minus) / (2 * fdStep)
}

// numericGradient returns the central-difference gradient of loss with respect to every entry
// of x.
func numericGradient(loss func() float64, x []float64) []float64 {
	grad := make([]float64, len(x))
	for k := range x {
		grad[k] = centralDifference(loss, x, k)
	}
	return grad
}

func dot(a, b []float64) float64 {
	sum := 0.0
	for k := range a {
		sum += a[k] * b[k]
	}
	return sum
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
