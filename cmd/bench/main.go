// Command bench measures recur's training throughput on synthetic tokens: embedding → LSTM
// stack → linear head → softmax cross-entropy, Adam and global-norm clipping at 5, the same
// model and update that PyTorch's nn.LSTM anchor trains, so the two can be run side by side.
//
//	bench [--shapes 128x1x32x64,512x2x64x100] [--steps N] [--warmup N] [--device cpu|cuda[:N]]
//	      [--precision fp32|tf32|bf16] [--gemm auto|blas|gonum] [--threads N]
//
// A shape is HxLxBxT: hidden units, layers, batch and sequence length; the embedding width
// equals H and the vocabulary has 65 symbols, as in the anchor.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

type shape struct{ H, L, B, T int }

func parseShapes(s string) ([]shape, error) {
	var out []shape
	for _, part := range strings.Split(s, ",") {
		var sh shape
		if _, err := fmt.Sscanf(part, "%dx%dx%dx%d", &sh.H, &sh.L, &sh.B, &sh.T); err != nil || sh.H < 1 || sh.L < 1 || sh.B < 1 || sh.T < 1 {
			return nil, fmt.Errorf("invalid shape %q: write HxLxBxT with positive integers, such as 512x2x64x100", part)
		}
		out = append(out, sh)
	}
	return out, nil
}

func main() {
	shapes := flag.String("shapes", "128x1x32x64,512x2x64x100", "comma-separated HxLxBxT shapes")
	steps := flag.Int("steps", 20, "timed training steps per shape")
	warmup := flag.Int("warmup", 3, "untimed steps before timing")
	vocab := flag.Int("vocab", 65, "vocabulary size")
	device := flag.String("device", "cpu", "backend: cpu, cuda, cuda:N or auto")
	precision := flag.String("precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	gemm := flag.String("gemm", "auto", "CPU GEMM path: auto (system BLAS when found), blas or gonum")
	threads := flag.Int("threads", 0, "CPU threads; 0 uses every core")
	flag.Parse()

	list, err := parseShapes(*shapes)
	if err == nil && (*steps < 1 || *warmup < 0 || *vocab < 2) {
		err = fmt.Errorf("invalid --steps %d, --warmup %d or --vocab %d: use steps ≥ 1, warmup ≥ 0, vocab ≥ 2", *steps, *warmup, *vocab)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	var be engine.Backend
	note := "cpu"
	if *device == "cpu" {
		be, err = engine.NewCPU(engine.CPUOptions{Threads: *threads, GEMM: *gemm})
	} else {
		be, note, err = engine.Open(*device, *precision)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer be.Close()

	fmt.Printf("backend %s, GOMAXPROCS %d, %s\n", be.Name(), runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("device %s\n", note)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "H\tL\tB\tT\ttrain tokens/s\tms/step\tinfer tokens/s\t")
	for _, sh := range list {
		train, infer, err := measure(be, sh, *vocab, *steps, *warmup)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		tokens := float64(sh.B * sh.T)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.0f\t%.1f\t%.0f\t\n", sh.H, sh.L, sh.B, sh.T,
			tokens/train.Seconds(), train.Seconds()*1e3, tokens/infer.Seconds())
		tw.Flush()
	}
}

// measure returns the mean time of one training step and of one forward-only pass.
func measure(be engine.Backend, sh shape, V, steps, warmup int) (train, infer time.Duration, err error) {
	cfg := lstm.Config{Model: lstm.CellLSTM, Layers: sh.L, Hidden: sh.H, Embed: sh.H}
	for i := 0; i < V; i++ {
		cfg.Vocab = append(cfg.Vocab, string(rune(0x4E00+i)))
	}
	m, err := lstm.NewModel(cfg, be)
	if err != nil {
		return 0, 0, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	be.Upload(m.Params, lstm.InitParams(cfg, rng, math.NaN()))

	// Random tokens, long enough for every step to read a fresh chunk.
	ids := make([]int32, sh.B*(sh.T*(steps+warmup+1)+1))
	for i := range ids {
		ids[i] = int32(rng.IntN(V))
	}
	tc := lstm.TrainConfig{Seq: sh.T, Batch: sh.B, Steps: steps + warmup, LR: 2e-3, Optim: lstm.OptimAdam, Clip: 5, Seed: 1}
	tr, err := lstm.NewTrainer(m, tc, ids)
	if err != nil {
		return 0, 0, err
	}
	for i := 0; i < warmup; i++ {
		if _, err := tr.TrainStep(); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	for i := 0; i < steps; i++ {
		if _, err := tr.TrainStep(); err != nil {
			return 0, 0, err
		}
	}
	if err := be.Sync(); err != nil {
		return 0, 0, err
	}
	train = time.Since(start) / time.Duration(steps)

	ws := m.NewWorkspace(sh.B, sh.T)
	in := ids[:sh.B*sh.T]
	m.Forward(ws, in, nil, lstm.Dropout{})
	start = time.Now()
	for i := 0; i < steps; i++ {
		m.Forward(ws, in, nil, lstm.Dropout{})
	}
	if err := be.Sync(); err != nil {
		return 0, 0, err
	}
	infer = time.Since(start) / time.Duration(steps)
	return train, infer, nil
}
