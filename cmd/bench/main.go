// Command bench measures recur's training and inference throughput on synthetic tokens. The
// model is embedding → LSTM (or tanh RNN) stack → linear head → softmax cross-entropy, trained
// by Adam (lr 2e-3) with global-norm clipping at 5 and truncated BPTT. scripts/torch_bench.py
// trains the same model with PyTorch's nn.LSTM, so the two can be run side by side.
//
// For each shape and each backend it reports tokens/s, ms/step, peak memory and the share of
// the backend's own GEMM peak that the model's matrix products reach. See bench --help.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// config holds the parsed command line.
type config struct {
	shapes         []shape
	backends       []string
	compare        []string
	opts           runOptions
	cpurefSteps    int
	cpurefWarmup   int
	denormal       bool
	jsonPath       string
	torchScript    string
	torchBLAS      int
	gorgoniaBinary string
	compareTimeout time.Duration
	cpuProfile     string
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep, err := run(cfg, os.Stdout, os.Stderr)
	if perr := stopProfile(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

const usageHeader = `bench trains recur's language model on random tokens and reports its speed.

Usage: bench [flags]

Each shape is trained for --steps timed steps after --warmup untimed ones, then run forward
only (inference) for as many steps, on each backend of --backends in turn. Every backend run
uses a fresh backend. Columns: tokens/s (batch·seq per step), ms/step, GFLOP/s of the matrix
products that the backend runs (FLOPs below), % peak (that GFLOP/s ÷ the backend's GEMM peak:
the best batch of several of an n×n×n product and of a 64×n by n×n one, measured at the start
and again after every shape, keeping the highest so far), host MiB (peak RSS during the run: before each run bench returns the
earlier runs' memory to the OS with debug.FreeOSMemory and resets the peak, so the figure
includes the process's baseline, which the JSON gives as host_start_rss_bytes), device memory
taken from the driver, and ÷normal for the denormal case.

FLOPs per step, counted analytically (a multiply-add is 2 FLOPs; activations, softmax and Adam
are left out): forward = 2·(R·G·H·H + B·T·G·H·H) for layer 0, 2·B·T·G·H·2H for each layer
above, plus 2·B·T·H·V for the head, with G = 4 for lstm, 3 for gru and 1 for rnn, because the
embedding width equals H. R is the number of rows that layer 0 projects: B·T on cpuref, and V
on cpu and cuda where V ≤ B·T/2, because recur then projects the embedding table once and
gathers the rows. Training = 3 × forward (backward computes an input and a weight gradient
per forward product). PyTorch projects every token, so at equal tokens/s it runs more FLOPs.

Flags:

Flags:
`

func parseFlags(args []string, errOut io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	shapes := fs.String("shapes", "128x1x32x64,512x2x64x100", "comma-separated shapes `HxLxBxT` or HxLxBxTxV: hidden units (also the embedding width), layers, batch, sequence length and, optionally, vocabulary size")
	standard := fs.Bool("standard", false, "run the standard shapes instead of --shapes: 128x1x32x64, 256x2x32x64, 512x2x64x100, 1024x1x64x100, and with a cuda backend also 512x2x8x100 and 512x2x256x100")
	vocab := fs.Int("vocab", 65, "vocabulary size of shapes that give none")
	model := fs.String("model", "lstm", "recurrent cell: lstm, gru or rnn (tanh)")
	backendList := fs.String("backends", "cpu", "comma-separated backends: cpuref (float64 reference, slow), cpu, cuda or cuda:N")
	precision := fs.String("precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16 (cpu computes in fp32, cpuref in fp64)")
	cudaGraph := fs.Bool("cuda-graph", false, "cuda backends: capture each training step as a CUDA graph and replay it")
	wavefront := fs.Bool("wavefront", false, "cuda backends: run the recurrent layers as a wavefront, layer l on stream l")
	steps := fs.Int("steps", 20, "timed training steps, and timed inference passes, per shape")
	warmup := fs.Int("warmup", 3, "untimed steps before timing")
	cpurefSteps := fs.Int("cpuref-steps", 2, "timed steps on cpuref, whose plain float64 loops are about 100 times slower")
	cpurefWarmup := fs.Int("cpuref-warmup", 1, "untimed steps on cpuref")
	threads := fs.Int("threads", 0, "cpu backend threads; 0 uses one per CPU")
	gemm := fs.String("gemm", "auto", "cpu backend GEMM: auto (system OpenBLAS when found), blas or gonum")
	seed := fs.Uint64("seed", 1, "seed of the initial weights and the random tokens")
	peakSize := fs.Int("peak-size", 1024, "n of the n×n×n and 64×n×n GEMMs that measure each backend's peak GFLOP/s (cpuref uses at most 512 and the n×n×n product alone)")
	denormal := fs.Bool("denormal", false, "also run each shape with weights, and so activations, in the float32 denormal range (not on cpuref, which is float64)")
	compare := fs.String("compare", "", "comma-separated libraries to measure after recur on each shape: pytorch (scripts/torch_bench.py; cpu and cuda backends) and gorgonia (cpu backend only)")
	torchScript := fs.String("torch-script", "scripts/torch_bench.py", "the PyTorch benchmark script, run by $RECUR_PYTHON or /usr/bin/python3")
	torchBLAS := fs.Int("torch-blas-threads", 2, "OPENBLAS_NUM_THREADS for PyTorch on the CPU, which runs with one torch thread")
	gorgoniaBinary := fs.String("gorgonia-bin", "bin/bench-gorgonia", "the gorgonia benchmark program; build it with: cd cmd/bench/gorgonia && go build -o ../../../bin/bench-gorgonia .")
	compareTimeout := fs.Duration("compare-timeout", 10*time.Minute, "time limit of one run of a compared library")
	jsonPath := fs.String("json", "", "also write the results as JSON to `FILE` (keys below)")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole run to `FILE`; read it with go tool pprof -focus TrainStep, which leaves out the GEMM peak measurement and the compared libraries")
	fs.Usage = func() {
		fmt.Fprint(errOut, usageHeader)
		fs.PrintDefaults()
		fmt.Fprintln(errOut)
		fmt.Fprintln(errOut, jsonKeysHelp)
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q: every setting is a flag, see --help", fs.Arg(0))
	}

	cfg := config{
		cpurefSteps: *cpurefSteps, cpurefWarmup: *cpurefWarmup, denormal: *denormal,
		jsonPath: *jsonPath, torchScript: *torchScript, torchBLAS: *torchBLAS,
		gorgoniaBinary: *gorgoniaBinary, compareTimeout: *compareTimeout, cpuProfile: *cpuProfile,
		opts: runOptions{Model: *model, Steps: *steps, Warmup: *warmup, Seed: *seed,
			Threads: *threads, GEMM: *gemm, Precision: *precision, PeakSize: *peakSize,
			CUDAGraph: *cudaGraph, Wavefront: *wavefront},
	}
	var err error
	if cfg.backends, err = parseBackends(*backendList); err != nil {
		return config{}, err
	}
	switch {
	case *model != "lstm" && *model != "gru" && *model != "rnn":
		return config{}, fmt.Errorf("invalid --model %q: use lstm, gru or rnn", *model)
	case *precision != "fp32" && *precision != "tf32" && *precision != "bf16":
		return config{}, fmt.Errorf("invalid --precision %q: use fp32, tf32 or bf16", *precision)
	case *vocab < 2 || *vocab > maxShapeDim:
		return config{}, fmt.Errorf("invalid --vocab %d: use 2 to %d", *vocab, maxShapeDim)
	case *steps < 1 || *cpurefSteps < 1:
		return config{}, fmt.Errorf("invalid --steps %d or --cpuref-steps %d: use 1 or more", *steps, *cpurefSteps)
	case *warmup < 0 || *cpurefWarmup < 0:
		return config{}, fmt.Errorf("invalid --warmup %d or --cpuref-warmup %d: use 0 or more", *warmup, *cpurefWarmup)
	case *threads < 0 || *torchBLAS < 1:
		return config{}, fmt.Errorf("invalid --threads %d or --torch-blas-threads %d: use 0 or more threads (1 or more for PyTorch's OpenBLAS)", *threads, *torchBLAS)
	case *peakSize < 1 || *peakSize > 16384:
		return config{}, fmt.Errorf("invalid --peak-size %d: use 1 to 16384", *peakSize)
	case *compareTimeout <= 0:
		return config{}, fmt.Errorf("invalid --compare-timeout %s: use a positive duration such as 10m", *compareTimeout)
	}
	if *compare != "" {
		for _, lib := range strings.Split(*compare, ",") {
			lib = strings.TrimSpace(lib)
			if lib != "pytorch" && lib != "gorgonia" {
				return config{}, fmt.Errorf("invalid --compare %q: use pytorch, gorgonia or both, comma-separated", lib)
			}
			cfg.compare = append(cfg.compare, lib)
		}
	}
	if *standard {
		cfg.shapes = standardShapes(*vocab, hasCUDA(cfg.backends))
	} else if cfg.shapes, err = parseShapes(*shapes, *vocab); err != nil {
		return config{}, err
	}
	return cfg, nil
}

func hasCUDA(backends []string) bool {
	for _, b := range backends {
		if strings.HasPrefix(b, "cuda") {
			return true
		}
	}
	return false
}

// startCPUProfile starts Go's CPU profiler writing to path, and returns the function that
// stops it and closes the file. An empty path profiles nothing.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failed to create the --cpuprofile file: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to start the CPU profiler for --cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("failed to write the --cpuprofile file: %w", err)
		}
		return nil
	}, nil
}

