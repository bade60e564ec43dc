package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/lstm"
)

// gradFlowTableDistances are the distances that the text table prints when D reaches them.
var gradFlowTableDistances = []int{0, 1, 2, 5, 10, 20, 50, 100, 200}

// gradFlowFlags are the options of recur viz --grad-flow.
type gradFlowFlags struct {
	dir, compare, textPath, filter, out, device, precision string
	maxDistance, samples                                   int
	asJSON, overwrite                                      bool
}

// newGradFlowFlagSet defines the flags of recur viz --grad-flow into f.
func newGradFlowFlagSet(f *gradFlowFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("recur viz --grad-flow", flag.ContinueOnError)
	fs.StringVar(&f.dir, "checkpoint", "", "checkpoint directory written by recur train")
	fs.StringVar(&f.compare, "compare", "", "second checkpoint directory to measure on the same text and draw on the same axes, such as an RNN beside an LSTM")
	fs.StringVar(&f.textPath, "text", "", "UTF-8 text file, or directory tree, to read windows from; it must use only the checkpoint's characters")
	fs.StringVar(&f.filter, "filter", "", "with a directory --text, read only the files whose names match this glob, such as '*.go'")
	fs.IntVar(&f.maxDistance, "max-distance", 100, "largest distance in steps to measure the gradient at")
	fs.IntVar(&f.samples, "samples", 20, "end positions, spread evenly over the text, to average over")
	fs.StringVar(&f.out, "out", "gradflow.png", "image of the curve to write (.png, .svg, .pdf, .jpg, .eps or .tiff); empty writes none")
	fs.BoolVar(&f.overwrite, "overwrite", false, "let --out replace an existing file that recur did not write")
	fs.BoolVar(&f.asJSON, "json", false, "print the curve and the singular values as JSON instead of a table, one line per checkpoint")
	fs.StringVar(&f.device, "device", "auto", "backend: auto (CUDA GPU 0 when one is found, else the CPU), cpu, cuda or cuda:N")
	fs.StringVar(&f.precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	return fs
}

// gradFlowCurve is the measurement of one checkpoint and the name its curves carry.
type gradFlowCurve struct {
	checkpoint, label string
	g                 *lstm.GradFlow
}

// runGradFlow measures how the gradient of one prediction's loss shrinks or grows as it flows
// back through the top layer's steps, and the largest singular values of W_hh, for
// --checkpoint and, with --compare, a second checkpoint on the same text.
func runGradFlow(args []string, stdout, stderr io.Writer) error {
	var f gradFlowFlags
	fs := newGradFlowFlagSet(&f)
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if f.textPath == "" {
		return fmt.Errorf("missing --text: name a text file to measure the gradient over")
	}
	if f.maxDistance < 1 {
		return fmt.Errorf("invalid --max-distance %d: use 1 or more steps", f.maxDistance)
	}
	if f.samples < 1 {
		return fmt.Errorf("invalid --samples %d: use 1 or more end positions", f.samples)
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(f.out)), ".")
	if f.out != "" && !imageFormats[format] {
		return fmt.Errorf("invalid --out %s: name a .png, .svg, .pdf, .jpg, .eps or .tiff file, or pass --out '' for none", f.out)
	}
	if f.dir == "" {
		return fmt.Errorf("missing --checkpoint: name a directory written by recur train")
	}
	if f.out != "" {
		err := checkOutputFile("--out", f.out, f.overwrite, []string{f.textPath}, []string{f.dir, f.compare})
		if err != nil {
			return err
		}
	}
	text, err := corpus.Load(f.textPath, f.filter)
	if err != nil {
		return err
	}

	dirs := []string{f.dir}
	if f.compare != "" {
		dirs = append(dirs, f.compare)
	}
	var curves []gradFlowCurve
	for _, dir := range dirs {
		g, err := measureGradFlow(dir, text.Text, f)
		if err != nil {
			return err
		}
		curves = append(curves, gradFlowCurve{checkpoint: dir, g: g})
	}
	labelCurves(curves)

	// In JSON mode stdout carries only the JSON documents, so the image note goes to stderr.
	notes := stdout
	if f.asJSON {
		for _, c := range curves {
			if err := printGradFlowJSON(stdout, c.checkpoint, c.g); err != nil {
				return err
			}
		}
		notes = stderr
	} else {
		for k, c := range curves {
			if k > 0 {
				fmt.Fprintln(stdout)
			}
			if len(curves) > 1 {
				fmt.Fprintf(stdout, "checkpoint %s (legend: %s):\n", c.checkpoint, c.label)
			}
			printGradFlowTable(stdout, c.g)
		}
	}
	if f.out == "" {
		return nil
	}
	if err := plotGradFlow(curves, f.out, format); err != nil {
		return fmt.Errorf("write %s: %w", f.out, err)
	}
	fmt.Fprintf(notes, "wrote %s\n", f.out)
	return nil
}

