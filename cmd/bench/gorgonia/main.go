// Command bench-gorgonia measures gorgonia.org/gorgonia on recur's benchmark workload, for
// bench --compare gorgonia: embedding → LSTM stack → linear head → cross-entropy over random
// tokens, Adam (lr 2e-3), global gradient-norm clipping at 5 and truncated BPTT. It prints one
// JSON line in the format of scripts/torch_bench.py.
//
// It is its own module, so that recur's go.mod and default binaries do not carry gorgonia.
// Build it from this directory with: go build -o ../../../bin/bench-gorgonia .
//
// The graph is unrolled over T steps and built once. The embedding lookup is a product with
// one-hot rows, because gorgonia v0.9 has no gather operation, which adds 2·B·T·V·H FLOPs per
// forward pass that recur and PyTorch do not spend.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gorgoniaVersion is the module version that go.mod requires.
const gorgoniaVersion = "v0.9.18"

type result struct {
	Library    string  `json:"library"`
	Version    string  `json:"version"`
	Device     string  `json:"device"`
	Precision  string  `json:"precision"`
	Mode       string  `json:"mode"`
	Threads    int     `json:"threads"`
	Steps      int     `json:"steps"`
	Seconds    float64 `json:"seconds"`
	TokensPerS float64 `json:"tokens_per_s"`
	MsPerStep  float64 `json:"ms_per_step"`
	Loss       float64 `json:"loss"`
	Error      string  `json:"error,omitempty"`
}

func fail(format string, args ...any) {
	out, _ := json.Marshal(result{Error: fmt.Sprintf(format, args...)})
	fmt.Println(string(out))
	os.Exit(3)
}

