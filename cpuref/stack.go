package cpuref

import (
	"fmt"
)

// StackConfig is the shape of a bare recurrent stack, with no embedding and no head, as the
// sequence tasks use it.
type StackConfig struct {
	Cell   string // "lstm", "gru" or "rnn" (tanh)
	Layers int    // number of stacked recurrent layers
	Hidden int    // H, units per layer
	In     int    // width of layer 0's input
}

// gates returns G, the number of gate blocks of H rows in W_ih and W_hh.
func (cfg StackConfig) gates() int {
	return Config{Cell: cfg.Cell}.gates()
}

// inputWidth returns the width of layer l's input: In for layer 0, H above it.
func (cfg StackConfig) inputWidth(l int) int {
	if l == 0 {
		return cfg.In
	}
	return cfg.Hidden
}

func (cfg StackConfig) validate() {
	cfg.gates()
	if cfg.Layers < 1 || cfg.Hidden < 1 || cfg.In < 1 {
		panic(fmt.Sprintf("cpuref: invalid StackConfig %+v, expected Layers, Hidden and In of 1 or more", cfg))
	}
}

// StackParams contains a stack's weights with the shapes of PyTorch's nn.LSTM, nn.GRU and nn.RNN:
// WIH[l] is weight_ih_l{l}, and so on. Gate blocks come in the order i, f, g, o for the LSTM and
// r, z, n for the GRU. Gradients returned by StackBackward use the same type.
type StackParams struct {
	WIH, WHH [][]float64 // per layer: [G·H × in] and [G·H × H], in = In for layer 0 and H above
	BIH, BHH [][]float64 // per layer: [G·H]
}

// NewStackParams returns zero-filled parameters of the sizes cfg needs.
func NewStackParams(cfg StackConfig) *StackParams {
	cfg.validate()
	G, H := cfg.gates(), cfg.Hidden
	p := &StackParams{}
	for l := 0; l < cfg.Layers; l++ {
		p.WIH = append(p.WIH, make([]float64, G*H*cfg.inputWidth(l)))
		p.WHH = append(p.WHH, make([]float64, G*H*H))
		p.BIH = append(p.BIH, make([]float64, G*H))
		p.BHH = append(p.BHH, make([]float64, G*H))
	}
	return p
}

// Tensors returns every tensor of p in a fixed order: for each layer WIH, WHH, BIH and BHH. The
// slices alias p, so writes through them change p.
func (p *StackParams) Tensors() [][]float64 {
	var tensors [][]float64
	for l := range p.WIH {
		tensors = append(tensors, p.WIH[l], p.WHH[l], p.BIH[l], p.BHH[l])
	}
	return tensors
}

// check panics unless every tensor of p has the size cfg needs.
func (p *StackParams) check(cfg StackConfig) {
	G, H := cfg.gates(), cfg.Hidden
	if len(p.WIH) != cfg.Layers || len(p.WHH) != cfg.Layers || len(p.BIH) != cfg.Layers || len(p.BHH) != cfg.Layers {
		panic(fmt.Sprintf("cpuref: StackParams has %d, %d, %d, %d layers of WIH, WHH, BIH, BHH, expected %d",
			len(p.WIH), len(p.WHH), len(p.BIH), len(p.BHH), cfg.Layers))
	}
	for l := 0; l < cfg.Layers; l++ {
		checkLen(fmt.Sprintf("StackParams.WIH[%d]", l), p.WIH[l], G*H*cfg.inputWidth(l))
		checkLen(fmt.Sprintf("StackParams.WHH[%d]", l), p.WHH[l], G*H*H)
		checkLen(fmt.Sprintf("StackParams.BIH[%d]", l), p.BIH[l], G*H)
		checkLen(fmt.Sprintf("StackParams.BHH[%d]", l), p.BHH[l], G*H)
	}
}