// measureGradFlow loads the checkpoint in dir on --device and measures its gradient flow over
// text. It closes the backend before it returns, so the two checkpoints of --compare never
// hold a device at the same time.
func measureGradFlow(dir string, text []rune, f gradFlowFlags) (*lstm.GradFlow, error) {
	m, err := loadModel(dir, f.device, f.precision)
	if err != nil {
		return nil, err
	}
	defer m.Backend.Close()
	ids, err := vocabOf(m.Cfg).Encode(text)
	if err != nil {
		return nil, fmt.Errorf("%s with checkpoint %s: %w", f.textPath, dir, err)
	}
	g, err := lstm.GradientFlow(m, ids, f.maxDistance, f.samples)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.textPath, err)
	}
	return g, nil
}

// labelCurves names each curve by its checkpoint directory's last element, or by the whole
// path when two curves would share a name.
func labelCurves(curves []gradFlowCurve) {
	seen := map[string]int{}
	for _, c := range curves {
		seen[filepath.Base(filepath.Clean(c.checkpoint))]++
	}
	for k := range curves {
		name := filepath.Base(filepath.Clean(curves[k].checkpoint))
		if seen[name] > 1 {
			name = curves[k].checkpoint
		}
		if cell := curves[k].g.Cell; !strings.Contains(strings.ToLower(name), cell) {
			name += " " + strings.ToUpper(cell)
		}
		curves[k].label = name
	}
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
			fmt.Fprintf(w, "%8d  %14s  %14s\n", d, formatNorm(g.H[d]), formatNorm(g.C[d]))
		} else {
			fmt.Fprintf(w, "%8d  %14s\n", d, formatNorm(g.H[d]))
		}
	}
	for _, series := range []struct {
		name  string
		norms []float64
	}{{"‖∂L/∂h‖", g.H}, {"‖∂L/∂c‖", g.C}} {
		if cut, reason := cutDistance(series.norms); reason != "" {
			fmt.Fprintf(w, "%s %s from distance %d on, so its curve stops at distance %d\n", series.name, reason, cut, cut-1)
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

// formatNorm formats a gradient norm for the table, naming an underflow to 0.
func formatNorm(v float64) string {
	if v == 0 {
		return "0 (underflow)"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// cutDistance returns the first distance at which a series of norms stops being positive and
// finite, with the reason ("underflowed to 0" or "overflowed"), or an empty reason when the
// whole series can be drawn on a log scale. A zero gradient stays zero as it flows further
// back, so the series does not resume after an underflow.
func cutDistance(norms []float64) (int, string) {
	for d, v := range norms {
		switch {
		case v == 0:
			return d, "underflowed to 0"
		case !(v > 0) || math.IsInf(v, 0):
			return d, "overflowed"
		}
	}
	return len(norms), ""
}

// padLeft right-aligns s in width characters. fmt's %14s counts bytes, and ‖ and ∂ take
// three bytes each in UTF-8.
func padLeft(s string, width int) string {
	return strings.Repeat(" ", max(0, width-utf8.RuneCountInString(s))) + s
}

// gradFlowJSON is the document that --json prints. Non-finite norms (an exploding gradient
// overflowing float32) are written as null, because JSON has no NaN or Inf.
type gradFlowJSON struct {
	Checkpoint  string         `json:"checkpoint"`
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

func printGradFlowJSON(w io.Writer, checkpoint string, g *lstm.GradFlow) error {
	doc := gradFlowJSON{
		Checkpoint:  checkpoint,
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

// plotGradFlow draws the norms of every curve against distance on one log-scale y axis. A log
// scale cannot show zero or non-finite values, so each series stops before its first one, and
// a cross on its last point, named in the legend, marks the cut.
func plotGradFlow(curves []gradFlowCurve, out, format string) error {
	p := plot.New()
	cells := curves[0].g.Cell
	if len(curves) > 1 {
		cells = "recurrent"
	}
	p.Title.Text = fmt.Sprintf("gradient flow through the top %s layer (%d end positions)", cells, len(curves[0].g.Positions))
	p.X.Label.Text = "distance back in time (steps)"
	p.Y.Label.Text = "gradient norm (geometric mean)"
	// gonum/plot v0.17 reserves blank space above the axes for a centred rotated label, so the
	// label is drawn at the top of the axis instead.
	p.Y.Label.Position = draw.PosTop
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = decadeTicks{maxLabels: 8}
	p.Add(plotter.NewGrid())
	// The curves fall from the top left, so the bottom left corner is free for the legend.
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(10)
	p.Legend.YOffs = vg.Points(10)

	style, drawn := 0, 0
	for _, c := range curves {
		for _, series := range []struct {
			name  string
			norms []float64
		}{{"‖∂L/∂h‖", c.g.H}, {"‖∂L/∂c‖", c.g.C}} {
			if series.norms == nil {
				continue
			}
			name := series.name
			if len(curves) > 1 {
				name = c.label + " " + series.name
			}
			ok, err := addGradFlowSeries(p, name, series.norms, style)
			if err != nil {
				return err
			}
			if ok {
				drawn++
			}
			style++
		}
	}
	if drawn == 0 {
		return fmt.Errorf("every gradient norm is zero or not finite, so there is nothing to draw on a log scale")
	}
	return saveAtomically(p, out, format)
}

// addGradFlowSeries draws one series of norms up to its cut, in the colour and dashes of
// style, and marks the cut. It reports whether there was a point to draw.
func addGradFlowSeries(p *plot.Plot, name string, norms []float64, style int) (bool, error) {
	cut, reason := cutDistance(norms)
	if cut == 0 {
		return false, nil
	}

	xy := make(plotter.XYs, cut)
	for d := range cut {
		xy[d] = plotter.XY{X: float64(d), Y: norms[d]}
	}
	line, err := plotter.NewLine(xy)
	if err != nil {
		return false, err
	}
	line.Color = plotutil.Color(style)
	line.Dashes = plotutil.Dashes(style)
	line.Width = vg.Points(1.5)
	p.Add(line)
	p.Legend.Add(name, line)
	if reason == "" {
		return true, nil
	}

	mark, err := plotter.NewScatter(xy[cut-1:])
	if err != nil {
		return false, err
	}
	mark.Shape = draw.CrossGlyph{}
	mark.Color = plotutil.Color(style)
	mark.Radius = vg.Points(5)
	p.Add(mark)
	p.Legend.Add(fmt.Sprintf("%s %s from d=%d", name, reason, cut), mark)
	return true, nil
}

// decadeTicks marks every power of ten on a log axis and labels at most maxLabels of them,
// evenly spaced, so that a curve spanning dozens of decades keeps readable labels. The 2…9
// multiples are marked only when every decade is labelled.
type decadeTicks struct{ maxLabels int }

// Ticks implements plot.Ticker.
func (t decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	first := int(math.Floor(math.Log10(lo)))
	last := int(math.Ceil(math.Log10(hi)))
	// Every step-th of the last−first+1 powers gets a label: ceil((last−first+1)/maxLabels).
	step := max(1, (last-first+t.maxLabels)/t.maxLabels)
	var ticks []plot.Tick
	for e := first; e <= last; e++ {
		v := math.Pow10(e)
		tick := plot.Tick{Value: v}
		// Labelled exponents are multiples of step, so 1 (10⁰) is labelled when it is in range.
		if ((e%step)+step)%step == 0 {
			tick.Label = strconv.FormatFloat(v, 'g', 1, 64)
		}
		ticks = append(ticks, tick)
		if step == 1 && e < last {
			for k := 2; k < 10; k++ {
				ticks = append(ticks, plot.Tick{Value: float64(k) * v})
			}
		}
	}
	return ticks
}
