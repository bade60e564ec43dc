package enginetest

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Tolerance bounds the error of one element: a result passes when
// |got − want| ≤ Atol + Rtol·|want|.
type Tolerance struct {
	Atol, Rtol float64
}

// bound returns the largest error allowed for an element whose reference value is want.
func (tol Tolerance) bound(want float64) float64 {
	return tol.Atol + tol.Rtol*math.Abs(want)
}

// Tolerances contains one Tolerance per kind of check. A backend that computes in a lower
// precision than float32 (TF32 or BF16 matrix products, say) passes larger ones.
type Tolerances struct {
	// Elementwise covers arithmetic with a few roundings per element and no transcendental
	// function: Axpy, Mul, AddBias, Dropout's scaling and EmbeddingBackward.
	Elementwise Tolerance
	// Activation covers the operations that evaluate exp, tanh or σ: LSTMForward,
	// LSTMBackward, RNNForward, RNNBackward and SoftmaxCrossEntropy.
	Activation Tolerance
	// GEMM covers Gemm on values in [−1, 1] with inner dimensions of up to 96.
	GEMM Tolerance
	// Reduction covers sums over up to a few hundred rows or tens of thousands of elements:
	// SumRows and the norm that ClipGradNorm returns.
	Reduction Tolerance
	// Optimizer covers the gradients after ClipGradNorm and the parameters and optimizer
	// state after AdamStep, SGDStep and RMSpropStep.
	Optimizer Tolerance
	// Model covers a whole model's loss, logits, parameter gradients and final state.
	Model Tolerance
}

// DefaultFloat32 contains the tolerances for a backend that computes in float32 throughout. The
// unit roundoff of float32 is u = 2⁻²⁴ ≈ 6.0e-8, and the suite's inputs are of order 1, so
// each bound is a count of roundings times u, with headroom for a backend that orders its
// additions differently from the CPU backend.
var DefaultFloat32 = Tolerances{
	// Up to about 4 roundings of values of order 1 (EmbeddingBackward adds up to 4 rows into
	// one), so 8u each way. Atol covers the cancellation in Axpy and the sums.
	Elementwise: Tolerance{Atol: 5e-7, Rtol: 5e-7},
	// An LSTM backward step chains about 10 roundings through values of order 1, and a
	// float32 exp, tanh or σ is good to 1 or 2 ulps, so 16u each way.
	Activation: Tolerance{Atol: 1e-6, Rtol: 1e-6},
	// A float32 dot product of length k has an error of about √k·u·√Σ(aᵢbᵢ)² for random
	// inputs (k·u·Σ|aᵢbᵢ| at worst). For k = 96 on [−1, 1] that is about 2e-6; 1e-5 leaves a
	// factor of 5 for blocked or fused-multiply-add orders.
	GEMM: Tolerance{Atol: 1e-5, Rtol: 1e-5},
	// Over n terms of order 1 and random sign, a serial float32 sum errs by about u·n/√2,
	// while the sum itself is of order √n. Atol therefore covers the columns that cancel:
	// for the 600 rows of the SumRows check the error is about 2.5e-5. A serial sum of n squares errs by about √n·u
	// relative, 1.6e-5 for the 70,001 squares of the largest norm, and the square root
	// halves that.
	Reduction: Tolerance{Atol: 5e-5, Rtol: 1e-5},
	// An update of parameters of order 1 rounds a few times. When a backend computes Adam's
	// bias correction 1 − βᵗ in float32, β₂ = 0.999 magnifies the rounding of βᵗ 1000 times,
	// to about 6e-5 relative, which moves an update of size lr = 1e-2 by a few 1e-7.
	Optimizer: Tolerance{Atol: 1e-6, Rtol: 1e-6},
	// The model chains about 50 roundings from the ids to a gradient (3 layers, 6 steps,
	// forward and backward), on values of order 1 and gradients of order 1e-2, which in the
	// worst case accumulate to about 50u = 3e-6 relative. The CPU backend, which accumulates
	// in float64, uses under a tenth of this.
	Model: Tolerance{Atol: 1e-6, Rtol: 1e-5},
}

// kind names a field of Tolerances, or an exact comparison.
type kind int

const (
	kindExact kind = iota
	kindElementwise
	kindActivation
	kindGEMM
	kindReduction
	kindOptimizer
	kindModel
	numKinds
)

var kindNames = [numKinds]string{"Exact", "Elementwise", "Activation", "GEMM", "Reduction",
	"Optimizer", "Model"}

func (k kind) String() string { return kindNames[k] }

// tolerance returns the Tolerance of kind k. kindExact allows no difference at all.
func (tols Tolerances) tolerance(k kind) Tolerance {
	switch k {
	case kindElementwise:
		return tols.Elementwise
	case kindActivation:
		return tols.Activation
	case kindGEMM:
		return tols.GEMM
	case kindReduction:
		return tols.Reduction
	case kindOptimizer:
		return tols.Optimizer
	case kindModel:
		return tols.Model
	}
	return Tolerance{}
}

// maxFailuresShown is the number of failing elements that a comparison prints one by one
// before it prints only its summary.
const maxFailuresShown = 3

