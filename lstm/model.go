// Package lstm holds recur's recurrent language models, written once against engine.Backend:
// an embedding, a stack of vanilla RNN (tanh), LSTM or GRU layers with dropout between them, and a
// linear head trained with softmax cross-entropy by truncated backpropagation through time.
// It also holds the training loop, sampling, evaluation and checkpoints.
package lstm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/recur-ml/recur/engine"
)

// Cell types accepted in Config.Model.
const (
	CellLSTM = "lstm"
	CellRNN  = "rnn"
	CellGRU  = "gru"
)

// Config is a model's architecture, stored as config.json in a checkpoint. Model, Layers,
// Hidden, Embed and Vocab are enough to load weights trained elsewhere.
type Config struct {
	Model  string   `json:"model"`  // "lstm", "gru" or "rnn"
	Layers int      `json:"layers"` // stacked recurrent layers
	Hidden int      `json:"hidden"` // H, units per layer
	Embed  int      `json:"embed"`  // E, embedding width
	Vocab  []string `json:"vocab"`  // one Unicode code point per entry; index = token id
}

// Validate checks the architecture and returns an error naming the first invalid field.
func (c Config) Validate() error {
	if c.Model != CellLSTM && c.Model != CellRNN && c.Model != CellGRU {
		return fmt.Errorf("invalid model %q (--model, or \"model\" in config.json): use lstm, gru or rnn", c.Model)
	}
	if c.Layers < 1 {
		return fmt.Errorf("invalid layer count %d (--layers, or \"layers\" in config.json): use 1 or more", c.Layers)
	}
	if c.Hidden < 1 {
		return fmt.Errorf("invalid hidden size %d (--hidden, or \"hidden\" in config.json): use 1 or more", c.Hidden)
	}
	if c.Embed < 1 {
		return fmt.Errorf("invalid embedding size %d (--embed, or \"embed\" in config.json): use 1 or more", c.Embed)
	}
	if c.Hidden > maxDim || c.Embed > maxDim || c.Layers > maxLayers || len(c.Vocab) > maxDim {
		return fmt.Errorf("model too large: layers %d (at most %d), hidden %d, embedding %d and vocabulary %d (each at most %d)",
			c.Layers, maxLayers, c.Hidden, c.Embed, len(c.Vocab), maxDim)
	}
	if n := c.NumParams(); n > maxParams {
		return fmt.Errorf("model too large: %d parameters, at most %d (%d GiB of float32) are supported", n, maxParams, maxParams*4>>30)
	}
	if len(c.Vocab) < 1 {
		return fmt.Errorf("empty vocabulary: a model needs at least one character")
	}
	seen := make(map[rune]bool, len(c.Vocab))
	for i, s := range c.Vocab {
		r := []rune(s)
		if len(r) != 1 {
			return fmt.Errorf("invalid vocabulary entry %d %q: each entry must be one Unicode code point", i, s)
		}
		if seen[r[0]] {
			return fmt.Errorf("invalid vocabulary entry %d %q: it appears twice", i, s)
		}
		seen[r[0]] = true
	}
	return nil
}

// Size limits that keep every product in NumParams and in the workspace sizes far from int
// overflow and reject configurations that no machine could allocate.
const (
	maxDim    = 1 << 20
	maxLayers = 1 << 10
	maxParams = 1 << 32
)

// gatesPerUnit returns G, the number of gate blocks per hidden unit: 4 (i, f, g, o) for LSTM,
// 3 (r, z, n) for GRU, 1 for a vanilla RNN.
func (c Config) gatesPerUnit() int { return GatesPerUnit(c.Model) }

// ParamSpec names one parameter tensor and its place in the flat parameter vector.
type ParamSpec struct {
	Name   string // PyTorch's name, for example "lstm.weight_ih_l0"
	Shape  []int
	Offset int // first element in the flat vector
}

