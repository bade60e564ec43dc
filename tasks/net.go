// Package tasks contains recur's sequence models beyond the language model, all built from the
// same recurrent Stack on any engine.Backend. They are many-to-one classification (of text, or
// of images read one pixel row per step), aligned many-to-many tagging, sequence-to-sequence
// with an encoder and a decoder, and image captioning with a decoder conditioned on an image
// feature vector. The package also contains their training loop, prediction and checkpoints.
package tasks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// net is a set of named parameter tensors in one flat vector on a backend, with a gradient
// vector of the same layout, so that clipping and the optimizer are one call each.
type net struct {
	be     engine.Backend
	specs  []lstm.ParamSpec
	Params engine.Tensor
	Grads  engine.Tensor
	index  map[string]int
}

// layout collects parameter specs before the vectors are allocated.
type layout struct {
	specs []lstm.ParamSpec
	off   int
}

func (l *layout) add(name string, shape ...int) {
	l.specs, l.off = lstm.AppendSpec(l.specs, l.off, name, shape...)
}

// stack adds the tensors of a recurrent stack named prefix and returns the index of its
// first spec.
func (l *layout) stack(prefix, cell string, layers, hidden, in int) int {
	first := len(l.specs)
	l.specs, l.off = lstm.AppendStackSpecs(l.specs, l.off, prefix, cell, layers, hidden, in)
	return first
}

func newNet(be engine.Backend, l layout) *net {
	n := &net{
		be: be, specs: l.specs, Params: be.Alloc(l.off), Grads: be.Alloc(l.off),
		index: map[string]int{},
	}
	for i, s := range l.specs {
		n.index[s.Name] = i
	}
	return n
}

// view returns the parameter and gradient tensors named name.
func (n *net) view(name string) (p, g engine.Tensor) {
	i, ok := n.index[name]
	if !ok {
		panic(fmt.Sprintf("tasks: no parameter %q", name))
	}
	s := n.specs[i]
	return n.Params.Slice(s.Offset, s.Len()), n.Grads.Slice(s.Offset, s.Len())
}

// newStack returns the stack whose specs start at index first.
func (n *net) newStack(cell string, layers, hidden, in, first int) *lstm.Stack {
	return lstm.NewStack(n.be, cell, layers, hidden, in, n.specs, first, n.Params, n.Grads)
}

// initParams fills the parameters as PyTorch initialises the layers they belong to:
// embeddings from N(0, 1), every other weight and bias from U(−1/√fanIn, 1/√fanIn), where
// fanIn is the hidden size for recurrent tensors and the input width for linear layers.
// Unless forgetBias is NaN, an LSTM's forget-gate biases are then set so that
// bias_ih + bias_hh = forgetBias.
func (n *net) initParams(rng *rand.Rand, cell string, hidden int, forgetBias float64) {
	out := make([]float32, n.Params.Len())
	for _, s := range n.specs {
		t := out[s.Offset : s.Offset+s.Len()]
		switch {
		case strings.HasSuffix(s.Name, "embedding.weight"):
			for j := range t {
				t[j] = float32(rng.NormFloat64())
			}
		default:
			fan := hidden
			if !isRecurrent(s.Name) && len(s.Shape) == 2 {
				fan = s.Shape[1]
			}
			if !isRecurrent(s.Name) && len(s.Shape) == 1 {
				fan = n.specs[n.index[strings.TrimSuffix(s.Name, "bias")+"weight"]].Shape[1]
			}
			bound := 1 / math.Sqrt(float64(fan))
			for j := range t {
				t[j] = float32((2*rng.Float64() - 1) * bound)
			}
		}
		if cell == lstm.CellLSTM && !math.IsNaN(forgetBias) && isRecurrent(s.Name) &&
			len(s.Shape) == 1 {
			// The gates are stacked in PyTorch's order i, f, g, o, so f is the second block.
			H := s.Shape[0] / 4
			v := float32(forgetBias)
			if strings.Contains(s.Name, ".bias_hh_l") {
				v = 0
			}
			for j := H; j < 2*H; j++ {
				t[j] = v
			}
		}
	}
	n.be.Upload(n.Params, out)
}

// isRecurrent reports whether a tensor name belongs to a recurrent stack.
func isRecurrent(name string) bool {
	return strings.Contains(name, ".weight_ih_l") || strings.Contains(name, ".weight_hh_l") ||
		strings.Contains(name, ".bias_ih_l") || strings.Contains(name, ".bias_hh_l")
}

// linear is a fully connected layer y = x·Wᵀ + b over rows, with W [out×in].
type linear struct {
	w, b, gw, gb engine.Tensor
	in, out      int
}

func (n *net) linear(name string, in, out int) linear {
	w, gw := n.view(name + ".weight")
	l := linear{w: w, gw: gw, in: in, out: out}
	if _, ok := n.index[name+".bias"]; ok {
		l.b, l.gb = n.view(name + ".bias")
	}
	return l
}

// forward writes y [rows×out] from x [rows×in].
func (l linear) forward(be engine.Backend, x, y engine.Tensor, rows int) {
	be.Gemm(false, true, rows, l.out, l.in, 1, x, l.w, 0, y)
	if l.b != nil {
		be.AddBias(y, l.b, rows, l.out)
	}
}

// backward accumulates the weight gradients from dy [rows×out] and the input x, and writes
// the gradient at the input into dx unless dx is nil.
func (l linear) backward(be engine.Backend, x, dy, dx engine.Tensor, rows int) {
	be.Gemm(true, false, l.out, l.in, rows, 1, dy, x, 1, l.gw)
	if l.b != nil {
		be.SumRows(l.gb, dy, rows, l.out)
	}
	if dx != nil {
		be.Gemm(false, false, rows, l.in, l.out, 1, dy, l.w, 0, dx)
	}
}
