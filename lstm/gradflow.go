package lstm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/recur-ml/recur/engine"
)

// GradFlow is a model's gradient-flow profile over a text. It records how the norm of the
// gradient of one prediction's loss with respect to the top layer's state changes with the
// distance back in time, and the largest singular values of the recurrent weights.
type GradFlow struct {
	Cell        string // CellLSTM or CellRNN
	MaxDistance int    // D, the largest distance measured
	Positions   []int  // end positions τ averaged over: indices into the text, each in [D, len−2]

	// H[d], for d = 0..D, is the geometric mean over Positions of ‖∂L/∂h_{τ−d}‖₂, where L is
	// the cross-entropy in nats of the prediction of character τ+1 and h is the top layer's
	// output. The geometric mean (the exponential of the mean log norm) keeps a few large
	// norms from hiding vanishing ones. It is 0 when any norm underflowed to 0.
	H []float64
	// C[d] is the same mean of ‖∂L/∂c_{τ−d}‖₂ for an LSTM's top-layer cell state, nil for an
	// RNN. It is the total derivative: the path through c_{τ−d+1} plus the path through
	// h_{τ−d} = o·tanh(c_{τ−d}).
	C []float64

	Spectra []LayerSpectrum // one per layer, bottom first
}

// Ratio returns H[num]/H[den], for example Ratio(50, 1) for the decay over 49 steps, or NaN
// when either distance is outside 0..MaxDistance.
func (g *GradFlow) Ratio(num, den int) float64 {
	if num < 0 || den < 0 || num >= len(g.H) || den >= len(g.H) {
		return math.NaN()
	}
	return g.H[num] / g.H[den]
}

// LayerSpectrum contains the largest singular values of one layer's recurrent weights W_hh.
type LayerSpectrum struct {
	Layer int
	WHH   float64 // of the whole W_hh, [G·H×H]
	// Gates holds, for an LSTM, the values of the H×H blocks of W_hh in GateNames order, and
	// is nil for an RNN, whose W_hh is one H×H block.
	Gates []float64
}

// GateNames are the LSTM gate blocks of W_hh in row order, as PyTorch stores them.
var GateNames = []string{"i", "f", "g", "o"}

// GradientFlow measures the gradient flow of m over the token ids of a text. It takes up to
// samples end positions τ spread evenly over the text. For each, it runs the model over the
// D+1 characters ending at τ from a zero state with no dropout and scores only the prediction
// of character τ+1. It then backpropagates through time in the top layer and records the
// norms of ∂L/∂h and ∂L/∂c at distances 0..D. It also computes RecurrentSpectra(m). It allocates its
// own workspace and leaves m.Grads unchanged.
func GradientFlow(m *Model, ids []int32, maxDistance, samples int) (*GradFlow, error) {
	cfg := m.Cfg
	if maxDistance < 1 {
		return nil, fmt.Errorf("invalid max distance %d: use 1 or more steps", maxDistance)
	}
	if samples < 1 {
		return nil, fmt.Errorf("invalid sample count %d: use 1 or more end positions", samples)
	}
	if need := maxDistance + 2; len(ids) < need {
		return nil, fmt.Errorf("text too short: %d characters, but a max distance of %d needs at least %d (%d to read and one to predict)",
			len(ids), maxDistance, need, maxDistance+1)
	}
	V := int32(len(cfg.Vocab))
	for i, id := range ids {
		if id < 0 || id >= V {
			return nil, fmt.Errorf("invalid token id %d at index %d: the vocabulary has %d entries", id, i, V)
		}
	}

	g := &GradFlow{
		Cell:        cfg.Model,
		MaxDistance: maxDistance,
		Positions:   endPositions(len(ids), maxDistance, samples),
	}
	T := maxDistance + 1
	fb := newFlowBackward(m, T)
	logH := make([]float64, T)
	var logC []float64
	if cfg.Model == CellLSTM {
		logC = make([]float64, T)
	}
	for _, tau := range g.Positions {
		hNorms, cNorms := fb.run(ids[tau-maxDistance:tau+1], ids[tau+1])
		for d := range T {
			logH[d] += math.Log(hNorms[d])
			if logC != nil {
				logC[d] += math.Log(cNorms[d])
			}
		}
	}
	if err := m.Backend.Sync(); err != nil {
		return nil, err
	}

	n := float64(len(g.Positions))
	g.H = make([]float64, T)
	for d := range T {
		g.H[d] = math.Exp(logH[d] / n)
	}
	if logC != nil {
		g.C = make([]float64, T)
		for d := range T {
			g.C[d] = math.Exp(logC[d] / n)
		}
	}
	g.Spectra = RecurrentSpectra(m)
	return g, nil
}

