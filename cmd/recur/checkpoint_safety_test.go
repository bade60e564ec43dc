package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recur-ml/recur/lstm"
	"github.com/recur-ml/recur/safetensors"
)

// trainSmall trains a small model on data for steps steps into out and fails the test when
// training fails.
func trainSmall(t *testing.T, data, out string, steps int, extra ...string) {
	t.Helper()
	args := append([]string{"train", "--data", data, "--out", out, "--steps", strconv.Itoa(steps), "--log-every", "1"}, smallModel...)
	if code, stdout, errOut := recur(t, append(args, extra...)...); code != 0 {
		t.Fatalf("train exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errOut)
	}
}

// copyTree copies the regular files of the directory src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// editTrainSection applies edit to the "train" section of dir's config.json.
func editTrainSection(t *testing.T, dir string, edit func(train map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, lstm.ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg["train"].(map[string]any))
	if raw, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestScratchDirKeepsUserFiles checks that a DIR.tmp containing anything recur does not write
// into a checkpoint stops the run with an error naming it, also when the run fails for
// another reason, and stays as it was. A DIR.tmp containing only leftovers of an interrupted
// save is deleted.
func TestScratchDirKeepsUserFiles(t *testing.T) {
	dir := t.TempDir()
	empty := writeText(t, dir, "empty.txt", "")
	data := writeText(t, dir, "in.txt", strings.Repeat("abcd\n", 100))

	cases := []struct {
		name    string
		command []string
		prepare func(tmp string) string // makes DIR.tmp and returns the path that must survive
	}{
		{"user file, empty data", []string{"train", "--data", empty}, func(tmp string) string {
			return writeText(t, mkdir(t, tmp), "notes.txt", "keep me")
		}},
		{"user file, valid data", []string{"train", "--data", data, "--steps", "2"}, func(tmp string) string {
			return writeText(t, mkdir(t, tmp), "notes.txt", "keep me")
		}},
		{"user file beside leftovers", []string{"train", "--data", data, "--steps", "2"}, func(tmp string) string {
			writeText(t, mkdir(t, tmp), lstm.ConfigFile, "{}")
			return writeText(t, tmp, "notes.txt", "keep me")
		}},
		{"directory under a checkpoint name", []string{"train", "--data", data, "--steps", "2"}, func(tmp string) string {
			return writeText(t, mkdir(t, filepath.Join(tmp, lstm.ModelFile)), "notes.txt", "keep me")
		}},
		{"a file in its place", []string{"train", "--data", data, "--steps", "2"}, func(tmp string) string {
			return writeText(t, filepath.Dir(tmp), filepath.Base(tmp), "keep me")
		}},
		{"task command", []string{"classify", "train", "--data", empty}, func(tmp string) string {
			return writeText(t, mkdir(t, tmp), "notes.txt", "keep me")
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "model"+strconv.Itoa(i))
			keep := c.prepare(out + ".tmp")
			args := append(slices.Clone(c.command), "--out", out)
			if c.command[0] == "train" {
				args = append(args, smallModel...)
			}
			code, _, errOut := recur(t, args...)
			if code == 0 {
				t.Fatalf("exit 0 with a user file in %s.tmp, want an error", out)
			}
			if !strings.Contains(errOut, out+".tmp") {
				t.Errorf("stderr %q does not name %s.tmp", errOut, out)
			}
			if !strings.Contains(errOut, "move or delete") {
				t.Errorf("stderr %q does not say how to fix it", errOut)
			}
			got, err := os.ReadFile(keep)
			if err != nil {
				t.Fatalf("%s is gone: %v", keep, err)
			}
			if string(got) != "keep me" {
				t.Errorf("%s now holds %q, want %q", keep, got, "keep me")
			}
		})
	}

	t.Run("leftovers only", func(t *testing.T) {
		out := filepath.Join(dir, "leftovers")
		tmp := mkdir(t, out+".tmp")
		for _, name := range []string{lstm.ConfigFile, lstm.ModelFile + ".tmp", lstm.TrainStateFile} {
			writeText(t, tmp, name, "partial")
		}
		trainSmall(t, data, out, 2)
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("%s still exists (error %v), want it deleted", tmp, err)
		}
		if _, err := lstm.LoadCheckpoint(out); err != nil {
			t.Errorf("the checkpoint does not load: %v", err)
		}
	})
}

