package lstm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/recur-ml/recur/cpuref"
)

// refModel copies m's parameters into a float64 cpuref model.
func refModel(t *testing.T, m *Model) (cpuref.Config, *cpuref.Params) {
	t.Helper()
	cfg := m.Cfg
	rc := cpuref.Config{Cell: cfg.Model, Layers: cfg.Layers, Hidden: cfg.Hidden, Embed: cfg.Embed, Vocab: len(cfg.Vocab)}
	p := cpuref.NewParams(rc)
	flat := params(m)
	specs := cfg.ParamSpecs()
	tensors := p.Tensors()
	if len(tensors) != len(specs) {
		t.Fatalf("cpuref has %d tensors, the model %d", len(tensors), len(specs))
	}
	for i, s := range specs {
		for k := range tensors[i] {
			tensors[i][k] = float64(flat[s.Offset+k])
		}
	}
	return rc, p
}

func toInts(ids []int32) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}

func cloneState(s cpuref.State) cpuref.State {
	var out cpuref.State
	for _, h := range s.H {
		out.H = append(out.H, slices.Clone(h))
	}
	for _, c := range s.C {
		out.C = append(out.C, slices.Clone(c))
	}
	return out
}

// refLoss returns, in float64, the loss of predicting target after reading inputs from state.
func refLoss(rc cpuref.Config, p *cpuref.Params, state cpuref.State, inputs []int, target int) float64 {
	if len(inputs) == 0 {
		top := state.H[rc.Layers-1]
		logits := slices.Clone(p.HeadB)
		cpuref.Gemm(false, true, 1, rc.Vocab, rc.Hidden, 1, top, p.HeadW, 1, logits)
		losses, _ := cpuref.SoftmaxCrossEntropy(logits, []int{target}, 1, rc.Vocab)
		return losses[0]
	}
	targets := make([]int, len(inputs))
	for i := range targets {
		targets[i] = -1
	}
	targets[len(targets)-1] = target
	loss, _, _, _ := cpuref.Forward(rc, p, inputs, targets, len(inputs), 1, &state, nil)
	return loss
}

// refNorms returns ‖∂L/∂h_{τ−d}‖ and ‖∂L/∂c_{τ−d}‖ of the top layer by central finite
// differences of the float64 reference model. Perturbing c_{τ−d} also moves
// h_{τ−d} = o·tanh(c_{τ−d}), so the c norm is the total derivative.
func refNorms(rc cpuref.Config, p *cpuref.Params, ids []int, tau, D, d int) (hNorm, cNorm float64) {
	const eps = 1e-6
	prefix := ids[tau-D : tau-d+1]
	none := make([]int, len(prefix))
	for i := range none {
		none[i] = -1
	}
	_, _, state, _ := cpuref.Forward(rc, p, prefix, none, len(prefix), 1, nil, nil)
	rest := ids[tau-d+1 : tau+1]
	target := ids[tau+1]
	top := rc.Layers - 1

	var hSum, cSum float64
	for j := range rc.Hidden {
		plus, minus := cloneState(state), cloneState(state)
		plus.H[top][j] += eps
		minus.H[top][j] -= eps
		g := (refLoss(rc, p, plus, rest, target) - refLoss(rc, p, minus, rest, target)) / (2 * eps)
		hSum += g * g
		if rc.Cell != CellLSTM {
			continue
		}
		// The output gate is o = h/tanh(c), fixed while c moves.
		c := state.C[top][j]
		o := state.H[top][j] / math.Tanh(c)
		plus, minus = cloneState(state), cloneState(state)
		plus.C[top][j], plus.H[top][j] = c+eps, o*math.Tanh(c+eps)
		minus.C[top][j], minus.H[top][j] = c-eps, o*math.Tanh(c-eps)
		g = (refLoss(rc, p, plus, rest, target) - refLoss(rc, p, minus, rest, target)) / (2 * eps)
		cSum += g * g
	}
	return math.Sqrt(hSum), math.Sqrt(cSum)
}

func relErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-30)
}

