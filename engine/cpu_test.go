package engine

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// Tolerances of the form |got − want| ≤ atol + rtol·|want| against float64 loops.
const (
	// Element-wise and fused float32 operations: a few float32 roundings per element.
	elementAtol = 1e-6
	elementRtol = 1e-5
	// GEMM with k ≤ 20 and inputs in [-1, 1): k float32 products and sums.
	gemmAtol = 1e-5
	gemmRtol = 1e-5
)

// guard fills the elements around every view that a test hands to an operation, so that a
// write outside the view shows up.
const guard = float32(-7777)

// viewOffset is where test views start inside their backing tensor.
const viewOffset = 3

func newTestCPU(t testing.TB, threads int, gemm string) *CPU {
	t.Helper()
	cpu, err := NewCPU(CPUOptions{Threads: threads, GEMM: gemm})
	if err != nil {
		t.Fatalf("NewCPU(threads %d, GEMM %q): %v", threads, gemm, err)
	}
	t.Cleanup(func() {
		cpu.Close()
		clear(guardedViews)
	})
	return cpu
}

// guardedViews maps the first element of each view that newView made to the whole tensor
// around it. newTestCPU's cleanup empties it.
var guardedViews = map[*float32][]float32{}

// newView returns a tensor holding vals at viewOffset inside a larger tensor whose other
// elements are guard.
func newView(c *CPU, vals []float32) Tensor {
	whole := c.Alloc(len(vals) + 2*viewOffset)
	data := Float32s(whole)
	for i := range data {
		data[i] = guard
	}
	view := whole.Slice(viewOffset, len(vals))
	c.Upload(view, vals)
	if len(vals) > 0 {
		guardedViews[&Float32s(view)[0]] = data
	}
	return view
}

// checkGuards fails the test when an operation wrote outside a view made by newView.
func checkGuards(t *testing.T, name string, view Tensor) {
	t.Helper()
	whole, ok := guardedViews[&Float32s(view)[0]]
	if !ok {
		t.Fatalf("%s: not a view made by newView", name)
	}
	n := view.Len()
	for i, x := range whole {
		if (i < viewOffset || i >= viewOffset+n) && x != guard {
			t.Errorf("%s: element %d outside the view changed to %v", name, i-viewOffset, x)
		}
	}
}

func randomValues(rng *rand.Rand, n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float32()
	}
	return v
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// checkClose fails the test for each element with |got − want| > atol + rtol·|want|,
// naming the tensor and the index. NaN never passes.
func checkClose(t *testing.T, name string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s has %d elements, want %d", name, len(got), len(want))
	}
	failures := 0
	for i, w := range want {
		g := float64(got[i])
		if math.Abs(g-w) <= atol+rtol*math.Abs(w) {
			continue
		}
		t.Errorf("%s[%d] = %.9g, want %.9g (atol %g, rtol %g)", name, i, g, w, atol, rtol)
		if failures++; failures == 5 {
			t.Errorf("%s: stopped after 5 mismatches", name)
			return
		}
	}
}

// checkEqual fails the test for each element that differs in its bits.
func checkEqual(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s has %d elements, want %d", name, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %.9g, want %.9g bit for bit", name, i, got[i], want[i])
		}
	}
}

// expectPanic fails the test unless f panics with a message containing every part.
func expectPanic(t *testing.T, f func(), parts ...string) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", parts)
		}
		msg, _ := r.(string)
		for _, p := range parts {
			if !strings.Contains(msg, p) {
				t.Errorf("panic %q does not mention %q", msg, p)
			}
		}
	}()
	f()
}

func TestOpenDevices(t *testing.T) {
	// On a machine with a usable GPU, auto picks CUDA, whose note starts with "cuda:0: ".
	gpu, gpuErr := NewCUDA(CUDAOptions{})
	if gpuErr == nil {
		gpu.Close()
	}
	for _, device := range []string{"auto", "cpu"} {
		backend, note, err := Open(device, "fp32")
		if err != nil {
			t.Fatalf("Open(%q): %v", device, err)
		}
		wantNote, wantName := "cpu: ", "cpu ("
		if device == "auto" && gpuErr == nil {
			wantNote, wantName = "cuda:0: ", "cuda:0 ("
		}
		if !strings.HasPrefix(note, wantNote) || strings.Contains(note, "\n") {
			t.Errorf("Open(%q) note = %q, want one line starting with %q", device, note, wantNote)
		}
		if !strings.HasPrefix(backend.Name(), wantName) {
			t.Errorf("Open(%q).Name() = %q, want it to start with %q", device, backend.Name(),
				wantName)
		}
		backend.Close()
	}
	for _, device := range []string{"cuda", "cuda:0", "cuda:12"} {
		backend, _, err := Open(device, "fp32")
		if err == nil {
			// Only a machine with a GPU (and, for cuda:12, thirteen of them) gets here.
			backend.Close()
			continue
		}
		if !strings.Contains(err.Error(), `"`+device+`"`) ||
			!strings.Contains(err.Error(), "--device cpu") {
			t.Errorf("Open(%q) error = %v, want one naming the device and suggesting --device cpu",
				device, err)
		}
	}
	for _, device := range []string{"", "gpu", "CPU", "cuda:", "cuda:x", "cuda:-1"} {
		_, _, err := Open(device, "fp32")
		if err == nil || !strings.Contains(err.Error(), `"`+device+`"`) ||
			!strings.Contains(err.Error(), "auto, cpu, cuda or cuda:N") {
			t.Errorf("Open(%q) error = %v, want one naming the value and the accepted ones",
				device, err)
		}
	}
}