func mkdir(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInferenceSkipsTrainState checks that sample and eval do not read
// train_state.safetensors, so a corrupt one stops only --resume.
func TestInferenceSkipsTrainState(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("hello world\n", 100))
	ck := filepath.Join(dir, "ck")
	trainSmall(t, data, ck, 2)
	writeText(t, ck, lstm.TrainStateFile, "not a safetensors file")

	if code, _, errOut := recur(t, "sample", "--checkpoint", ck, "--length", "5"); code != 0 {
		t.Errorf("sample with a corrupt training state: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := recur(t, "eval", "--checkpoint", ck, "--data", data); code != 0 {
		t.Errorf("eval with a corrupt training state: exit %d, stderr %q", code, errOut)
	}
	ckpt, err := lstm.LoadCheckpointWeights(ck)
	if err != nil {
		t.Fatalf("LoadCheckpointWeights: %v", err)
	}
	if ckpt.State != nil {
		t.Error("LoadCheckpointWeights returned a training state")
	}
	code, _, errOut := recur(t, "train", "--resume", ck, "--steps", "4")
	if code == 0 {
		t.Fatal("resume from a corrupt training state: exit 0, want an error")
	}
	if !strings.Contains(errOut, lstm.TrainStateFile) {
		t.Errorf("resume error %q does not name %s", errOut, lstm.TrainStateFile)
	}
}

// TestResumeRejectsNonFiniteState checks that a NaN or infinity in the saved optimizer
// moments or hidden state stops --resume with an error naming the tensor.
func TestResumeRejectsNonFiniteState(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("hello world\n", 100))
	clean := filepath.Join(dir, "clean")
	trainSmall(t, data, clean, 2)
	state, err := safetensors.ReadFile(filepath.Join(clean, lstm.TrainStateFile))
	if err != nil {
		t.Fatal(err)
	}
	var moment string
	for _, name := range state.Names() {
		if !strings.HasPrefix(name, "state.") {
			moment = name
			break
		}
	}
	if moment == "" {
		t.Fatalf("the training state has no optimizer tensor: %v", state.Names())
	}

	cases := []struct {
		tensor string
		value  float32
	}{
		{moment, float32(math.NaN())},
		{moment, float32(math.Inf(1))},
		{"state.h_l0", float32(math.NaN())},
	}
	for i, c := range cases {
		t.Run(c.tensor+"="+jsonFloat(c.value), func(t *testing.T) {
			ck := filepath.Join(dir, "ck"+strconv.Itoa(i))
			copyTree(t, clean, ck)
			f, err := safetensors.ReadFile(filepath.Join(ck, lstm.TrainStateFile))
			if err != nil {
				t.Fatal(err)
			}
			v, shape, err := f.Float32(c.tensor)
			if err != nil {
				t.Fatal(err)
			}
			v[len(v)-1] = c.value
			f.AddFloat32(c.tensor, shape, v)
			if err := safetensors.WriteFile(filepath.Join(ck, lstm.TrainStateFile), f); err != nil {
				t.Fatal(err)
			}

			code, _, errOut := recur(t, "train", "--resume", ck, "--steps", "4")
			if code == 0 {
				t.Fatal("resume from a non-finite training state: exit 0, want an error")
			}
			if !strings.Contains(errOut, "tensor "+c.tensor+" ") {
				t.Errorf("error %q does not name tensor %s", errOut, c.tensor)
			}
			if !strings.Contains(errOut, "training state is corrupt") {
				t.Errorf("error %q does not say the state is corrupt", errOut)
			}
			if code, _, errOut := recur(t, "sample", "--checkpoint", ck, "--length", "3"); code != 0 {
				t.Errorf("sample, which ignores the training state: exit %d, stderr %q", code, errOut)
			}
		})
	}
}

