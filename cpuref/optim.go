package cpuref

import (
	"fmt"
	"math"
)

// clipEps is added to the gradient norm before dividing, as PyTorch's clip_grad_norm_ does, so
// an all-zero gradient gives no division by zero.
const clipEps = 1e-6

// ClipGradNorm scales every gradient in place by min(1, maxNorm/(norm+1e-6)), where norm is the
// L2 norm of all the tensors taken together, sqrt(Σ g²). It returns the norm before clipping.
//
//	grads: any number of tensors of any lengths
func ClipGradNorm(grads [][]float64, maxNorm float64) (norm float64) {
	sumSquares := 0.0
	for _, g := range grads {
		for _, v := range g {
			sumSquares += v * v
		}
	}
	norm = math.Sqrt(sumSquares)
	scale := maxNorm / (norm + clipEps)
	if scale >= 1 {
		return norm
	}
	for _, g := range grads {
		for k := range g {
			g[k] *= scale
		}
	}
	return norm
}

// AdamStep applies one Adam update in PyTorch's formulation, without weight decay:
//
//	m = β1·m + (1−β1)·g
//	v = β2·v + (1−β2)·g²
//	p −= lr · (m/(1−β1^step)) / (sqrt(v/(1−β2^step)) + eps)
//
// step counts updates from 1. m and v are updated in place and start at zero.
//
//	p, g, m, v: [N]
func AdamStep(p, g, m, v []float64, lr, beta1, beta2, eps float64, step int) {
	if step < 1 {
		panic(fmt.Sprintf("cpuref: AdamStep step is %d, expected 1 or more", step))
	}
	checkLen("AdamStep g", g, len(p))
	checkLen("AdamStep m", m, len(p))
	checkLen("AdamStep v", v, len(p))
	correction1 := 1 - math.Pow(beta1, float64(step))
	correction2 := 1 - math.Pow(beta2, float64(step))
	for k := range p {
		m[k] = beta1*m[k] + (1-beta1)*g[k]
		v[k] = beta2*v[k] + (1-beta2)*g[k]*g[k]
		mHat := m[k] / correction1
		vHat := v[k] / correction2
		p[k] -= lr * mHat / (math.Sqrt(vHat) + eps)
	}
}

// SGDStep applies one SGD update with momentum in PyTorch's formulation, without dampening or
// Nesterov momentum: buf = momentum·buf + g, p −= lr·buf. buf starts at zero, which makes the
// first step's buffer equal g as in PyTorch. With momentum 0 it is plain SGD.
//
//	p, g, buf: [N]
func SGDStep(p, g, buf []float64, lr, momentum float64) {
	checkLen("SGDStep g", g, len(p))
	checkLen("SGDStep buf", buf, len(p))
	for k := range p {
		buf[k] = momentum*buf[k] + g[k]
		p[k] -= lr * buf[k]
	}
}

// RMSpropStep applies one RMSprop update in PyTorch's formulation, not centered and without
// momentum: sq = alpha·sq + (1−alpha)·g², p −= lr·g/(sqrt(sq) + eps). sq starts at zero.
//
//	p, g, sq: [N]
func RMSpropStep(p, g, sq []float64, lr, alpha, eps float64) {
	checkLen("RMSpropStep g", g, len(p))
	checkLen("RMSpropStep sq", sq, len(p))
	for k := range p {
		sq[k] = alpha*sq[k] + (1-alpha)*g[k]*g[k]
		p[k] -= lr * g[k] / (math.Sqrt(sq[k]) + eps)
	}
}
