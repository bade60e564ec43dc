package cpuref

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Sizes of the finite-difference models: small enough to perturb every parameter entry.
const (
	testVocab  = 5
	testEmbed  = 3
	testHidden = 4
	testT      = 4
	testB      = 2
)

// dropoutP is the drop probability of the test masks, whose kept entries are 1/(1−dropoutP).
const dropoutP = 0.25

// modelFixture is one model with its inputs, ready for Forward.
type modelFixture struct {
	cfg     Config
	params  *Params
	ids     []int
	targets []int
	h0      *State
	masks   [][]float64
}

func (fx *modelFixture) loss() float64 {
	loss, _, _, _ := Forward(fx.cfg, fx.params, fx.ids, fx.targets, testT, testB, fx.h0, fx.masks)
	return loss
}

// newModelFixture returns a model with uniform random weights in [−0.5, 0.5), random ids and
// targets with indices 1 and 6 ignored, and, where asked, a random h0 and dropout masks.
func newModelFixture(cell string, layers int, withH0, withDropout bool, seed uint64) *modelFixture {
	rng := rand.New(rand.NewPCG(seed, 99))
	cfg := Config{Cell: cell, Layers: layers, Hidden: testHidden, Embed: testEmbed, Vocab: testVocab}
	params := NewParams(cfg)
	for _, tensor := range params.Tensors() {
		copy(tensor, randomSlice(rng, len(tensor), 0.5))
	}

	fx := &modelFixture{cfg: cfg, params: params}
	for k := 0; k < testT*testB; k++ {
		fx.ids = append(fx.ids, rng.IntN(testVocab))
		fx.targets = append(fx.targets, rng.IntN(testVocab))
	}
	fx.targets[1], fx.targets[6] = -1, -1

	if withH0 {
		fx.h0 = &State{}
		for l := 0; l < layers; l++ {
			fx.h0.H = append(fx.h0.H, randomSlice(rng, testB*testHidden, 0.8))
			if cell == "lstm" {
				fx.h0.C = append(fx.h0.C, randomSlice(rng, testB*testHidden, 1.5))
			}
		}
	}
	if withDropout {
		for l := 0; l < layers-1; l++ {
			mask := make([]float64, testT*testB*testHidden)
			for k := range mask {
				if rng.Float64() >= dropoutP {
					mask[k] = 1 / (1 - dropoutP)
				}
			}
			fx.masks = append(fx.masks, mask)
		}
	}
	return fx
}

// tensorNames returns the names of Params.Tensors in order.
func tensorNames(layers int) []string {
	names := []string{"Embedding"}
	for l := 0; l < layers; l++ {
		names = append(names,
			fmt.Sprintf("WIH[%d]", l), fmt.Sprintf("WHH[%d]", l),
			fmt.Sprintf("BIH[%d]", l), fmt.Sprintf("BHH[%d]", l))
	}
	return append(names, "HeadW", "HeadB")
}

func TestBackwardFiniteDifferences(t *testing.T) {
	cases := []struct {
		name        string
		cell        string
		layers      int
		withH0      bool
		withDropout bool
	}{
		{"lstm/1", "lstm", 1, false, false},
		{"lstm/1/h0", "lstm", 1, true, false},
		{"lstm/3/h0", "lstm", 3, true, false},
		{"lstm/3/h0/dropout", "lstm", 3, true, true},
		{"rnn/1", "rnn", 1, false, false},
		{"rnn/1/h0", "rnn", 1, true, false},
		{"rnn/3/h0", "rnn", 3, true, false},
		{"rnn/3/h0/dropout", "rnn", 3, true, true},
		{"gru/1", "gru", 1, false, false},
		{"gru/1/h0", "gru", 1, true, false},
		{"gru/3/h0", "gru", 3, true, false},
		{"gru/3/h0/dropout", "gru", 3, true, true},
	}
	for n, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newModelFixture(tc.cell, tc.layers, tc.withH0, tc.withDropout, uint64(n+1))
			_, _, _, cache := Forward(fx.cfg, fx.params, fx.ids, fx.targets, testT, testB, fx.h0, fx.masks)
			grads := Backward(fx.cfg, fx.params, cache).Tensors()
			names := tensorNames(tc.layers)
			for k, tensor := range fx.params.Tensors() {
				assertClose(t, names[k], grads[k], numericGradient(fx.loss, tensor), fdAtol, fdRtol)
				if maxAbs(grads[k]) == 0 {
					t.Errorf("%s: gradient is all zero, so the comparison checks nothing", names[k])
				}
			}
		})
	}
}

