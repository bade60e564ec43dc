package enginetest

import (
	"fmt"
	"math"

	"github.com/recur-ml/recur/cpuref"
)

// optimizerSizes are the parameter counts of the optimizer checks. 70001 is odd and large
// enough for a threaded backend to split the update and the norm's sum.
var optimizerSizes = []int{1, 1001, 70001}

func testClipGradNorm(e *env) {
	for _, n := range optimizerSizes {
		g := e.uniform(n, -1, 1)
		norm := 0.0
		for _, v := range g {
			norm += float64(v) * float64(v)
		}
		norm = math.Sqrt(norm)
		// Clipping to a quarter of the norm is active. Twice the norm and 0 leave g alone.
		checkClip(e, fmt.Sprintf("g of %d", n), g, float32(norm/4))
		checkClip(e, fmt.Sprintf("g of %d", n), g, float32(2*norm))
		checkClip(e, fmt.Sprintf("g of %d", n), g, 0)
	}

	// The pinned case: the norm of (3, 4) is 5, and clipping to 2 scales by 2/(5+1e-6),
	// which gives (1.2, 1.6) to float32 precision. Dividing by the squared norm would give
	// (0.24, 0.32).
	got, gotNorm := clip(e, []float32{3, 4}, 2)
	e.compareScalar(kindReduction, "norm of (3, 4)", gotNorm, 5)
	e.compare(kindOptimizer, "(3, 4) clipped to 2", got, []float64{1.2, 1.6})
	checkClip(e, "(3, 4)", []float32{3, 4}, 2)

	// An all-zero gradient has norm 0 and stays zero: the 1e-6 in the divisor avoids 0/0.
	got, gotNorm = clip(e, make([]float32, 7), 1)
	e.exact("zero gradient after clipping", got, make([]float32, 7))
	e.exact("norm of a zero gradient", []float32{gotNorm}, []float32{0})

	// A NaN anywhere makes the norm NaN, which is how the trainer detects a diverged step.
	// What happens to g then is left to the backend.
	withNaN := e.uniform(1001, -1, 1)
	withNaN[500] = float32(math.NaN())
	if _, gotNorm = clip(e, withNaN, 1); !math.IsNaN(float64(gotNorm)) {
		e.t.Errorf("norm of a gradient holding NaN: got %g, want NaN", gotNorm)
	}
}

// clip runs ClipGradNorm on a view of g, with the norm written into a view at offset 2, and
// returns g afterwards and the norm.
func clip(e *env, g []float32, maxNorm float32) (clipped []float32, norm float32) {
	e.t.Helper()
	gWhole, gView := e.padded(g, 1, 1)
	normWhole, normView := e.padded([]float32{7}, 2, 1)
	e.be.ClipGradNorm(gView, maxNorm, normView)
	e.checkGuard("g", gWhole, 1, len(g))
	e.checkGuard("norm", normWhole, 2, 1)
	return e.download(gView), e.download(normView)[0]
}

// checkClip compares ClipGradNorm's norm and clipped g with cpuref.ClipGradNorm. When
// clipping is inactive, g must be unchanged bit for bit.
func checkClip(e *env, name string, g []float32, maxNorm float32) {
	e.t.Helper()
	name = fmt.Sprintf("%s maxNorm=%g", name, maxNorm)
	got, gotNorm := clip(e, g, maxNorm)

	want := float64s(g)
	var wantNorm float64
	if maxNorm > 0 {
		wantNorm = cpuref.ClipGradNorm([][]float64{want}, float64(maxNorm))
	} else {
		// cpuref.ClipGradNorm cannot turn clipping off, so it gets an infinite maximum in place of 0.
		wantNorm = cpuref.ClipGradNorm([][]float64{want}, math.Inf(1))
	}
	e.compareScalar(kindReduction, "norm of "+name, gotNorm, wantNorm)
	if maxNorm > 0 && float64(maxNorm) < wantNorm {
		e.compare(kindOptimizer, name, got, want)
	} else {
		e.exact(name+" (inactive)", got, g)
	}
}

// Adam's hyperparameters in the checks: PyTorch's defaults with a larger learning rate, and
// a second set whose bias corrections stay far from 1 for longer.
var adamSettings = []struct{ lr, beta1, beta2, eps float32 }{
	{1e-2, 0.9, 0.999, 1e-8},
	{3e-3, 0.8, 0.99, 1e-6},
}

