package cpuref

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Sizes of the stack fixtures: small enough to perturb every entry of every input.
const (
	stackLayers = 2
	stackHidden = 3
	stackIn     = 2
	stackT      = 4
	stackB      = 3
)

// stackPadding is the number of left-padding steps of each row in the padded fixtures.
var stackPadding = []int{0, 1, 2}

var stackCells = []string{"lstm", "gru", "rnn"}

// stackFixture is one stack with its inputs and the gradients of a loss at its outputs.
type stackFixture struct {
	cfg      StackConfig
	params   *StackParams
	in       StackInput
	dY       []float64   // [T·B×H]
	dHT, dCT [][]float64 // per layer [B×H], dCT nil for the RNN and GRU cells
}

// newStackFixture returns a stack with uniform random weights in [−0.5, 0.5), random X, H0, C0
// and GateBias, and random loss gradients dY, dHT and dCT. Reset is left nil.
func newStackFixture(cell string, seed uint64) *stackFixture {
	rng := rand.New(rand.NewPCG(seed, 77))
	cfg := StackConfig{Cell: cell, Layers: stackLayers, Hidden: stackHidden, In: stackIn}
	params := NewStackParams(cfg)
	for _, tensor := range params.Tensors() {
		copy(tensor, randomSlice(rng, len(tensor), 0.5))
	}
	fx := &stackFixture{cfg: cfg, params: params}
	fx.in = StackInput{
		X:        randomSlice(rng, stackT*stackB*stackIn, 1),
		GateBias: randomSlice(rng, stackB*cfg.gates()*stackHidden, 0.5),
		T:        stackT,
		B:        stackB,
	}
	fx.dY = randomSlice(rng, stackT*stackB*stackHidden, 1)
	for l := 0; l < stackLayers; l++ {
		fx.in.H0 = append(fx.in.H0, randomSlice(rng, stackB*stackHidden, 0.8))
		fx.dHT = append(fx.dHT, randomSlice(rng, stackB*stackHidden, 1))
		if cell == "lstm" {
			fx.in.C0 = append(fx.in.C0, randomSlice(rng, stackB*stackHidden, 1.5))
			fx.dCT = append(fx.dCT, randomSlice(rng, stackB*stackHidden, 1))
		}
	}
	return fx
}

// leftPaddingReset returns a [T·B] Reset that is 0 at the first padding[b] steps of row b and 1
// elsewhere.
func leftPaddingReset(T, B int, padding []int) []float64 {
	reset := make([]float64, T*B)
	for t := 0; t < T; t++ {
		for b := 0; b < B; b++ {
			if t >= padding[b] {
				reset[t*B+b] = 1
			}
		}
	}
	return reset
}

// loss returns Σ dY·Y + Σ_l (dHT_l·h_T,l + dCT_l·c_T,l), whose gradients at the outputs and
// final states are dY, dHT and dCT.
func (fx *stackFixture) loss() float64 {
	cache := StackForward(fx.cfg, fx.params, fx.in)
	final := cache.Final()
	loss := dot(fx.dY, cache.Output())
	for l := 0; l < fx.cfg.Layers; l++ {
		loss += dot(fx.dHT[l], final.H[l])
		if fx.dCT != nil {
			loss += dot(fx.dCT[l], final.C[l])
		}
	}
	return loss
}

// stackTensorNames returns the names of StackParams.Tensors in order.
func stackTensorNames(layers int) []string {
	var names []string
	for l := 0; l < layers; l++ {
		names = append(names,
			fmt.Sprintf("WIH[%d]", l), fmt.Sprintf("WHH[%d]", l),
			fmt.Sprintf("BIH[%d]", l), fmt.Sprintf("BHH[%d]", l))
	}
	return names
}

// assertGradient compares got with the central-difference gradient of loss at x and reports an
// all-zero got, which would make the comparison check nothing.
func assertGradient(t *testing.T, name string, got []float64, loss func() float64, x []float64) {
	t.Helper()
	assertClose(t, name, got, numericGradient(loss, x), fdAtol, fdRtol)
	if maxAbs(got) == 0 {
		t.Errorf("%s: gradient is all zero, so the comparison checks nothing", name)
	}
}