// comparison is the outcome of comparing one tensor with its reference.
type comparison struct {
	worstIndex int     // element with the largest share of its bound, -1 for none
	worstShare float64 // |got − want| / bound at worstIndex; +Inf when the bound is 0
	maxDiff    float64 // largest |got − want| of any element
	failures   []int   // indices of the elements outside their bound
}

// compareValues compares got with want element by element under tol. NaN matches NaN and an
// infinity matches the same infinity; any other non-finite value fails.
func compareValues(got []float32, want []float64, tol Tolerance) comparison {
	res := comparison{worstIndex: -1}
	for i, w := range want {
		g := float64(got[i])
		if g == w || (math.IsNaN(g) && math.IsNaN(w)) {
			continue
		}
		diff := math.Abs(g - w)
		if math.IsNaN(diff) {
			diff = math.Inf(1)
		}
		share := math.Inf(1)
		if b := tol.bound(w); b > 0 && !math.IsInf(diff, 1) {
			share = diff / b
		}
		res.maxDiff = math.Max(res.maxDiff, diff)
		if res.worstIndex < 0 || share > res.worstShare {
			res.worstIndex, res.worstShare = i, share
		}
		if share > 1 {
			res.failures = append(res.failures, i)
		}
	}
	return res
}

// recorder collects the largest share of its tolerance that any check of each kind used, so
// that Run can log a summary when its subtests end.
type recorder struct {
	mu    sync.Mutex
	worst [numKinds]float64
	where [numKinds]string
	count [numKinds]int
}

func (r *recorder) add(k kind, share float64, where string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[k]++
	if share > r.worst[k] || r.where[k] == "" {
		r.worst[k], r.where[k] = share, where
	}
}

// summary returns one line per kind of check: the number of tensors compared and the largest
// share of the tolerance used, with the check that used it.
func (r *recorder) summary(tols Tolerances) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for k := kind(0); k < numKinds; k++ {
		if r.count[k] == 0 {
			continue
		}
		tol := tols.tolerance(k)
		lines = append(lines, fmt.Sprintf("%-11s atol %.0e rtol %.0e: %4d tensors, largest share %s (%s)",
			k, tol.Atol, tol.Rtol, r.count[k], formatShare(r.worst[k]), r.where[k]))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// formatShare writes a share of the tolerance as a percentage up to 100%, and as a multiple
// of the tolerance above.
func formatShare(share float64) string {
	switch {
	case math.IsInf(share, 1):
		return "inf"
	case share > 1:
		return fmt.Sprintf("%.3g×", share)
	}
	return fmt.Sprintf("%.1f%%", 100*share)
}

// checker compares a backend's results with the reference and reports each comparison.
type checker struct {
	t    *testing.T
	tols Tolerances
	rec  *recorder
}

// compare checks got against want under the tolerance of kind k. On success it logs the
// largest difference and the share of the tolerance it used. On failure it reports up to
// maxFailuresShown elements with their index, got and want, then how far outside the
// tolerance the worst element lies.
func (c *checker) compare(k kind, name string, got []float32, want []float64) {
	c.t.Helper()
	if len(got) != len(want) {
		c.t.Errorf("%s: got %d elements, want %d", name, len(got), len(want))
		c.rec.add(k, math.Inf(1), c.t.Name()+": "+name)
		return
	}
	tol := c.tols.tolerance(k)
	res := compareValues(got, want, tol)
	c.rec.add(k, res.worstShare, c.t.Name()+": "+name)

	if len(res.failures) == 0 {
		if res.worstIndex < 0 {
			c.t.Logf("%s: %d elements, all equal (%s)", name, len(got), k)
			return
		}
		i := res.worstIndex
		c.t.Logf("%s: %d elements, max |got−want| %.3g, largest share %s of %s tolerance "+
			"at [%d] (got %.9g, want %.9g)",
			name, len(got), res.maxDiff, formatShare(res.worstShare), k, i, got[i], want[i])
		return
	}
	for _, i := range res.failures[:min(len(res.failures), maxFailuresShown)] {
		c.t.Errorf("%s[%d]: got %.9g, want %.9g (|got−want| %.3g, allowed %.3g)",
			name, i, got[i], want[i], math.Abs(float64(got[i])-want[i]), tol.bound(want[i]))
	}
	i := res.worstIndex
	c.t.Errorf("%s: %d of %d elements outside the %s tolerance (atol %g, rtol %g); "+
		"the worst, [%d], used %s of it (got %.9g, want %.9g)",
		name, len(res.failures), len(got), k, tol.Atol, tol.Rtol, i, formatShare(res.worstShare),
		got[i], want[i])
}

// compareScalar checks one value.
func (c *checker) compareScalar(k kind, name string, got float32, want float64) {
	c.t.Helper()
	c.compare(k, name, []float32{got}, []float64{want})
}

// exact checks that got equals want bit for bit, apart from the sign of zero and NaN
// payloads.
func (c *checker) exact(name string, got, want []float32) {
	c.t.Helper()
	c.compare(kindExact, name, got, float64s(want))
}
