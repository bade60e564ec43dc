package main

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// tinyCheckpoint trains a 1-layer model of the given cell for a few steps on text and saves
// it into a temporary directory.
func tinyCheckpoint(t *testing.T, cell, text string) string {
	t.Helper()
	vocab := corpus.BuildVocab([]rune(text))
	ids, err := vocab.Encode([]rune(text))
	if err != nil {
		t.Fatal(err)
	}

	cfg := lstm.Config{Model: cell, Layers: 1, Hidden: 8, Embed: 4, Vocab: vocabStrings(vocab)}
	be, err := engine.NewCPU(engine.CPUOptions{GEMM: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	m, err := lstm.NewModel(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	be.Upload(m.Params, lstm.InitParams(cfg, rand.New(rand.NewPCG(1, 2)), math.NaN()))

	tc := lstm.TrainConfig{Seq: 8, Batch: 2, Steps: 5, LR: 1e-2, Optim: lstm.OptimAdam, Clip: 5, Seed: 1}
	tr, err := lstm.NewTrainer(m, tc, ids)
	if err != nil {
		t.Fatal(err)
	}
	for range tc.Steps {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}

	dir := filepath.Join(t.TempDir(), "ck")
	if err := lstm.SaveCheckpoint(dir, m, &tc, tr); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGradFlowTableAndImage(t *testing.T) {
	text := strings.Repeat("the cat sat on the mat\n", 8)
	ck := tinyCheckpoint(t, lstm.CellLSTM, text)
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", text)
	png := filepath.Join(dir, "curve.png")

	var stdout, stderr bytes.Buffer
	args := []string{"--checkpoint", ck, "--text", data, "--max-distance", "60", "--samples", "3", "--out", png, "--device", "cpu"}
	if err := runGradFlow(args, &stdout, &stderr); err != nil {
		t.Fatalf("runGradFlow: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"‖∂L/∂h‖", "‖∂L/∂c‖", "      50  ", "norm ratio", "layer 0:", " f ", "wrote " + png} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "     100  ") {
		t.Errorf("table has distance 100 beyond --max-distance 60:\n%s", out)
	}
	raw, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG file (starts with %q)", png, raw[:min(len(raw), 8)])
	}
}

func TestGradFlowJSON(t *testing.T) {
	text := strings.Repeat("abcabd\n", 12)
	for _, cell := range []string{lstm.CellLSTM, lstm.CellRNN} {
		t.Run(cell, func(t *testing.T) {
			ck := tinyCheckpoint(t, cell, text)
			dir := t.TempDir()
			data := writeText(t, dir, "in.txt", text)
			png := filepath.Join(dir, "curve.png")

			var stdout, stderr bytes.Buffer
			args := []string{"--checkpoint", ck, "--text", data, "--max-distance", "50", "--samples", "2",
				"--out", png, "--json", "--device", "cpu"}
			if err := runGradFlow(args, &stdout, &stderr); err != nil {
				t.Fatalf("runGradFlow: %v\nstderr:\n%s", err, stderr.String())
			}
			var doc map[string]any
			if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout.String())
			}
			keys := []string{"cell", "max_distance", "positions", "distance", "grad_h", "ratio_50_1", "singular_values"}
			if cell == lstm.CellLSTM {
				keys = append(keys, "grad_c")
			}
			for _, k := range keys {
				if _, ok := doc[k]; !ok {
					t.Errorf("JSON lacks key %q: %s", k, stdout.String())
				}
			}
			if _, ok := doc["grad_c"]; cell == lstm.CellRNN && ok {
				t.Errorf("RNN JSON has grad_c: %s", stdout.String())
			}
			if h, _ := doc["grad_h"].([]any); len(h) != 51 {
				t.Errorf("grad_h has %d entries, want 51", len(h))
			}
			spectra, _ := doc["singular_values"].([]any)
			if len(spectra) != 1 {
				t.Fatalf("singular_values has %d entries, want 1", len(spectra))
			}
			layer, _ := spectra[0].(map[string]any)
			if _, ok := layer["w_hh"].(float64); !ok {
				t.Errorf("singular_values[0] lacks a numeric w_hh: %v", layer)
			}
			if gates, _ := layer["gates"].(map[string]any); cell == lstm.CellLSTM && len(gates) != 4 {
				t.Errorf("LSTM gates %v, want i, f, g and o", gates)
			}
			if !strings.Contains(stderr.String(), "wrote "+png) {
				t.Errorf("stderr lacks the image note: %q", stderr.String())
			}
			if _, err := os.Stat(png); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestGradFlowBadInput(t *testing.T) {
	text := strings.Repeat("abcabd\n", 4)
	ck := tinyCheckpoint(t, lstm.CellRNN, text)
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", text)
	foreign := writeText(t, dir, "foreign.txt", strings.Repeat("xyz", 20))
	noImage := []string{"--out", "", "--device", "cpu"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing checkpoint", []string{"--text", data}, "missing --checkpoint"},
		{"missing text", []string{"--checkpoint", ck}, "missing --text"},
		{"zero distance", []string{"--checkpoint", ck, "--text", data, "--max-distance", "0"}, "invalid --max-distance"},
		{"zero samples", []string{"--checkpoint", ck, "--text", data, "--samples", "0"}, "invalid --samples"},
		{"bad image", []string{"--checkpoint", ck, "--text", data, "--out", "curve.txt"}, "invalid --out"},
		{"short text", []string{"--checkpoint", ck, "--text", data, "--max-distance", "100"}, "text too short"},
		{"foreign characters", []string{"--checkpoint", ck, "--text", foreign, "--max-distance", "5"}, "vocabulary"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		// The defaults come first, so a case's own --out overrides them.
		args := append(append([]string{}, noImage...), tc.args...)
		err := runGradFlow(args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestGradFlowCompare(t *testing.T) {
	text := strings.Repeat("abcabd\n", 12)
	dir := t.TempDir()
	lstmCk := tinyCheckpoint(t, lstm.CellLSTM, text)
	rnnCk := tinyCheckpoint(t, lstm.CellRNN, text)
	data := writeText(t, dir, "in.txt", text)
	png := filepath.Join(dir, "both.png")

	var stdout, stderr bytes.Buffer
	args := []string{"--checkpoint", lstmCk, "--compare", rnnCk, "--text", data, "--max-distance", "20",
		"--samples", "2", "--out", png, "--json", "--device", "cpu"}
	if err := runGradFlow(args, &stdout, &stderr); err != nil {
		t.Fatalf("runGradFlow: %v\nstderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("--compare --json printed %d lines, want one JSON document per checkpoint:\n%s", len(lines), stdout.String())
	}
	for k, want := range []struct{ checkpoint, cell string }{{lstmCk, lstm.CellLSTM}, {rnnCk, lstm.CellRNN}} {
		var doc struct {
			Checkpoint string `json:"checkpoint"`
			Cell       string `json:"cell"`
		}
		if err := json.Unmarshal([]byte(lines[k]), &doc); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", k+1, err, lines[k])
		}
		if doc.Checkpoint != want.checkpoint {
			t.Errorf("line %d has checkpoint %q, want %q", k+1, doc.Checkpoint, want.checkpoint)
		}
		if doc.Cell != want.cell {
			t.Errorf("line %d has cell %q, want %q", k+1, doc.Cell, want.cell)
		}
	}
	if _, err := os.Stat(png); err != nil {
		t.Errorf("--compare wrote no image: %v", err)
	}

	stdout.Reset()
	args = []string{"--checkpoint", lstmCk, "--compare", rnnCk, "--text", data, "--max-distance", "20",
		"--samples", "2", "--out", "", "--device", "cpu"}
	if err := runGradFlow(args, &stdout, &stderr); err != nil {
		t.Fatalf("runGradFlow: %v", err)
	}
	table := stdout.String()
	// Both directories are named ck, so the legend names them by their whole paths.
	for _, want := range []string{
		"checkpoint " + lstmCk + " (legend: " + lstmCk + " LSTM):",
		"checkpoint " + rnnCk + " (legend: " + rnnCk + " RNN):",
		"top lstm layer", "top rnn layer",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the --compare table lacks %q:\n%s", want, table)
		}
	}
}

func TestGradFlowUnderflowMarked(t *testing.T) {
	g := &lstm.GradFlow{Cell: lstm.CellRNN, MaxDistance: 5, Positions: []int{5, 6},
		H: []float64{1, 1e-3, 1e-30, 0, 0, 0}}
	cut, reason := cutDistance(g.H)
	if cut != 3 {
		t.Errorf("cutDistance = %d, want 3, the first zero", cut)
	}
	if reason != "underflowed to 0" {
		t.Errorf("cut reason %q, want underflowed to 0", reason)
	}
	if cut, reason := cutDistance([]float64{1, math.Inf(1)}); cut != 1 || reason != "overflowed" {
		t.Errorf("cutDistance of an overflow = %d, %q; want 1, overflowed", cut, reason)
	}

	var table bytes.Buffer
	printGradFlowTable(&table, g)
	for _, want := range []string{"       5   0 (underflow)", "‖∂L/∂h‖ underflowed to 0 from distance 3 on, so its curve stops at distance 2"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}

	// SVG keeps the legend as text, so the mark's entry can be read back.
	svg := filepath.Join(t.TempDir(), "curve.svg")
	if err := plotGradFlow([]gradFlowCurve{{checkpoint: "ck", label: "ck", g: g}}, svg, "svg"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "underflowed to 0 from d=3") {
		t.Error("the plot's legend does not mark the underflow at d=3")
	}
}

func TestDecadeTicksThinLabels(t *testing.T) {
	const maxLabels = 8
	labels := func(ticks []plot.Tick) []string {
		var out []string
		for _, tick := range ticks {
			if tick.Label != "" {
				out = append(out, tick.Label)
			}
		}
		return out
	}

	wide := decadeTicks{maxLabels: maxLabels}.Ticks(3e-36, 0.5)
	got := labels(wide)
	if len(got) > maxLabels {
		t.Errorf("36 decades got %d labels, want at most %d: %v", len(got), maxLabels, got)
	}
	if len(got) < maxLabels/2 {
		t.Errorf("36 decades got only %d labels: %v", len(got), got)
	}
	if got[len(got)-1] != "1" {
		t.Errorf("the last label is %q, want 1 (10^0)", got[len(got)-1])
	}
	if len(wide) != 37 {
		t.Errorf("36 decades got %d ticks, want 37, one per power of ten", len(wide))
	}

	// 8 decades have 9 powers of ten, one more than maxLabels.
	if got := labels(decadeTicks{maxLabels: maxLabels}.Ticks(2e-8, 0.5)); len(got) > maxLabels {
		t.Errorf("8 decades got %d labels, want at most %d: %v", len(got), maxLabels, got)
	}

	narrow := decadeTicks{maxLabels: maxLabels}.Ticks(2e-3, 0.5)
	if got := labels(narrow); strings.Join(got, " ") != "0.001 0.01 0.1 1" {
		t.Errorf("3 decades got labels %v, want every power of ten", got)
	}
	// Powers of ten and their 2…9 multiples: 3 decades of 9 ticks, and 10^0.
	if len(narrow) != 3*9+1 {
		t.Errorf("3 decades got %d ticks, want %d", len(narrow), 3*9+1)
	}
}

func TestLabelCurvesNamesCheckpoints(t *testing.T) {
	curves := []gradFlowCurve{
		{checkpoint: "out/viz-docs/lstm", g: &lstm.GradFlow{Cell: lstm.CellLSTM}},
		{checkpoint: "runs/small/", g: &lstm.GradFlow{Cell: lstm.CellRNN}},
	}
	labelCurves(curves)
	// The cell is added only where the directory's name lacks it.
	if curves[0].label != "lstm" {
		t.Errorf("label of out/viz-docs/lstm is %q, want lstm", curves[0].label)
	}
	if curves[1].label != "small RNN" {
		t.Errorf("label of runs/small/ is %q, want small RNN", curves[1].label)
	}
}