// StackInput is one run of a stack over T steps of B rows.
type StackInput struct {
	X []float64 // [T·B×In] layer 0's input, time-major (row t·B+b)

	// H0 and C0 are the initial states, per layer [B×H]. A nil slice or entry means zeros. C0
	// must be nil for the RNN and GRU cells.
	H0, C0 [][]float64

	// Reset is nil, or [T·B]. After step t, the h and c of row b of every layer are multiplied
	// by Reset[t·B+b]: 0 for a left-padding step, so the first real step starts from zeros, and
	// 1 otherwise.
	Reset []float64

	// GateBias is nil, or [B×G·H] added to layer 0's input projection x·W_ihᵀ + b_ih at every
	// step, for example a projected image feature. For the GRU it reaches all of r, z and n, and
	// r scales only the recurrent part of n, as in GRUCellForward.
	GateBias []float64

	T, B int
}

// StackCache is the record that StackForward keeps for StackBackward: the inputs and every
// layer's states and activations.
type StackCache struct {
	cfg      StackConfig
	T, B     int
	reset    []float64    // [T·B] or nil
	gateBias []float64    // [B×G·H] or nil
	layers   []stackLayer // per layer, bottom first
}

// stackLayer is one layer's states and activations over all T steps, time-major.
type stackLayer struct {
	x     []float64 // [T·B×in] the input: X for layer 0, layer l−1's h after the reset above
	h     []float64 // [(T+1)·B×H] state after each step's reset, slot 0 the initial state
	c     []float64 // [(T+1)·B×H] LSTM cell state in the same slots, nil for the other cells
	cellH []float64 // [T·B×H] the cell's h before the reset
	cellC []float64 // [T·B×H] the LSTM cell's c before the reset, nil for the other cells
	act   []float64 // [T·B×G·H] activated LSTM or GRU gates, nil for the RNN cell
	hg    []float64 // [T·B×3H] GRU recurrent projections hPrev·W_hhᵀ + b_hh, nil otherwise
}

// Output returns the top layer's h after each step's reset, [T·B×H]. The same values feed the
// layer above inside the stack.
func (c *StackCache) Output() []float64 {
	top := c.layers[len(c.layers)-1]
	return append([]float64(nil), top.h[c.B*c.cfg.Hidden:]...)
}

// Final returns every layer's state after the last step and its reset. Final().C is nil for the
// RNN and GRU cells.
func (c *StackCache) Final() State {
	var final State
	last := c.T * c.B * c.cfg.Hidden
	for _, lc := range c.layers {
		final.H = append(final.H, append([]float64(nil), lc.h[last:]...))
		if lc.c != nil {
			final.C = append(final.C, append([]float64(nil), lc.c[last:]...))
		}
	}
	return final
}

// LayerStates returns copies of layer l's states for slots 0..T, [(T+1)·B×H] each, where slot
// 0 is the initial state and slot t+1 the state after step t and its reset. cell is nil for
// the RNN and GRU cells.
func (c *StackCache) LayerStates(l int) (h, cell []float64) {
	if l < 0 || l >= len(c.layers) {
		panic(fmt.Sprintf("cpuref: LayerStates layer %d is outside [0, %d)", l, len(c.layers)))
	}
	lc := c.layers[l]
	h = append([]float64(nil), lc.h...)
	if lc.c != nil {
		cell = append([]float64(nil), lc.c...)
	}
	return h, cell
}

// StackForward runs the stack over in.T steps of in.B rows, with PyTorch's nn.LSTM, nn.GRU or
// nn.RNN (tanh) step and no dropout, and returns the cache that contains the outputs, the
// final states and what StackBackward needs.
func StackForward(cfg StackConfig, p *StackParams, in StackInput) *StackCache {
	cfg.validate()
	p.check(cfg)
	checkStackInput(cfg, in)
	T, B, H := in.T, in.B, cfg.Hidden

	cache := &StackCache{cfg: cfg, T: T, B: B}
	if in.Reset != nil {
		cache.reset = append([]float64(nil), in.Reset...)
	}
	if in.GateBias != nil {
		cache.gateBias = append([]float64(nil), in.GateBias...)
	}
	x := append([]float64(nil), in.X...)
	for l := 0; l < cfg.Layers; l++ {
		lc := newStackLayer(cfg, x, T, B)
		if in.H0 != nil && in.H0[l] != nil {
			copy(lc.h[:B*H], in.H0[l])
		}
		if in.C0 != nil && in.C0[l] != nil {
			copy(lc.c[:B*H], in.C0[l])
		}
		var gateBias []float64
		if l == 0 {
			gateBias = cache.gateBias
		}
		for t := 0; t < T; t++ {
			stackStepForward(cfg, p, l, &lc, t, B, gateBias, cache.resetAt(t))
		}
		cache.layers = append(cache.layers, lc)
		x = lc.h[B*H:]
	}
	return cache
}