func jsonFloat(v float32) string {
	switch {
	case math.IsNaN(float64(v)):
		return "NaN"
	case math.IsInf(float64(v), 1):
		return "Inf"
	}
	return "finite"
}

// TestResumeChecksData checks that --resume compares the files --data and --filter select
// with those the checkpoint recorded, by relative name and SHA-256.
func TestResumeChecksData(t *testing.T) {
	dir := t.TempDir()
	template := mkdir(t, filepath.Join(dir, "template"))
	writeText(t, template, "a.txt", strings.Repeat("hello world\n", 60))
	writeText(t, template, "b.txt", strings.Repeat("the quick fox\n", 60))
	ck := filepath.Join(dir, "ck")
	trainSmall(t, template, ck, 2)
	loaded, err := lstm.LoadCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(loaded.Train.DataFiles); got != 2 {
		t.Fatalf("the checkpoint records %d data files, want 2", got)
	}

	cases := []struct {
		name   string
		change func(data string)
		filter string
		want   []string // substrings of the error; none for a resume that must succeed
	}{
		{"same content elsewhere", func(string) {}, "", nil},
		{"file changed", func(data string) { writeText(t, data, "b.txt", strings.Repeat("the quick cat\n", 60)) }, "",
			[]string{"b.txt changed since the checkpoint", "SHA-256", "start a new run"}},
		{"file added", func(data string) { writeText(t, data, "c.txt", "extra text\n") }, "",
			[]string{"c.txt, which is not among the files", "start a new run"}},
		{"file removed", func(data string) { os.Remove(filepath.Join(data, "a.txt")) }, "",
			[]string{"a.txt, which the checkpoint", "start a new run"}},
		{"filter narrows", func(string) {}, "a*",
			[]string{"b.txt, which the checkpoint", "--filter"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(dir, "data"+strconv.Itoa(i))
			copyTree(t, template, data)
			c.change(data)
			args := []string{"train", "--resume", ck, "--out", filepath.Join(dir, "out"+strconv.Itoa(i)), "--data", data, "--steps", "3"}
			if c.filter != "" {
				args = append(args, "--filter", c.filter)
			}
			code, _, errOut := recur(t, args...)
			if c.want == nil {
				if code != 0 {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				return
			}
			if code == 0 {
				t.Fatalf("exit 0, want an error containing %q", c.want)
			}
			for _, want := range c.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q lacks %q", errOut, want)
				}
			}
		})
	}

	t.Run("checkpoint without data files", func(t *testing.T) {
		old := filepath.Join(dir, "old")
		copyTree(t, ck, old)
		editTrainSection(t, old, func(train map[string]any) { delete(train, "data_files") })
		code, _, errOut := recur(t, "train", "--resume", old, "--steps", "3")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if !strings.Contains(errOut, "warning: "+old+" does not record the files") {
			t.Errorf("stderr %q lacks the warning that the data cannot be checked", errOut)
		}
		resumed, err := lstm.LoadCheckpoint(old)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(resumed.Train.DataFiles); got != 2 {
			t.Errorf("the resumed checkpoint records %d data files, want 2", got)
		}
	})
}

// TestResumeValidatesMergedConfig checks that loop settings read from config.json are
// checked like the flags they replace.
func TestResumeValidatesMergedConfig(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("hello world\n", 100))
	clean := filepath.Join(dir, "clean")
	trainSmall(t, data, clean, 2)

	cases := []struct {
		key   string
		value int
		want  string
	}{
		{"eval_every", -3, "invalid --eval-every -3"},
		{"log_every", -1, "invalid --log-every -1"},
		{"max_skipped", -2, "invalid --max-skipped -2"},
	}
	for i, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			ck := filepath.Join(dir, "ck"+strconv.Itoa(i))
			copyTree(t, clean, ck)
			editTrainSection(t, ck, func(train map[string]any) { train[c.key] = c.value })
			code, _, errOut := recur(t, "train", "--resume", ck, "--steps", "4")
			if code == 0 {
				t.Fatalf("exit 0 with %s %d in config.json, want an error", c.key, c.value)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q lacks %q", errOut, c.want)
			}
		})
	}
	code, _, errOut := recur(t, "train", "--resume", clean, "--steps", "4", "--eval-every", "-3")
	if code == 0 || !strings.Contains(errOut, "invalid --eval-every -3") {
		t.Errorf("--eval-every -3 on resume: exit %d, stderr %q", code, errOut)
	}
}

