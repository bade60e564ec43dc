package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/recur-ml/recur/cpuref"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// The model of the whole-model checks is small, so that cpuref takes milliseconds, and its
// sizes all differ, so that a swapped dimension or a transposed index changes the result.
const (
	modelVocab   = 11 // V
	modelEmbed   = 5  // E
	modelHidden  = 7  // H
	modelSteps   = 6  // T
	modelStreams = 3  // B
)

// modelDropout is the dropout probability between layers in the whole-model checks.
const modelDropout = 0.3

// modelIgnored are the positions t·B+b whose target is −1, leaving 15 of the 18 scored.
var modelIgnored = []int{1, 7, 16}

// Adam's hyperparameters for the whole-model step: PyTorch's defaults, which lstm's
// optimizer uses too, with a learning rate large enough to move every parameter visibly.
const (
	modelLR          = 1e-2
	adamBeta1        = 0.9
	adamBeta2        = 0.999
	adamEps          = 1e-8
	modelClipDivisor = 3 // the clipping threshold is the gradient norm divided by this
)

var modelCases = []struct {
	cell   string
	layers int
}{
	{lstm.CellLSTM, 1},
	{lstm.CellLSTM, 3},
	{lstm.CellRNN, 1},
	{lstm.CellRNN, 3},
	{lstm.CellGRU, 1},
	{lstm.CellGRU, 3},
}

// modelRun is one model on the backend under test, with a workspace of B×T and the same
// parameters in cpuref's form.
type modelRun struct {
	e      *env
	name   string // for example "lstm×3"
	cfg    lstm.Config
	refCfg cpuref.Config
	m      *lstm.Model
	ws     *lstm.Workspace
	params *cpuref.Params // the model's initial parameters, converted to float64
}

func newModelRun(e *env, cell string, layers int) *modelRun {
	e.t.Helper()
	vocab := make([]string, modelVocab)
	for i := range vocab {
		vocab[i] = string(rune('a' + i))
	}
	cfg := lstm.Config{Model: cell, Layers: layers, Hidden: modelHidden, Embed: modelEmbed,
		Vocab: vocab}
	m, err := lstm.NewModel(cfg, e.be)
	if err != nil {
		e.t.Fatalf("lstm.NewModel(%+v): %v", cfg, err)
	}
	initial := lstm.InitParams(cfg, rand.New(rand.NewPCG(uint64(layers), 99)), math.NaN())
	e.be.Upload(m.Params, initial)
	ws := m.NewWorkspace(modelStreams, modelSteps)
	m.PrepareBackward(ws)

	r := &modelRun{
		e:    e,
		name: fmt.Sprintf("%s×%d", cell, layers),
		cfg:  cfg,
		refCfg: cpuref.Config{Cell: cell, Layers: layers, Hidden: modelHidden,
			Embed: modelEmbed, Vocab: modelVocab},
		m:  m,
		ws: ws,
	}
	r.params = r.toRef(initial)
	return r
}

// toRef splits a flat vector in lstm's ParamSpecs order into cpuref's tensors, whose
// Tensors order is the same.
func (r *modelRun) toRef(flat []float32) *cpuref.Params {
	r.e.t.Helper()
	p := cpuref.NewParams(r.refCfg)
	refTensors := p.Tensors()
	specs := r.cfg.ParamSpecs()
	if len(specs) != len(refTensors) {
		r.e.t.Fatalf("lstm has %d parameter tensors and cpuref %d", len(specs), len(refTensors))
	}
	for i, s := range specs {
		if s.Len() != len(refTensors[i]) {
			r.e.t.Fatalf("%s has %d elements in lstm and %d in cpuref", s.Name, s.Len(),
				len(refTensors[i]))
		}
		copy(refTensors[i], float64s(flat[s.Offset:s.Offset+s.Len()]))
	}
	return p
}

// compareParams compares a flat vector in ParamSpecs order with cpuref's tensors, one
// comparison per named tensor.
func (r *modelRun) compareParams(k kind, label string, flat []float32, want *cpuref.Params) {
	r.e.t.Helper()
	refTensors := want.Tensors()
	for i, s := range r.cfg.ParamSpecs() {
		r.e.compare(k, r.name+" "+label+" "+s.Name,
			flat[s.Offset:s.Offset+s.Len()], refTensors[i])
	}
}

// randomState returns an initial state of values in [−0.5, 0.5], exact in float32, and
// uploads it into the workspace's carried state.
func (r *modelRun) randomState() *cpuref.State {
	st := &cpuref.State{}
	for l := 0; l < r.cfg.Layers; l++ {
		h, c := r.ws.State(l)
		hv := r.e.uniform(h.Len(), -0.5, 0.5)
		r.e.be.Upload(h, hv)
		st.H = append(st.H, float64s(hv))
		if c != nil {
			cv := r.e.uniform(c.Len(), -0.5, 0.5)
			r.e.be.Upload(c, cv)
			st.C = append(st.C, float64s(cv))
		}
	}
	return st
}

// masks returns the inverted-dropout masks that lstm draws for drop: layer l's mask covers
// its T·B·H outputs with counters drop.Offset + l·T·B·H + i.
func (r *modelRun) masks(drop lstm.Dropout) [][]float64 {
	if drop.P == 0 || r.cfg.Layers == 1 {
		return nil
	}
	n := modelSteps * modelStreams * modelHidden
	scale := 1 / (1 - float64(drop.P))
	var masks [][]float64
	for l := 0; l < r.cfg.Layers-1; l++ {
		mask := make([]float64, n)
		for i := range mask {
			if engine.DropoutKeep(drop.Seed, drop.Offset+uint64(l*n+i), drop.P) {
				mask[i] = scale
			}
		}
		masks = append(masks, mask)
	}
	return masks
}