func TestStackBackwardFiniteDifferences(t *testing.T) {
	resets := []struct {
		name  string
		reset func(rng *rand.Rand) []float64
	}{
		{"none", func(*rand.Rand) []float64 { return nil }},
		{"padding", func(*rand.Rand) []float64 { return leftPaddingReset(stackT, stackB, stackPadding) }},
		{"fractional", func(rng *rand.Rand) []float64 {
			reset := make([]float64, stackT*stackB)
			for k := range reset {
				reset[k] = rng.Float64()
			}
			return reset
		}},
	}
	for n, cell := range stackCells {
		for _, rc := range resets {
			t.Run(cell+"/"+rc.name, func(t *testing.T) {
				fx := newStackFixture(cell, uint64(n+1))
				fx.in.Reset = rc.reset(rand.New(rand.NewPCG(uint64(n+1), 5)))
				cache := StackForward(fx.cfg, fx.params, fx.in)
				grads, dX, dH0, dC0, dGateBias := StackBackward(fx.cfg, fx.params, cache, fx.dY, fx.dHT, fx.dCT)

				names := stackTensorNames(fx.cfg.Layers)
				gradTensors := grads.Tensors()
				for k, tensor := range fx.params.Tensors() {
					assertGradient(t, names[k], gradTensors[k], fx.loss, tensor)
				}
				assertGradient(t, "dX", dX, fx.loss, fx.in.X)
				assertGradient(t, "dGateBias", dGateBias, fx.loss, fx.in.GateBias)
				for l := 0; l < fx.cfg.Layers; l++ {
					assertGradient(t, fmt.Sprintf("dH0[%d]", l), dH0[l], fx.loss, fx.in.H0[l])
					if cell == "lstm" {
						assertGradient(t, fmt.Sprintf("dC0[%d]", l), dC0[l], fx.loss, fx.in.C0[l])
					}
				}
				if cell != "lstm" && dC0 != nil {
					t.Errorf("dC0 = %v for cell %q, expected nil", dC0, cell)
				}
			})
		}
	}
}

func TestStackBackwardNilGradients(t *testing.T) {
	// Nil dY, dHT and dCT mean zero gradients, so every returned gradient is 0.
	for n, cell := range stackCells {
		fx := newStackFixture(cell, uint64(n+10))
		cache := StackForward(fx.cfg, fx.params, fx.in)
		grads, dX, dH0, dC0, dGateBias := StackBackward(fx.cfg, fx.params, cache, nil, nil, nil)
		for k, name := range stackTensorNames(fx.cfg.Layers) {
			tensor := grads.Tensors()[k]
			assertClose(t, cell+" "+name, tensor, make([]float64, len(tensor)), 0, 0)
		}
		assertClose(t, cell+" dX", dX, make([]float64, len(fx.in.X)), 0, 0)
		assertClose(t, cell+" dGateBias", dGateBias, make([]float64, len(fx.in.GateBias)), 0, 0)
		assertClose(t, cell+" dH0[0]", dH0[0], make([]float64, stackB*stackHidden), 0, 0)
		if cell == "lstm" {
			assertClose(t, cell+" dC0[0]", dC0[0], make([]float64, stackB*stackHidden), 0, 0)
		}
	}
}