// checkStackInput panics unless every slice of in has the length cfg, in.T and in.B need.
func checkStackInput(cfg StackConfig, in StackInput) {
	if in.T < 1 || in.B < 1 {
		panic(fmt.Sprintf("cpuref: StackInput T=%d, B=%d, expected both 1 or more", in.T, in.B))
	}
	T, B, H := in.T, in.B, cfg.Hidden
	checkLen("StackInput.X", in.X, T*B*cfg.In)
	checkLayerStates("StackInput.H0", in.H0, cfg.Layers, B*H)
	if cfg.Cell == "lstm" {
		checkLayerStates("StackInput.C0", in.C0, cfg.Layers, B*H)
	} else if in.C0 != nil {
		panic(fmt.Sprintf("cpuref: StackInput.C0 is set for cell %q, which has no cell state, expected nil", cfg.Cell))
	}
	if in.Reset != nil {
		checkLen("StackInput.Reset", in.Reset, T*B)
	}
	if in.GateBias != nil {
		checkLen("StackInput.GateBias", in.GateBias, B*cfg.gates()*H)
	}
}

// checkLayerStates panics unless states is nil or has one entry per layer, each nil or of length
// size.
func checkLayerStates(name string, states [][]float64, layers, size int) {
	if states == nil {
		return
	}
	if len(states) != layers {
		panic(fmt.Sprintf("cpuref: %s has %d layers, expected %d", name, len(states), layers))
	}
	for l, state := range states {
		if state != nil {
			checkLen(fmt.Sprintf("%s[%d]", name, l), state, size)
		}
	}
}

// newStackLayer returns a layer cache for input x with zeroed states and activations.
func newStackLayer(cfg StackConfig, x []float64, T, B int) stackLayer {
	G, H := cfg.gates(), cfg.Hidden
	lc := stackLayer{x: x, h: make([]float64, (T+1)*B*H), cellH: make([]float64, T*B*H)}
	switch cfg.Cell {
	case "lstm":
		lc.c = make([]float64, (T+1)*B*H)
		lc.cellC = make([]float64, T*B*H)
		lc.act = make([]float64, T*B*G*H)
	case "gru":
		lc.act = make([]float64, T*B*G*H)
		lc.hg = make([]float64, T*B*G*H)
	}
	return lc
}

// resetAt returns the [B] reset factors of step t, or nil when the run has no Reset.
func (c *StackCache) resetAt(t int) []float64 {
	if c.reset == nil {
		return nil
	}
	return c.reset[t*c.B : (t+1)*c.B]
}

// scaleRows multiplies row b of x [B×H] by factors[b]. A nil factors leaves x unchanged.
func scaleRows(x, factors []float64, B, H int) {
	if factors == nil {
		return
	}
	for b := 0; b < B; b++ {
		for j := 0; j < H; j++ {
			x[b*H+j] *= factors[b]
		}
	}
}