func writeJSON(path string, rep report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing --json: %w", err)
	}
	return nil
}

// run measures every shape on every backend and prints the table to out. Notes on skipped
// comparisons go to errOut.
func run(cfg config, out, errOut io.Writer) (report, error) {
	rep := report{
		Schema:  reportSchema,
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: readMachineInfo(),
		Versions: versions{Go: runtime.Version(), Modules: moduleVersions(),
			Backends: map[string]string{}, Compare: map[string]libraryVersion{}},
		Settings: settings{Model: cfg.opts.Model, Precision: cfg.opts.Precision, Steps: cfg.opts.Steps,
			Warmup: cfg.opts.Warmup, CPURefSteps: cfg.cpurefSteps, CPURefWarmup: cfg.cpurefWarmup,
			Threads: cfg.opts.Threads, GEMM: cfg.opts.GEMM, Seed: cfg.opts.Seed, Denormal: cfg.denormal,
			Compare: strings.Join(cfg.compare, ",")},
		GemmPeaks: []gemmPeak{},
		Results:   []result{},
	}

	peaks := map[string]float64{}
	for _, b := range cfg.backends {
		if b == "cpuref" {
			n := min(cfg.opts.PeakSize, cpurefPeakMax)
			p := gemmPeak{Backend: b, Precision: "fp64", N: n, GFLOPS: measureCPURefPeak(n)}
			rep.GemmPeaks = append(rep.GemmPeaks, p)
			rep.Versions.Backends[b] = "cpuref (float64 loops, one thread)"
			peaks[b] = p.GFLOPS
			continue
		}
		name, p, gpu, err := describeBackend(b, cfg.opts)
		if err != nil {
			return rep, fmt.Errorf("backend %s: %w", b, err)
		}
		rep.GemmPeaks = append(rep.GemmPeaks, p)
		rep.Versions.Backends[b] = name
		peaks[b] = p.GFLOPS
		if gpu != nil && rep.GPU == nil {
			rep.GPU = gpu
		}
	}

	runners := prepareComparisons(cfg, errOut)
	var libs []string
	for _, lib := range cfg.compare {
		if r, ok := runners[lib]; ok {
			libs = append(libs, lib)
			rep.Versions.Compare[lib] = r.version
		}
	}
	fmt.Fprintf(out, "%s, %d cores (GOMAXPROCS %d), %s, %s\n", rep.Machine.CPUModel, rep.Machine.Cores,
		rep.Machine.GOMAXPROCS, rep.Versions.Go, rep.Date)
	for _, p := range rep.GemmPeaks {
		fmt.Fprintf(out, "%s: %s; GEMM peak %.1f GFLOP/s at n=%d\n", p.Backend, rep.Versions.Backends[p.Backend], p.GFLOPS, p.N)
	}
	tab := newTable(out, libs)
	tab.printHeader()

	for _, sh := range cfg.shapes {
		for _, b := range cfg.backends {
			cases := []bool{false}
			if cfg.denormal && b != "cpuref" {
				cases = append(cases, true)
			}
			var normal result
			for _, denormal := range cases {
				r, err := runOne(cfg, b, sh, denormal)
				if err != nil {
					return rep, fmt.Errorf("%s on %s: %w", b, sh, err)
				}
				// The peak is measured again after every run and the highest kept, so that
				// one slow measurement on a busy machine does not inflate the shares.
				if p, err := measurePeak(b, cfg.opts); err == nil && p > peaks[b] {
					peaks[b] = p
				}
				setPeakShares(&r, peaks[b])
				if denormal {
					r.NormalRatio = r.Train.TokensPerS / normal.Train.TokensPerS
				} else {
					normal = r
					// Each library runs right after recur on the same shape, so that both
					// see the same machine load.
					for _, lib := range libs {
						if c, ok := runners[lib].compareOn(b, sh, cfg.opts, r); ok {
							r.Comparisons = append(r.Comparisons, c)
						}
					}
				}
				rep.Results = append(rep.Results, r)
				tab.printResult(r, libs)
			}
		}
	}
	// The JSON figures use the highest peak of the whole run.
	for i := range rep.GemmPeaks {
		rep.GemmPeaks[i].GFLOPS = peaks[rep.GemmPeaks[i].Backend]
	}
	for i := range rep.Results {
		setPeakShares(&rep.Results[i], peaks[rep.Results[i].Backend])
	}
	printErrors(errOut, rep.Results)
	return rep, nil
}