func TestStackMatchesModelLayers(t *testing.T) {
	// A model whose embedding table is X and whose ids are 0..T·B−1 feeds X to its stack, so
	// with no Reset and no GateBias the two paths compute the same stack.
	const T, B = stackT, stackB
	for n, cell := range stackCells {
		for _, withH0 := range []bool{false, true} {
			name := fmt.Sprintf("%s/h0=%v", cell, withH0)
			cfg := Config{Cell: cell, Layers: stackLayers, Hidden: stackHidden, Embed: stackIn, Vocab: T * B}
			rng := rand.New(rand.NewPCG(uint64(n+40), 3))
			model := NewParams(cfg)
			for _, tensor := range model.Tensors() {
				copy(tensor, randomSlice(rng, len(tensor), 0.5))
			}
			ids := make([]int, T*B)
			targets := make([]int, T*B)
			for k := range ids {
				ids[k] = k
				targets[k] = rng.IntN(cfg.Vocab)
			}
			targets[4] = -1
			var h0 *State
			if withH0 {
				h0 = &State{}
				for l := 0; l < stackLayers; l++ {
					h0.H = append(h0.H, randomSlice(rng, B*stackHidden, 0.8))
					if cell == "lstm" {
						h0.C = append(h0.C, randomSlice(rng, B*stackHidden, 1.5))
					}
				}
			}
			_, _, modelFinal, modelCache := Forward(cfg, model, ids, targets, T, B, h0, nil)
			modelGrads := Backward(cfg, model, modelCache)

			stackCfg := StackConfig{Cell: cell, Layers: stackLayers, Hidden: stackHidden, In: stackIn}
			stackParams := &StackParams{WIH: model.WIH, WHH: model.WHH, BIH: model.BIH, BHH: model.BHH}
			in := StackInput{X: model.Embedding, T: T, B: B}
			if withH0 {
				in.H0, in.C0 = h0.H, h0.C
			}
			cache := StackForward(stackCfg, stackParams, in)

			assertClose(t, name+" Output", cache.Output(), modelCache.top, handAtol, handRtol)
			final := cache.Final()
			for l := 0; l < stackLayers; l++ {
				h, c := cache.LayerStates(l)
				hidden := B * stackHidden
				assertClose(t, fmt.Sprintf("%s h[%d]", name, l), h[hidden:], modelCache.layers[l].h, handAtol, handRtol)
				assertClose(t, fmt.Sprintf("%s final H[%d]", name, l), final.H[l], modelFinal.H[l], handAtol, handRtol)
				if cell == "lstm" {
					assertClose(t, fmt.Sprintf("%s c[%d]", name, l), c[hidden:], modelCache.layers[l].c, handAtol, handRtol)
					assertClose(t, fmt.Sprintf("%s final C[%d]", name, l), final.C[l], modelFinal.C[l], handAtol, handRtol)
				}
			}

			// The model's gradient at its stack output is dlogits·HeadW.
			dY := make([]float64, T*B*stackHidden)
			Gemm(false, false, T*B, stackHidden, cfg.Vocab, 1, modelCache.dlogits, model.HeadW, 0, dY)
			grads, dX, _, _, _ := StackBackward(stackCfg, stackParams, cache, dY, nil, nil)
			var modelTensors [][]float64
			for l := 0; l < stackLayers; l++ {
				modelTensors = append(modelTensors, modelGrads.WIH[l], modelGrads.WHH[l], modelGrads.BIH[l], modelGrads.BHH[l])
			}
			for k, tensorName := range stackTensorNames(stackLayers) {
				assertClose(t, name+" "+tensorName, grads.Tensors()[k], modelTensors[k], handAtol, handRtol)
			}
			// Each id occurs once, so the embedding gradient is the gradient at X.
			assertClose(t, name+" dX", dX, modelGrads.Embedding, handAtol, handRtol)
		}
	}
}

func TestStackLeftPaddingMatchesUnpadded(t *testing.T) {
	for n, cell := range stackCells {
		// H0 and C0 are random, so only the reset can bring a padded row back to zeros.
		fx := newStackFixture(cell, uint64(n+20))
		fx.in.Reset = leftPaddingReset(stackT, stackB, stackPadding)
		cache := StackForward(fx.cfg, fx.params, fx.in)
		final := cache.Final()
		output := cache.Output()
		G, H := fx.cfg.gates(), stackHidden

		for b, pad := range stackPadding {
			if pad == 0 {
				continue
			}
			// Run row b alone over its real steps, from zeros.
			alone := StackInput{
				GateBias: fx.in.GateBias[b*G*H : (b+1)*G*H],
				T:        stackT - pad,
				B:        1,
			}
			for t0 := pad; t0 < stackT; t0++ {
				row := t0*stackB + b
				alone.X = append(alone.X, fx.in.X[row*stackIn:(row+1)*stackIn]...)
			}
			aloneCache := StackForward(fx.cfg, fx.params, alone)
			aloneFinal := aloneCache.Final()
			aloneOutput := aloneCache.Output()

			for l := 0; l < fx.cfg.Layers; l++ {
				name := fmt.Sprintf("%s row %d final H[%d]", cell, b, l)
				assertClose(t, name, final.H[l][b*H:(b+1)*H], aloneFinal.H[l], handAtol, handRtol)
				if cell == "lstm" {
					name = fmt.Sprintf("%s row %d final C[%d]", cell, b, l)
					assertClose(t, name, final.C[l][b*H:(b+1)*H], aloneFinal.C[l], handAtol, handRtol)
				}
			}
			for t0 := 0; t0 < stackT; t0++ {
				row := t0*stackB + b
				got := output[row*H : (row+1)*H]
				want := make([]float64, H) // a padding step's output is reset to zeros
				if t0 >= pad {
					want = aloneOutput[(t0-pad)*H : (t0-pad+1)*H]
				}
				assertClose(t, fmt.Sprintf("%s row %d output t=%d", cell, b, t0), got, want, handAtol, handRtol)
			}
		}
	}
}

