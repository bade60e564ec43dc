package main

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/recur-ml/recur/cpuref"
	"github.com/recur-ml/recur/lstm"
)

// cpurefPeakMax bounds the n of cpuref's GEMM peak: its float64 triple loop runs at about
// 1 GFLOP/s, so 1024³ would take seconds for a figure that barely depends on n.
const cpurefPeakMax = 512

// runCPURef trains and then runs inference on sh with the float64 reference model of package
// cpuref: the same model, Adam, clipping and truncated BPTT as the recur backends, in plain
// loops.
func runCPURef(sh shape, o runOptions) (phaseTrain, phaseInfer phase, mem memoryUse) {
	memStart := startMemory()
	cfg := cpuref.Config{Cell: o.Model, Layers: sh.Layers, Hidden: sh.Hidden, Embed: sh.Hidden, Vocab: sh.Vocab}
	p := cpuref.NewParams(cfg)

	// The same initial weights as the recur backends, widened to float64; Tensors and
	// lstm's ParamSpecs list the tensors in the same order.
	lcfg := lstm.Config{Model: o.Model, Layers: sh.Layers, Hidden: sh.Hidden, Embed: sh.Hidden}
	for i := 0; i < sh.Vocab; i++ {
		lcfg.Vocab = append(lcfg.Vocab, string(rune(0x4E00+i)))
	}
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	flat := lstm.InitParams(lcfg, rng, math.NaN())
	off := 0
	for _, t := range p.Tensors() {
		for i := range t {
			t[i] = float64(flat[off+i])
		}
		off += len(t)
	}

	tensors := p.Tensors()
	moments1 := make([][]float64, len(tensors))
	moments2 := make([][]float64, len(tensors))
	for i, t := range tensors {
		moments1[i] = make([]float64, len(t))
		moments2[i] = make([]float64, len(t))
	}
	n := sh.tokens()
	chunks := make([][]int, o.Steps+o.Warmup+1) // chunk i+1 holds the targets of chunk i
	for i := range chunks {
		chunks[i] = make([]int, n)
		for k := range chunks[i] {
			chunks[i][k] = rng.IntN(sh.Vocab)
		}
	}

	var state *cpuref.State
	var loss float64
	adamStep := 0
	step := func(i int) {
		var final cpuref.State
		var cache *cpuref.Cache
		loss, _, final, cache = cpuref.Forward(cfg, p, chunks[i], chunks[i+1], sh.Seq, sh.Batch, state, nil)
		grads := cpuref.Backward(cfg, p, cache)
		g := grads.Tensors()
		cpuref.ClipGradNorm(g, clipNorm)
		adamStep++
		for k, t := range tensors {
			cpuref.AdamStep(t, g[k], moments1[k], moments2[k], learningRate, adamBeta1, adamBeta2, adamEps, adamStep)
		}
		state = &final // truncated BPTT: carry the state, never its gradient
	}
	for i := 0; i < o.Warmup; i++ {
		step(i)
	}
	start := time.Now()
	for i := o.Warmup; i < o.Warmup+o.Steps; i++ {
		step(i)
	}
	phaseTrain = newPhase(o.Steps, time.Since(start), sh, trainFLOPs(o.Model, sh, false))
	phaseTrain.Loss = loss

	start = time.Now()
	for i := 0; i < o.Steps; i++ {
		cpuref.Forward(cfg, p, chunks[i], chunks[i+1], sh.Seq, sh.Batch, nil, nil)
	}
	phaseInfer = newPhase(o.Steps, time.Since(start), sh, forwardFLOPs(o.Model, sh, false))
	return phaseTrain, phaseInfer, readMemory(memStart, nil)
}

// measureCPURefPeak times cpuref's float64 GEMM on n×n×n products with the batches of
// bestGemmRate, as measureGemmPeak times the other backends.
func measureCPURefPeak(n int) float64 {
	a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	for i := range a {
		a[i], b[i] = 0.5, 0.25
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	rate, _ := bestGemmRate(flops, func(reps int) error {
		for range reps {
			cpuref.Gemm(false, false, n, n, n, 1, a, b, 0, c)
		}
		return nil
	})
	return rate
}
