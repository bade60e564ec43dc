package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/lstm"
	"github.com/recur-ml/recur/viz"
)

// vizFlags are the options of recur viz.
type vizFlags struct {
	dir, textPath, filter, units, state, out, prime string
	device, precision                               string
	layer, sample, topK, top, chunk                 int
	seed                                            uint64
	find, asJSON, overwrite                         bool
}

func runViz(args []string, stdout, stderr io.Writer) error {
	// --grad-flow selects its own view with its own flags.
	for i, a := range args {
		if a == "--grad-flow" || a == "-grad-flow" {
			rest := append(append([]string{}, args[:i]...), args[i+1:]...)
			return runGradFlow(rest, stdout, stderr)
		}
	}
	var f vizFlags
	fs := flag.NewFlagSet("recur viz", flag.ContinueOnError)
	fs.StringVar(&f.dir, "checkpoint", "", "checkpoint directory written by recur train")
	fs.StringVar(&f.textPath, "text", "", "UTF-8 text file, or directory tree, for the model to read")
	fs.StringVar(&f.filter, "filter", "", "with a directory --text, read only the files whose names match this glob, such as '*.go'")
	fs.IntVar(&f.layer, "layer", 0, "layer to show, counting from 0")
	fs.StringVar(&f.units, "unit", "0", "comma-separated units to show, counting from 0; each gets a row")
	fs.StringVar(&f.state, "state", "h", "state to show: h or c, or the LSTM gate i, f, g or o (an RNN has only h)")
	fs.IntVar(&f.sample, "sample", 0, "generate this many characters (temperature 1) and show them instead of --text")
	fs.StringVar(&f.prime, "prime", "", "with --sample, text to start from (default: the vocabulary's first character)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed of --sample")
	fs.IntVar(&f.topK, "top-k", 5, "next-character predictions shown per position")
	fs.StringVar(&f.out, "out", "", "HTML file to write; with --find the gallery, gallery.html by default, and '' writes none")
	fs.BoolVar(&f.overwrite, "overwrite", false, "let --out replace an existing file that recur did not write")
	fs.BoolVar(&f.find, "find", false, "rank every unit's h and c by correlation with text features instead of drawing one unit")
	fs.BoolVar(&f.asJSON, "json", false, "with --find, print the ranking as JSON instead of a table")
	fs.IntVar(&f.top, "top", 3, "with --find, units listed per feature")
	fs.IntVar(&f.chunk, "chunk", 64, "characters per forward pass; the state carries across chunks")
	fs.StringVar(&f.device, "device", "auto", "backend: auto (CUDA GPU 0 when one is found, else the CPU), cpu, cuda or cuda:N")
	fs.StringVar(&f.precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	fs.Usage = func() { printVizUsage(fs) }

	set, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if f.find && !set["out"] {
		f.out = defaultGallery
	}
	if err := f.validate(set); err != nil {
		return err
	}
	if f.out != "" {
		err := checkOutputFile("--out", f.out, f.overwrite, []string{f.textPath}, []string{f.dir})
		if err != nil {
			return err
		}
	}
	units, err := parseUnits(f.units)
	if err != nil {
		return err
	}
	m, err := loadModel(f.dir, f.device, f.precision)
	if err != nil {
		return err
	}
	defer m.Backend.Close()

	if !f.find {
		if m.Cfg.Model == lstm.CellGRU && f.state != viz.StateH {
			// viz.CheckSelection's message lists only h, which hides why c and the gates fail.
			return fmt.Errorf("invalid --state %q: the checkpoint is a GRU, which has no cell "+
				"state c and no recorded gates i, f, g or o; use --state h", f.state)
		}
		if err := viz.CheckSelection(m.Cfg, f.layer, units, f.state); err != nil {
			return err
		}
	}
	text, err := f.readText(m)
	if err != nil {
		return err
	}
	if f.find {
		return findUnits(m, text, f, stdout, stderr)
	}
	return drawUnits(m, text, units, f, stdout)
}

// maxVizSample bounds --sample. Each character of each row becomes an HTML element of about
// 55 bytes, so a page of a million characters with the default two rows is over 100 MB.
const maxVizSample = 1_000_000

// defaultGallery is the page that --find writes when --out is not given.
const defaultGallery = "gallery.html"

// printVizUsage prints the three forms of recur viz and the flags of each to fs's output,
// including those of --grad-flow, which has its own flag set.
func printVizUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage:
  recur viz --checkpoint DIR (--text FILE | --sample N) --out HTML [--layer K] [--unit N,...] [--state S]
      colour each character by units' activations, with the next-character predictions on hover
  recur viz --find --checkpoint DIR --text FILE [--json] [--out gallery.html]
      rank every unit by correlation with text features and write a gallery of the top units
  recur viz --grad-flow --checkpoint DIR --text FILE [--compare DIR] [--out gradflow.png]
      plot the loss gradient's norm against the distance back in time, and print W_hh's singular values

Flags of the activation page and --find:
`)
	fs.PrintDefaults()
	fmt.Fprint(w, "\nFlags of --grad-flow:\n")
	var gf gradFlowFlags
	grad := newGradFlowFlagSet(&gf)
	grad.SetOutput(w)
	grad.PrintDefaults()
}

// validate checks the flags that need no checkpoint.
func (f vizFlags) validate(set map[string]bool) error {
	switch {
	case f.sample < 0:
		return fmt.Errorf("invalid --sample %d: use a positive number of characters, or 0 to read --text", f.sample)
	case f.sample == 0 && f.textPath == "":
		return fmt.Errorf("missing --text: name a text file for the model to read, or pass --sample N to generate one")
	case f.sample > maxVizSample:
		return fmt.Errorf("invalid --sample %d: use at most %d characters, because a page that "+
			"long is too large for a browser", f.sample, maxVizSample)
	case f.prime != "" && f.sample == 0:
		return fmt.Errorf("--prime needs --sample: it is the start of the generated text, " +
			"so pass --sample N as well")
	case f.sample > 0 && f.textPath != "":
		return fmt.Errorf("--text and --sample exclude each other: read a text or generate one")
	case f.find && f.sample > 0:
		return fmt.Errorf("--find needs --text: the features are computed from a real text, not from --sample")
	case !f.find && f.out == "":
		return fmt.Errorf("missing --out: name the HTML file to write, such as page.html")
	case f.topK < 0:
		return fmt.Errorf("invalid --top-k %d: use 0 or more predictions", f.topK)
	case f.top < 1:
		return fmt.Errorf("invalid --top %d: use 1 or more units per feature", f.top)
	case f.chunk < 1:
		return fmt.Errorf("invalid --chunk %d: use 1 or more characters", f.chunk)
	case f.asJSON && !f.find:
		return fmt.Errorf("--json needs --find: only the ranking has a JSON form")
	}
	if f.find {
		for _, name := range []string{"layer", "unit", "state"} {
			if set[name] {
				return fmt.Errorf("--%s does not apply to --find, which scores every unit of every layer", name)
			}
		}
	}
	return nil
}

// parseUnits parses a comma-separated list of unit numbers.
func parseUnits(list string) ([]int, error) {
	var units []int
	for _, s := range strings.Split(list, ",") {
		u, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid --unit %q: use unit numbers separated by commas, such as 0,5,12", list)
		}
		units = append(units, u)
	}
	return units, nil
}

// readText loads --text, or generates --sample characters at temperature 1.
func (f vizFlags) readText(m *lstm.Model) ([]rune, error) {
	if f.sample == 0 {
		c, err := corpus.Load(f.textPath, f.filter)
		if err != nil {
			return nil, err
		}
		return c.Text, nil
	}
	var buf bytes.Buffer
	opt := lstm.SampleOptions{Prime: f.prime, Length: f.sample, Temperature: 1, Seed: f.seed}
	if err := lstm.Sample(m, opt, &buf); err != nil {
		return nil, err
	}
	return []rune(buf.String()), nil
}

// drawUnits writes the page of the selected units, one row each, and a p(char) row.
func drawUnits(m *lstm.Model, text []rune, units []int, f vizFlags, stdout io.Writer) error {
	tr, err := viz.Run(m, text, viz.Options{States: []string{f.state}, Layers: []int{f.layer}, TopK: f.topK, Chunk: f.chunk})
	if err != nil {
		return err
	}
	sec := viz.Section{Text: text}
	for _, u := range units {
		values := float64s(tr.Unit(f.state, f.layer, u))
		lo, hi := viz.RowRange(f.state, values)
		label := fmt.Sprintf("layer %d %s[%d]", f.layer, f.state, u)
		sec.Rows = append(sec.Rows, viz.Row{Label: label, Values: values, Lo: lo, Hi: hi})
	}
	// Reversed range: likely characters are blue, unlikely ones red.
	sec.Rows = append(sec.Rows, viz.Row{Label: "p(char)", Values: tr.Prob, Lo: 1, Hi: 0})

	source := "text " + f.textPath
	if f.sample > 0 {
		source = fmt.Sprintf("%d characters sampled at temperature 1 with seed %d", f.sample, f.seed)
	}
	page := viz.Page{
		Title:    fmt.Sprintf("recur viz: %s", f.dir),
		Summary:  []string{fmt.Sprintf("%s model, %d layers of %d units; %s.", m.Cfg.Model, m.Cfg.Layers, m.Cfg.Hidden, source)},
		Sections: []viz.Section{sec},
		Top:      map[int][]viz.Prediction{},
	}
	for i, p := range tr.Top {
		page.Top[i] = p
	}
	if err := writePage(f.out, page); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d characters, %d rows\n", f.out, len(text), len(sec.Rows))
	return nil
}

// excerptLen is the number of characters drawn per unit in the --find gallery.
const excerptLen = 400

// findUnits ranks units by correlation with the text features, prints the ranking and writes
// the gallery.
func findUnits(m *lstm.Model, text []rune, f vizFlags, stdout, stderr io.Writer) error {
	states := []string{viz.StateH}
	if m.Cfg.Model == lstm.CellLSTM {
		states = append(states, viz.StateC)
	}
	tr, err := viz.Run(m, text, viz.Options{States: states, TopK: f.topK, Chunk: f.chunk})
	if err != nil {
		return err
	}
	features := viz.Features(text)
	ranking := viz.RankUnits(tr, features, f.top)
	if f.asJSON {
		raw, err := json.Marshal(map[string]any{"chars": len(text), "features": ranking})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(raw))
	} else {
		printRanking(stdout, ranking)
	}
	if f.out == "" {
		return nil
	}
	page := galleryPage(tr, features, ranking, f)
	if err := writePage(f.out, page); err != nil {
		return err
	}
	// In JSON mode stdout carries only the JSON document, so the note goes to stderr.
	notes := stdout
	if f.asJSON {
		notes = stderr
	}
	fmt.Fprintf(notes, "wrote %s: %d panels\n", f.out, len(page.Sections))
	return nil
}

// printRanking prints the ranking as a table, with one line for each constant feature.
func printRanking(w io.Writer, ranking []viz.FeatureRanking) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "feature\tlayer\tstate\tunit\tr")
	for _, fr := range ranking {
		if fr.Constant {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tconstant over this text, so no unit correlates with it\n", fr.Feature)
			continue
		}
		for _, u := range fr.Units {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%+.3f\n", fr.Feature, u.Layer, u.State, u.Unit, u.R)
		}
	}
	tw.Flush()
}

// galleryPage builds one panel per ranked unit: the excerpt where its feature varies most,
// coloured by the unit, with the feature drawn under it.
func galleryPage(tr *viz.Trace, features []viz.Feature, ranking []viz.FeatureRanking, f vizFlags) viz.Page {
	page := viz.Page{
		Title:   fmt.Sprintf("recur viz --find: %s", f.dir),
		Summary: []string{fmt.Sprintf("Units of %s most correlated (Pearson r) with each feature of %s (%d characters).", f.dir, f.textPath, len(tr.Text))},
		Top:     map[int][]viz.Prediction{},
	}
	var constant []string
	for k, fr := range ranking {
		if fr.Constant {
			constant = append(constant, fr.Feature)
			continue
		}
		feature := features[k]
		start := viz.ExcerptStart(feature.Values, excerptLen)
		end := min(start+excerptLen, len(tr.Text))
		flo, fhi := minMax(feature.Values)
		featureRow := viz.Row{Label: "feature " + fr.Feature, Values: feature.Values[start:end], Lo: flo, Hi: fhi}
		for i := start; i < end && tr.Top != nil; i++ {
			page.Top[i] = tr.Top[i]
		}
		for _, u := range fr.Units {
			values := float64s(tr.Unit(u.State, u.Layer, u.Unit))
			lo, hi := viz.RowRange(u.State, values)
			label := fmt.Sprintf("layer %d %s[%d], r = %+.3f", u.Layer, u.State, u.Unit, u.R)
			page.Sections = append(page.Sections, viz.Section{
				Heading: fmt.Sprintf("%s: layer %d %s[%d]", fr.Feature, u.Layer, u.State, u.Unit),
				Text:    tr.Text[start:end],
				Offset:  start,
				Rows:    []viz.Row{{Label: label, Values: values[start:end], Lo: lo, Hi: hi}},
				Feature: &featureRow,
			})
		}
	}
	if len(constant) > 0 {
		page.Summary = append(page.Summary, fmt.Sprintf("Constant over this text, so without a panel: %s.", strings.Join(constant, ", ")))
	}
	return page
}

func writePage(path string, page viz.Page) error {
	var buf bytes.Buffer
	if err := viz.WritePage(&buf, page); err != nil {
		return err
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write --out %s: %w", path, err)
	}
	return nil
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func minMax(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if lo == hi {
		hi = lo + 1
	}
	return lo, hi
}