// stackStepForward runs step t of layer l from state slot t and writes state slot t+1.
//
//	gateBias: [B×G·H] added to the input projection, or nil
//	reset:    [B] factors for the new state, or nil
func stackStepForward(cfg StackConfig, p *StackParams, l int, lc *stackLayer, t, B int, gateBias, reset []float64) {
	G, H, in := cfg.gates(), cfg.Hidden, cfg.inputWidth(l)
	GH := G * H
	hPrev := lc.h[t*B*H : (t+1)*B*H]

	// xg = x_t·W_ihᵀ + b_ih + gateBias and hg = hPrev·W_hhᵀ + b_hh, [B×G·H] each
	xg := make([]float64, B*GH)
	Gemm(false, true, B, GH, in, 1, lc.x[t*B*in:(t+1)*B*in], p.WIH[l], 0, xg)
	addBias(xg, p.BIH[l], B, GH)
	for k := range gateBias {
		xg[k] += gateBias[k]
	}
	hg := make([]float64, B*GH)
	Gemm(false, true, B, GH, H, 1, hPrev, p.WHH[l], 0, hg)
	addBias(hg, p.BHH[l], B, GH)

	var h []float64
	switch cfg.Cell {
	case "lstm":
		for k := range xg {
			xg[k] += hg[k]
		}
		var act, c []float64
		act, c, h = LSTMCellForward(xg, lc.c[t*B*H:(t+1)*B*H], B, H)
		copy(lc.act[t*B*GH:], act)
		copy(lc.cellC[t*B*H:], c)
		next := lc.c[(t+1)*B*H : (t+2)*B*H]
		copy(next, c)
		scaleRows(next, reset, B, H)
	case "gru":
		var act []float64
		act, h = GRUCellForward(xg, hg, hPrev, B, H)
		copy(lc.act[t*B*GH:], act)
		copy(lc.hg[t*B*GH:], hg)
	default:
		for k := range xg {
			xg[k] += hg[k]
		}
		h = RNNCellForward(xg)
	}
	copy(lc.cellH[t*B*H:], h)
	next := lc.h[(t+1)*B*H : (t+2)*B*H]
	copy(next, h)
	scaleRows(next, reset, B, H)
}

// StackBackward returns the gradients, by full backpropagation through the T steps of cache, of
// the loss whose gradients at the stack's outputs and final states are given. p must be the
// parameters that produced cache.
//
//	dY:       [T·B×H] gradient at Output, nil for zeros
//	dHT, dCT: per layer [B×H] gradient at Final's H and C, a nil slice or entry for zeros. dCT
//	          must be nil for the RNN and GRU cells.
//	dX:       [T·B×In] gradient at StackInput.X
//	dH0, dC0: per layer [B×H] gradient at the initial state, dC0 nil for the RNN and GRU cells
//	dGateBias: [B×G·H] gradient at StackInput.GateBias, returned even when GateBias was nil
func StackBackward(cfg StackConfig, p *StackParams, cache *StackCache, dY []float64, dHT, dCT [][]float64) (
	grads *StackParams, dX []float64, dH0, dC0 [][]float64, dGateBias []float64) {
	if cfg != cache.cfg {
		panic(fmt.Sprintf("cpuref: StackBackward config %+v differs from StackForward's %+v", cfg, cache.cfg))
	}
	p.check(cfg)
	T, B, H := cache.T, cache.B, cfg.Hidden
	if dY != nil {
		checkLen("StackBackward dY", dY, T*B*H)
	}
	checkLayerStates("StackBackward dHT", dHT, cfg.Layers, B*H)
	if cfg.Cell == "lstm" {
		checkLayerStates("StackBackward dCT", dCT, cfg.Layers, B*H)
	} else if dCT != nil {
		panic(fmt.Sprintf("cpuref: StackBackward dCT is set for cell %q, which has no cell state, expected nil", cfg.Cell))
	}

	grads = NewStackParams(cfg)
	dGateBias = make([]float64, B*cfg.gates()*H)
	dH0 = make([][]float64, cfg.Layers)
	if cfg.Cell == "lstm" {
		dC0 = make([][]float64, cfg.Layers)
	}
	// dOut is the gradient at the current layer's output, the h of slots 1..T.
	dOut := make([]float64, T*B*H)
	copy(dOut, dY)
	for l := cfg.Layers - 1; l >= 0; l-- {
		var dhT, dcT, dGate []float64
		if dHT != nil {
			dhT = dHT[l]
		}
		if dCT != nil {
			dcT = dCT[l]
		}
		if l == 0 {
			dGate = dGateBias
		}
		var dc0 []float64
		dOut, dH0[l], dc0 = stackLayerBackward(cfg, p, grads, l, cache, dOut, dhT, dcT, dGate)
		if dC0 != nil {
			dC0[l] = dc0
		}
	}
	return grads, dOut, dH0, dC0, dGateBias
}

