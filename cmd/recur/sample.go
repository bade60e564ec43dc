package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// loadModel opens a backend and loads a checkpoint's weights onto it, with notes on
// os.Stderr.
func loadModel(dir, device, precision string) (*lstm.Model, error) {
	return loadModelNoting(dir, device, precision, os.Stderr)
}

// loadModelNoting opens a backend and loads a checkpoint's weights onto it. It skips the
// training state and writes a note to stderr when it loads the directory's ".old" copy.
func loadModelNoting(dir, device, precision string, stderr io.Writer) (*lstm.Model, error) {
	if dir == "" {
		return nil, fmt.Errorf("missing --checkpoint: name a directory written by recur train")
	}
	ck, err := lstm.LoadCheckpointWeights(dir)
	if err != nil {
		return nil, err
	}
	noteOldCheckpoint(stderr, dir, ck)
	be, _, err := engine.Open(device, precision)
	if err != nil {
		return nil, err
	}
	m, err := lstm.NewModel(ck.Config, be)
	if err != nil {
		be.Close()
		return nil, err
	}
	be.Upload(m.Params, ck.Params)
	return m, nil
}

// noteOldCheckpoint writes one line to stderr when ck is the ".old" copy of the missing
// directory dir, so the user knows which weights were read.
func noteOldCheckpoint(stderr io.Writer, dir string, ck *lstm.Checkpoint) {
	if ck.FromOld {
		fmt.Fprintf(stderr, "note: %s is missing, so recur loaded %s, the previous checkpoint that an interrupted save left behind\n", filepath.Clean(dir), ck.Dir)
	}
}

func runSample(args []string, stdout, stderr io.Writer) error {
	var (
		dir, device, precision string
		opt                    lstm.SampleOptions
	)
	fs := flag.NewFlagSet("recur sample", flag.ContinueOnError)
	fs.StringVar(&dir, "checkpoint", "", "checkpoint directory written by recur train")
	fs.StringVar(&opt.Prime, "prime", "", "text to start from, printed first (default: the vocabulary's first character)")
	fs.IntVar(&opt.Length, "length", 1000, "characters to generate after the prime")
	fs.Float64Var(&opt.Temperature, "temperature", 0.8, "sampling temperature; 0 always picks the most likely character")
	fs.IntVar(&opt.TopK, "top-k", 0, "sample among the K most likely characters; 0 keeps all")
	fs.Uint64Var(&opt.Seed, "seed", 1, "random seed")
	fs.StringVar(&device, "device", "auto", "backend: auto (CUDA GPU 0 when one is found, else the CPU), cpu, cuda or cuda:N")
	fs.StringVar(&precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if err := opt.Validate(); err != nil {
		return err
	}
	m, err := loadModelNoting(dir, device, precision, stderr)
	if err != nil {
		return err
	}
	defer m.Backend.Close()
	if err := lstm.Sample(m, opt, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	return nil
}

// evalResult is the output of recur eval --json, with its keys in this order.
type evalResult struct {
	Loss  float64 `json:"loss"`  // mean nats per predicted character
	BPC   float64 `json:"bpc"`   // bits per character
	Chars int     `json:"chars"` // predicted characters: the text's length minus one
}

func runEval(args []string, stdout, stderr io.Writer) error {
	var (
		dir, data, filter, device, precision string
		asJSON                               bool
	)
	fs := flag.NewFlagSet("recur eval", flag.ContinueOnError)
	fs.StringVar(&dir, "checkpoint", "", "checkpoint directory written by recur train")
	fs.StringVar(&data, "data", "", "text to score: a UTF-8 file or a directory tree")
	fs.StringVar(&filter, "filter", "", "with a directory, read only files whose name matches this glob")
	fs.BoolVar(&asJSON, "json", false, `print {"loss": ..., "bpc": ..., "chars": N} instead of a sentence`)
	fs.StringVar(&device, "device", "auto", "backend: auto (CUDA GPU 0 when one is found, else the CPU), cpu, cuda or cuda:N")
	fs.StringVar(&precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if data == "" {
		return fmt.Errorf("missing --data: name the text to score")
	}
	m, err := loadModelNoting(dir, device, precision, stderr)
	if err != nil {
		return err
	}
	defer m.Backend.Close()
	text, err := corpus.Load(data, filter)
	if err != nil {
		return err
	}
	ids, err := vocabOf(m.Cfg).Encode(text.Text)
	if err != nil {
		return fmt.Errorf("%s: %w", data, err)
	}
	if len(ids) < 2 {
		return fmt.Errorf("%s has %d character(s): scoring needs at least 2, one to read and one to predict", data, len(ids))
	}
	loss, n := lstm.EvaluateSequence(m, ids)
	if err := m.Backend.Sync(); err != nil {
		return err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("the loss over %s is %g: the checkpoint's weights are unusable", data, loss)
	}
	bpc := loss / math.Ln2
	if asJSON {
		raw, err := json.Marshal(evalResult{Loss: loss, BPC: bpc, Chars: n})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(raw))
		return nil
	}
	fmt.Fprintf(stdout, "%s: loss %.4f nats per character, %.4f bits per character, over %d predicted characters\n", data, loss, bpc, n)
	return nil
}
