package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/recur-ml/recur/datagen"
)

// generateUsage lists the tasks of recur generate with their default split sizes.
func generateUsage() string {
	var b strings.Builder
	b.WriteString("Usage: recur generate TASK --out DIR " +
		"[--seed N] [--train N] [--val N] [--test N]\n\n")
	b.WriteString("Writes train, val and test splits of a synthetic task into DIR. Tasks:\n")
	for _, task := range datagen.Tasks() {
		d := task.Defaults
		fmt.Fprintf(&b, "  %-9s %s\n            (default train / val / test: %d / %d / %d)\n",
			task.Name, task.Summary, d.Train, d.Val, d.Test)
	}
	b.WriteString("\nRun \"recur generate TASK -h\" for the flags.\n")
	return b.String()
}

// runGenerate writes the data set of one task: recur generate TASK --out DIR [flags]. It
// prints one line per file written, with the number of examples in it.
func runGenerate(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stdout, generateUsage())
			return flag.ErrHelp
		}
		return fmt.Errorf("missing task: name one of %s before the flags, as in "+
			"recur generate classify --out data/classify", strings.Join(datagen.TaskNames(), ", "))
	}
	task, err := datagen.Lookup(args[0])
	if err != nil {
		return fmt.Errorf("unknown task %q: use one of %s",
			args[0], strings.Join(datagen.TaskNames(), ", "))
	}

	fs := flag.NewFlagSet("recur generate "+task.Name, flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the files into, created if missing")
	seed := fs.Uint64("seed", 1, "random seed (the same seed and sizes give the same files)")
	train := fs.Int("train", task.Defaults.Train, "number of training examples")
	val := fs.Int("val", task.Defaults.Val, "number of validation examples")
	test := fs.Int("test", task.Defaults.Test, "number of test examples")
	overwrite := fs.Bool("overwrite", false,
		"write into a directory that already contains files, replacing those of the same names")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(),
			"Usage: recur generate %s --out DIR [flags]\n\nWrites %s\n\nFlags:\n",
			task.Name, task.Summary)
		fs.PrintDefaults()
	}
	if _, err := parseFlags(fs, args[1:], stdout, stderr); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("missing --out: name the directory to write the %s files into, "+
			"as in --out data/%s", task.Name, task.Name)
	}
	counts := []struct {
		flag  string
		value int
	}{{"train", *train}, {"val", *val}, {"test", *test}}
	limit := datagen.MaxLines
	if task.Name == "scenes" {
		limit = datagen.MaxScenes
	}
	for _, c := range counts {
		if c.value < 1 || c.value > limit {
			return fmt.Errorf("invalid --%s %d: give a count from 1 to %d, or leave the flag out "+
				"for the default of %s", c.flag, c.value, limit, fs.Lookup(c.flag).DefValue)
		}
	}

	if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 && !*overwrite {
		return fmt.Errorf("--out %s already contains files, which the generated ones could "+
			"replace: choose a new directory, or pass --overwrite", *out)
	}

	opt := datagen.Options{Seed: *seed, Train: *train, Val: *val, Test: *test}
	files, err := task.Generate(*out, opt)
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s (%d examples)\n", f.Path, f.Examples)
	}
	return err
}