func main() {
	model := flag.String("model", "lstm", "recurrent cell; only lstm is built")
	hidden := flag.Int("hidden", 128, "H: units per layer and embedding width")
	layers := flag.Int("layers", 1, "L: stacked LSTM layers")
	batch := flag.Int("batch", 32, "B: parallel streams")
	seq := flag.Int("seq", 64, "T: time steps per chunk")
	vocab := flag.Int("vocab", 65, "V: vocabulary size")
	steps := flag.Int("steps", 10, "timed steps")
	warmup := flag.Int("warmup", 2, "untimed steps before timing")
	seed := flag.Uint64("seed", 1, "seed of the weights and tokens")
	device := flag.String("device", "cpu", "only cpu is supported")
	precision := flag.String("precision", "fp32", "only fp32 is supported")
	infer := flag.Bool("infer", false, "time forward passes without gradients")
	version := flag.Bool("version", false, "print the version line and exit")
	flag.Parse()

	base := result{Library: "gorgonia", Version: gorgoniaVersion, Device: *device, Precision: *precision, Mode: "train"}
	if *infer {
		base.Mode = "infer"
	}
	if *version {
		out, _ := json.Marshal(base)
		fmt.Println(string(out))
		return
	}
	switch {
	case *model != "lstm":
		fail("gorgonia benchmark builds only the lstm model, not %q", *model)
	case *device != "cpu" || *precision != "fp32":
		fail("gorgonia benchmark runs on the cpu in fp32 only, not %s in %s", *device, *precision)
	case *hidden < 1 || *layers < 1 || *batch < 1 || *seq < 1 || *vocab < 2 || *steps < 1 || *warmup < 0:
		fail("invalid shape or step count")
	}

	net := build(*hidden, *layers, *batch, *seq, *vocab, *seed, !*infer)
	rng := rand.New(rand.NewPCG(*seed, 3))
	step := func() float64 {
		if err := net.step(rng); err != nil {
			fail("gorgonia step failed: %v", err)
		}
		return net.loss()
	}
	for i := 0; i < *warmup; i++ {
		step()
	}
	var loss float64
	start := time.Now()
	for i := 0; i < *steps; i++ {
		loss = step()
	}
	seconds := time.Since(start).Seconds()

	res := base
	res.Threads = runtime.GOMAXPROCS(0) // gonum's Sgemm splits large products across goroutines
	res.Steps, res.Seconds = *steps, seconds
	res.TokensPerS = float64(*batch**seq**steps) / seconds
	res.MsPerStep = seconds * 1e3 / float64(*steps)
	if !*infer {
		res.Loss = loss
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// network is the unrolled graph with its inputs and the state carried between chunks.
type network struct {
	B, T, V, H, L int
	train         bool
	g             *G.ExprGraph
	vm            G.VM
	solver        G.Solver
	params        G.Nodes
	inputs        []*G.Node // [B×V] one-hot rows per step
	targets       []*G.Node // [B×V] one-hot rows per step
	h0, c0        []*G.Node // [B×H] per layer
	hT, cT        []*G.Node // the state after the last step, per layer
	cost          *G.Node
	costValue     G.Value
	state         [][]float32 // h then c per layer, carried to the next chunk
}

func matrix(g *G.ExprGraph, rows, cols int, name string, init G.InitWFn) *G.Node {
	opts := []G.NodeConsOpt{G.WithShape(rows, cols), G.WithName(name)}
	if init != nil {
		opts = append(opts, G.WithInit(init))
	}
	return G.NewMatrix(g, tensor.Float32, opts...)
}

func build(H, L, B, T, V int, seed uint64, train bool) *network {
	g := G.NewGraph()
	n := &network{B: B, T: T, V: V, H: H, L: L, train: train, g: g}
	bound := float64(1 / math.Sqrt(float64(H))) // PyTorch's U(−1/√H, 1/√H)
	uniform := G.Uniform(-bound, bound)
	embedding := matrix(g, V, H, "embedding", G.Gaussian(0, 1))
	n.params = append(n.params, embedding)
	type layer struct{ wih, whh, bias *G.Node }
	var ls []layer
	for l := 0; l < L; l++ {
		ly := layer{
			wih:  matrix(g, H, 4*H, fmt.Sprintf("wih%d", l), uniform),
			whh:  matrix(g, H, 4*H, fmt.Sprintf("whh%d", l), uniform),
			bias: matrix(g, 1, 4*H, fmt.Sprintf("bias%d", l), uniform),
		}
		ls = append(ls, ly)
		n.params = append(n.params, ly.wih, ly.whh, ly.bias)
		n.h0 = append(n.h0, matrix(g, B, H, fmt.Sprintf("h0_%d", l), nil))
		n.c0 = append(n.c0, matrix(g, B, H, fmt.Sprintf("c0_%d", l), nil))
		n.state = append(n.state, make([]float32, B*H), make([]float32, B*H))
	}
	headW := matrix(g, H, V, "headW", uniform)
	headB := matrix(g, 1, V, "headB", uniform)
	n.params = append(n.params, headW, headB)

	h := append([]*G.Node{}, n.h0...)
	c := append([]*G.Node{}, n.c0...)
	var losses *G.Node
	for t := 0; t < T; t++ {
		in := matrix(g, B, V, fmt.Sprintf("x%d", t), nil)
		n.inputs = append(n.inputs, in)
		x := G.Must(G.Mul(in, embedding))
		for l := 0; l < L; l++ {
			pre := G.Must(G.Add(G.Must(G.Mul(x, ls[l].wih)), G.Must(G.Mul(h[l], ls[l].whh))))
			pre = G.Must(G.BroadcastAdd(pre, ls[l].bias, nil, []byte{0}))
			i := G.Must(G.Sigmoid(G.Must(G.Slice(pre, nil, G.S(0, H)))))
			f := G.Must(G.Sigmoid(G.Must(G.Slice(pre, nil, G.S(H, 2*H)))))
			gg := G.Must(G.Tanh(G.Must(G.Slice(pre, nil, G.S(2*H, 3*H)))))
			o := G.Must(G.Sigmoid(G.Must(G.Slice(pre, nil, G.S(3*H, 4*H)))))
			c[l] = G.Must(G.Add(G.Must(G.HadamardProd(f, c[l])), G.Must(G.HadamardProd(i, gg))))
			h[l] = G.Must(G.HadamardProd(o, G.Must(G.Tanh(c[l]))))
			x = h[l]
		}
		logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, headW)), headB, nil, []byte{0}))
		if !train {
			losses = addTo(losses, G.Must(G.Sum(logits)))
			continue
		}
		target := matrix(g, B, V, fmt.Sprintf("y%d", t), nil)
		n.targets = append(n.targets, target)
		logProbs := G.Must(G.Log(G.Must(G.SoftMax(logits))))
		losses = addTo(losses, G.Must(G.Sum(G.Must(G.HadamardProd(logProbs, target)))))
	}
	n.hT, n.cT = h, c
	n.cost = G.Must(G.Neg(G.Must(G.Div(losses, G.NewConstant(float32(B*T))))))
	G.Read(n.cost, &n.costValue)
	if train {
		if _, err := G.Grad(n.cost, n.params...); err != nil {
			fail("building the gradient graph failed: %v", err)
		}
		n.vm = G.NewTapeMachine(g, G.BindDualValues(n.params...))
		n.solver = G.NewAdamSolver(G.WithLearnRate(2e-3))
	} else {
		n.vm = G.NewTapeMachine(g)
	}
	return n
}