// panicMessage calls f and returns the message it panics with, or "" when it returns normally.
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestStackRejectsMismatchedSizes(t *testing.T) {
	forward := func(fx *stackFixture) { StackForward(fx.cfg, fx.params, fx.in) }
	backward := func(fx *stackFixture) {
		cache := StackForward(fx.cfg, fx.params, fx.in)
		StackBackward(fx.cfg, fx.params, cache, fx.dY, fx.dHT, fx.dCT)
	}
	cases := []struct {
		name   string
		cell   string
		change func(fx *stackFixture)
		call   func(fx *stackFixture)
		want   string
	}{
		{"unknown cell", "lstm", func(fx *stackFixture) { fx.cfg.Cell = "lstn" }, forward,
			`unknown cell "lstn"`},
		{"zero In", "lstm", func(fx *stackFixture) { fx.cfg.In = 0 }, forward,
			"invalid StackConfig"},
		{"layer count", "gru", func(fx *stackFixture) { fx.cfg.Layers = 3 }, forward,
			"StackParams has 2, 2, 2, 2 layers of WIH, WHH, BIH, BHH, expected 3"},
		{"WIH[1] length", "rnn", func(fx *stackFixture) { fx.params.WIH[1] = fx.params.WIH[1][1:] }, forward,
			"StackParams.WIH[1] has length 8, expected 9"},
		{"zero T", "rnn", func(fx *stackFixture) { fx.in.T = 0 }, forward,
			"StackInput T=0, B=3"},
		{"X length", "lstm", func(fx *stackFixture) { fx.in.X = fx.in.X[1:] }, forward,
			"StackInput.X has length 23, expected 24"},
		{"H0 layers", "gru", func(fx *stackFixture) { fx.in.H0 = fx.in.H0[:1] }, forward,
			"StackInput.H0 has 1 layers, expected 2"},
		{"H0[1] length", "gru", func(fx *stackFixture) { fx.in.H0[1] = fx.in.H0[1][1:] }, forward,
			"StackInput.H0[1] has length 8, expected 9"},
		{"C0[0] length", "lstm", func(fx *stackFixture) { fx.in.C0[0] = fx.in.C0[0][1:] }, forward,
			"StackInput.C0[0] has length 8, expected 9"},
		{"C0 for gru", "gru", func(fx *stackFixture) { fx.in.C0 = fx.in.H0 }, forward,
			`StackInput.C0 is set for cell "gru"`},
		{"Reset length", "lstm", func(fx *stackFixture) { fx.in.Reset = make([]float64, 11) }, forward,
			"StackInput.Reset has length 11, expected 12"},
		{"GateBias length", "gru", func(fx *stackFixture) { fx.in.GateBias = fx.in.GateBias[1:] }, forward,
			"StackInput.GateBias has length 26, expected 27"},
		{"dY length", "rnn", func(fx *stackFixture) { fx.dY = fx.dY[1:] }, backward,
			"StackBackward dY has length 35, expected 36"},
		{"dHT layers", "lstm", func(fx *stackFixture) { fx.dHT = fx.dHT[:1] }, backward,
			"StackBackward dHT has 1 layers, expected 2"},
		{"dHT[0] length", "gru", func(fx *stackFixture) { fx.dHT[0] = fx.dHT[0][1:] }, backward,
			"StackBackward dHT[0] has length 8, expected 9"},
		{"dCT[1] length", "lstm", func(fx *stackFixture) { fx.dCT[1] = fx.dCT[1][1:] }, backward,
			"StackBackward dCT[1] has length 8, expected 9"},
		{"dCT for rnn", "rnn", func(fx *stackFixture) { fx.dCT = fx.dHT }, backward,
			`StackBackward dCT is set for cell "rnn"`},
	}
	for n, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newStackFixture(tc.cell, uint64(n+60))
			tc.change(fx)
			msg := panicMessage(func() { tc.call(fx) })
			if !strings.Contains(msg, tc.want) {
				t.Errorf("panic message %q, expected one containing %q", msg, tc.want)
			}
		})
	}
}

func TestStackBackwardRejectsOtherConfig(t *testing.T) {
	fx := newStackFixture("lstm", 90)
	cache := StackForward(fx.cfg, fx.params, fx.in)
	other := fx.cfg
	other.Hidden = 4
	msg := panicMessage(func() { StackBackward(other, fx.params, cache, nil, nil, nil) })
	if !strings.Contains(msg, "StackBackward config") {
		t.Errorf("panic message %q, expected one containing %q", msg, "StackBackward config")
	}
}

func TestStackLayerStatesRejectsLayer(t *testing.T) {
	fx := newStackFixture("rnn", 91)
	cache := StackForward(fx.cfg, fx.params, fx.in)
	msg := panicMessage(func() { cache.LayerStates(2) })
	want := "LayerStates layer 2 is outside [0, 2)"
	if !strings.Contains(msg, want) {
		t.Errorf("panic message %q, expected one containing %q", msg, want)
	}
}
