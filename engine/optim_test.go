package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestClipGradNormPinned(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	g, norm := newView(cpu, []float32{3, 4}), newView(cpu, []float32{0})
	cpu.ClipGradNorm(g, 2, norm)
	checkClose(t, "norm", Float32s(norm), []float64{5}, 0, 0)
	// scale = 2/(5+1e-6)
	checkClose(t, "g", Float32s(g), []float64{1.2, 1.6}, elementAtol, elementRtol)
	checkGuards(t, "g", g)
	checkGuards(t, "norm", norm)
}

func TestClipGradNormBelowMax(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	for _, maxNorm := range []float32{0, 5.1, 100} {
		g, norm := newView(cpu, []float32{3, 4}), newView(cpu, []float32{0})
		cpu.ClipGradNorm(g, maxNorm, norm)
		checkEqual(t, fmt.Sprintf("g with maxNorm %v", maxNorm), Float32s(g), []float32{3, 4})
		checkEqual(t, fmt.Sprintf("norm with maxNorm %v", maxNorm), Float32s(norm), []float32{5})
	}
}

func TestClipGradNormLarge(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	const n = 100003
	x := randomValues(rand.New(rand.NewPCG(3, 1)), n, -1, 1)
	var sq float64
	for _, v := range x {
		sq += float64(v) * float64(v)
	}
	total := math.Sqrt(sq)
	g, norm := newView(cpu, x), newView(cpu, []float32{0})
	cpu.ClipGradNorm(g, 3, norm)
	checkClose(t, "norm", Float32s(norm), []float64{total}, elementAtol, elementRtol)
	want := float64s(x)
	for i := range want {
		want[i] *= 3 / (total + 1e-6)
	}
	checkClose(t, "g", Float32s(g), want, elementAtol, elementRtol)
}

func TestClipGradNormNaN(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	nan := float32(math.NaN())
	for _, bad := range []float32{nan, float32(math.Inf(1))} {
		g, norm := newView(cpu, []float32{3, bad, 4}), newView(cpu, []float32{0})
		cpu.ClipGradNorm(g, 1, norm)
		got := Float32s(norm)[0]
		if !math.IsNaN(float64(bad)) && !math.IsInf(float64(got), 1) ||
			math.IsNaN(float64(bad)) && !math.IsNaN(float64(got)) {
			t.Errorf("norm with an element %v = %v, want %v", bad, got, bad)
		}
		if v := Float32s(g); v[0] != 3 || v[2] != 4 {
			t.Errorf("g with an element %v = %v, want it unscaled", bad, v)
		}
	}
}

// optimizerSizes are an odd size and one that 3 threads split.
var optimizerSizes = []int{7, 30011}

func TestAdamStep(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(3, 2))
	const lr, beta1, beta2, eps = 1e-2, 0.9, 0.999, 1e-8
	for _, n := range optimizerSizes {
		param := randomValues(rng, n, -1, 1)
		pv, mv, vv := newView(cpu, param), newView(cpu, make([]float32, n)), newView(cpu, make([]float32, n))
		want, m, v := float64s(param), make([]float64, n), make([]float64, n)
		for step := 1; step <= 3; step++ {
			grad := randomValues(rng, n, -1, 1)
			cpu.AdamStep(pv, newView(cpu, grad), mv, vv, lr, beta1, beta2, eps, step)
			bc1 := 1 - math.Pow(beta1, float64(step))
			bc2 := 1 - math.Pow(beta2, float64(step))
			for i, g := range float64s(grad) {
				m[i] = beta1*m[i] + (1-beta1)*g
				v[i] = beta2*v[i] + (1-beta2)*g*g
				want[i] -= lr / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + eps)
			}
			name := fmt.Sprintf("n=%d step %d", n, step)
			checkClose(t, name+" param", Float32s(pv), want, elementAtol, elementRtol)
			checkClose(t, name+" m", Float32s(mv), m, elementAtol, elementRtol)
			checkClose(t, name+" v", Float32s(vv), v, elementAtol, elementRtol)
		}
		checkGuards(t, "param", pv)
	}
	expectPanic(t, func() {
		p := cpu.Alloc(1)
		cpu.AdamStep(p, p, cpu.Alloc(1), cpu.Alloc(1), lr, beta1, beta2, eps, 0)
	}, "AdamStep", "step 0")
}

func TestSGDStep(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(3, 3))
	const lr, momentum = 0.1, 0.9
	for _, n := range optimizerSizes {
		param := randomValues(rng, n, -1, 1)
		pv, bv := newView(cpu, param), newView(cpu, make([]float32, n))
		want, buf := float64s(param), make([]float64, n)
		for step := 1; step <= 2; step++ {
			grad := randomValues(rng, n, -1, 1)
			cpu.SGDStep(pv, newView(cpu, grad), bv, lr, momentum)
			for i, g := range float64s(grad) {
				buf[i] = momentum*buf[i] + g
				want[i] -= lr * buf[i]
			}
			name := fmt.Sprintf("n=%d step %d", n, step)
			checkClose(t, name+" param", Float32s(pv), want, elementAtol, elementRtol)
			checkClose(t, name+" buf", Float32s(bv), buf, elementAtol, elementRtol)
		}
		checkGuards(t, "param", pv)
	}
}

func TestRMSpropStep(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(3, 4))
	const lr, alpha, eps = 1e-2, 0.99, 1e-8
	for _, n := range optimizerSizes {
		param := randomValues(rng, n, -1, 1)
		pv, sv := newView(cpu, param), newView(cpu, make([]float32, n))
		want, sq := float64s(param), make([]float64, n)
		for step := 1; step <= 2; step++ {
			grad := randomValues(rng, n, -1, 1)
			cpu.RMSpropStep(pv, newView(cpu, grad), sv, lr, alpha, eps)
			for i, g := range float64s(grad) {
				sq[i] = alpha*sq[i] + (1-alpha)*g*g
				want[i] -= lr * g / (math.Sqrt(sq[i]) + eps)
			}
			name := fmt.Sprintf("n=%d step %d", n, step)
			checkClose(t, name+" param", Float32s(pv), want, elementAtol, elementRtol)
			checkClose(t, name+" sq", Float32s(sv), sq, elementAtol, elementRtol)
		}
		checkGuards(t, "param", pv)
	}
}