// setPeakShares sets the peak shares of r from its GFLOP/s and the backend's GEMM peak.
func setPeakShares(r *result, peak float64) {
	if peak > 0 {
		r.Train.PeakShare = r.Train.GFLOPS / peak
		r.Infer.PeakShare = r.Infer.GFLOPS / peak
	}
}

// measurePeak measures the GEMM peak of backend b once more, on a fresh backend.
func measurePeak(b string, o runOptions) (float64, error) {
	if b == "cpuref" {
		return measureCPURefPeak(min(o.PeakSize, cpurefPeakMax)), nil
	}
	be, err := openBackend(b, o)
	if err != nil {
		return 0, err
	}
	defer be.Close()
	return measureGemmPeak(be, o.PeakSize)
}

// runOne runs one backend on one shape.
func runOne(cfg config, backend string, sh shape, denormal bool) (result, error) {
	r := result{Backend: backend, Model: cfg.opts.Model, Precision: backendPrecision(backend, cfg.opts),
		Case: "normal", Shape: sh}
	if denormal {
		r.Case = "denormal"
	}
	if backend == "cpuref" {
		o := cfg.opts
		o.Steps, o.Warmup = cfg.cpurefSteps, cfg.cpurefWarmup
		r.Train, r.Infer, r.Memory = runCPURef(sh, o)
		return r, nil
	}
	var err error
	r.Train, r.Infer, r.Memory, err = runRecur(backend, sh, cfg.opts, denormal)
	return r, err
}
