package lstm

import (
	"fmt"
	"math"

	"github.com/recur-ml/recur/engine"
)

// Optimizer names accepted by NewOptimizer.
const (
	OptimAdam    = "adam"
	OptimSGD     = "sgd"
	OptimRMSprop = "rmsprop"
)

// Hyperparameters that recur fixes at PyTorch's defaults (torch.optim, version 1.13).
const (
	adamBeta1      = 0.9
	adamBeta2      = 0.999
	adamEps        = 1e-8
	sgdMomentum    = 0.9 // PyTorch's default is 0; char-rnn style training wants momentum
	rmspropAlpha   = 0.99
	rmspropEps     = 1e-8
	optimStateName = "optim."
)

// Optimizer updates a flat parameter vector from its gradient and keeps its moments on the
// backend.
type Optimizer struct {
	Kind string
	LR   float32
	Step int // updates applied so far

	be     engine.Backend
	slots  []engine.Tensor // Adam: m, v; SGD: momentum buffer; RMSprop: mean square
	labels []string
}

// NewOptimizer returns an optimizer of the given kind for n parameters.
func NewOptimizer(kind string, lr float64, n int, be engine.Backend) (*Optimizer, error) {
	o := &Optimizer{Kind: kind, LR: float32(lr), be: be}
	switch kind {
	case OptimAdam:
		o.labels = []string{"m", "v"}
	case OptimSGD:
		o.labels = []string{"momentum"}
	case OptimRMSprop:
		o.labels = []string{"square_avg"}
	default:
		return nil, fmt.Errorf("invalid optimizer %q (--optim): use adam, sgd or rmsprop", kind)
	}
	if !(float32(lr) > 0) || math.IsInf(float64(float32(lr)), 0) {
		return nil, fmt.Errorf("invalid learning rate %g (--lr): use a positive number such as 0.002", lr)
	}
	for range o.labels {
		o.slots = append(o.slots, be.Alloc(n))
	}
	return o, nil
}

// Update applies one step to params from grads.
func (o *Optimizer) Update(params, grads engine.Tensor) {
	o.Step++
	switch o.Kind {
	case OptimAdam:
		o.be.AdamStep(params, grads, o.slots[0], o.slots[1], o.LR, adamBeta1, adamBeta2, adamEps, o.Step)
	case OptimSGD:
		o.be.SGDStep(params, grads, o.slots[0], o.LR, sgdMomentum)
	case OptimRMSprop:
		o.be.RMSpropStep(params, grads, o.slots[0], o.LR, rmspropAlpha, rmspropEps)
	}
}

// State returns the optimizer's moment tensors by name ("optim.m", "optim.v", ...).
func (o *Optimizer) State() map[string]engine.Tensor {
	out := make(map[string]engine.Tensor, len(o.slots))
	for i, s := range o.slots {
		out[optimStateName+o.labels[i]] = s
	}
	return out
}