// stackLayerBackward runs backpropagation through time over layer l, accumulates its weight
// gradients into grads and its input-projection gradients into dGateBias unless that is nil, and
// returns the gradients at the layer's input x [T·B×in] and initial state [B×H]. dc0 is nil for
// the RNN and GRU cells.
//
//	dOut:     [T·B×H] gradient at the layer's h of slots 1..T, from above
//	dhT, dcT: [B×H] gradient at slot T from outside the stack, nil for zeros
func stackLayerBackward(cfg StackConfig, p, grads *StackParams, l int, cache *StackCache,
	dOut, dhT, dcT, dGateBias []float64) (dx, dh0, dc0 []float64) {
	G, H, in := cfg.gates(), cfg.Hidden, cfg.inputWidth(l)
	GH := G * H
	T, B := cache.T, cache.B
	lc := cache.layers[l]

	dx = make([]float64, T*B*in)
	dh := make([]float64, B*H) // gradient at state slot t+1
	copy(dh, dhT)
	var dc []float64
	if cfg.Cell == "lstm" {
		dc = make([]float64, B*H)
		copy(dc, dcT)
	}
	for t := T - 1; t >= 0; t-- {
		for k := range dh {
			dh[k] += dOut[t*B*H+k]
		}
		// Slot t+1 is the cell's output times the reset factor, so its gradient gets the same
		// factor on the way back.
		reset := cache.resetAt(t)
		scaleRows(dh, reset, B, H)

		hPrev := lc.h[t*B*H : (t+1)*B*H]
		var dxg, dhg, dhPrev, dcPrev []float64
		switch cfg.Cell {
		case "lstm":
			scaleRows(dc, reset, B, H)
			act := lc.act[t*B*GH : (t+1)*B*GH]
			cPrev := lc.c[t*B*H : (t+1)*B*H]
			c := lc.cellC[t*B*H : (t+1)*B*H]
			var dpre []float64
			dpre, dcPrev = LSTMCellBackward(act, cPrev, c, dh, dc, B, H)
			dxg, dhg, dhPrev = dpre, dpre, make([]float64, B*H)
		case "gru":
			act := lc.act[t*B*GH : (t+1)*B*GH]
			hg := lc.hg[t*B*GH : (t+1)*B*GH]
			dxg, dhg, dhPrev = GRUCellBackward(act, hg, hPrev, dh, B, H)
		default:
			dpre := RNNCellBackward(lc.cellH[t*B*H:(t+1)*B*H], dh)
			dxg, dhg, dhPrev = dpre, dpre, make([]float64, B*H)
		}

		// xg = x_t·W_ihᵀ + b_ih + gateBias and hg = hPrev·W_hhᵀ + b_hh
		xt := lc.x[t*B*in : (t+1)*B*in]
		Gemm(true, false, GH, in, B, 1, dxg, xt, 1, grads.WIH[l])
		Gemm(true, false, GH, H, B, 1, dhg, hPrev, 1, grads.WHH[l])
		sumRows(grads.BIH[l], dxg, B, GH)
		sumRows(grads.BHH[l], dhg, B, GH)
		for k := range dGateBias {
			dGateBias[k] += dxg[k]
		}
		Gemm(false, false, B, in, GH, 1, dxg, p.WIH[l], 0, dx[t*B*in:(t+1)*B*in])
		Gemm(false, false, B, H, GH, 1, dhg, p.WHH[l], 1, dhPrev)
		dh, dc = dhPrev, dcPrev
	}
	return dx, dh, dc
}
