package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

func runPlot(args []string, stdout, stderr io.Writer) error {
	var metrics, out, title string
	var overwrite bool
	fs := flag.NewFlagSet("recur plot", flag.ContinueOnError)
	fs.StringVar(&metrics, "metrics", "", "metrics file written by recur train --metrics")
	fs.StringVar(&out, "out", "loss.png", "image to write; the extension picks the format (.png, .svg, .pdf, .jpg, .eps, .tiff)")
	fs.BoolVar(&overwrite, "overwrite", false, "let --out replace an existing file that recur did not write")
	fs.StringVar(&title, "title", "", "plot title (default: the metrics file's name)")
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if metrics == "" {
		return fmt.Errorf("missing --metrics: name a file written by recur train --metrics")
	}
	if title == "" {
		title = metrics
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
	if !imageFormats[format] {
		return fmt.Errorf("invalid --out %s: name a .png, .svg, .pdf, .jpg, .eps or .tiff file", out)
	}
	if err := checkOutputFile("--out", out, overwrite, []string{metrics}, nil); err != nil {
		return err
	}
	train, val, err := readMetrics(metrics, stderr)
	if err != nil {
		return err
	}
	if len(train) == 0 && len(val) == 0 {
		return fmt.Errorf("%s has no train or eval records: train with --metrics %s first", metrics, metrics)
	}

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (nats per character)"
	p.Add(plotter.NewGrid())
	var lines []any
	if len(train) > 0 {
		lines = append(lines, "train (mean per log interval)", train)
	}
	if len(val) > 0 {
		lines = append(lines, "validation", val)
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return err
	}
	p.Legend.Top = true
	if err := saveAtomically(p, out, format); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d train and %d validation points)\n", out, len(train), len(val))
	return nil
}

// imageFormats are the --out extensions recur plot writes.
var imageFormats = map[string]bool{"png": true, "svg": true, "pdf": true, "jpg": true, "jpeg": true, "eps": true, "tif": true, "tiff": true}

// saveAtomically renders p and writes it over out with writeFileAtomic, so a failure never
// leaves out truncated.
func saveAtomically(p *plot.Plot, out, format string) error {
	w, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return err
	}
	return writeFileAtomic(out, buf.Bytes())
}

// maxMetricsLine bounds a line of a metrics file. recur train writes lines of a few hundred
// bytes, so a longer line means the file is not a metrics file.
const maxMetricsLine = 16 << 20

// readMetrics returns the train and validation loss curves of a metrics file. A last line
// that is cut short, without a newline and not valid JSON, is what a killed run leaves: it
// is skipped with a note to notes.
func readMetrics(path string, notes io.Writer) (train, val plotter.XYs, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxMetricsLine)
	unterminated := false // the token just scanned is the last line and lacks a newline
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		advance, token, err := bufio.ScanLines(data, atEOF)
		if atEOF && token != nil && advance == len(data) && data[len(data)-1] != '\n' {
			unterminated = true
		}
		return advance, token, err
	})
	line := 1
	for ; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r metricsRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if unterminated {
				fmt.Fprintf(notes, "%s:%d: skipped the last line, which is cut short (the run "+
					"was probably stopped while writing it)\n", path, line)
				break
			}
			return nil, nil, fmt.Errorf("%s:%d: invalid JSON: %v", path, line, err)
		}
		switch {
		case r.Kind == "train" && r.TrainLoss != nil:
			train = append(train, plotter.XY{X: float64(r.Step), Y: *r.TrainLoss})
		case r.Kind == "eval" && r.ValLoss != nil:
			val = append(val, plotter.XY{X: float64(r.Step), Y: *r.ValLoss})
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, nil, fmt.Errorf("%s:%d: the line is longer than %d bytes, so %s is not a "+
			"metrics file of recur train --metrics", path, line, maxMetricsLine, path)
	} else if err != nil {
		return nil, nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	return train, val, nil
}
