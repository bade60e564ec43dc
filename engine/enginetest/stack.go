package enginetest

import (
	"fmt"
	"runtime/debug"

	"github.com/recur-ml/recur/cpuref"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// The stack checks run a bare lstm.Stack of 2 layers, with sizes that all differ, so that a
// swapped dimension or a transposed index changes the result.
const (
	stackLayers      = 2
	stackIn          = 5 // width of layer 0's input
	stackHidden      = 7 // H
	stackSteps       = 6 // T
	stackStreams     = 3 // B
	stackPrefixSteps = 4 // T of the Prefix check
)

// stackPadding is the number of left-padding steps of each row b. Reset zeroes row b's state
// after each of its padding steps.
var stackPadding = [stackStreams]int{0, 2, 3}

// stackValues contains what one forward and backward pass of a stack produces, from the
// backend (float32) or from cpuref (float64).
type stackValues[F float32 | float64] struct {
	output         []F   // top layer's h at every step, [T·B×H]
	finalH, finalC [][]F // per layer [B×H], with finalC nil for GRU and RNN
	grads          [][]F // weight and bias gradients, in the order of the stack's ParamSpecs
	inputGrad      []F   // [T·B×In]
	initH, initC   [][]F // gradient at the initial state, per layer [B×H], with initC as finalC
	gateBiasGrad   []F   // [B×G·H]
}

// stackInputs contains the random inputs of one pass, exact in float32.
type stackInputs struct {
	T        int
	x        []float32   // [T·B×In]
	reset    []float32   // [T·B], one factor per row and step, as cpuref takes it
	gateBias []float32   // [B×G·H]
	h0, c0   [][]float32 // initial state, per layer [B×H], with c0 nil for GRU and RNN
	dy       []float32   // gradient at the top layer's output, [T·B×H]
	dhT, dcT [][]float32 // gradient at the final state, per layer [B×H], with dcT as c0
}

// stackCheck is one stack on the backend under test, with its parameters in cpuref's form.
type stackCheck struct {
	e      *env
	name   string // for example "lstm×2"
	cell   string
	gates  int // G
	specs  []lstm.ParamSpec
	params engine.Tensor
	grads  engine.Tensor
	stack  *lstm.Stack
	refCfg cpuref.StackConfig
	ref    *cpuref.StackParams
}

func newStackCheck(e *env, cell string) *stackCheck {
	e.t.Helper()
	specs, n := lstm.AppendStackSpecs(nil, 0, "stack", cell, stackLayers, stackHidden, stackIn)
	weights := e.uniform(n, -0.5, 0.5)
	s := &stackCheck{
		e:      e,
		name:   fmt.Sprintf("%s×%d", cell, stackLayers),
		cell:   cell,
		specs:  specs,
		params: e.upload(weights),
		grads:  e.be.Alloc(n),
		refCfg: cpuref.StackConfig{Cell: cell, Layers: stackLayers, Hidden: stackHidden,
			In: stackIn},
	}
	s.stack = lstm.NewStack(e.be, cell, stackLayers, stackHidden, stackIn, specs, 0, s.params,
		s.grads)
	s.gates = specs[0].Shape[0] / stackHidden // weight_ih_l0 has G·H rows

	s.ref = cpuref.NewStackParams(s.refCfg)
	refTensors := s.ref.Tensors()
	if len(refTensors) != len(specs) {
		e.t.Fatalf("%s: lstm has %d parameter tensors and cpuref %d", s.name, len(specs),
			len(refTensors))
	}
	for i, spec := range specs {
		if spec.Len() != len(refTensors[i]) {
			e.t.Fatalf("%s: %s has %d elements in lstm and %d in cpuref", s.name, spec.Name,
				spec.Len(), len(refTensors[i]))
		}
		copy(refTensors[i], float64s(weights[spec.Offset:spec.Offset+spec.Len()]))
	}
	return s
}

// randomInputs draws the inputs of a pass over T steps. The output and final-state gradients
// lie in [−0.1, 0.1], close to the size of the whole-model check's gradients, for which the
// Model tolerance is set.
func (s *stackCheck) randomInputs(T int) stackInputs {
	e := s.e
	B, H := stackStreams, stackHidden
	in := stackInputs{
		T:        T,
		x:        e.uniform(T*B*stackIn, -1, 1),
		reset:    make([]float32, T*B),
		gateBias: e.uniform(B*s.gates*H, -0.5, 0.5),
		dy:       e.uniform(T*B*H, -0.1, 0.1),
	}
	for t := 0; t < T; t++ {
		for b := 0; b < B; b++ {
			if t >= stackPadding[b] {
				in.reset[t*B+b] = 1
			}
		}
	}
	for range stackLayers {
		in.h0 = append(in.h0, e.uniform(B*H, -0.5, 0.5))
		in.dhT = append(in.dhT, e.uniform(B*H, -0.1, 0.1))
		if s.cell == lstm.CellLSTM {
			in.c0 = append(in.c0, e.uniform(B*H, -0.5, 0.5))
			in.dcT = append(in.dcT, e.uniform(B*H, -0.1, 0.1))
		}
	}
	return in
}

// run runs Forward and Backward on r from the inputs in and returns the results. It fills
// InputGrad with guard before Backward, so that with noInputGrad the result shows whether
// Backward wrote it.
func (s *stackCheck) run(r *lstm.StackRun, in stackInputs, noInputGrad bool) stackValues[float32] {
	e := s.e
	be := e.be
	B, H, T := stackStreams, stackHidden, in.T
	s.stack.PrepareBackward(r, true)

	for l := 0; l < stackLayers; l++ {
		h, c := r.InitState(l)
		be.Upload(h, in.h0[l])
		if c != nil {
			be.Upload(c, in.c0[l])
		}
	}
	// lstm's Reset repeats each row's factor over the H units of that row.
	reset := make([]float32, T*B*H)
	for i, f := range in.reset {
		for j := 0; j < H; j++ {
			reset[i*H+j] = f
		}
	}
	s.stack.Forward(r, lstm.StackInput{
		X:           e.upload(in.x),
		Reset:       e.upload(reset),
		GateBias:    e.upload(in.gateBias),
		NoInputGrad: noInputGrad,
	})

	var got stackValues[float32]
	got.output = e.download(r.Output())
	for l := 0; l < stackLayers; l++ {
		h, c := r.FinalState(l)
		got.finalH = append(got.finalH, e.download(h))
		if c != nil {
			got.finalC = append(got.finalC, e.download(c))
		}
	}

	be.Upload(r.OutputGrad(), in.dy)
	var final lstm.StateGrad
	for l := 0; l < stackLayers; l++ {
		final.H = append(final.H, e.upload(in.dhT[l]))
		if in.dcT != nil {
			final.C = append(final.C, e.upload(in.dcT[l]))
		}
	}
	be.Fill(s.grads, 0)
	be.Fill(r.InputGrad(), guard)
	s.stack.Backward(r, final)

	flat := e.download(s.grads)
	for _, spec := range s.specs {
		got.grads = append(got.grads, flat[spec.Offset:spec.Offset+spec.Len()])
	}
	got.inputGrad = e.download(r.InputGrad())
	for l := 0; l < stackLayers; l++ {
		dh, dc := r.InitGrad(l)
		got.initH = append(got.initH, e.download(dh))
		if dc != nil {
			got.initC = append(got.initC, e.download(dc))
		}
	}
	// A caller that adds a gate bias sums the gradient at layer 0's pre-activations over the
	// T steps: [T·B×G·H] read as T rows of B·G·H.
	gateBiasGrad := be.Alloc(B * s.gates * H)
	be.SumRows(gateBiasGrad, r.Layer0GateGrad(), T, B*s.gates*H)
	got.gateBiasGrad = e.download(gateBiasGrad)
	return got
}

// reference runs cpuref's StackForward and StackBackward from the inputs in.
func (s *stackCheck) reference(in stackInputs) stackValues[float64] {
	refIn := cpuref.StackInput{
		X:        float64s(in.x),
		H0:       float64Layers(in.h0),
		C0:       float64Layers(in.c0),
		Reset:    float64s(in.reset),
		GateBias: float64s(in.gateBias),
		T:        in.T,
		B:        stackStreams,
	}
	cache := cpuref.StackForward(s.refCfg, s.ref, refIn)
	grads, dX, dH0, dC0, dGateBias := cpuref.StackBackward(s.refCfg, s.ref, cache,
		float64s(in.dy), float64Layers(in.dhT), float64Layers(in.dcT))
	final := cache.Final()
	return stackValues[float64]{
		output:       cache.Output(),
		finalH:       final.H,
		finalC:       final.C,
		grads:        grads.Tensors(),
		inputGrad:    dX,
		initH:        dH0,
		initC:        dC0,
		gateBiasGrad: dGateBias,
	}
}

// float64Layers converts per-layer values to float64, and returns nil for nil.
func float64Layers(x [][]float32) [][]float64 {
	if x == nil {
		return nil
	}
	out := make([][]float64, len(x))
	for i, v := range x {
		out[i] = float64s(v)
	}
	return out
}

// compareStack compares every result of got with want under the Model tolerance.
func (s *stackCheck) compareStack(label string, got stackValues[float32], want stackValues[float64]) {
	e := s.e
	e.t.Helper()
	prefix := s.name + " " + label + ":"
	e.compare(kindModel, prefix+" output", got.output, want.output)
	compareLayers(e, prefix+" final h", got.finalH, want.finalH)
	compareLayers(e, prefix+" final c", got.finalC, want.finalC)
	s.compareGrads(prefix, got.grads, want.grads)
	e.compare(kindModel, prefix+" input gradient", got.inputGrad, want.inputGrad)
	compareLayers(e, prefix+" initial h gradient", got.initH, want.initH)
	compareLayers(e, prefix+" initial c gradient", got.initC, want.initC)
	e.compare(kindModel, prefix+" gate bias gradient", got.gateBiasGrad, want.gateBiasGrad)
}

// compareGrads compares the weight and bias gradients, one comparison per named tensor.
func (s *stackCheck) compareGrads(prefix string, got [][]float32, want [][]float64) {
	e := s.e
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Errorf("%s got %d gradient tensors, want %d", prefix, len(got), len(want))
		return
	}
	for i, spec := range s.specs {
		e.compare(kindModel, prefix+" gradient of "+spec.Name, got[i], want[i])
	}
}