// endPositions returns min(samples, n) distinct end positions spread evenly over
// [D, length−2], where n = length−1−D is the number of valid ones.
func endPositions(length, maxDistance, samples int) []int {
	n := length - 1 - maxDistance
	k := min(samples, n)
	if k == 1 {
		return []int{maxDistance + (n-1)/2}
	}
	out := make([]int, k)
	for i := range out {
		out[i] = maxDistance + i*(n-1)/(k-1)
	}
	return out
}

// flowBackward contains the buffers of one gradient-flow window of T steps and one stream.
type flowBackward struct {
	m *Model
	w *Workspace
	T int

	targets []int32
	dh      engine.Tensor // [T×H]: row t is ∂L/∂h_t of the top layer
	dcIn    engine.Tensor // LSTM [T×H]: row t is the gradient reaching c_t from step t+1
	dc      engine.Tensor // LSTM [H]: the running dL/dc of LSTMBackward
	dgates  engine.Tensor // [G·H]
	dhg     engine.Tensor // GRU [3H]: the gradient at the recurrent pre-activations
	dhPrev  engine.Tensor // GRU [H]: dL/dh_{-1}, which nothing reads

	hostDH, hostDC, hostGates, hostC []float32
}

func newFlowBackward(m *Model, T int) *flowBackward {
	be, cfg := m.Backend, m.Cfg
	H, G := cfg.Hidden, cfg.gatesPerUnit()
	w := m.NewWorkspace(1, T)
	m.PrepareBackward(w)
	fb := &flowBackward{
		m: m, w: w, T: T,
		targets: make([]int32, T),
		dh:      be.Alloc(T * H),
		dgates:  be.Alloc(G * H),
		hostDH:  make([]float32, T*H),
	}
	if cfg.Model == CellGRU {
		fb.dhg = be.Alloc(G * H)
		fb.dhPrev = be.Alloc(H)
	}
	if cfg.Model == CellLSTM {
		fb.dcIn = be.Alloc(T * H)
		fb.dc = be.Alloc(H)
		fb.hostDC = make([]float32, T*H)
		fb.hostGates = make([]float32, T*G*H)
		fb.hostC = make([]float32, (T+1)*H)
	}
	return fb
}

// run scores the prediction of target after reading window and returns, for d = 0..T−1, the
// norms of the gradient with respect to the top layer's h and (LSTM only) c at step T−1−d.
// It mirrors Model.Backward for the top layer with B = 1, keeping every step's gradient.
func (fb *flowBackward) run(window []int32, target int32) (hNorms, cNorms []float64) {
	m, w, T := fb.m, fb.w, fb.T
	be, cfg := m.Backend, m.Cfg
	H, V, G := cfg.Hidden, len(cfg.Vocab), cfg.gatesPerUnit()
	top := cfg.Layers - 1
	isLSTM := cfg.Model == CellLSTM

	for t := range fb.targets {
		fb.targets[t] = -1
	}
	fb.targets[T-1] = target
	m.ResetState(w)
	m.Forward(w, window, fb.targets, Dropout{})

	// ∂L/∂h at the last step comes from the head alone, because no other step is scored.
	be.Gemm(false, false, 1, H, V, 1, w.dlogits.Slice((T-1)*V, V), m.p.headW, 0, fb.dh.Slice((T-1)*H, H))
	if isLSTM {
		be.Fill(fb.dc, 0)
	}
	whh := m.p.layers[top].whh
	for t := T - 1; t >= 0; t-- {
		dht := fb.dh.Slice(t*H, H)
		if cfg.Model == CellGRU {
			// GRUBackward writes the z·h_{t−1} path into dL/dh_{t−1}; the GEMM adds the path
			// through the recurrent pre-activations.
			dPrev := fb.dhPrev
			if t > 0 {
				dPrev = fb.dh.Slice((t-1)*H, H)
			}
			be.GRUBackward(w.gates[top].Slice(t*G*H, G*H), w.hg[top].Slice(t*G*H, G*H),
				w.h[top].Slice(t*H, H), dht, nil, fb.dgates, fb.dhg, dPrev, 1, H)
			be.Gemm(false, false, 1, H, G*H, 1, fb.dhg, whh, 1, dPrev)
			continue
		}
		if isLSTM {
			be.Copy(fb.dcIn.Slice(t*H, H), fb.dc)
			gt := w.gates[top].Slice(t*G*H, G*H)
			be.LSTMBackward(gt, w.c[top].Slice(t*H, H), w.c[top].Slice((t+1)*H, H), dht, nil, fb.dc, fb.dgates, 1, H)
		} else {
			be.RNNBackward(w.h[top].Slice((t+1)*H, H), dht, nil, fb.dgates)
		}
		if t > 0 {
			be.Gemm(false, false, 1, H, G*H, 1, fb.dgates, whh, 0, fb.dh.Slice((t-1)*H, H))
		}
	}

	be.Download(fb.hostDH, fb.dh)
	hNorms = make([]float64, T)
	for d := range T {
		t := T - 1 - d
		hNorms[d] = norm32(fb.hostDH[t*H : (t+1)*H])
	}
	if !isLSTM {
		return hNorms, nil
	}

	// The total ∂L/∂c_t adds the path through h_t = o_t·tanh(c_t) to the gradient from step
	// t+1, as LSTMBackward does internally before it multiplies by the forget gate.
	be.Download(fb.hostDC, fb.dcIn)
	be.Download(fb.hostGates, w.gates[top])
	be.Download(fb.hostC, w.c[top])
	cNorms = make([]float64, T)
	for d := range T {
		t := T - 1 - d
		var sum float64
		for j := range H {
			o := float64(fb.hostGates[t*G*H+3*H+j])
			tc := math.Tanh(float64(fb.hostC[(t+1)*H+j]))
			dct := float64(fb.hostDC[t*H+j]) + float64(fb.hostDH[t*H+j])*o*(1-tc*tc)
			sum += dct * dct
		}
		cNorms[d] = math.Sqrt(sum)
	}
	return hNorms, cNorms
}

