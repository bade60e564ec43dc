package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// generateCmd runs recur generate in-process and returns its stdout, stderr and error.
func generateCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runGenerate(args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestGenerateWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tag")
	out, errOut, err := generateCmd(t, "tag", "--out", dir, "--seed", "5", "--train", "20", "--val", "3", "--test", "4")
	if err != nil {
		t.Fatalf("generate tag: %v\nstderr:\n%s", err, errOut)
	}
	for _, want := range []string{
		"wrote " + filepath.Join(dir, "train.tsv") + " (20 examples)",
		"wrote " + filepath.Join(dir, "val.tsv") + " (3 examples)",
		"wrote " + filepath.Join(dir, "test.tsv") + " (4 examples)",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Count(out, "\n"); lines != 3 {
		t.Errorf("output has %d lines, want one per file:\n%s", lines, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "val.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Errorf("val.tsv has %d lines, want 3", n)
	}
}

func TestGenerateScenesListsEveryFile(t *testing.T) {
	dir := t.TempDir()
	out, _, err := generateCmd(t, "scenes", "--out", dir, "--train", "4", "--val", "2", "--test", "3")
	if err != nil {
		t.Fatal(err)
	}
	// Five files per split, the held-out test scenes' captions and shapes, and the PNG grid.
	if lines := strings.Count(out, "\n"); lines != 18 {
		t.Errorf("output has %d lines, want 18:\n%s", lines, out)
	}
	if want := "wrote " + filepath.Join(dir, "test-unseen.captions.tsv"); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if want := "wrote " + filepath.Join(dir, "test.png") + " (3 examples)\n"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	var files [2][]byte
	for i := range files {
		dir := t.TempDir()
		if _, _, err := generateCmd(t, "dates", "--out", dir, "--seed", "9", "--train", "50", "--val", "5", "--test", "5"); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "train.tsv"))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = data
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two runs with --seed 9 wrote different train.tsv files")
	}
}

func TestGenerateInvalidInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{nil, "missing task: name one of classify, tag, dates, scenes"},
		{[]string{"--out", dir}, "missing task"},
		{[]string{"sort", "--out", dir}, `unknown task "sort": use one of classify, tag, dates, scenes`},
		{[]string{"classify"}, "missing --out"},
		{[]string{"classify", "--out", dir, "--train", "-5"}, "invalid --train -5: give a count from 1 to 10000000"},
		{[]string{"dates", "--out", dir, "--val", "0"}, "invalid --val 0: give a count from 1 to 10000000, or leave the flag out for the default of 1000"},
		{[]string{"tag", "--out", dir, "--train", "9999999999999"}, "invalid --train 9999999999999: give a count from 1 to 10000000"},
		{[]string{"scenes", "--out", dir, "--train", "1000001"}, "invalid --train 1000001: give a count from 1 to 1000000"},
		{[]string{"tag", "--out", dir, "--test", "-1"}, "invalid --test -1"},
	}
	for _, c := range cases {
		_, _, err := generateCmd(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("generate %q: error %v, want one containing %q", c.args, err, c.want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("invalid input wrote %d files into the output directory", len(entries))
	}
}

func TestGenerateUsageErrors(t *testing.T) {
	_, errOut, err := generateCmd(t, "tag", "--out", t.TempDir(), "--seed", "-1")
	if !errors.Is(err, errUsage) {
		t.Errorf("--seed -1: error %v, want errUsage", err)
	}
	if !strings.Contains(errOut, "-seed") {
		t.Errorf("--seed -1: stderr lacks the flag name:\n%s", errOut)
	}
	out, _, err := generateCmd(t, "--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "scenes") {
		t.Errorf("--help: error %v and output %q, want flag.ErrHelp and the task list", err, out)
	}
	out, _, err = generateCmd(t, "classify", "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "-train") || !strings.Contains(out, "20000") {
		t.Errorf("classify -h: error %v and output %q, want flag.ErrHelp and the flags with defaults", err, out)
	}
}

func TestGenerateHugeCountCreatesNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x")
	_, _, err := generateCmd(t, "tag", "--out", out, "--train", "9999999999999")
	if err == nil {
		t.Fatal("generate tag --train 9999999999999 succeeded")
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("the rejected command left %s behind (stat error %v)", out, statErr)
	}
}
