package cpuref

import (
	"fmt"
)

// Config is the shape of a model: an embedding, a stack of recurrent layers and a linear head
// over the vocabulary.
type Config struct {
	Cell   string // "lstm", "gru" or "rnn" (tanh)
	Layers int    // number of stacked recurrent layers
	Hidden int    // H, units per layer
	Embed  int    // E, embedding width
	Vocab  int    // V, number of token ids
}

// gates returns G, the number of gate blocks of H rows in W_ih and W_hh.
func (cfg Config) gates() int {
	switch cfg.Cell {
	case "lstm":
		return 4
	case "gru":
		return 3
	case "rnn":
		return 1
	}
	panic(fmt.Sprintf("cpuref: unknown cell %q, expected \"lstm\", \"gru\" or \"rnn\"", cfg.Cell))
}

// inputWidth returns the width of layer l's input: E for layer 0, H above it.
func (cfg Config) inputWidth(l int) int {
	if l == 0 {
		return cfg.Embed
	}
	return cfg.Hidden
}

func (cfg Config) validate() {
	cfg.gates()
	if cfg.Layers < 1 || cfg.Hidden < 1 || cfg.Embed < 1 || cfg.Vocab < 1 {
		panic(fmt.Sprintf("cpuref: invalid config %+v, expected Layers, Hidden, Embed and Vocab of 1 or more",
			cfg))
	}
}

// Params contains a model's weights with PyTorch's shapes and names: Embedding is
// embedding.weight, WIH[l] is weight_ih_l{l}, and so on. Gradients returned by Backward use the
// same type.
type Params struct {
	Embedding []float64   // [V×E]
	WIH, WHH  [][]float64 // per layer: [G·H × in] and [G·H × H], in = E for layer 0 and H above
	BIH, BHH  [][]float64 // per layer: [G·H]
	HeadW     []float64   // [V×H]
	HeadB     []float64   // [V]
}

// NewParams returns zero-filled parameters of the sizes cfg needs.
func NewParams(cfg Config) *Params {
	cfg.validate()
	G, H := cfg.gates(), cfg.Hidden
	p := &Params{
		Embedding: make([]float64, cfg.Vocab*cfg.Embed),
		HeadW:     make([]float64, cfg.Vocab*H),
		HeadB:     make([]float64, cfg.Vocab),
	}
	for l := 0; l < cfg.Layers; l++ {
		p.WIH = append(p.WIH, make([]float64, G*H*cfg.inputWidth(l)))
		p.WHH = append(p.WHH, make([]float64, G*H*H))
		p.BIH = append(p.BIH, make([]float64, G*H))
		p.BHH = append(p.BHH, make([]float64, G*H))
	}
	return p
}

// Tensors returns every tensor of p in a fixed order: Embedding, then for each layer WIH, WHH,
// BIH and BHH, then HeadW and HeadB. The slices alias p, so writes through them change p.
func (p *Params) Tensors() [][]float64 {
	tensors := [][]float64{p.Embedding}
	for l := range p.WIH {
		tensors = append(tensors, p.WIH[l], p.WHH[l], p.BIH[l], p.BHH[l])
	}
	return append(tensors, p.HeadW, p.HeadB)
}

// check panics unless every tensor of p has the size cfg needs.
func (p *Params) check(cfg Config) {
	G, H := cfg.gates(), cfg.Hidden
	checkLen("Params.Embedding", p.Embedding, cfg.Vocab*cfg.Embed)
	checkLen("Params.HeadW", p.HeadW, cfg.Vocab*H)
	checkLen("Params.HeadB", p.HeadB, cfg.Vocab)
	if len(p.WIH) != cfg.Layers || len(p.WHH) != cfg.Layers || len(p.BIH) != cfg.Layers || len(p.BHH) != cfg.Layers {
		panic(fmt.Sprintf("cpuref: Params has %d, %d, %d, %d layers of WIH, WHH, BIH, BHH, expected %d",
			len(p.WIH), len(p.WHH), len(p.BIH), len(p.BHH), cfg.Layers))
	}
	for l := 0; l < cfg.Layers; l++ {
		checkLen(fmt.Sprintf("Params.WIH[%d]", l), p.WIH[l], G*H*cfg.inputWidth(l))
		checkLen(fmt.Sprintf("Params.WHH[%d]", l), p.WHH[l], G*H*H)
		checkLen(fmt.Sprintf("Params.BIH[%d]", l), p.BIH[l], G*H)
		checkLen(fmt.Sprintf("Params.BHH[%d]", l), p.BHH[l], G*H)
	}
}

