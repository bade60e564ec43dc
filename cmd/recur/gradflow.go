package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/lstm"
)

// gradFlowTableDistances are the distances that the text table prints when D reaches them.
var gradFlowTableDistances = []int{0, 1, 2, 5, 10, 20, 50, 100}

// runGradFlow measures how the gradient of one prediction's loss shrinks or grows as it flows
// back through the top layer's steps, and the largest singular values of W_hh.
func runGradFlow(args []string, stdout, stderr io.Writer) error {
	var (
		dir, textPath, out, device, precision string
		maxDistance, samples                  int
		asJSON                                bool
	)
	fs := flag.NewFlagSet("recur viz --grad-flow", flag.ContinueOnError)
	fs.StringVar(&dir, "checkpoint", "", "checkpoint directory written by recur train")
	fs.StringVar(&textPath, "text", "", "UTF-8 text file, or directory tree, to read windows from; it must use only the checkpoint's characters")
	filter := fs.String("filter", "", "with a directory --text, read only the files whose names match this glob, such as '*.go'")
	fs.IntVar(&maxDistance, "max-distance", 100, "largest distance in steps to measure the gradient at")
	fs.IntVar(&samples, "samples", 20, "end positions, spread evenly over the text, to average over")
	fs.StringVar(&out, "out", "gradflow.png", "image of the curve to write (.png, .svg, .pdf, .jpg, .eps or .tiff); empty writes none")
	fs.BoolVar(&asJSON, "json", false, "print the curve and the singular values as JSON instead of a table")
	fs.StringVar(&device, "device", "auto", "backend: auto (CUDA GPU 0 when one is found, else the CPU), cpu, cuda or cuda:N")
	fs.StringVar(&precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if textPath == "" {
		return fmt.Errorf("missing --text: name a text file to measure the gradient over")
	}
	if maxDistance < 1 {
		return fmt.Errorf("invalid --max-distance %d: use 1 or more steps", maxDistance)
	}
	if samples < 1 {
		return fmt.Errorf("invalid --samples %d: use 1 or more end positions", samples)
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
	if out != "" && !imageFormats[format] {
		return fmt.Errorf("invalid --out %s: name a .png, .svg, .pdf, .jpg, .eps or .tiff file, or pass --out '' for none", out)
	}

	m, err := loadModel(dir, device, precision)
	if err != nil {
		return err
	}
	defer m.Backend.Close()
	text, err := corpus.Load(textPath, *filter)
	if err != nil {
		return err
	}
	ids, err := vocabOf(m.Cfg).Encode(text.Text)
	if err != nil {
		return fmt.Errorf("%s: %w; the text must use only characters in the checkpoint's vocabulary", textPath, err)
	}
	g, err := lstm.GradientFlow(m, ids, maxDistance, samples)
	if err != nil {
		return fmt.Errorf("%s: %w", textPath, err)
	}

	// In JSON mode stdout carries only the JSON document, so the image note goes to stderr.
	notes := stdout
	if asJSON {
		if err := printGradFlowJSON(stdout, g); err != nil {
			return err
		}
		notes = stderr
	} else {
		printGradFlowTable(stdout, g)
	}
	if out == "" {
		return nil
	}
	if err := plotGradFlow(g, out, format); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(notes, "wrote %s\n", out)
	return nil
}

func printGradFlowTable(w io.Writer, g *lstm.GradFlow) {
	fmt.Fprintf(w, "gradient flow of one prediction's loss through the top %s layer, geometric mean over %d end positions\n",
		g.Cell, len(g.Positions))
	if g.C != nil {
		fmt.Fprintf(w, "%8s  %s  %s\n", "distance", padLeft("‖∂L/∂h‖", 14), padLeft("‖∂L/∂c‖", 14))
	} else {
		fmt.Fprintf(w, "%8s  %s\n", "distance", padLeft("‖∂L/∂h‖", 14))
	}
	for _, d := range gradFlowTableDistances {
		if d > g.MaxDistance {
			break
		}
		if g.C != nil {
			fmt.Fprintf(w, "%8d  %14.6g  %14.6g\n", d, g.H[d], g.C[d])
		} else {
			fmt.Fprintf(w, "%8d  %14.6g\n", d, g.H[d])
		}
	}
	if g.MaxDistance >= 50 {
		fmt.Fprintf(w, "norm ratio ‖∂L/∂h‖ at d=50 / d=1: %.6g\n", g.Ratio(50, 1))
	}
	fmt.Fprintln(w, "largest singular value of W_hh:")
	for _, s := range g.Spectra {
		fmt.Fprintf(w, "  layer %d: %.6g", s.Layer, s.WHH)
		for k, v := range s.Gates {
			fmt.Fprintf(w, "  %s %.6g", lstm.GateNames[k], v)
		}
		fmt.Fprintln(w)
	}
}

// padLeft right-aligns s in width characters. fmt's %14s counts bytes, and ‖ and ∂ take
// three bytes each in UTF-8.
func padLeft(s string, width int) string {
	return strings.Repeat(" ", max(0, width-utf8.RuneCountInString(s))) + s
}

// gradFlowJSON is the document that --json prints. Non-finite norms (an exploding gradient
// overflowing float32) are written as null, because JSON has no NaN or Inf.
type gradFlowJSON struct {
	Cell        string         `json:"cell"`
	MaxDistance int            `json:"max_distance"`
	Positions   []int          `json:"positions"`
	Distance    []int          `json:"distance"`
	GradH       []*float64     `json:"grad_h"`
	GradC       []*float64     `json:"grad_c,omitempty"`
	Ratio50To1  *float64       `json:"ratio_50_1"`
	Spectra     []spectrumJSON `json:"singular_values"`
}

type spectrumJSON struct {
	Layer int                 `json:"layer"`
	WHH   *float64            `json:"w_hh"`
	Gates map[string]*float64 `json:"gates,omitempty"`
}

func finiteOrNull(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func printGradFlowJSON(w io.Writer, g *lstm.GradFlow) error {
	doc := gradFlowJSON{
		Cell:        g.Cell,
		MaxDistance: g.MaxDistance,
		Positions:   g.Positions,
		Ratio50To1:  finiteOrNull(g.Ratio(50, 1)),
	}
	for d, v := range g.H {
		doc.Distance = append(doc.Distance, d)
		doc.GradH = append(doc.GradH, finiteOrNull(v))
	}
	for _, v := range g.C {
		doc.GradC = append(doc.GradC, finiteOrNull(v))
	}
	for _, s := range g.Spectra {
		sj := spectrumJSON{Layer: s.Layer, WHH: finiteOrNull(s.WHH)}
		if s.Gates != nil {
			sj.Gates = map[string]*float64{}
			for k, v := range s.Gates {
				sj.Gates[lstm.GateNames[k]] = finiteOrNull(v)
			}
		}
		doc.Spectra = append(doc.Spectra, sj)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, string(raw))
	return nil
}

// plotGradFlow draws the norms against distance on a log-scale y axis. A log scale cannot
// show zero or non-finite values, so those points are left out.
func plotGradFlow(g *lstm.GradFlow, out, format string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("gradient flow through the top %s layer (%d end positions)", g.Cell, len(g.Positions))
	p.X.Label.Text = "distance back in time (steps)"
	p.Y.Label.Text = "gradient norm (geometric mean)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: 1} // 1e-05, not 9.999999999999999e-06
	p.Add(plotter.NewGrid())

	var lines []any
	if h := positivePoints(g.H); len(h) > 0 {
		lines = append(lines, "‖∂L/∂h‖", h)
	}
	if c := positivePoints(g.C); len(c) > 0 {
		lines = append(lines, "‖∂L/∂c‖", c)
	}
	if len(lines) == 0 {
		return fmt.Errorf("every gradient norm is zero or not finite, so there is nothing to draw on a log scale")
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return err
	}
	p.Legend.Top = true
	return saveAtomically(p, out, format)
}

func positivePoints(norms []float64) plotter.XYs {
	var xy plotter.XYs
	for d, v := range norms {
		if v > 0 && !math.IsInf(v, 0) {
			xy = append(xy, plotter.XY{X: float64(d), Y: v})
		}
	}
	return xy
}
