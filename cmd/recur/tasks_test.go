package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallTask are the flags of a task model small enough to train in a fraction of a second.
var smallTask = []string{"--hidden", "16", "--embed", "8", "--batch", "8", "--lr", "0.02", "--log-every", "1000", "--device", "cpu"}

// sentimentLines returns labelled lines whose label is decided by their last word.
func sentimentLines() string {
	var b strings.Builder
	words := []string{"great", "fine", "bad", "awful"}
	for i := range 40 {
		w := words[i%4]
		label := "pos"
		if i%4 >= 2 {
			label = "neg"
		}
		b.WriteString(label + "\tfilm " + strings.Repeat("x", i%5) + " " + w + "\n")
	}
	return b.String()
}

// trainClassifier trains a small classifier on sentiment lines and returns the data and
// checkpoint paths.
func trainClassifier(t *testing.T, dir string) (data, ckpt string) {
	t.Helper()
	data = writeText(t, dir, "train.tsv", sentimentLines())
	ckpt = filepath.Join(dir, "ck")
	args := append([]string{"classify", "train", "--data", data, "--val", data, "--steps", "60", "--eval-every", "30", "--out", ckpt}, smallTask...)
	if code, out, errOut := recur(t, args...); code != 0 {
		t.Fatalf("classify train exited with %d:\n%s\n%s", code, out, errOut)
	}
	return data, ckpt
}

func TestClassifyPredictUnlabeledInputs(t *testing.T) {
	dir := t.TempDir()
	_, ckpt := trainClassifier(t, dir)
	inputs := writeText(t, dir, "inputs.txt", "film x great\n\nfilm awful\n")
	code, out, errOut := recur(t, "classify", "predict", "--checkpoint", ckpt, "--data", inputs, "--device", "cpu")
	if code != 0 {
		t.Fatalf("classify predict exited with %d:\n%s", code, errOut)
	}
	want := "pos\tfilm x great\nneg\tfilm awful\n"
	if out != want {
		t.Errorf("predictions = %q, want %q", out, want)
	}
	if !strings.Contains(errOut, "no expected outputs to score") {
		t.Errorf("stderr = %q, want a note that nothing was scored", errOut)
	}
}

func TestClassifyPredictScoresLabels(t *testing.T) {
	dir := t.TempDir()
	data, ckpt := trainClassifier(t, dir)
	code, _, errOut := recur(t, "classify", "predict", "--checkpoint", ckpt, "--data", data, "--device", "cpu")
	if code != 0 {
		t.Fatalf("classify predict exited with %d:\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "accuracy 100.00% of 40") {
		t.Errorf("stderr = %q, want accuracy 100.00%% of 40", errOut)
	}
	if !strings.Contains(errOut, "confusion matrix") {
		t.Errorf("stderr = %q, want a confusion matrix", errOut)
	}
}

func TestPredictOutProtectsFiles(t *testing.T) {
	dir := t.TempDir()
	data, ckpt := trainClassifier(t, dir)
	existing := writeText(t, dir, "mine.tsv", "precious\n")
	cases := []struct {
		name, out, want string
	}{
		{"data file", data, "is the --data file"},
		{"checkpoint file", filepath.Join(ckpt, "config.json"), "is inside the checkpoint"},
		{"existing file", existing, "already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := recur(t, "classify", "predict", "--checkpoint", ckpt, "--data", data, "--out", c.out, "--device", "cpu")
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, c.want)
			}
		})
	}
	if got, _ := os.ReadFile(existing); string(got) != "precious\n" {
		t.Errorf("%s was changed to %q", existing, got)
	}
	code, _, errOut := recur(t, "classify", "predict", "--checkpoint", ckpt, "--data", data, "--out", existing, "--overwrite", "--device", "cpu")
	if code != 0 {
		t.Fatalf("predict --overwrite exited with %d:\n%s", code, errOut)
	}
	got, _ := os.ReadFile(existing)
	if lines := strings.Count(string(got), "\n"); lines != 40 {
		t.Errorf("--out file has %d lines, want 40", lines)
	}
}

func TestTaskTrainRefusesNonEmptyOut(t *testing.T) {
	dir := t.TempDir()
	data, ckpt := trainClassifier(t, dir)
	args := append([]string{"classify", "train", "--data", data, "--steps", "5", "--out", ckpt}, smallTask...)
	code, _, errOut := recur(t, args...)
	if code != 1 || !strings.Contains(errOut, "already exists and is not empty") {
		t.Errorf("exit %d, stderr %q; want exit 1 and a non-empty --out error", code, errOut)
	}
	if !strings.Contains(errOut, "--resume "+ckpt) {
		t.Errorf("stderr %q does not suggest --resume %s", errOut, ckpt)
	}
}

func TestTaskResumeBitIdentical(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "train.tsv", sentimentLines())
	flags := append([]string{"--data", data, "--val", data, "--eval-every", "10", "--layers", "2", "--dropout", "0.2"}, smallTask...)
	straight := filepath.Join(dir, "straight")
	halves := filepath.Join(dir, "halves")
	for _, run := range [][]string{
		append([]string{"classify", "train", "--steps", "40", "--out", straight}, flags...),
		append([]string{"classify", "train", "--steps", "20", "--out", halves}, flags...),
		{"classify", "train", "--resume", halves, "--steps", "40", "--device", "cpu"},
	} {
		if code, out, errOut := recur(t, run...); code != 0 {
			t.Fatalf("recur %v exited with %d:\n%s\n%s", run, code, out, errOut)
		}
	}
	for _, name := range []string{"model.safetensors", "train_state.safetensors"} {
		a, errA := os.ReadFile(filepath.Join(straight, name))
		b, errB := os.ReadFile(filepath.Join(halves, name))
		if errA != nil || errB != nil {
			t.Fatalf("reading %s: %v, %v", name, errA, errB)
		}
		if string(a) != string(b) {
			t.Errorf("%s of 20 steps and a resume to 40 differs from that of 40 steps in one run", name)
		}
	}
	code, out, _ := recur(t, "classify", "train", "--resume", halves, "--steps", "40", "--device", "cpu")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("resuming a finished run: exit %d, stdout %q; want exit 0 and nothing to do", code, out)
	}
	code, _, errOut := recur(t, "tag", "train", "--resume", halves, "--device", "cpu")
	if code != 1 || !strings.Contains(errOut, "use recur classify train --resume") {
		t.Errorf("resuming a classifier with recur tag: exit %d, stderr %q", code, errOut)
	}
}