// optimizerGradient returns a gradient of n values of order 1, with one element in seven
// scaled by 1e-4 so that Adam's eps and RMSprop's square root see small values too.
func optimizerGradient(e *env, n int) []float32 {
	g := e.uniform(n, -1, 1)
	for i := 0; i < n; i += 7 {
		g[i] *= 1e-4
	}
	return g
}

// optimizerSteps is the number of updates each optimizer check applies. Several steps check
// that the state carries over and that the step count enters the bias corrections.
const optimizerSteps = 5

func testAdamStep(e *env) {
	for _, n := range optimizerSizes {
		for _, hp := range adamSettings {
			name := fmt.Sprintf("n=%d lr=%g beta1=%g beta2=%g eps=%g", n, hp.lr, hp.beta1,
				hp.beta2, hp.eps)
			param := e.uniform(n, -1, 1)
			pView := e.upload(param)
			_, mView := e.padded(make([]float32, n), 3, 1)
			_, vView := e.padded(make([]float32, n), 1, 2)
			wantP, wantM, wantV := float64s(param), make([]float64, n), make([]float64, n)
			for step := 1; step <= optimizerSteps; step++ {
				g := optimizerGradient(e, n)
				e.be.AdamStep(pView, e.upload(g), mView, vView, hp.lr, hp.beta1, hp.beta2,
					hp.eps, step)
				cpuref.AdamStep(wantP, float64s(g), wantM, wantV, float64(hp.lr),
					float64(hp.beta1), float64(hp.beta2), float64(hp.eps), step)
				if step == 1 || step == optimizerSteps {
					suffix := fmt.Sprintf(" %s after step %d", name, step)
					e.compare(kindOptimizer, "param"+suffix, e.download(pView), wantP)
					e.compare(kindOptimizer, "m"+suffix, e.download(mView), wantM)
					e.compare(kindOptimizer, "v"+suffix, e.download(vView), wantV)
				}
			}
		}
	}
}

func testSGDStep(e *env) {
	for _, n := range optimizerSizes {
		for _, momentum := range []float32{0, 0.9} {
			const lr = 0.05
			name := fmt.Sprintf("n=%d lr=%g momentum=%g", n, float32(lr), momentum)
			param := e.uniform(n, -1, 1)
			pView := e.upload(param)
			_, bufView := e.padded(make([]float32, n), 2, 1)
			wantP, wantBuf := float64s(param), make([]float64, n)
			for step := 1; step <= optimizerSteps; step++ {
				g := optimizerGradient(e, n)
				e.be.SGDStep(pView, e.upload(g), bufView, lr, momentum)
				cpuref.SGDStep(wantP, float64s(g), wantBuf, float64(float32(lr)), float64(momentum))
			}
			suffix := fmt.Sprintf(" %s after %d steps", name, optimizerSteps)
			e.compare(kindOptimizer, "param"+suffix, e.download(pView), wantP)
			e.compare(kindOptimizer, "buf"+suffix, e.download(bufView), wantBuf)
		}
	}
}

func testRMSpropStep(e *env) {
	for _, n := range optimizerSizes {
		for _, hp := range []struct{ lr, alpha, eps float32 }{
			{1e-2, 0.99, 1e-8},
			{2e-3, 0.9, 1e-6},
		} {
			name := fmt.Sprintf("n=%d lr=%g alpha=%g eps=%g", n, hp.lr, hp.alpha, hp.eps)
			param := e.uniform(n, -1, 1)
			pView := e.upload(param)
			_, sqView := e.padded(make([]float32, n), 1, 1)
			wantP, wantSq := float64s(param), make([]float64, n)
			for step := 1; step <= optimizerSteps; step++ {
				g := optimizerGradient(e, n)
				e.be.RMSpropStep(pView, e.upload(g), sqView, hp.lr, hp.alpha, hp.eps)
				cpuref.RMSpropStep(wantP, float64s(g), wantSq, float64(hp.lr),
					float64(hp.alpha), float64(hp.eps))
			}
			suffix := fmt.Sprintf(" %s after %d steps", name, optimizerSteps)
			e.compare(kindOptimizer, "param"+suffix, e.download(pView), wantP)
			e.compare(kindOptimizer, "square_avg"+suffix, e.download(sqView), wantSq)
		}
	}
}