func TestNewCPUInvalidOptions(t *testing.T) {
	if _, err := NewCPU(CPUOptions{Threads: -1}); err == nil {
		t.Error("NewCPU(Threads -1) succeeded, want an error")
	}
	if _, err := NewCPU(CPUOptions{GEMM: "mkl"}); err == nil || !strings.Contains(err.Error(), "mkl") {
		t.Errorf("NewCPU(GEMM mkl) error = %v, want one naming \"mkl\"", err)
	}
	t.Setenv("RECUR_BLAS", "/nonexistent/libopenblas.so")
	for _, gemm := range []string{"auto", "blas"} {
		_, err := NewCPU(CPUOptions{GEMM: gemm})
		if err == nil || !strings.Contains(err.Error(), "RECUR_BLAS") {
			t.Errorf("NewCPU(GEMM %q) with a missing RECUR_BLAS library: error = %v, "+
				"want one naming RECUR_BLAS", gemm, err)
		}
	}
	if _, err := NewCPU(CPUOptions{GEMM: "gonum"}); err != nil {
		t.Errorf("NewCPU(GEMM gonum) ignores RECUR_BLAS, got %v", err)
	}
}

func TestNameGonum(t *testing.T) {
	cpu := newTestCPU(t, 2, "gonum")
	if got, want := cpu.Name(), "cpu (gonum BLAS, 2 threads)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got := cpu.GEMM(); got != "gonum" {
		t.Errorf("GEMM() = %q, want \"gonum\"", got)
	}
}

// systemBLASCPU returns a CPU backend on the system OpenBLAS, or skips the test when there
// is none. Under CI=true a cgo build without OpenBLAS fails instead.
func systemBLASCPU(t *testing.T, threads int) *CPU {
	t.Helper()
	cpu, err := NewCPU(CPUOptions{Threads: threads, GEMM: "blas"})
	switch {
	case err == nil:
		t.Cleanup(func() { cpu.Close() })
		return cpu
	case !cgoEnabled:
		t.Skipf("system BLAS: %v", err)
	case os.Getenv("CI") == "true":
		t.Fatalf("system BLAS is required under CI: %v", err)
	default:
		t.Skipf("no system OpenBLAS: %v", err)
	}
	return nil
}

func TestNameOpenBLAS(t *testing.T) {
	cpu := systemBLASCPU(t, 2)
	if got := cpu.Name(); !strings.HasPrefix(got, "cpu (OpenBLAS ") ||
		!strings.HasSuffix(got, ", 2 threads)") {
		t.Errorf("Name() = %q, want \"cpu (OpenBLAS ..., 2 threads)\"", got)
	}
	if got := cpu.GEMM(); got != "blas" {
		t.Errorf("GEMM() = %q, want \"blas\"", got)
	}
}

func TestTensorSliceSharesMemory(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	whole := cpu.Alloc(10)
	view := whole.Slice(4, 3)
	if view.Len() != 3 {
		t.Fatalf("Slice(4, 3).Len() = %d, want 3", view.Len())
	}
	cpu.Fill(view, 2)
	got := make([]float32, 10)
	cpu.Download(got, whole)
	checkEqual(t, "whole", got, []float32{0, 0, 0, 0, 2, 2, 2, 0, 0, 0})

	inner := view.Slice(1, 2)
	cpu.Upload(inner, []float32{5, 6})
	checkEqual(t, "whole after Upload", Float32s(whole), []float32{0, 0, 0, 0, 2, 5, 6, 0, 0, 0})

	expectPanic(t, func() { view.Slice(2, 2) }, "Slice(2, 2)", "3 elements")
	expectPanic(t, func() { whole.Slice(-1, 1) }, "Slice(-1, 1)")
}

