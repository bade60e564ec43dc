// Package enginetest is the conformance suite of recur's backends. Run checks every
// operation of an engine.Backend, then a whole model's forward pass, backward pass and
// optimizer step, against the float64 reference in package cpuref, run on the same inputs.
//
// A backend's own tests call it:
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, func(t *testing.T) engine.Backend { return newBackend(t) },
//			enginetest.DefaultFloat32)
//	}
//
// Each comparison logs its largest difference and the share of its tolerance it used, so
// `go test -v` shows how close a backend is to failing. A failing comparison prints the
// tensor, the index, got and want.
//
// The package imports lstm for the whole-model checks, so a test file in package engine
// cannot import it. Backend tests that run the suite belong to an external test package
// (engine_test) or to this package, as cpu_test.go does.
package enginetest

import (
	"math/rand/v2"
	"testing"

	"github.com/recur-ml/recur/engine"
)

// Run runs the conformance suite as subtests of t. newBackend returns a fresh backend for
// one subtest, and Run closes it when that subtest ends. tols gives the tolerance of each
// kind of check, DefaultFloat32 for a backend that computes in float32.
func Run(t *testing.T, newBackend func(t *testing.T) engine.Backend, tols Tolerances) {
	rec := &recorder{}
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"UploadDownload", testUploadDownload},
		{"FillCopy", testFillCopy},
		{"Axpy", testAxpy},
		{"Mul", testMul},
		{"Gemm", testGemm},
		{"AddBias", testAddBias},
		{"SumRows", testSumRows},
		{"EmbeddingForward", testEmbeddingForward},
		{"EmbeddingBackward", testEmbeddingBackward},
		{"LSTMForward", testLSTMForward},
		{"LSTMBackward", testLSTMBackward},
		{"GRUForward", testGRUForward},
		{"GRUForwardBias", testGRUForwardBias},
		{"GRUBackward", testGRUBackward},
		{"RNNForward", testRNNForward},
		{"RNNBackward", testRNNBackward},
		{"SoftmaxCrossEntropy", testSoftmaxCrossEntropy},
		{"Dropout", testDropout},
		{"ClipGradNorm", testClipGradNorm},
		{"AdamStep", testAdamStep},
		{"SGDStep", testSGDStep},
		{"RMSpropStep", testRMSpropStep},
		{"Stack", testStack},
		{"Model", testModel},
		{"ModelTwoChunks", testModelTwoChunks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			t.Cleanup(func() {
				if err := be.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			e := &env{
				checker: checker{t: t, tols: tols, rec: rec},
				be:      be,
				rng:     rand.New(rand.NewPCG(suiteSeed, uint64(len(tc.name)))),
			}
			tc.fn(e)
			if err := be.Sync(); err != nil {
				t.Errorf("Sync after %s: %v", tc.name, err)
			}
		})
	}
	t.Logf("largest share of each tolerance used:\n%s", rec.summary(tols))
}

// suiteSeed seeds every subtest's random source, so that each run draws the same inputs.
const suiteSeed = 0x5EED

// env is the context of one subtest: the backend under test, a seeded random source and the
// checker that compares results with the reference.
type env struct {
	checker
	be  engine.Backend
	rng *rand.Rand
}

// upload returns a new tensor holding x.
func (e *env) upload(x []float32) engine.Tensor {
	t := e.be.Alloc(len(x))
	e.be.Upload(t, x)
	return t
}

// download returns the contents of t.
func (e *env) download(t engine.Tensor) []float32 {
	x := make([]float32, t.Len())
	e.be.Download(x, t)
	return x
}

// uniform returns n values drawn uniformly from [lo, hi), rounded to float32.
func (e *env) uniform(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*e.rng.Float64())
	}
	return x
}

// ids returns n token ids drawn uniformly from [0, V).
func (e *env) ids(n, V int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(e.rng.IntN(V))
	}
	return ids
}

// float64s converts x to float64, exactly.
func float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// ints converts token ids to the int slices that cpuref takes.
func ints(ids []int32) []int {
	out := make([]int, len(ids))
	for i, v := range ids {
		out[i] = int(v)
	}
	return out
}

// padded places x at offset off of a tensor of len(x)+off+tail elements whose other elements
// are set to the sentinel value guard, and returns the whole tensor and the view of x. Operations
// on the view must leave the guard elements alone, which checkGuard verifies.
func (e *env) padded(x []float32, off, tail int) (whole, view engine.Tensor) {
	host := make([]float32, off+len(x)+tail)
	for i := range host {
		host[i] = guard
	}
	copy(host[off:], x)
	whole = e.upload(host)
	return whole, whole.Slice(off, len(x))
}

// guard is the value that padded writes around a view.
const guard = -77.25

// checkGuard verifies that the len(whole)−off−n elements of whole outside the view
// [off, off+n) still equal guard.
func (e *env) checkGuard(name string, whole engine.Tensor, off, n int) {
	e.t.Helper()
	host := e.download(whole)
	for i, v := range host {
		if (i < off || i >= off+n) && v != guard {
			e.t.Errorf("%s: element %d outside the view [%d, %d) changed from %g to %g",
				name, i, off, off+n, float32(guard), v)
			return
		}
	}
}
