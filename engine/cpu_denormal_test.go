package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// smallestNormal is 2^-126, float32's smallest normal magnitude.
const smallestNormal = 0x1p-126

// subnormalValues returns n values, each ± a random subnormal or one of the normal values in
// normal, so that products and sums land in the subnormal range.
func subnormalValues(rng *rand.Rand, n int, normal ...float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		if len(normal) > 0 && i%3 == 0 {
			v[i] = normal[rng.IntN(len(normal))]
		} else {
			v[i] = math.Float32frombits(1 + rng.Uint32N(0x7fffff)) // subnormal
		}
		if rng.IntN(2) == 0 {
			v[i] = -v[i]
		}
	}
	return v
}

// checkNoSubnormals fails the test at the first subnormal value of got.
func checkNoSubnormals(t *testing.T, name string, got []float32) {
	t.Helper()
	for i, v := range got {
		if v != 0 && math.Abs(float64(v)) < smallestNormal {
			t.Errorf("%s[%d] = %g is subnormal, want it flushed to zero", name, i, v)
			return
		}
	}
}

func TestFlushf(t *testing.T) {
	cases := []struct{ in, want float32 }{
		{0x1p-127, 0},
		{-0x1p-127, float32(math.Copysign(0, -1))},
		{math.Float32frombits(1), 0},
		{smallestNormal, smallestNormal},
		{-1.5, -1.5},
		{float32(math.Inf(1)), float32(math.Inf(1))},
	}
	for _, c := range cases {
		if got := flushf(c.in); math.Float32bits(got) != math.Float32bits(c.want) {
			t.Errorf("flushf(%g) = %g (%#x), want %g (%#x)", c.in, got, math.Float32bits(got),
				c.want, math.Float32bits(c.want))
		}
	}
	if got := flushf(float32(math.NaN())); got == got {
		t.Errorf("flushf(NaN) = %g, want NaN", got)
	}
}

// TestLSTMFlushesSubnormals feeds an LSTM step subnormal gate pre-activations, cell states and
// gradients, plus pre-activations of −100 whose sigmoid is subnormal, and checks that the
// forward and backward results hold no subnormal number. H = 13 leaves scalar tails after the
// AVX2 blocks.
func TestLSTMFlushesSubnormals(t *testing.T) {
	const B, H = 4, 13
	rng := rand.New(rand.NewPCG(21, 22))
	cpu := newTestCPU(t, 2, "gonum")
	gates := newView(cpu, subnormalValues(rng, B*4*H, -100, 0.5, -0.5))
	cPrev := newView(cpu, subnormalValues(rng, B*H, 1e-30))
	c, h := cpu.Alloc(B*H), cpu.Alloc(B*H)
	cpu.LSTMForward(gates, cPrev, c, h, B, H)
	checkNoSubnormals(t, "activated gates", Float32s(gates))
	checkNoSubnormals(t, "c", Float32s(c))
	checkNoSubnormals(t, "h", Float32s(h))

	dhOut := newView(cpu, subnormalValues(rng, B*H, 1e-30))
	dhRec := newView(cpu, subnormalValues(rng, B*H))
	dc := newView(cpu, subnormalValues(rng, B*H, 1e-30))
	dgates := cpu.Alloc(B * 4 * H)
	cpu.LSTMBackward(gates, cPrev, c, dhOut, dhRec, dc, dgates, B, H)
	checkNoSubnormals(t, "dgates", Float32s(dgates))
	checkNoSubnormals(t, "dc", Float32s(dc))
}

// TestActivationsFlushSubnormals checks sigmoidSlice and tanhSlice on subnormal inputs, whose
// tanh is subnormal, and on inputs whose sigmoid is subnormal.
func TestActivationsFlushSubnormals(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := subnormalValues(rng, 103, -90, -100)
	sig := append([]float32(nil), x...)
	sigmoidSlice(sig)
	checkNoSubnormals(t, "sigmoid", sig)
	th := make([]float32, len(x))
	tanhSlice(th, x)
	checkNoSubnormals(t, "tanh", th)
}

// TestGemmFlushesSubnormals multiplies subnormal and normal values, whose products are
// subnormal, on every GEMM path: OpenBLAS, gonum, and the small kernels (m = 4).
func TestGemmFlushesSubnormals(t *testing.T) {
	for _, m := range []int{4, 80} {
		forEachGemm(t, 2, func(t *testing.T, cpu *CPU) {
			const n, k = 32, 16
			rng := rand.New(rand.NewPCG(25, 26))
			a := newView(cpu, subnormalValues(rng, m*k, 0.5, 1))
			b := newView(cpu, subnormalValues(rng, k*n, 0.25, 1))
			for _, transB := range []bool{false, true} {
				c := cpu.Alloc(m * n)
				cpu.Gemm(false, transB, m, n, k, 1, a, b, 0, c)
				checkNoSubnormals(t, fmt.Sprintf("m=%d transB=%v C", m, transB), Float32s(c))
			}
		})
	}
}

// TestOptimizersFlushSubnormals steps each optimizer from subnormal parameters, gradients and
// moments and checks that none of them stays subnormal.
func TestOptimizersFlushSubnormals(t *testing.T) {
	const n = 4099
	rng := rand.New(rand.NewPCG(27, 28))
	cpu := newTestCPU(t, 2, "gonum")
	fresh := func() Tensor { return newView(cpu, subnormalValues(rng, n, 1e-20)) }

	param, grad, m, v := fresh(), fresh(), fresh(), fresh()
	cpu.AdamStep(param, grad, m, v, 1e-30, 0.9, 0.999, 1e-8, 3)
	for name, x := range map[string]Tensor{"Adam param": param, "Adam m": m, "Adam v": v} {
		checkNoSubnormals(t, name, Float32s(x))
	}

	param, grad, buf := fresh(), fresh(), fresh()
	cpu.SGDStep(param, grad, buf, 1e-30, 0.9)
	checkNoSubnormals(t, "SGD param", Float32s(param))
	checkNoSubnormals(t, "SGD buf", Float32s(buf))

	param, grad, sq := fresh(), fresh(), fresh()
	cpu.RMSpropStep(param, grad, sq, 1e-30, 0.99, 1e-8)
	checkNoSubnormals(t, "RMSprop param", Float32s(param))
	checkNoSubnormals(t, "RMSprop sq", Float32s(sq))
}
