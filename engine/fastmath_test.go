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