// TestOldCopyLoadedWithNote checks that sample, eval and --resume read DIR.old when DIR is
// missing, and write a note naming DIR.old to stderr.
func TestOldCopyLoadedWithNote(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("hello world\n", 100))
	ck := filepath.Join(dir, "ck")
	trainSmall(t, data, ck, 2)
	if err := os.Rename(ck, ck+".old"); err != nil {
		t.Fatal(err)
	}
	note := "note: " + ck + " is missing, so recur loaded " + ck + ".old"
	for _, args := range [][]string{
		{"sample", "--checkpoint", ck, "--length", "3"},
		{"eval", "--checkpoint", ck, "--data", data},
		{"train", "--resume", ck, "--steps", "3"},
	} {
		code, _, errOut := recur(t, args...)
		if code != 0 {
			t.Errorf("%s: exit %d, stderr %q", args[0], code, errOut)
		}
		if strings.Count(errOut, note) != 1 {
			t.Errorf("%s: stderr %q does not contain %q once", args[0], errOut, note)
		}
	}
}

// TestSecondSignalExitsAtOnce starts training in a child process, sends SIGINT, and sends a
// second SIGINT during the final validation, which takes seconds. The child must exit at
// once with 130, say that it skipped the final checkpoint, and leave the previous one.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 5))
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
	var text strings.Builder
	for text.Len() < 400_000 {
		text.WriteString(words[rng.IntN(len(words))])
		text.WriteByte(' ')
	}
	data := writeText(t, dir, "in.txt", text.String())
	ck := filepath.Join(dir, "ck")
	// No validation split, so this run is quick. The resumed run holds out 80% of the text.
	code, stdout, errOut := recur(t, "train", "--data", data, "--out", ck, "--steps", "2", "--val-frac", "0",
		"--layers", "1", "--hidden", "256", "--embed", "8", "--seq", "8", "--batch", "4")
	if code != 0 {
		t.Fatalf("train exit %d\n%s%s", code, stdout, errOut)
	}

	cmd := exec.Command(os.Args[0], "train", "--resume", ck, "--steps", "1000000", "--val-frac", "0.8",
		"--eval-every", "0", "--log-every", "1")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// waitFor reads stdout until a line contains want.
	waitFor := func(want string) {
		t.Helper()
		timeout := time.After(2 * time.Minute)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					cmd.Wait()
					t.Fatalf("the child ended before printing %q; stderr:\n%s", want, stderr.String())
				}
				if strings.Contains(line, want) {
					return
				}
			case <-timeout:
				cmd.Process.Kill()
				t.Fatalf("no line containing %q within 2 minutes", want)
			}
		}
	}
	signal := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}

	waitFor("loss") // the first progress line: the signal handler is installed by then
	signal()
	waitFor("SIGINT received: writing a final checkpoint")
	signal()
	var rest strings.Builder
	for line := range lines {
		rest.WriteString(line + "\n")
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the child ended with %v, want exit status 130; stdout after the first signal:\n%s", err, rest.String())
	}
	if got := exit.ExitCode(); got != 130 {
		t.Errorf("exit status %d, want 130", got)
	}
	for _, want := range []string{"SIGINT received again: exiting without the final checkpoint",
		"the checkpoint in " + ck + " contains the weights of step 2", "it is complete"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(rest.String(), "validation loss") {
		t.Errorf("the child finished the final validation before the second signal took effect:\n%s", rest.String())
	}
	loaded, err := lstm.LoadCheckpoint(ck)
	if err != nil {
		t.Fatalf("the previous checkpoint does not load: %v", err)
	}
	if got := loaded.State.Metadata["step"]; got != "2" {
		t.Errorf("the checkpoint is at step %s, want 2", got)
	}
}