// inputs returns random ids and targets for one chunk, with the targets at modelIgnored
// set to −1.
func (r *modelRun) inputs() (ids, targets []int32) {
	n := modelSteps * modelStreams
	ids = r.e.ids(n, modelVocab)
	targets = r.e.ids(n, modelVocab)
	for _, i := range modelIgnored {
		targets[i] = -1
	}
	return ids, targets
}

// chunk runs Forward and Backward over one chunk on the backend, from the carried state, and
// cpuref's Forward and Backward from h0, which must equal that state. It compares the loss,
// the logits, every parameter gradient and the final state, moves the final state into the
// workspace's carried state, and returns cpuref's final state.
func (r *modelRun) chunk(label string, ids, targets []int32, drop lstm.Dropout,
	h0 *cpuref.State) *cpuref.State {
	e := r.e
	e.t.Helper()
	prefix := r.name + " " + label + ":"

	e.be.Fill(r.m.Grads, 0)
	count := r.m.Forward(r.ws, ids, targets, drop)
	r.m.Backward(r.ws)
	lossSum := r.m.LossSum(r.ws)
	r.m.CarryState(r.ws)

	loss, logits, final, cache := cpuref.Forward(r.refCfg, r.params, ints(ids), ints(targets),
		modelSteps, modelStreams, h0, r.masks(drop))
	grads := cpuref.Backward(r.refCfg, r.params, cache)

	wantCount := len(targets) - len(modelIgnored)
	if count != wantCount {
		e.t.Errorf("%s Forward scored %d targets, want %d", prefix, count, wantCount)
	}
	e.compareScalar(kindModel, prefix+" mean loss", float32(lossSum/float64(max(count, 1))), loss)
	e.compare(kindModel, prefix+" logits", e.download(r.ws.Logits()), logits)
	r.compareParams(kindModel, label+": gradient of", e.download(r.m.Grads), grads)
	for l := 0; l < r.cfg.Layers; l++ {
		h, c := r.ws.State(l)
		e.compare(kindModel, fmt.Sprintf("%s final h of layer %d", prefix, l), e.download(h),
			final.H[l])
		if c != nil {
			e.compare(kindModel, fmt.Sprintf("%s final c of layer %d", prefix, l), e.download(c),
				final.C[l])
		}
	}
	return &final
}

// testModel checks one chunk of each model: forward, backward and the final state against
// cpuref, then one clipped Adam step.
func testModel(e *env) {
	for _, mc := range modelCases {
		r := newModelRun(e, mc.cell, mc.layers)
		h0 := r.randomState()
		ids, targets := r.inputs()
		drop := lstm.Dropout{P: modelDropout, Seed: 7, Offset: 1000}
		r.chunk("chunk", ids, targets, drop, h0)
		r.adamStep()
	}
}

// adamStep clips the gradient of the last chunk and applies one Adam step on the backend,
// and compares the norm, the clipped gradient and the parameters with cpuref's ClipGradNorm
// and AdamStep. The reference starts from the backend's own gradient, so that the check
// measures the update alone: Adam's first step moves each parameter by about lr·sign(g),
// which would turn a tiny gradient's rounding difference into a difference of up to 2·lr.
func (r *modelRun) adamStep() {
	e := r.e
	e.t.Helper()
	be, model := e.be, r.m
	n := model.Params.Len()

	grads := e.download(model.Grads)
	refGrads := r.toRef(grads)
	want := r.toRef(e.download(model.Params))
	sumSquares := 0.0
	for _, g := range grads {
		sumSquares += float64(g) * float64(g)
	}
	maxNorm := float32(math.Sqrt(sumSquares) / modelClipDivisor)

	norm := be.Alloc(1)
	be.ClipGradNorm(model.Grads, maxNorm, norm)
	m, v := be.Alloc(n), be.Alloc(n) // Adam's first and second moments
	be.AdamStep(model.Params, model.Grads, m, v, modelLR, adamBeta1, adamBeta2, adamEps, 1)

	wantNorm := cpuref.ClipGradNorm(refGrads.Tensors(), float64(maxNorm))
	lr, b1, b2, eps := float64(float32(modelLR)), float64(float32(adamBeta1)),
		float64(float32(adamBeta2)), float64(float32(adamEps))
	for i, g := range refGrads.Tensors() {
		p := want.Tensors()[i]
		cpuref.AdamStep(p, g, make([]float64, len(p)), make([]float64, len(p)), lr, b1, b2, eps, 1)
	}

	e.compareScalar(kindReduction, r.name+" gradient norm", e.download(norm)[0], wantNorm)
	r.compareParams(kindOptimizer, "Adam step: clipped gradient of", e.download(model.Grads), refGrads)
	r.compareParams(kindOptimizer, "Adam step: parameter", e.download(model.Params), want)
}

// testModelTwoChunks runs two chunks in a row on the backend. The second starts from the
// state that the first carried over and uses the dropout counters after the first's. The
// check compares it with cpuref started from cpuref's final state of the first chunk.
func testModelTwoChunks(e *env) {
	for _, mc := range modelCases {
		r := newModelRun(e, mc.cell, mc.layers)
		h0 := r.randomState()
		drop := lstm.Dropout{P: modelDropout, Seed: 11}

		ids, targets := r.inputs()
		mid := r.chunk("chunk 1", ids, targets, drop, h0)

		drop.Offset = uint64(mc.layers * modelSteps * modelStreams * modelHidden)
		ids, targets = r.inputs()
		r.chunk("chunk 2", ids, targets, drop, mid)
	}
}