// State is the recurrent state between sequence chunks. H[l] and C[l] are layer l's hidden and
// cell state, [B×H] each. C is nil for the RNN and GRU cells.
type State struct {
	H, C [][]float64
}

// Cache is the record that Forward keeps for Backward: the inputs, every layer's activations and the
// gradient of the loss at the logits.
type Cache struct {
	cfg     Config
	T, B    int
	ids     []int        // [T·B]
	layers  []layerCache // per layer, bottom first
	top     []float64    // [T·B×H] the head's input, the last layer's h
	dlogits []float64    // [T·B×V] gradient of the mean loss at the logits
}

// layerCache holds one layer's activations over all T steps, time-major.
type layerCache struct {
	x      []float64 // [T·B×in] the layer's input, after dropout
	h0, c0 []float64 // [B×H] the initial state, c0 nil for the RNN cell
	act    []float64 // [T·B×G·H] activated LSTM or GRU gates, nil for the RNN cell
	hg     []float64 // [T·B×3H] GRU recurrent projections hPrev·W_hhᵀ + b_hh, nil otherwise
	c      []float64 // [T·B×H] LSTM cell state, nil for the RNN cell
	h      []float64 // [T·B×H] the layer's output before dropout
	mask   []float64 // [T·B×H] dropout mask on h, nil for none
}

// Forward runs the model over T steps of B streams and returns the mean cross-entropy loss over
// the targets that are not -1 (0 when all are ignored), the logits, the state after the last
// step and a cache for Backward.
//
//	ids:     [T·B] input token ids, time-major (index t·B+b), each in [0, V)
//	targets: [T·B] target ids in [0, V), or -1 for ignored
//	h0:      initial state, per layer [B×H]. A nil h0, h0.H, h0.C or entry means zeros.
//	         The RNN and GRU cells ignore h0.C.
//	masks:   nil for no dropout, or Layers−1 inverted-dropout masks. masks[l] [T·B×H], with
//	         values 0 or 1/(1−p), multiplies layer l's output before it feeds layer l+1.
//	         A nil entry means no dropout after that layer.
//	logits:  [T·B×V]
func Forward(cfg Config, p *Params, ids, targets []int, T, B int, h0 *State, masks [][]float64) (
	loss float64, logits []float64, final State, cache *Cache) {
	cfg.validate()
	p.check(cfg)
	if T < 1 || B < 1 {
		panic(fmt.Sprintf("cpuref: Forward T=%d, B=%d, expected both 1 or more", T, B))
	}
	if len(ids) != T*B || len(targets) != T*B {
		panic(fmt.Sprintf("cpuref: Forward ids and targets have lengths %d and %d, expected T·B = %d",
			len(ids), len(targets), T*B))
	}
	if h0 != nil {
		checkStateLayers("h0.H", h0.H, cfg.Layers)
		if cfg.Cell == "lstm" {
			checkStateLayers("h0.C", h0.C, cfg.Layers)
		}
	}
	if masks != nil && len(masks) != cfg.Layers-1 {
		panic(fmt.Sprintf("cpuref: Forward got %d dropout masks, expected Layers−1 = %d",
			len(masks), cfg.Layers-1))
	}
	H, V := cfg.Hidden, cfg.Vocab

	cache = &Cache{cfg: cfg, T: T, B: B, ids: append([]int(nil), ids...)}
	x := EmbeddingForward(p.Embedding, ids, cfg.Embed)
	for l := 0; l < cfg.Layers; l++ {
		h0l, c0l := initialState(cfg, h0, l, B)
		lc := forwardLayer(cfg, p, l, x, T, B, h0l, c0l)
		if l < cfg.Layers-1 && masks != nil && masks[l] != nil {
			checkLen(fmt.Sprintf("Forward masks[%d]", l), masks[l], T*B*H)
			lc.mask = append([]float64(nil), masks[l]...)
		}
		cache.layers = append(cache.layers, lc)

		// The next layer's input is this layer's h, times the dropout mask if there is one.
		x = append([]float64(nil), lc.h...)
		if lc.mask != nil {
			for k := range x {
				x[k] *= lc.mask[k]
			}
		}

		last := (T - 1) * B * H
		final.H = append(final.H, append([]float64(nil), lc.h[last:]...))
		if lc.c != nil {
			final.C = append(final.C, append([]float64(nil), lc.c[last:]...))
		}
	}
	cache.top = x

	// Head: logits = top·HeadW^T + HeadB.
	logits = make([]float64, T*B*V)
	Gemm(false, true, T*B, V, H, 1, cache.top, p.HeadW, 0, logits)
	addBias(logits, p.HeadB, T*B, V)

	losses, dlogits := SoftmaxCrossEntropy(logits, targets, T*B, V)
	count := 0
	for r, target := range targets {
		if target != -1 {
			loss += losses[r]
			count++
		}
	}
	if count > 0 {
		loss /= float64(count)
		for k := range dlogits {
			dlogits[k] /= float64(count)
		}
	}
	cache.dlogits = dlogits
	return loss, logits, final, cache
}