func TestForwardZeroParams(t *testing.T) {
	for _, cell := range []string{"lstm", "rnn", "gru"} {
		cfg := Config{Cell: cell, Layers: 2, Hidden: 3, Embed: 2, Vocab: 7}
		ids := []int{0, 6, 3, 2, 5, 1}
		targets := []int{1, 2, 3, 4, 5, 6}
		loss, logits, final, _ := Forward(cfg, NewParams(cfg), ids, targets, 3, 2, nil, nil)
		// All logits are 0, so every row's softmax is uniform.
		assertScalar(t, cell+" loss", loss, math.Log(7), handAtol, handRtol)
		assertClose(t, cell+" logits", logits, make([]float64, 3*2*7), 0, 0)
		assertClose(t, cell+" final H[1]", final.H[1], make([]float64, 2*3), 0, 0)
	}
}

func TestForwardOneUnitLSTM(t *testing.T) {
	cfg := Config{Cell: "lstm", Layers: 1, Hidden: 1, Embed: 1, Vocab: 2}
	p := NewParams(cfg)
	p.Embedding = []float64{0.3, 2}
	// Rows of W_ih, W_hh and the biases in gate order i, f, g, o.
	p.WIH[0] = []float64{0.1, 0.2, 0.3, 0.4}
	p.WHH[0] = []float64{-0.5, 0.6, -0.7, 0.8}
	p.BIH[0] = []float64{0.01, 0.02, 0.03, 0.04}
	p.BHH[0] = []float64{0.1, -0.1, 0.2, -0.2}
	p.HeadW = []float64{1, -1}
	p.HeadB = []float64{0, 0.5}
	h0 := &State{H: [][]float64{{0.4}}, C: [][]float64{{-1.2}}}

	loss, logits, final, _ := Forward(cfg, p, []int{1}, []int{0}, 1, 1, h0, nil)

	x, hPrev, cPrev := 2.0, 0.4, -1.2
	preAt := func(k int) float64 {
		return p.WIH[0][k]*x + p.BIH[0][k] + p.WHH[0][k]*hPrev + p.BHH[0][k]
	}
	i := 1 / (1 + math.Exp(-preAt(0)))
	f := 1 / (1 + math.Exp(-preAt(1)))
	g := math.Tanh(preAt(2))
	o := 1 / (1 + math.Exp(-preAt(3)))
	c := f*cPrev + i*g
	h := o * math.Tanh(c)
	assertScalar(t, "final C", final.C[0][0], c, handAtol, handRtol)
	assertScalar(t, "final H", final.H[0][0], h, handAtol, handRtol)

	wantLogits := []float64{h, -h + 0.5}
	assertClose(t, "logits", logits, wantLogits, handAtol, handRtol)
	wantLoss := math.Log(math.Exp(wantLogits[0])+math.Exp(wantLogits[1])) - wantLogits[0]
	assertScalar(t, "loss", loss, wantLoss, handAtol, handRtol)
}

func TestForwardRNNLayout(t *testing.T) {
	// Asymmetric weights and two streams pin the transposes and the time-major order t·B+b.
	const T, B, E, H, V = 2, 2, 2, 2, 3
	cfg := Config{Cell: "rnn", Layers: 1, Hidden: H, Embed: E, Vocab: V}
	rng := rand.New(rand.NewPCG(11, 12))
	p := NewParams(cfg)
	for _, tensor := range p.Tensors() {
		copy(tensor, randomSlice(rng, len(tensor), 1))
	}
	ids := []int{2, 0, 1, 2}
	targets := []int{0, 1, 2, 0}
	_, logits, final, _ := Forward(cfg, p, ids, targets, T, B, nil, nil)

	for b := 0; b < B; b++ {
		hPrev := []float64{0, 0}
		for t0 := 0; t0 < T; t0++ {
			id := ids[t0*B+b]
			h := make([]float64, H)
			for j := 0; j < H; j++ {
				pre := p.BIH[0][j] + p.BHH[0][j]
				for e := 0; e < E; e++ {
					pre += p.WIH[0][j*E+e] * p.Embedding[id*E+e]
				}
				for k := 0; k < H; k++ {
					pre += p.WHH[0][j*H+k] * hPrev[k]
				}
				h[j] = math.Tanh(pre)
			}
			for v := 0; v < V; v++ {
				want := p.HeadB[v] + p.HeadW[v*H]*h[0] + p.HeadW[v*H+1]*h[1]
				name := fmt.Sprintf("logits t=%d b=%d v=%d", t0, b, v)
				assertScalar(t, name, logits[(t0*B+b)*V+v], want, handAtol, handRtol)
			}
			hPrev = h
		}
		assertClose(t, fmt.Sprintf("final H b=%d", b), final.H[0][b*H:(b+1)*H], hPrev, handAtol, handRtol)
	}
	if final.C != nil {
		t.Errorf("final C = %v for the RNN cell, expected nil", final.C)
	}
}