func TestGradientFlowMatchesFiniteDifferences(t *testing.T) {
	cases := []Config{
		{Model: CellLSTM, Layers: 2, Hidden: 4, Embed: 3, Vocab: testVocab(5)},
		{Model: CellRNN, Layers: 1, Hidden: 5, Embed: 3, Vocab: testVocab(5)},
		{Model: CellGRU, Layers: 2, Hidden: 4, Embed: 3, Vocab: testVocab(5)},
	}
	for _, cfg := range cases {
		t.Run(cfg.Model, func(t *testing.T) {
			m := newTestModel(t, cfg, 11)
			rng := rand.New(rand.NewPCG(5, 6))
			ids := make([]int32, 40)
			for i := range ids {
				ids[i] = int32(rng.IntN(len(cfg.Vocab)))
			}
			const D, samples = 6, 3
			g, err := GradientFlow(m, ids, D, samples)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Positions) != samples {
				t.Fatalf("positions %v, want %d", g.Positions, samples)
			}
			if len(g.H) != D+1 {
				t.Fatalf("len(H) = %d, want %d", len(g.H), D+1)
			}
			if cfg.Model == CellLSTM && len(g.C) != D+1 {
				t.Fatalf("len(C) = %d, want %d", len(g.C), D+1)
			}
			if cfg.Model != CellLSTM && g.C != nil {
				t.Fatalf("%s has C = %v, want nil", cfg.Model, g.C)
			}

			rc, p := refModel(t, m)
			for d := 0; d <= D; d++ {
				var logH, logC float64
				for _, tau := range g.Positions {
					h, c := refNorms(rc, p, toInts(ids), tau, D, d)
					logH += math.Log(h)
					logC += math.Log(c)
				}
				n := float64(len(g.Positions))
				wantH := math.Exp(logH / n)
				if e := relErr(g.H[d], wantH); e > 1e-3 {
					t.Errorf("H[%d] = %g, finite differences %g (relative error %.2g)", d, g.H[d], wantH, e)
				}
				if cfg.Model != CellLSTM {
					continue
				}
				wantC := math.Exp(logC / n)
				if e := relErr(g.C[d], wantC); e > 1e-3 {
					t.Errorf("C[%d] = %g, finite differences %g (relative error %.2g)", d, g.C[d], wantC, e)
				}
			}

			for i, x := range grads(m) {
				if x != 0 {
					t.Fatalf("GradientFlow changed m.Grads[%d] to %g", i, x)
				}
			}
		})
	}
}

func grads(m *Model) []float32 {
	v := make([]float32, m.Grads.Len())
	m.Backend.Download(v, m.Grads)
	return v
}

// setRecurrent gives an RNN the recurrent weights s·P, P a cyclic permutation whose singular
// values are all 1, input weights small enough that tanh stays in its linear range, and zero
// biases, so ‖∂L/∂h_{τ−d}‖ = s^d·‖∂L/∂h_τ‖ up to float32 rounding.
func setRecurrent(t *testing.T, m *Model, s float32) {
	t.Helper()
	flat := params(m)
	H := m.Cfg.Hidden
	for _, spec := range m.Cfg.ParamSpecs() {
		v := flat[spec.Offset : spec.Offset+spec.Len()]
		switch spec.Name {
		case "rnn.weight_ih_l0":
			for i := range v {
				v[i] *= 1e-5
			}
		case "rnn.bias_ih_l0", "rnn.bias_hh_l0":
			clear(v)
		case "rnn.weight_hh_l0":
			clear(v)
			for i := range H {
				v[i*H+(i+1)%H] = s
			}
		}
	}
	m.Backend.Upload(m.Params, flat)
}

func TestGradientFlowRNNDecayAndGrowth(t *testing.T) {
	cfg := Config{Model: CellRNN, Layers: 1, Hidden: 6, Embed: 3, Vocab: testVocab(4)}
	const D = 20
	for _, s := range []float32{0.5, 1.5} {
		m := newTestModel(t, cfg, 3)
		setRecurrent(t, m, s)
		g, err := GradientFlow(m, cyclicText(100, 4), D, 4)
		if err != nil {
			t.Fatal(err)
		}
		for d := 1; d <= D; d++ {
			want := math.Pow(float64(s), float64(d))
			if e := relErr(g.Ratio(d, 0), want); e > 1e-3 {
				t.Errorf("s=%g: H[%d]/H[0] = %g, want s^d = %g", s, d, g.Ratio(d, 0), want)
			}
			if s < 1 && !(g.H[d] < g.H[d-1]) {
				t.Errorf("s=%g: H[%d] = %g does not decay from H[%d] = %g", s, d, g.H[d], d-1, g.H[d-1])
			}
			if s > 1 && !(g.H[d] > g.H[d-1]) {
				t.Errorf("s=%g: H[%d] = %g does not grow from H[%d] = %g", s, d, g.H[d], d-1, g.H[d-1])
			}
		}
		if len(g.Spectra) != 1 {
			t.Fatalf("s=%g: %d spectra, want 1", s, len(g.Spectra))
		}
		if e := relErr(g.Spectra[0].WHH, float64(s)); e > 1e-9 {
			t.Errorf("s=%g: σ₁(W_hh) = %g", s, g.Spectra[0].WHH)
		}
		if g.Spectra[0].Gates != nil {
			t.Errorf("s=%g: RNN has gate spectra %v, want nil", s, g.Spectra[0].Gates)
		}
		if !math.IsNaN(g.Ratio(50, 1)) {
			t.Errorf("s=%g: Ratio(50, 1) = %g with D = %d, want NaN", s, g.Ratio(50, 1), D)
		}
	}
}

