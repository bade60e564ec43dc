package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// Workload constants shared by every backend and by the PyTorch script.
const (
	learningRate = 2e-3
	clipNorm     = 5
	adamBeta1    = 0.9
	adamBeta2    = 0.999
	adamEps      = 1e-8
)

// The denormal case multiplies every initial parameter by denormalScale, which puts
// PyTorch-initialised weights (at most 1/√H in magnitude) below float32's smallest normal
// number, 2^-126 ≈ 1.18e-38, and trains with denormalLR. Adam's step is about lr whatever the
// gradient's size, so at 2e-3 one update would lift every weight back into the normal range.
// At 1e-30 the updates of the denormal weights round to zero. Activations then stay denormal
// too, because tiny gate pre-activations make c and h tiny.
const (
	denormalScale = 0x1p-130
	denormalLR    = 1e-30
)

// phase is the timing of one mode, training or inference, of one run.
type phase struct {
	Steps        int     `json:"steps"`
	Seconds      float64 `json:"seconds"`
	TokensPerS   float64 `json:"tokens_per_s"`
	MsPerStep    float64 `json:"ms_per_step"`
	FLOPsPerStep float64 `json:"flops_per_step"`
	GFLOPS       float64 `json:"gflops"`
	PeakShare    float64 `json:"peak_share"`
	Loss         float64 `json:"loss,omitempty"`
}

func newPhase(steps int, elapsed time.Duration, sh shape, flops float64) phase {
	s := elapsed.Seconds()
	return phase{
		Steps: steps, Seconds: s,
		TokensPerS:   float64(steps*sh.tokens()) / s,
		MsPerStep:    s * 1e3 / float64(steps),
		FLOPsPerStep: flops,
		GFLOPS:       flops * float64(steps) / s / 1e9,
	}
}

// memoryUse is the memory that one run took.
type memoryUse struct {
	HostPeakRSSBytes int64  `json:"host_peak_rss_bytes"`
	HostPeakRSSReset bool   `json:"host_peak_rss_reset"`
	GoHeapInuseBytes uint64 `json:"go_heap_inuse_bytes"`
	GoSysBytes       uint64 `json:"go_sys_bytes"`
	DevicePeakBytes  int64  `json:"device_peak_bytes"`
}

// startMemory collects garbage and resets the peak RSS, so that the next readMemory covers
// one run. It returns whether the reset worked.
func startMemory() bool {
	runtime.GC()
	return resetPeakRSS()
}

func readMemory(reset bool, be engine.Backend) memoryUse {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memoryUse{HostPeakRSSBytes: peakRSS(), HostPeakRSSReset: reset, GoHeapInuseBytes: ms.HeapInuse, GoSysBytes: ms.Sys}
	if d, ok := be.(interface{ MemoryStats() engine.CUDAMemoryStats }); ok {
		m.DevicePeakBytes = d.MemoryStats().Peak
	}
	return m
}

// runOptions are the settings shared by every run.
type runOptions struct {
	Model     string
	Steps     int
	Warmup    int
	Seed      uint64
	Threads   int    // CPU backend threads, 0 for one per CPU
	GEMM      string // CPU backend GEMM path
	Precision string // CUDA matrix products
	PeakSize  int    // n of the n×n×n GEMM that measures the peak
}

// openBackend opens the recur backend named by a --backends entry other than cpuref.
func openBackend(name string, o runOptions) (engine.Backend, error) {
	if name == "cpu" {
		return engine.NewCPU(engine.CPUOptions{Threads: o.Threads, GEMM: o.GEMM})
	}
	be, _, err := engine.Open(name, o.Precision)
	return be, err
}

