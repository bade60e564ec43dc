// Command recur trains, samples and evaluates character-level recurrent language models, and
// trains classifiers, taggers, sequence-to-sequence models and image captioners.
//
//	recur train  --data PATH [flags]        train an LSTM, GRU or RNN, writing checkpoints
//	recur sample --checkpoint DIR [flags]   generate text from a checkpoint
//	recur eval   --checkpoint DIR --data PATH [--json]   score a text
//	recur plot   --metrics FILE --out PNG   plot a loss curve from a metrics file
//	recur device [--device D]               print the backend a --device value picks
//	recur viz --checkpoint DIR --text FILE --out HTML   colour a text by units' activations
//	recur classify|tag|seq2seq|caption train|predict    the other sequence tasks
//	recur generate classify|tag|dates|scenes --out DIR  write a data set for them
//
// Run "recur COMMAND -h" for the flags of a command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/recur-ml/recur/tasks"
)

const usage = `recur trains recurrent networks: character-level language models, and classifiers,
taggers, sequence-to-sequence models and image captioners.

Usage:
  recur train  --data PATH [flags]                      train an LSTM, GRU or RNN
  recur sample --checkpoint DIR [flags]                 generate text
  recur eval   --checkpoint DIR --data PATH [--json]    score a text
  recur plot   --metrics FILE --out PNG                 plot a loss curve
  recur device [--device auto|cpu|cuda:N]               show the GPU, driver and libraries found
  recur viz    --checkpoint DIR --text FILE --out HTML  colour text by units' activations (--find ranks units)
  recur viz    --grad-flow --checkpoint DIR --text FILE  gradient norm against distance, and W_hh's singular values

Other sequence tasks (each with train and predict):
  recur classify train --data FILE --out DIR            label<TAB>text, or images one row per step
  recur tag      train --data FILE --out DIR            tokens<TAB>tags, one tag per token
  recur seq2seq  train --data FILE --out DIR            source<TAB>target, encoder and decoder
  recur caption  train --data FILE --images F --out DIR image_index<TAB>caption, with image features
  recur generate classify|tag|dates|scenes --out DIR    write a data set for these tasks

Run "recur COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func([]string, io.Writer, io.Writer) error{
		"train":  runTrain,
		"sample": runSample,
		"eval":   runEval,
		"plot":   runPlot,
		"device": runDevice,
		"viz":    runViz,

		"classify": taskCommand(tasks.TaskClassify),
		"tag":      taskCommand(tasks.TaskTag),
		"seq2seq":  taskCommand(tasks.TaskSeq2Seq),
		"caption":  taskCommand(tasks.TaskCaption),
		"generate": runGenerate,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "recur: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(args[1:], stdout, stderr)
	var stopped errInterrupted
	switch {
	case errors.As(err, &stopped):
		return stopped.exitCode()
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "recur %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage marks a usage error whose message has already been printed.
var errUsage = errors.New("invalid usage")

// parseFlags parses args into fs and returns the names of the flags that were set. -h prints
// the full usage to stdout. A flag error prints the flag package's message and a one-line hint
// to stderr, so that the message is not lost above the list of every flag.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (map[string]bool, error) {
	usage := fs.Usage
	if usage == nil {
		usage = func() {
			fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
	}
	hint := func() { fmt.Fprintf(stderr, "run '%s -h' for the flags\n", fs.Name()) }
	fs.SetOutput(stderr)
	// The flag package calls Usage after printing an error; the full text is printed only
	// for -h, below.
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		// Help that was requested goes to stdout, so it can be paged.
		fs.SetOutput(stdout)
		usage()
		return nil, err
	}
	if err != nil {
		hint()
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q: every option is a flag\n", fs.Arg(0))
		hint()
		return nil, errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set, nil
}

// commandName returns the path recur was started with, such as bin/recur, for the commands
// that its messages suggest, or "recur" when the process is another program (a test binary).
func commandName() string {
	if filepath.Base(os.Args[0]) == "recur" {
		return os.Args[0]
	}
	return "recur"
}