// checkStateLayers panics unless state is nil or has one entry per layer.
func checkStateLayers(name string, state [][]float64, layers int) {
	if state != nil && len(state) != layers {
		panic(fmt.Sprintf("cpuref: Forward %s has %d layers, expected %d", name, len(state), layers))
	}
}

// initialState returns copies of layer l's initial h and c from h0, zeros where h0 or its entry
// is nil. c is nil for the RNN cell.
func initialState(cfg Config, h0 *State, l, B int) (h, c []float64) {
	H := cfg.Hidden
	h = make([]float64, B*H)
	if h0 != nil && h0.H != nil && h0.H[l] != nil {
		checkLen(fmt.Sprintf("Forward h0.H[%d]", l), h0.H[l], B*H)
		copy(h, h0.H[l])
	}
	if cfg.Cell != "lstm" {
		return h, nil
	}
	c = make([]float64, B*H)
	if h0 != nil && h0.C != nil && h0.C[l] != nil {
		checkLen(fmt.Sprintf("Forward h0.C[%d]", l), h0.C[l], B*H)
		copy(c, h0.C[l])
	}
	return h, c
}

// forwardLayer runs layer l over T steps.
//
//	x:      [T·B×in] the layer's input
//	h0, c0: [B×H], c0 nil for the RNN and GRU cells
func forwardLayer(cfg Config, p *Params, l int, x []float64, T, B int, h0, c0 []float64) layerCache {
	G, H, in := cfg.gates(), cfg.Hidden, cfg.inputWidth(l)
	lc := layerCache{x: x, h0: h0, c0: c0, h: make([]float64, T*B*H)}
	if cfg.Cell == "lstm" {
		lc.act = make([]float64, T*B*G*H)
		lc.c = make([]float64, T*B*H)
	}
	if cfg.Cell == "gru" {
		return forwardGRULayer(p, l, x, T, B, H, in, lc)
	}
	hPrev, cPrev := h0, c0
	for t := 0; t < T; t++ {
		// pre = x_t·W_ih^T + b_ih + hPrev·W_hh^T + b_hh, [B×G·H]
		pre := make([]float64, B*G*H)
		Gemm(false, true, B, G*H, in, 1, x[t*B*in:(t+1)*B*in], p.WIH[l], 0, pre)
		Gemm(false, true, B, G*H, H, 1, hPrev, p.WHH[l], 1, pre)
		addBias(pre, p.BIH[l], B, G*H)
		addBias(pre, p.BHH[l], B, G*H)

		var h []float64
		if cfg.Cell == "lstm" {
			var act, c []float64
			act, c, h = LSTMCellForward(pre, cPrev, B, H)
			copy(lc.act[t*B*G*H:], act)
			copy(lc.c[t*B*H:], c)
			cPrev = c
		} else {
			h = RNNCellForward(pre)
		}
		copy(lc.h[t*B*H:], h)
		hPrev = h
	}
	return lc
}

