package engine

import (
	"math"
	"testing"
)

// fastMathMaxRelErr bounds the relative error of expf, sigmoidf and tanhf: about one float32
// ulp, of which rounding to float32 alone accounts for up to 6e-8.
const fastMathMaxRelErr = 2e-7

// exp64MaxRelErr bounds the relative error of exp64 in float64.
const exp64MaxRelErr = 2e-12

func TestExp64Accuracy(t *testing.T) {
	for i := -104000; i <= 104000; i++ {
		x := float64(i)*1e-3 + 1e-4*float64(i%7) // also hits points between the grid
		want := math.Exp(x)
		if rel := math.Abs(exp64(x)-want) / want; rel > exp64MaxRelErr {
			t.Fatalf("exp64(%v) = %v, want %v within relative %g", x, exp64(x), want, exp64MaxRelErr)
		}
	}
}

func TestFastMathAccuracy(t *testing.T) {
	funcs := []struct {
		name string
		fast func(float32) float32
		ref  func(float64) float64
	}{
		{"expf", expf, math.Exp},
		{"sigmoidf", sigmoidf, sigmoid64},
		{"tanhf", tanhf, math.Tanh},
	}
	for _, f := range funcs {
		var worst, worstAt float64
		// Every 997th float32 bit pattern from 1e-30 up to 90, both signs.
		lo, hi := math.Float32bits(1e-30), math.Float32bits(90)
		for bits := lo; bits <= hi; bits += 997 {
			for _, x := range []float32{math.Float32frombits(bits), -math.Float32frombits(bits)} {
				want := f.ref(float64(x))
				if want == 0 || math.Abs(want) < 0x1p-126 || math.Abs(want) > math.MaxFloat32 {
					continue // outside float32's normal range
				}
				if rel := math.Abs(float64(f.fast(x))-want) / math.Abs(want); rel > worst {
					worst, worstAt = rel, float64(x)
				}
			}
		}
		if worst > fastMathMaxRelErr {
			t.Errorf("%s: relative error %.3g at x = %v, want ≤ %g", f.name, worst, worstAt, fastMathMaxRelErr)
		}
	}
}

func TestFastMathSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	cases := []struct {
		name      string
		got, want float32
	}{
		{"expf(+Inf)", expf(inf), inf},
		{"expf(-Inf)", expf(-inf), 0},
		{"expf(100)", expf(100), inf},
		{"expf(0)", expf(0), 1},
		{"sigmoidf(+Inf)", sigmoidf(inf), 1},
		{"sigmoidf(-Inf)", sigmoidf(-inf), 0},
		{"tanhf(+Inf)", tanhf(inf), 1},
		{"tanhf(-Inf)", tanhf(-inf), -1},
		{"tanhf(0)", tanhf(0), 0},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for name, f := range map[string]func(float32) float32{"expf": expf, "sigmoidf": sigmoidf, "tanhf": tanhf} {
		if got := f(nan); !math.IsNaN(float64(got)) {
			t.Errorf("%s(NaN) = %v, want NaN", name, got)
		}
	}
}

func TestActivationSlicesMatchScalar(t *testing.T) {
	x := make([]float32, 0, 4096)
	for i := -2048; i < 2048; i++ {
		x = append(x, float32(i)*0.011+float32(i%7)*1e-4)
	}
	x = append(x, 0, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-30, 200, -200)
	sig := append([]float32(nil), x...)
	sigmoidSlice(sig)
	th := make([]float32, len(x))
	tanhSlice(th, x)
	for i, v := range x {
		if want := sigmoidf(v); sig[i] != want {
			t.Errorf("sigmoidSlice at x = %v: %v, want sigmoidf's %v", v, sig[i], want)
		}
		if want := tanhf(v); th[i] != want {
			t.Errorf("tanhSlice at x = %v: %v, want tanhf's %v", v, th[i], want)
		}
	}
}

// TestActivationSlicesMatchScalarBits sweeps every 1021st float32 bit pattern, NaN, infinities
// and subnormals included, through sigmoidSlice and tanhSlice, and checks that each element has
// the bits of sigmoidf and tanhf (any NaN for NaN). Where the AVX2 loops are built, this checks
// them against the scalar code; the slice length of 4099 also leaves a scalar tail.
func TestActivationSlicesMatchScalarBits(t *testing.T) {
	if !useAVX2 {
		t.Log("the AVX2 loops are not built or not supported here, so the scalar loops are checked")
	}
	const batch = 4099
	x := make([]float32, 0, batch)
	sig, th := make([]float32, batch), make([]float32, batch)
	check := func() {
		copy(sig, x)
		sigmoidSlice(sig[:len(x)])
		tanhSlice(th[:len(x)], x)
		for i, v := range x {
			if want := sigmoidf(v); !sameBits(sig[i], want) {
				t.Fatalf("sigmoidSlice(%v) = %v (%#x), want sigmoidf's %v (%#x)", v, sig[i],
					math.Float32bits(sig[i]), want, math.Float32bits(want))
			}
			if want := tanhf(v); !sameBits(th[i], want) {
				t.Fatalf("tanhSlice(%v) = %v (%#x), want tanhf's %v (%#x)", v, th[i],
					math.Float32bits(th[i]), want, math.Float32bits(want))
			}
		}
		x = x[:0]
	}
	for bits := uint64(0); bits <= math.MaxUint32; bits += 1021 {
		x = append(x, math.Float32frombits(uint32(bits)))
		if len(x) == batch {
			check()
		}
	}
	x = append(x, 0, float32(math.Copysign(0, -1)), float32(math.NaN()),
		float32(math.Inf(1)), float32(math.Inf(-1)), 1.0/32, -1.0/32, 104, -104, 52, -52)
	check()
}

// sameBits reports whether a and b have the same bits, counting any two NaNs as equal.
func sameBits(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}
