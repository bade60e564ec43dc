package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows training progress: a bar on stderr when it is a terminal, otherwise one line
// per log interval on stdout.
type progress struct {
	out, barOut io.Writer
	bar         *progressbar.ProgressBar
}

func newProgress(stdout, stderr io.Writer, start, total int) *progress {
	p := &progress{out: stdout, barOut: stderr}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("training"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100_000_000),
			progressbar.OptionShowDescriptionAtLineEnd(),
		)
		p.bar.Set(start)
	}
	return p
}

// update reports the state after a log interval.
func (p *progress) update(step int, trainLoss, valLoss, tokensPerS float64) {
	val := "-"
	if !math.IsNaN(valLoss) {
		val = fmt.Sprintf("%.4g", valLoss/math.Ln2)
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4g nats  val bpc %s  %.0f tok/s", trainLoss, val, tokensPerS))
		p.bar.Set(step)
		return
	}
	fmt.Fprintf(p.out, "step %6d  loss %.4g nats  val bpc %s  %8.0f tokens/s\n", step, trainLoss, val, tokensPerS)
}

// logf prints a line without breaking the bar.
func (p *progress) logf(format string, args ...any) {
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintf(p.out, format+"\n", args...)
}

// abort removes the bar without filling it, before an error is printed.
func (p *progress) abort() {
	if p.bar != nil {
		p.bar.Exit()
		fmt.Fprintln(p.barOut)
		p.bar = nil
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.barOut)
		p.bar = nil
	}
}

// metricsRecord is one line of the --metrics file. Values that do not apply are null.
type metricsRecord struct {
	Kind       string   `json:"kind"` // "train" or "eval"
	Step       int      `json:"step"`
	TrainLoss  *float64 `json:"train_loss"` // mean over the log interval, nats
	ValLoss    *float64 `json:"val_loss"`   // over the whole validation split, nats
	ValBPC     *float64 `json:"val_bpc"`
	TokensPerS *float64 `json:"tokens_per_s"`
}

// metricsWriter appends JSON lines to a file; with no file it discards them.
type metricsWriter struct{ f *os.File }

func openMetrics(path string) (*metricsWriter, error) {
	if path == "" {
		return &metricsWriter{}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open --metrics file: %w", err)
	}
	return &metricsWriter{f: f}, nil
}

func (w *metricsWriter) write(r metricsRecord) error {
	if w.f == nil {
		return nil
	}
	// JSON has no NaN or infinity, so a non-finite value is written as null.
	for _, v := range []**float64{&r.TrainLoss, &r.ValLoss, &r.ValBPC, &r.TokensPerS} {
		if *v != nil && (math.IsNaN(**v) || math.IsInf(**v, 0)) {
			*v = nil
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.f.Write(append(raw, '\n'))
	return err
}

func (w *metricsWriter) Close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}