// runRecur trains and then runs inference on sh with a fresh backend, so that the device
// memory figures cover this run only.
func runRecur(name string, sh shape, o runOptions, denormal bool) (phaseTrain, phaseInfer phase, mem memoryUse, err error) {
	reset := startMemory()
	be, err := openBackend(name, o)
	if err != nil {
		return phase{}, phase{}, memoryUse{}, err
	}
	defer be.Close()

	cfg := lstm.Config{Model: o.Model, Layers: sh.Layers, Hidden: sh.Hidden, Embed: sh.Hidden}
	for i := 0; i < sh.Vocab; i++ {
		cfg.Vocab = append(cfg.Vocab, string(rune(0x4E00+i)))
	}
	m, err := lstm.NewModel(cfg, be)
	if err != nil {
		return phase{}, phase{}, memoryUse{}, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	params := lstm.InitParams(cfg, rng, math.NaN())
	lr := learningRate
	if denormal {
		for i := range params {
			params[i] *= denormalScale
		}
		lr = denormalLR
	}
	be.Upload(m.Params, params)

	// Random tokens, long enough for every step to read a fresh chunk.
	ids := make([]int32, sh.Batch*(sh.Seq*(o.Steps+o.Warmup+1)+1))
	for i := range ids {
		ids[i] = int32(rng.IntN(sh.Vocab))
	}
	tc := lstm.TrainConfig{Seq: sh.Seq, Batch: sh.Batch, Steps: o.Steps + o.Warmup, LR: lr,
		Optim: lstm.OptimAdam, Clip: clipNorm, Seed: o.Seed}
	tr, err := lstm.NewTrainer(m, tc, ids)
	if err != nil {
		return phase{}, phase{}, memoryUse{}, err
	}
	for i := 0; i < o.Warmup; i++ {
		if _, err := tr.TrainStep(); err != nil {
			return phase{}, phase{}, memoryUse{}, err
		}
	}
	var last lstm.StepResult
	start := time.Now()
	for i := 0; i < o.Steps; i++ {
		if last, err = tr.TrainStep(); err != nil {
			return phase{}, phase{}, memoryUse{}, err
		}
	}
	if err := be.Sync(); err != nil {
		return phase{}, phase{}, memoryUse{}, err
	}
	phaseTrain = newPhase(o.Steps, time.Since(start), sh, trainFLOPs(o.Model, sh))
	phaseTrain.Loss = last.Loss

	ws := m.NewWorkspace(sh.Batch, sh.Seq)
	in := ids[:sh.tokens()]
	for i := 0; i < max(o.Warmup, 1); i++ {
		m.Forward(ws, in, nil, lstm.Dropout{})
	}
	if err := be.Sync(); err != nil {
		return phase{}, phase{}, memoryUse{}, err
	}
	start = time.Now()
	for i := 0; i < o.Steps; i++ {
		m.Forward(ws, in, nil, lstm.Dropout{})
	}
	if err := be.Sync(); err != nil {
		return phase{}, phase{}, memoryUse{}, err
	}
	phaseInfer = newPhase(o.Steps, time.Since(start), sh, forwardFLOPs(o.Model, sh))
	return phaseTrain, phaseInfer, readMemory(reset, be), nil
}

// gemmPeak is the SGEMM throughput that a backend reaches on one n×n×n product.
type gemmPeak struct {
	Backend   string  `json:"backend"`
	Precision string  `json:"precision"`
	N         int     `json:"n"`
	GFLOPS    float64 `json:"gflops"`
}

// measureGemmPeak times C = A·B for n×n matrices on be. It doubles the number of products
// queued between two waits until one batch takes at least 0.2 s, so that a GPU's launch and
// wait latency does not count.
func measureGemmPeak(be engine.Backend, n int) (float64, error) {
	a, b, c := be.Alloc(n*n), be.Alloc(n*n), be.Alloc(n*n)
	be.Fill(a, 0.5)
	be.Fill(b, 0.25)
	be.Gemm(false, false, n, n, n, 1, a, b, 0, c) // warm-up: thread pools, kernel selection
	if err := be.Sync(); err != nil {
		return 0, err
	}
	const minBatch = 200 * time.Millisecond
	for reps := 1; ; reps *= 2 {
		start := time.Now()
		for i := 0; i < reps; i++ {
			be.Gemm(false, false, n, n, n, 1, a, b, 0, c)
		}
		if err := be.Sync(); err != nil {
			return 0, err
		}
		elapsed := time.Since(start)
		if elapsed >= minBatch || reps >= 1<<16 {
			return 2 * float64(n) * float64(n) * float64(n) * float64(reps) / elapsed.Seconds() / 1e9, nil
		}
	}
}

// describeBackend opens a backend and returns its Name, its GEMM peak and, for CUDA, the GPU.
func describeBackend(name string, o runOptions) (string, gemmPeak, *gpuInfo, error) {
	be, err := openBackend(name, o)
	if err != nil {
		return "", gemmPeak{}, nil, err
	}
	defer be.Close()
	gflops, err := measureGemmPeak(be, o.PeakSize)
	if err != nil {
		return "", gemmPeak{}, nil, fmt.Errorf("GEMM peak on %s: %w", name, err)
	}
	peak := gemmPeak{Backend: name, Precision: backendPrecision(name, o), N: o.PeakSize, GFLOPS: gflops}
	var gpu *gpuInfo
	if c, ok := be.(*engine.CUDA); ok {
		d, info := c.Device(), c.Info()
		gpu = &gpuInfo{Name: d.Name, ComputeCapability: fmt.Sprintf("%d.%d", d.Major, d.Minor),
			Multiprocessors: d.Multiprocessors, MemoryBytes: d.TotalMemory,
			DriverCUDAVersion: info.DriverVersionString(), CUBLASVersion: info.CUBLASVersionString()}
	}
	return be.Name(), peak, gpu, nil
}

// backendPrecision returns the arithmetic of a backend's matrix products.
func backendPrecision(name string, o runOptions) string {
	switch name {
	case "cpuref":
		return "fp64"
	case "cpu":
		return "fp32"
	}
	return o.Precision
}