// compareLayers compares per-layer values, one comparison per layer.
func compareLayers(e *env, name string, got [][]float32, want [][]float64) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Errorf("%s: got %d layers, want %d", name, len(got), len(want))
		return
	}
	for l := range got {
		e.compare(kindModel, fmt.Sprintf("%s of layer %d", name, l), got[l], want[l])
	}
}

// toFloat64 converts a backend's results to the form of cpuref's, so that one backend run
// can serve as the reference of another.
func (v stackValues[F]) toFloat64() stackValues[float64] {
	vec := func(x []F) []float64 {
		if x == nil {
			return nil
		}
		out := make([]float64, len(x))
		for i, value := range x {
			out[i] = float64(value)
		}
		return out
	}
	layers := func(x [][]F) [][]float64 {
		if x == nil {
			return nil
		}
		out := make([][]float64, len(x))
		for i, value := range x {
			out[i] = vec(value)
		}
		return out
	}
	return stackValues[float64]{
		output:       vec(v.output),
		finalH:       layers(v.finalH),
		finalC:       layers(v.finalC),
		grads:        layers(v.grads),
		inputGrad:    vec(v.inputGrad),
		initH:        layers(v.initH),
		initC:        layers(v.initC),
		gateBiasGrad: vec(v.gateBiasGrad),
	}
}