func TestRecurrentSpectraLSTMBlocks(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 3, Embed: 2, Vocab: testVocab(3)}
	m := newTestModel(t, cfg, 2)
	flat := params(m)
	H := cfg.Hidden
	blockScale := []float32{0.25, 0.5, 0.75, 1}
	for _, spec := range cfg.ParamSpecs() {
		if spec.Name != "lstm.weight_hh_l1" {
			continue
		}
		v := flat[spec.Offset : spec.Offset+spec.Len()]
		clear(v)
		for k, s := range blockScale {
			for i := range H {
				v[k*H*H+i*H+i] = s
			}
		}
	}
	m.Backend.Upload(m.Params, flat)

	spectra := RecurrentSpectra(m)
	if len(spectra) != 2 {
		t.Fatalf("%d spectra, want 2", len(spectra))
	}
	top := spectra[1]
	if len(top.Gates) != len(GateNames) {
		t.Fatalf("%d gate spectra, want %d", len(top.Gates), len(GateNames))
	}
	for k, s := range blockScale {
		if e := relErr(top.Gates[k], float64(s)); e > 1e-9 {
			t.Errorf("gate %s: σ₁ = %g, want %g", GateNames[k], top.Gates[k], s)
		}
	}
	// Stacked diagonal blocks: WᵀW = (Σ s_k²)·I.
	if want := math.Sqrt(0.0625 + 0.25 + 0.5625 + 1); relErr(top.WHH, want) > 1e-9 {
		t.Errorf("whole W_hh: σ₁ = %g, want %g", top.WHH, want)
	}
	if !(spectra[0].WHH > 0) {
		t.Errorf("layer 0: σ₁ = %g, want > 0 for random weights", spectra[0].WHH)
	}
}

func TestLargestSingularValue(t *testing.T) {
	// R1·diag(5, 2, 1)·R2ᵀ with rotations about different axes has singular values 5, 2, 1.
	c1, s1 := math.Cos(0.7), math.Sin(0.7)
	c2, s2 := math.Cos(-1.1), math.Sin(-1.1)
	r1 := []float64{c1, -s1, 0, s1, c1, 0, 0, 0, 1}
	r2 := []float64{1, 0, 0, 0, c2, -s2, 0, s2, c2}
	sigma := []float64{5, 0, 0, 0, 2, 0, 0, 0, 1}
	tmp := make([]float64, 9)
	rotated := make([]float64, 9)
	cpuref.Gemm(false, false, 3, 3, 3, 1, r1, sigma, 0, tmp)
	cpuref.Gemm(false, true, 3, 3, 3, 1, tmp, r2, 0, rotated)

	cases := []struct {
		name       string
		a          []float64
		rows, cols int
		want       float64
	}{
		{"diagonal", []float64{3, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 2.9}, 4, 4, 3},
		{"rotated", rotated, 3, 3, 5},
		{"wide", []float64{3, 0, 0, 0, 4, 0}, 2, 3, 4},
		{"zero", make([]float64, 6), 3, 2, 0},
		{"empty", nil, 0, 3, 0},
	}
	for _, tc := range cases {
		got := LargestSingularValue(tc.a, tc.rows, tc.cols)
		if math.Abs(got-tc.want) > 1e-9*math.Max(1, tc.want) {
			t.Errorf("%s: σ₁ = %.15g, want %g", tc.name, got, tc.want)
		}
	}

	defer func() {
		if recover() == nil {
			t.Error("a 2×2 matrix of 3 elements did not panic")
		}
	}()
	LargestSingularValue([]float64{1, 2, 3}, 2, 2)
}

func TestGradientFlowErrors(t *testing.T) {
	cfg := Config{Model: CellRNN, Layers: 1, Hidden: 2, Embed: 2, Vocab: testVocab(3)}
	m := newTestModel(t, cfg, 1)
	text := cyclicText(10, 3)
	cases := []struct {
		name             string
		ids              []int32
		distance, sample int
	}{
		{"zero distance", text, 0, 1},
		{"zero samples", text, 2, 0},
		{"short text", text, 9, 1},
		{"id out of range", []int32{0, 1, 3, 0}, 1, 1},
		{"negative id", []int32{0, -1, 2, 0}, 1, 1},
	}
	for _, tc := range cases {
		if _, err := GradientFlow(m, tc.ids, tc.distance, tc.sample); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := GradientFlow(m, text, 8, 1); err != nil {
		t.Errorf("text of exactly D+2 characters: %v", err)
	}
}

func TestEndPositions(t *testing.T) {
	cases := []struct {
		length, distance, samples int
		want                      []int
	}{
		{10, 3, 3, []int{3, 5, 8}},
		{10, 3, 10, []int{3, 4, 5, 6, 7, 8}},
		{10, 3, 1, []int{5}},
		{5, 3, 4, []int{3}},
	}
	for _, tc := range cases {
		got := endPositions(tc.length, tc.distance, tc.samples)
		if !slices.Equal(got, tc.want) {
			t.Errorf("endPositions(%d, %d, %d) = %v, want %v", tc.length, tc.distance, tc.samples, got, tc.want)
		}
	}
}
