package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
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
	HostStartRSSBytes int64  `json:"host_start_rss_bytes"`
	HostPeakRSSBytes  int64  `json:"host_peak_rss_bytes"`
	HostPeakRSSReset  bool   `json:"host_peak_rss_reset"`
	GoHeapInuseBytes  uint64 `json:"go_heap_inuse_bytes"`
	GoSysBytes        uint64 `json:"go_sys_bytes"`
	DevicePeakBytes   int64  `json:"device_peak_bytes"`
}

// memoryStart is the state of the host memory at the start of a run.
type memoryStart struct {
	rss   int64 // VmRSS after the earlier runs' memory went back to the operating system
	reset bool  // whether the peak RSS was reset to rss
}

// startMemory returns the memory of earlier runs to the operating system and resets the peak
// RSS, so that the next readMemory covers one run. Without debug.FreeOSMemory, the Go heap
// of a larger earlier run would stay resident and count as this run's peak.
func startMemory() memoryStart {
	debug.FreeOSMemory()
	reset := resetPeakRSS()
	return memoryStart{rss: currentRSS(), reset: reset}
}

func readMemory(start memoryStart, be engine.Backend) memoryUse {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memoryUse{HostStartRSSBytes: start.rss, HostPeakRSSBytes: peakRSS(),
		HostPeakRSSReset: start.reset, GoHeapInuseBytes: ms.HeapInuse, GoSysBytes: ms.Sys}
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
	PeakSize  int    // n of the GEMMs that measure the peak
	CUDAGraph bool   // CUDA: replay the training step as a CUDA graph
	Wavefront bool   // CUDA: run the layers as a wavefront on separate streams
}

// openBackend opens the recur backend named by a --backends entry other than cpuref.
func openBackend(name string, o runOptions) (engine.Backend, error) {
	if name == "cpu" {
		return engine.NewCPU(engine.CPUOptions{Threads: o.Threads, GEMM: o.GEMM})
	}
	be, _, err := engine.Open(name, o.Precision)
	if err == nil {
		engine.SetCUDAFeatures(be, o.CUDAGraph, o.Wavefront)
	}
	return be, err
}

// runRecur trains and then runs inference on sh with a fresh backend, so that the device
// memory figures cover this run only.
func runRecur(name string, sh shape, o runOptions, denormal bool) (phaseTrain, phaseInfer phase, mem memoryUse, err error) {
	memStart := startMemory()
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
	table := lstm.ProjectsTable(sh.Vocab, sh.Batch, sh.Seq)
	phaseTrain = newPhase(o.Steps, time.Since(start), sh, trainFLOPs(o.Model, sh, table))
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
	phaseInfer = newPhase(o.Steps, time.Since(start), sh, forwardFLOPs(o.Model, sh, table))
	return phaseTrain, phaseInfer, readMemory(memStart, be), nil
}

// gemmPeak is the SGEMM throughput that a backend reaches, as measureGemmPeak measures it.
type gemmPeak struct {
	Backend   string  `json:"backend"`
	Precision string  `json:"precision"`
	N         int     `json:"n"`
	GFLOPS    float64 `json:"gflops"`
}

// peakRows is the row count of the second product that measureGemmPeak times: a batch of
// peakRows rows times an n×n weight, as in a recurrent step.
const peakRows = 64

// measureGemmPeak returns be's GEMM peak in GFLOP/s: the best batch, as bestGemmRate measures
// it, of C = A·B for n×n matrices or of C = X·W^T for X of peakRows×n and W of n×n. The CPU
// backend runs the second on its small-GEMM kernels where OpenBLAS is missing, and those are
// faster than gonum's n×n×n product, so without it a model's products could beat its peak.
func measureGemmPeak(be engine.Backend, n int) (float64, error) {
	a, b, c := be.Alloc(n*n), be.Alloc(n*n), be.Alloc(n*n)
	be.Fill(a, 0.5)
	be.Fill(b, 0.25)
	rows := min(peakRows, n)
	products := []func(){
		func() { be.Gemm(false, false, n, n, n, 1, a, b, 0, c) },
		func() {
			be.Gemm(false, true, rows, n, n, 1, a.Slice(0, rows*n), b, 0, c.Slice(0, rows*n))
		},
	}
	flops := []float64{2 * float64(n) * float64(n) * float64(n), 2 * float64(rows) * float64(n) * float64(n)}
	best := 0.0
	for i, product := range products {
		product() // warm-up: thread pools, kernel selection
		if err := be.Sync(); err != nil {
			return 0, err
		}
		rate, err := bestGemmRate(flops[i], func(reps int) error {
			for range reps {
				product()
			}
			return be.Sync()
		})
		if err != nil {
			return 0, err
		}
		best = max(best, rate)
	}
	return best, nil
}

// Settings of bestGemmRate.
const (
	peakMinBatch = 200 * time.Millisecond // the shortest batch that counts
	peakBatches  = 3                      // batches timed once the batch size is found
)

// bestGemmRate returns the GFLOP/s of the fastest of several batches of products of flops
// FLOPs each. run runs a batch of reps products and waits for them. The number of products
// per batch doubles until one batch takes at least peakMinBatch, so that a GPU's launch and
// wait latency does not count, and then peakBatches more batches of that size are timed. On a
// shared machine a single batch can fall on a busy moment, and the best batch is the figure
// that the machine can reach.
func bestGemmRate(flops float64, run func(reps int) error) (float64, error) {
	reps, best := 1, 0.0
	for {
		start := time.Now()
		if err := run(reps); err != nil {
			return 0, err
		}
		elapsed := time.Since(start)
		best = max(best, flops*float64(reps)/elapsed.Seconds()/1e9)
		if elapsed >= peakMinBatch || reps >= 1<<16 {
			break
		}
		reps *= 2
	}
	for range peakBatches {
		start := time.Now()
		if err := run(reps); err != nil {
			return 0, err
		}
		best = max(best, flops*float64(reps)/time.Since(start).Seconds()/1e9)
	}
	return best, nil
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