// testStack checks lstm.Stack of each cell against cpuref: the forward and backward pass from
// a random initial state, with left-padding resets, a gate bias and gradients at both the
// output and the final state. It then checks that NoInputGrad changes no weight gradient and
// leaves InputGrad alone, and that a Prefix of a longer run matches a run of its own length.
func testStack(e *env) {
	for _, cell := range []string{lstm.CellLSTM, lstm.CellGRU, lstm.CellRNN} {
		s := newStackCheck(e, cell)
		in := s.randomInputs(stackSteps)
		r := s.stack.NewRun(stackStreams, stackSteps)
		got := s.run(r, in, false)
		s.compareStack(fmt.Sprintf("T=%d", stackSteps), got, s.reference(in))

		s.checkNoInputGrad(r, in, got)
		s.checkPrefix()
	}
}

// checkNoInputGrad reruns the pass over in on r with NoInputGrad, after a pass without it
// returned baseline. The weight gradients must equal baseline's bit for bit, because the
// skipped product feeds none of them. InputGrad must keep the guard value that run writes
// into it before Backward.
func (s *stackCheck) checkNoInputGrad(r *lstm.StackRun, in stackInputs, baseline stackValues[float32]) {
	e := s.e
	e.t.Helper()
	without := s.run(r, in, true)
	for i, spec := range s.specs {
		e.exact(s.name+" NoInputGrad: gradient of "+spec.Name, without.grads[i],
			baseline.grads[i])
	}
	unwritten := make([]float32, len(without.inputGrad))
	for i := range unwritten {
		unwritten[i] = guard
	}
	e.exact(s.name+" NoInputGrad: input gradient is not written", without.inputGrad, unwritten)
}

// checkPrefix runs a full pass over stackSteps steps, so that the buffers hold values of
// other inputs, then a pass over Prefix(stackPrefixSteps) of the same run. It compares that
// pass with a pass over the same inputs on a run allocated for stackPrefixSteps steps, which
// it first compares with cpuref.
func (s *stackCheck) checkPrefix() {
	e := s.e
	e.t.Helper()
	// A panic inside Prefix or in a pass over it fails this check alone, so that the other
	// cells and the rest of the suite still run.
	defer func() {
		if p := recover(); p != nil {
			e.t.Errorf("%s: a pass over Prefix(%d) of a %d-step run panicked: %v\n%s", s.name,
				stackPrefixSteps, stackSteps, p, debug.Stack())
		}
	}()
	long := s.stack.NewRun(stackStreams, stackSteps)
	s.run(long, s.randomInputs(stackSteps), false)

	in := s.randomInputs(stackPrefixSteps)
	got := s.run(long.Prefix(stackPrefixSteps), in, false)
	want := s.run(s.stack.NewRun(stackStreams, stackPrefixSteps), in, false)
	s.compareStack(fmt.Sprintf("T=%d", stackPrefixSteps), want, s.reference(in))
	s.compareStack(fmt.Sprintf("Prefix(%d) of T=%d", stackPrefixSteps, stackSteps), got,
		want.toFloat64())
}