func TestTaskResumeRejectsChanges(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "train.tsv", sentimentLines())
	ckpt := filepath.Join(dir, "ck")
	args := append([]string{"classify", "train", "--data", data, "--steps", "10", "--out", ckpt}, smallTask...)
	if code, _, errOut := recur(t, args...); code != 0 {
		t.Fatalf("classify train exited with %d: %s", code, errOut)
	}
	code, _, errOut := recur(t, "classify", "train", "--resume", ckpt, "--steps", "20", "--hidden", "64", "--device", "cpu")
	if code != 1 || !strings.Contains(errOut, "--hidden cannot change when resuming") {
		t.Errorf("resume with --hidden: exit %d, stderr %q", code, errOut)
	}
	moved := writeText(t, dir, "moved.tsv", sentimentLines())
	if code, _, errOut := recur(t, "classify", "train", "--resume", ckpt, "--steps", "20", "--data", moved, "--device", "cpu"); code != 0 {
		t.Errorf("resume with a moved copy of the same data: exit %d, stderr %q", code, errOut)
	}
	writeText(t, dir, "moved.tsv", strings.Replace(sentimentLines(), "great", "grand", 1))
	code, _, errOut = recur(t, "classify", "train", "--resume", ckpt, "--steps", "30", "--device", "cpu")
	if code != 1 || !strings.Contains(errOut, "differs from the file the checkpoint was trained on") {
		t.Errorf("resume after the data changed: exit %d, stderr %q", code, errOut)
	}
}

func TestTaskTrainStopsWhenDiverged(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "train.tsv", sentimentLines())
	ckpt := filepath.Join(dir, "ck")
	args := append([]string{"classify", "train", "--data", data, "--steps", "40", "--out", ckpt}, smallTask...)
	args = append(args, "--lr", "1e38", "--optim", "sgd", "--clip", "0")
	code, _, errOut := recur(t, args...)
	if code != 1 || !strings.Contains(errOut, "training diverged") || !strings.Contains(errOut, "lower --lr") {
		t.Errorf("exit %d, stderr %q; want exit 1 and a divergence error that advises a lower --lr", code, errOut)
	}
}

func TestLanguageModelCommandOnTaskCheckpoint(t *testing.T) {
	dir := t.TempDir()
	_, ckpt := trainClassifier(t, dir)
	code, _, errOut := recur(t, "sample", "--checkpoint", ckpt, "--length", "5", "--device", "cpu")
	if code != 1 || !strings.Contains(errOut, "use recur classify predict") {
		t.Errorf("exit %d, stderr %q; want exit 1 and a pointer to recur classify predict", code, errOut)
	}
}

func TestGenerateRefusesNonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	mine := writeText(t, dir, "train.tsv", "my own data\n")
	code, _, errOut := recur(t, "generate", "classify", "--out", dir, "--train", "5", "--val", "2", "--test", "2")
	if code != 1 || !strings.Contains(errOut, "already contains files") {
		t.Errorf("exit %d, stderr %q; want exit 1 and an error about existing files", code, errOut)
	}
	if got, _ := os.ReadFile(mine); string(got) != "my own data\n" {
		t.Errorf("%s was changed to %q", mine, got)
	}
}

func TestClassifyTrainReadsPipe(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "train.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("skipping: cannot make a named pipe: %v", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.WriteString(sentimentLines())
		f.Close()
	}()
	args := append([]string{"classify", "train", "--data", fifo, "--steps", "3", "--out", filepath.Join(dir, "ck")}, smallTask...)
	code, out, errOut := recur(t, args...)
	if code != 0 {
		t.Fatalf("classify train on a pipe exited with %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "(40 examples;") {
		t.Errorf("stdout %q does not report the 40 examples of the pipe", out)
	}
}

func TestPredictOutFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	data, ckpt := trainClassifier(t, dir)
	symlink := filepath.Join(dir, "preds-link.tsv")
	hardlink := filepath.Join(dir, "preds-hard.tsv")
	if err := os.Symlink(data, symlink); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(data, hardlink); err != nil {
		t.Fatal(err)
	}
	ckptLink := filepath.Join(dir, "ck-link")
	if err := os.Symlink(ckpt, ckptLink); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, out, want string
	}{
		{"symbolic link to the data", symlink, "is the --data file"},
		{"hard link to the data", hardlink, "is the --data file"},
		{"file under a link to the checkpoint", filepath.Join(ckptLink, "preds.tsv"), "is inside the checkpoint"},
		{"missing directory", filepath.Join(dir, "missing", "preds.tsv"), "does not exist: create it first"},
		{"directory", dir, "is a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := recur(t, "classify", "predict", "--checkpoint", ckpt, "--data", data, "--out", c.out, "--overwrite", "--device", "cpu")
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, c.want)
			}
		})
	}
	if got, _ := os.ReadFile(data); string(got) != sentimentLines() {
		t.Errorf("the data file was changed")
	}
}