// Len returns the number of elements of the tensor.
func (s ParamSpec) Len() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// ParamSpecs lists the model's parameters in a fixed order: embedding.weight, then for each
// layer k weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, then head.weight and
// head.bias. Names and shapes are those of PyTorch's nn.Embedding, nn.LSTM (or nn.RNN, nn.GRU)
// and nn.Linear.
func (c Config) ParamSpecs() []ParamSpec {
	V, E, H := len(c.Vocab), c.Embed, c.Hidden
	var specs []ParamSpec
	off := 0
	specs, off = AppendSpec(specs, off, "embedding.weight", V, E)
	specs, off = AppendStackSpecs(specs, off, c.Model, c.Model, c.Layers, H, E)
	specs, off = AppendSpec(specs, off, "head.weight", V, H)
	specs, _ = AppendSpec(specs, off, "head.bias", V)
	return specs
}

// AppendSpec appends a tensor named name of the given shape at offset off and returns the new
// list and the offset after it.
func AppendSpec(specs []ParamSpec, off int, name string, shape ...int) ([]ParamSpec, int) {
	s := ParamSpec{Name: name, Shape: shape, Offset: off}
	return append(specs, s), off + s.Len()
}

// NumParams returns the total number of parameters.
func (c Config) NumParams() int {
	specs := c.ParamSpecs()
	last := specs[len(specs)-1]
	return last.Offset + last.Len()
}

// layerParams are views of one recurrent layer's tensors inside a flat vector.
type layerParams struct {
	wih, whh, bih, bhh engine.Tensor
}

// paramViews are views of every tensor inside a flat parameter or gradient vector.
type paramViews struct {
	embedding    engine.Tensor
	layers       []layerParams
	headW, headB engine.Tensor
}

func (c Config) views(flat engine.Tensor) paramViews {
	specs := c.ParamSpecs()
	view := func(i int) engine.Tensor { return flat.Slice(specs[i].Offset, specs[i].Len()) }
	v := paramViews{embedding: view(0)}
	for k := 0; k < c.Layers; k++ {
		i := 1 + 4*k
		v.layers = append(v.layers, layerParams{view(i), view(i + 1), view(i + 2), view(i + 3)})
	}
	v.headW = view(len(specs) - 2)
	v.headB = view(len(specs) - 1)
	return v
}

// Model is a recurrent language model whose parameters and gradients live on a Backend, each
// as one flat vector so that clipping and optimizer updates are one call each.
type Model struct {
	Cfg     Config
	Backend engine.Backend
	Params  engine.Tensor // every parameter, in ParamSpecs order
	Grads   engine.Tensor // gradients, same layout as Params

	p, g  paramViews
	stack *Stack
}

// NewModel allocates a model with zero parameters on be.
func NewModel(cfg Config, be engine.Backend) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := cfg.NumParams()
	m := &Model{Cfg: cfg, Backend: be, Params: be.Alloc(n), Grads: be.Alloc(n)}
	m.p = cfg.views(m.Params)
	m.g = cfg.views(m.Grads)
	m.stack = NewStack(be, cfg.Model, cfg.Layers, cfg.Hidden, cfg.Embed, cfg.ParamSpecs(), 1, m.Params, m.Grads)
	return m, nil
}

// InitParams returns freshly initialised parameters in ParamSpecs order, drawn from rng as
// PyTorch initialises them: the embedding from N(0, 1); recurrent weights and biases from
// U(−1/√H, 1/√H); the head's weight and bias from U(−1/√H, 1/√H). When forgetBias is not NaN,
// an LSTM's forget-gate biases are set so that bias_ih + bias_hh = forgetBias.
func InitParams(cfg Config, rng *rand.Rand, forgetBias float64) []float32 {
	specs := cfg.ParamSpecs()
	out := make([]float32, cfg.NumParams())
	H := cfg.Hidden
	bound := 1 / math.Sqrt(float64(H))
	uniform := func(s []float32) {
		for i := range s {
			s[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	for i, s := range specs {
		t := out[s.Offset : s.Offset+s.Len()]
		if i == 0 {
			for j := range t {
				t[j] = float32(rng.NormFloat64())
			}
			continue
		}
		uniform(t)
	}
	if cfg.Model == CellLSTM && !math.IsNaN(forgetBias) {
		for k := 0; k < cfg.Layers; k++ {
			bih := specs[1+4*k+2]
			bhh := specs[1+4*k+3]
			for j := H; j < 2*H; j++ {
				out[bih.Offset+j] = float32(forgetBias)
				out[bhh.Offset+j] = 0
			}
		}
	}
	return out
}