func addTo(sum, x *G.Node) *G.Node {
	if sum == nil {
		return x
	}
	return G.Must(G.Add(sum, x))
}

// oneHot returns B rows of V columns with a 1 at each row's random token.
func oneHot(rng *rand.Rand, B, V int) *tensor.Dense {
	data := make([]float32, B*V)
	for b := 0; b < B; b++ {
		data[b*V+rng.IntN(V)] = 1
	}
	return tensor.New(tensor.WithShape(B, V), tensor.WithBacking(data))
}

// step binds fresh random tokens and the carried state, then runs one forward pass and, when
// training, the backward pass, global-norm clipping at 5 and one Adam update.
func (n *network) step(rng *rand.Rand) error {
	for t := 0; t < n.T; t++ {
		if err := G.Let(n.inputs[t], oneHot(rng, n.B, n.V)); err != nil {
			return err
		}
		if n.train {
			if err := G.Let(n.targets[t], oneHot(rng, n.B, n.V)); err != nil {
				return err
			}
		}
	}
	for l := 0; l < n.L; l++ {
		if err := G.Let(n.h0[l], tensor.New(tensor.WithShape(n.B, n.H), tensor.WithBacking(n.state[2*l]))); err != nil {
			return err
		}
		if err := G.Let(n.c0[l], tensor.New(tensor.WithShape(n.B, n.H), tensor.WithBacking(n.state[2*l+1]))); err != nil {
			return err
		}
	}
	if err := n.vm.RunAll(); err != nil {
		return err
	}
	// Truncated BPTT: the next chunk starts from this chunk's final state, as constants.
	for l := 0; l < n.L; l++ {
		copy(n.state[2*l], n.hT[l].Value().Data().([]float32))
		copy(n.state[2*l+1], n.cT[l].Value().Data().([]float32))
	}
	if n.train {
		clipGlobalNorm(n.params, 5)
		if err := n.solver.Step(G.NodesToValueGrads(n.params)); err != nil {
			return err
		}
	}
	n.vm.Reset()
	return nil
}

// clipGlobalNorm scales every gradient by min(1, maxNorm/(norm+1e-6)), where norm is the L2
// norm of all gradients together, as PyTorch's clip_grad_norm_ does. Gorgonia's solvers only
// clip each element separately.
func clipGlobalNorm(params G.Nodes, maxNorm float64) {
	var sum float64
	var grads [][]float32
	for _, p := range params {
		gv, err := p.Grad()
		if err != nil {
			fail("reading the gradient of %s failed: %v", p.Name(), err)
		}
		d := gv.Data().([]float32)
		grads = append(grads, d)
		for _, v := range d {
			sum += float64(v) * float64(v)
		}
	}
	scale := maxNorm / (math.Sqrt(sum) + 1e-6)
	if scale >= 1 {
		return
	}
	for _, d := range grads {
		for i := range d {
			d[i] *= float32(scale)
		}
	}
}

func (n *network) loss() float64 {
	if n.costValue == nil {
		return math.NaN()
	}
	return float64(n.costValue.Data().(float32))
}