type foreignTensor struct{}

func (foreignTensor) Len() int                { return 1 }
func (foreignTensor) Slice(off, n int) Tensor { return foreignTensor{} }

func TestForeignTensorPanics(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	expectPanic(t, func() { Float32s(foreignTensor{}) }, "engine.foreignTensor")
	expectPanic(t, func() { cpu.Fill(foreignTensor{}, 1) }, "Fill", "engine.foreignTensor")
	expectPanic(t, func() { cpu.Axpy(1, cpu.Alloc(2), cpu.Alloc(3)) }, "Axpy", "y has 3 elements, want 2")
}

func TestCopyUploadDownload(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	src := newView(cpu, []float32{1, 2, 3, 4, 5})
	dst := newView(cpu, make([]float32, 5))
	cpu.Copy(dst, src)
	got := make([]float32, 5)
	cpu.Download(got, dst)
	checkEqual(t, "dst", got, []float32{1, 2, 3, 4, 5})
	checkGuards(t, "dst", dst)
	expectPanic(t, func() { cpu.Upload(dst, []float32{1}) }, "Upload", "dst has 5 elements, want 1")
}

func TestCloseTwiceThenUsePanics(t *testing.T) {
	cpu, err := NewCPU(CPUOptions{Threads: 2, GEMM: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := cpu.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	expectPanic(t, func() { cpu.Fill(cpu.Alloc(4), 1) }, "after Close")
}

// TestOpsDoNotAllocate runs each operation at a size that uses both workers.
func TestOpsDoNotAllocate(t *testing.T) {
	for _, gemm := range []string{"gonum", "blas"} {
		t.Run(gemm, func(t *testing.T) {
			var cpu *CPU
			if gemm == "blas" {
				cpu = systemBLASCPU(t, 2)
			} else {
				cpu = newTestCPU(t, 2, gemm)
			}
			const B, H, V = 8, 512, 300
			gates, state := cpu.Alloc(B*4*H), cpu.Alloc(B*H)
			cNext, h, dc := cpu.Alloc(B*H), cpu.Alloc(B*H), cpu.Alloc(B*H)
			w, big := cpu.Alloc(H*4*H), cpu.Alloc(1<<17)
			norm, sums := cpu.Alloc(1), cpu.Alloc(4*H)
			logits, losses := cpu.Alloc(64*V), cpu.Alloc(64)
			targets := make([]int32, 64)
			ops := map[string]func(){
				"Gemm": func() {
					cpu.Gemm(false, false, B, 4*H, H, 1, state, w, 0, gates)
				},
				"LSTMForward": func() { cpu.LSTMForward(gates, state, cNext, h, B, H) },
				"LSTMBackward": func() {
					cpu.LSTMBackward(gates, state, cNext, h, nil, dc, gates, B, H)
				},
				"SumRows":      func() { cpu.SumRows(sums, gates, B, 4*H) },
				"ClipGradNorm": func() { cpu.ClipGradNorm(big, 1e-3, norm) },
				"Axpy":         func() { cpu.Axpy(0.5, big, big) },
				"SoftmaxCrossEntropy": func() {
					cpu.SoftmaxCrossEntropy(logits, targets, losses, logits, 64, V, 1)
				},
			}
			for name, op := range ops {
				op() // grows the reduction scratch
				// AllocsPerRun counts every allocation of the process, and under load the
				// runtime allocates for the threads that a cgo call in OpenBLAS hands its
				// processor to. An op that allocates does so on every try, so the least of
				// three tries is its own count.
				least := math.Inf(1)
				for range 3 {
					least = min(least, testing.AllocsPerRun(5, op))
				}
				if least != 0 {
					t.Errorf("%s allocates %v times per call, want 0", name, least)
				}
			}
		})
	}
}

// countTask counts how often each item is processed.
type countTask struct{ counts []int32 }

func (t *countTask) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		t.counts[i]++
	}
}

// TestWorkerPoolRunsEveryItemOnce hands the pool tasks back to back, where the workers are
// still polling, and after pauses longer than spinWait, where they have blocked.
func TestWorkerPoolRunsEveryItemOnce(t *testing.T) {
	const items, runs = 1000, 300
	p := newWorkerPool(4)
	defer p.close()
	task := &countTask{counts: make([]int32, items)}
	for r := range runs {
		if r%50 == 0 {
			time.Sleep(3 * spinWait)
		}
		p.run(task, items, 1)
	}
	for i, c := range task.counts {
		if c != runs {
			t.Fatalf("item %d was processed %d times in %d runs, want %d", i, c, runs, runs)
		}
	}
}
