package tasks

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recur-ml/recur/dataset"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// cells lists every recurrent cell a task model can use.
var cells = []string{lstm.CellLSTM, lstm.CellGRU, lstm.CellRNN}

// newCPU opens a CPU backend with gonum's pure-Go GEMM, so that results do not depend on
// which BLAS library the machine has. One thread suits the tiny matrices of these tests.
func newCPU(t testing.TB) engine.Backend {
	t.Helper()
	be, err := engine.NewCPU(engine.CPUOptions{GEMM: "gonum", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func newModel(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := NewModel(cfg, newCPU(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// downloadParams returns a host copy of the model's parameters.
func downloadParams(m *Model) []float32 {
	p := make([]float32, m.Params.Len())
	m.be.Download(p, m.Params)
	return p
}

// downloadGrads returns a host copy of the model's gradients.
func downloadGrads(m *Model) []float32 {
	g := make([]float32, m.Grads.Len())
	m.be.Download(g, m.Grads)
	return g
}

// setUniformParams sets every parameter to a draw from U(−bound, bound).
func setUniformParams(m *Model, seed uint64, bound float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := make([]float32, m.Params.Len())
	for i := range p {
		p[i] = float32((2*rng.Float64() - 1) * bound)
	}
	m.be.Upload(m.Params, p)
}

// Tiny vocabularies and sizes shared by the tests. Input vocabularies start with Pad and Unk, and the
// decoders' outputs with Pad, Unk, Start and End, as BuildVocabs lays them out.
var (
	tinyVocab    = []string{Pad, Unk, "a", "b", "c", "d"}
	tinyClasses  = []string{"x", "y", "z"}
	tinyDecoder  = []string{Pad, Unk, Start, End, "p", "q", "r"}
	tinyFeatures = 3
	tinyRows     = 4 // rows of a tiny image
	tinyWidth    = 2 // values per row of a tiny image
)

// tinyConfig returns the configuration of a 2-layer model of the given task and cell with
// H = 4 and E = 3. For a classifier, variant is "last", "mean", "images" (pixel rows, last
// step) or "images-mean". For a caption model, "init" sets InitState.
func tinyConfig(task, cell, variant string) Config {
	cfg := Config{Task: task, Cell: cell, Layers: 2, Hidden: 4, Embed: 3, Tokens: TokensChars}
	switch task {
	case TaskClassify:
		cfg.Outputs = tinyClasses
		cfg.Pool = PoolLast
		if strings.HasSuffix(variant, "mean") {
			cfg.Pool = PoolMean
		}
		if strings.HasPrefix(variant, "images") {
			cfg.InputWidth, cfg.Rows = tinyWidth, tinyRows
		} else {
			cfg.Vocab = tinyVocab
		}
	case TaskTag:
		cfg.Tokens = TokensWords
		cfg.Vocab = tinyVocab
		cfg.Outputs = tinyClasses
	case TaskSeq2Seq:
		cfg.OutputTokens = TokensChars
		cfg.Vocab = tinyVocab
		cfg.Outputs = tinyDecoder
	case TaskCaption:
		cfg.OutputTokens = TokensWords
		cfg.Outputs = tinyDecoder
		cfg.Features = tinyFeatures
		cfg.InitState = variant == "init"
	}
	return cfg
}

// tinyData returns three examples of cfg's task with inputs of 2, 5 and 3 steps and decoder
// targets of 3, 1 and 2 tokens, so that a batch of all three has left padding, right padding
// and unscored decoder steps. Images and features are drawn from U(−1, 1).
func tinyData(cfg Config, seed uint64) *Data {
	rng := rand.New(rand.NewPCG(seed, 2))
	inputs := [][]int32{{2, 3}, {4, 5, 2, 3, 4}, {5, 4, 3}}
	outs := [][]int32{{4, 5, 6}, {6}, {5, 4}}
	d := &Data{}
	for i := range inputs {
		e := Example{Image: i}
		switch cfg.Task {
		case TaskClassify:
			e.Label = int32(i % len(cfg.Outputs))
			if !cfg.images() {
				e.In = inputs[i]
			}
		case TaskTag:
			e.In = inputs[i]
			for _, id := range inputs[i] {
				e.Out = append(e.Out, id%int32(len(cfg.Outputs)))
			}
		case TaskSeq2Seq:
			e.In, e.Out = inputs[i], outs[i]
		case TaskCaption:
			e.Out = outs[i]
		}
		d.Examples = append(d.Examples, e)
	}
	d.N = len(inputs)
	uniform := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(2*rng.Float64() - 1)
		}
		return v
	}
	if cfg.images() {
		d.Pixels = uniform(d.N * cfg.Rows * cfg.InputWidth)
	}
	if cfg.Task == TaskCaption {
		d.Features = uniform(d.N * cfg.Features)
	}
	return d
}

// allIndices returns 0..n−1.
func allIndices(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// writeFile writes lines, each ended by a newline, to name in dir and returns its path.
func writeFile(t testing.TB, dir, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeNPY writes a float32 array to name in dir and returns its path.
func writeNPY(t testing.TB, dir, name string, data []float32, shape ...int) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := dataset.WriteNPY(path, data, shape); err != nil {
		t.Fatal(err)
	}
	return path
}

// maxAbsDiff returns the largest |a[i] − b[i]|, or +Inf when the lengths differ.
func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}