// Backward returns the gradient of Forward's mean loss with respect to every parameter, by
// full backpropagation through the T steps of cache. No gradient flows into the initial state.
// p must be the parameters that produced cache.
func Backward(cfg Config, p *Params, cache *Cache) *Params {
	if cfg != cache.cfg {
		panic(fmt.Sprintf("cpuref: Backward config %+v differs from Forward's %+v", cfg, cache.cfg))
	}
	p.check(cfg)
	T, B, H, V := cache.T, cache.B, cfg.Hidden, cfg.Vocab
	grads := NewParams(cfg)

	// Head: dHeadW = dlogits^T·top, dHeadB = Σ_rows dlogits, dtop = dlogits·HeadW.
	Gemm(true, false, V, H, T*B, 1, cache.dlogits, cache.top, 0, grads.HeadW)
	sumRows(grads.HeadB, cache.dlogits, T*B, V)
	dx := make([]float64, T*B*H)
	Gemm(false, false, T*B, H, V, 1, cache.dlogits, p.HeadW, 0, dx)

	for l := cfg.Layers - 1; l >= 0; l-- {
		lc := cache.layers[l]
		// dx is the gradient at the next layer's input. Multiplying by the dropout mask turns
		// it into the gradient at this layer's h.
		dh := dx
		if lc.mask != nil {
			for k := range dh {
				dh[k] *= lc.mask[k]
			}
		}
		dx = backwardLayer(cfg, p, grads, l, lc, dh, T, B)
	}
	EmbeddingBackward(grads.Embedding, dx, cache.ids, cfg.Embed)
	return grads
}

// backwardLayer runs backpropagation through time over layer l, accumulates its weight
// gradients into grads and returns the gradient at the layer's input x.
//
//	dhOut: [T·B×H] gradient at the layer's output h from above
//	dx:    [T·B×in]
func backwardLayer(cfg Config, p, grads *Params, l int, lc layerCache, dhOut []float64, T, B int) []float64 {
	G, H, in := cfg.gates(), cfg.Hidden, cfg.inputWidth(l)
	if cfg.Cell == "gru" {
		return backwardGRULayer(p, grads, l, lc, dhOut, T, B, H, in)
	}
	dx := make([]float64, T*B*in)
	dhRec := make([]float64, B*H) // gradient at h_t from step t+1
	var dcNext []float64          // gradient at c_t from step t+1, nil after the last step
	for t := T - 1; t >= 0; t-- {
		hPrev, cPrev := lc.h0, lc.c0
		if t > 0 {
			hPrev = lc.h[(t-1)*B*H : t*B*H]
			if lc.c != nil {
				cPrev = lc.c[(t-1)*B*H : t*B*H]
			}
		}
		dh := make([]float64, B*H)
		for k := range dh {
			dh[k] = dhOut[t*B*H+k] + dhRec[k]
		}

		var dpre []float64 // [B×G·H]
		if cfg.Cell == "lstm" {
			act := lc.act[t*B*G*H : (t+1)*B*G*H]
			c := lc.c[t*B*H : (t+1)*B*H]
			dpre, dcNext = LSTMCellBackward(act, cPrev, c, dh, dcNext, B, H)
		} else {
			dpre = RNNCellBackward(lc.h[t*B*H:(t+1)*B*H], dh)
		}

		// pre = x_t·W_ih^T + b_ih + hPrev·W_hh^T + b_hh
		xt := lc.x[t*B*in : (t+1)*B*in]
		Gemm(true, false, G*H, in, B, 1, dpre, xt, 1, grads.WIH[l])
		Gemm(true, false, G*H, H, B, 1, dpre, hPrev, 1, grads.WHH[l])
		sumRows(grads.BIH[l], dpre, B, G*H)
		sumRows(grads.BHH[l], dpre, B, G*H)
		Gemm(false, false, B, in, G*H, 1, dpre, p.WIH[l], 0, dx[t*B*in:(t+1)*B*in])
		Gemm(false, false, B, H, G*H, 1, dpre, p.WHH[l], 0, dhRec)
	}
	return dx
}