func TestForwardChunksMatchWholeSequence(t *testing.T) {
	for _, cell := range []string{"lstm", "rnn", "gru"} {
		fx := newModelFixture(cell, 2, true, true, 21)
		_, logits, final, _ := Forward(fx.cfg, fx.params, fx.ids, fx.targets, testT, testB, fx.h0, fx.masks)

		// Run the same T steps as two chunks of T/2, carrying the state across.
		half := testT / 2 * testB
		firstMasks := [][]float64{fx.masks[0][:half*testHidden]}
		secondMasks := [][]float64{fx.masks[0][half*testHidden:]}
		_, logits1, mid, _ := Forward(fx.cfg, fx.params, fx.ids[:half], fx.targets[:half],
			testT/2, testB, fx.h0, firstMasks)
		_, logits2, end, _ := Forward(fx.cfg, fx.params, fx.ids[half:], fx.targets[half:],
			testT/2, testB, &mid, secondMasks)

		assertClose(t, cell+" logits", append(logits1, logits2...), logits, handAtol, handRtol)
		for l := 0; l < 2; l++ {
			assertClose(t, fmt.Sprintf("%s final H[%d]", cell, l), end.H[l], final.H[l], handAtol, handRtol)
			if cell == "lstm" {
				assertClose(t, fmt.Sprintf("%s final C[%d]", cell, l), end.C[l], final.C[l], handAtol, handRtol)
			}
		}
	}
}

func TestForwardAllTargetsIgnored(t *testing.T) {
	for _, cell := range []string{"lstm", "rnn", "gru"} {
		cfg := Config{Cell: cell, Layers: 2, Hidden: 3, Embed: 2, Vocab: 4}
		rng := rand.New(rand.NewPCG(31, 32))
		p := NewParams(cfg)
		for _, tensor := range p.Tensors() {
			copy(tensor, randomSlice(rng, len(tensor), 1))
		}
		loss, _, _, cache := Forward(cfg, p, []int{2}, []int{-1}, 1, 1, nil, nil)
		assertScalar(t, cell+" loss", loss, 0, 0, 0)
		grads := Backward(cfg, p, cache).Tensors()
		for k, name := range tensorNames(cfg.Layers) {
			assertClose(t, cell+" "+name, grads[k], make([]float64, len(grads[k])), 0, 0)
		}
	}
}

func TestForwardHugeLogits(t *testing.T) {
	cfg := Config{Cell: "lstm", Layers: 1, Hidden: 1, Embed: 1, Vocab: 3}
	p := NewParams(cfg)
	p.HeadB = []float64{1e4, 0, -1e4}
	loss, _, _, cache := Forward(cfg, p, []int{0, 1}, []int{0, 2}, 2, 1, nil, nil)
	// Row 0 loses nothing and row 1 loses 2e4 nats, so the mean is 1e4.
	assertScalar(t, "loss", loss, 1e4, handAtol, handRtol)
	grads := Backward(cfg, p, cache)
	// dHeadB = mean over the rows of softmax − onehot = ((1 − 1) + (1 − 0), 0, (0 − 1)) / 2.
	assertClose(t, "HeadB gradient", grads.HeadB, []float64{0.5, 0, -0.5}, handAtol, handRtol)
}

func TestParamsTensorsOrder(t *testing.T) {
	cfg := Config{Cell: "lstm", Layers: 2, Hidden: 3, Embed: 2, Vocab: 5}
	p := NewParams(cfg)
	tensors := p.Tensors()
	wantLengths := []int{5 * 2, 12 * 2, 12 * 3, 12, 12, 12 * 3, 12 * 3, 12, 12, 5 * 3, 5}
	if len(tensors) != len(wantLengths) {
		t.Fatalf("Tensors returned %d tensors, expected %d", len(tensors), len(wantLengths))
	}
	for k, name := range tensorNames(cfg.Layers) {
		if len(tensors[k]) != wantLengths[k] {
			t.Errorf("%s has length %d, expected %d", name, len(tensors[k]), wantLengths[k])
		}
	}
	tensors[3][0] = 7
	if p.BIH[0][0] != 7 {
		t.Error("Tensors returned a copy of BIH[0], expected a slice that aliases it")
	}
}