func norm32(v []float32) float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum)
}

// RecurrentSpectra downloads each layer's W_hh and returns its largest singular values, as
// LargestSingularValue computes them.
func RecurrentSpectra(m *Model) []LayerSpectrum {
	cfg := m.Cfg
	H, G := cfg.Hidden, cfg.gatesPerUnit()
	host32 := make([]float32, G*H*H)
	whh := make([]float64, G*H*H)
	out := make([]LayerSpectrum, cfg.Layers)
	for l := range cfg.Layers {
		m.Backend.Download(host32, m.p.layers[l].whh)
		for i, x := range host32 {
			whh[i] = float64(x)
		}
		out[l] = LayerSpectrum{Layer: l, WHH: LargestSingularValue(whh, G*H, H)}
		if cfg.Model == CellLSTM {
			for k := range G {
				block := whh[k*H*H : (k+1)*H*H]
				out[l].Gates = append(out[l].Gates, LargestSingularValue(block, H, H))
			}
		}
	}
	return out
}

// Power iteration limits: the relative change of the estimate at which it stops, and the
// iteration cap for matrices whose two largest singular values are close.
const (
	powerTolerance  = 1e-12
	powerIterations = 2000
)

// LargestSingularValue returns the largest singular value σ₁ of the row-major rows×cols
// matrix a, by power iteration on aᵀa in float64 from a fixed pseudo-random start. Each
// estimate ‖a·v‖ with ‖v‖ = 1 is a lower bound on σ₁ that rises towards it at a rate set by
// (σ₂/σ₁)². It panics when len(a) ≠ rows·cols.
func LargestSingularValue(a []float64, rows, cols int) float64 {
	if rows < 0 || cols < 0 || len(a) != rows*cols {
		panic(fmt.Sprintf("lstm: LargestSingularValue got %d elements for a %d×%d matrix", len(a), rows, cols))
	}
	if rows == 0 || cols == 0 {
		return 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float64, cols)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	scale(v, 1/norm64(v))
	u := make([]float64, rows)
	sigma := 0.0
	for range powerIterations {
		for r := range rows {
			row := a[r*cols : (r+1)*cols]
			var s float64
			for c, x := range row {
				s += x * v[c]
			}
			u[r] = s
		}
		next := norm64(u)
		if next == 0 {
			// v lies in the null space: with a random start that means a is zero.
			return sigma
		}
		done := math.Abs(next-sigma) <= powerTolerance*next
		sigma = next
		if done {
			break
		}
		// v ← aᵀu / ‖aᵀu‖
		clear(v)
		for r := range rows {
			row := a[r*cols : (r+1)*cols]
			for c, x := range row {
				v[c] += x * u[r]
			}
		}
		scale(v, 1/norm64(v))
	}
	// NOTE: after powerIterations without convergence the result is a lower bound on σ₁.
	return sigma
}

func norm64(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x * x
	}
	return math.Sqrt(sum)
}

func scale(v []float64, s float64) {
	for i := range v {
		v[i] *= s
	}
}