// forwardGRULayer runs GRU layer l over T steps, starting from lc.h0. The input and recurrent
// projections stay separate because r multiplies only the recurrent part of n.
func forwardGRULayer(p *Params, l int, x []float64, T, B, H, in int, lc layerCache) layerCache {
	lc.act = make([]float64, T*B*3*H)
	lc.hg = make([]float64, T*B*3*H)
	hPrev := lc.h0
	for t := 0; t < T; t++ {
		// xg = x_t·W_ihᵀ + b_ih and hg = hPrev·W_hhᵀ + b_hh, [B×3H] each
		xg := make([]float64, B*3*H)
		Gemm(false, true, B, 3*H, in, 1, x[t*B*in:(t+1)*B*in], p.WIH[l], 0, xg)
		addBias(xg, p.BIH[l], B, 3*H)
		hg := lc.hg[t*B*3*H : (t+1)*B*3*H]
		Gemm(false, true, B, 3*H, H, 1, hPrev, p.WHH[l], 0, hg)
		addBias(hg, p.BHH[l], B, 3*H)

		act, h := GRUCellForward(xg, hg, hPrev, B, H)
		copy(lc.act[t*B*3*H:], act)
		copy(lc.h[t*B*H:], h)
		hPrev = h
	}
	return lc
}

// backwardGRULayer is backwardLayer for the GRU cell: it accumulates layer l's weight
// gradients into grads and returns the gradient at the layer's input x [T·B×in].
func backwardGRULayer(p, grads *Params, l int, lc layerCache, dhOut []float64, T, B, H, in int) []float64 {
	dx := make([]float64, T*B*in)
	dhRec := make([]float64, B*H) // gradient at h_t from step t+1
	for t := T - 1; t >= 0; t-- {
		hPrev := lc.h0
		if t > 0 {
			hPrev = lc.h[(t-1)*B*H : t*B*H]
		}
		dh := make([]float64, B*H)
		for k := range dh {
			dh[k] = dhOut[t*B*H+k] + dhRec[k]
		}
		act := lc.act[t*B*3*H : (t+1)*B*3*H]
		hg := lc.hg[t*B*3*H : (t+1)*B*3*H]
		dxg, dhg, dhPrev := GRUCellBackward(act, hg, hPrev, dh, B, H)

		// xg = x_t·W_ihᵀ + b_ih and hg = hPrev·W_hhᵀ + b_hh
		xt := lc.x[t*B*in : (t+1)*B*in]
		Gemm(true, false, 3*H, in, B, 1, dxg, xt, 1, grads.WIH[l])
		Gemm(true, false, 3*H, H, B, 1, dhg, hPrev, 1, grads.WHH[l])
		sumRows(grads.BIH[l], dxg, B, 3*H)
		sumRows(grads.BHH[l], dhg, B, 3*H)
		Gemm(false, false, B, in, 3*H, 1, dxg, p.WIH[l], 0, dx[t*B*in:(t+1)*B*in])
		Gemm(false, false, B, H, 3*H, 1, dhg, p.WHH[l], 1, dhPrev)
		dhRec = dhPrev
	}
	return dx
}
