package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recur-ml/recur/lstm"
)

// recur runs the CLI in-process and returns its exit code, stdout and stderr.
func recur(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// writeText writes a small corpus with a repeating pattern and returns its path.
func writeText(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var smallModel = []string{"--layers", "1", "--hidden", "16", "--embed", "8", "--seq", "8", "--batch", "4", "--lr", "0.01"}

func TestTrainSampleEval(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("hello world\n", 200))
	ck := filepath.Join(dir, "ck")
	metrics := filepath.Join(dir, "m.jsonl")
	args := append([]string{"train", "--data", data, "--steps", "60", "--eval-every", "30", "--log-every", "10",
		"--out", ck, "--metrics", metrics}, smallModel...)
	code, out, errOut := recur(t, args...)
	if code != 0 {
		t.Fatalf("train exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"vocabulary", "9 code points", "step     60", "done: 60 steps"} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}

	// Metrics: one train record per 10 steps and one eval record at steps 30 and 60.
	f, err := os.Open(metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var trains, evals int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		for _, key := range []string{"kind", "step", "train_loss", "val_loss", "val_bpc", "tokens_per_s"} {
			if _, ok := r[key]; !ok {
				t.Errorf("metrics line %q lacks %q", sc.Text(), key)
			}
		}
		switch r["kind"] {
		case "train":
			trains++
			if r["val_loss"] != nil || r["train_loss"] == nil {
				t.Errorf("train record %q: want train_loss set and val_loss null", sc.Text())
			}
		case "eval":
			evals++
			if r["train_loss"] != nil || r["val_bpc"] == nil {
				t.Errorf("eval record %q: want val_bpc set and train_loss null", sc.Text())
			}
		}
	}
	if trains != 6 || evals != 2 {
		t.Errorf("metrics have %d train and %d eval records, want 6 and 2", trains, evals)
	}

	code, out, errOut = recur(t, "sample", "--checkpoint", ck, "--prime", "hello", "--length", "20", "--temperature", "0")
	if code != 0 {
		t.Fatalf("sample exit %d: %s", code, errOut)
	}
	if got := strings.TrimSuffix(out, "\n"); len([]rune(got)) != 25 || !strings.HasPrefix(got, "hello") {
		t.Errorf("sample = %q, want the prime and 20 characters", got)
	}
	if !strings.HasPrefix(out, "hello world\nhello") {
		t.Errorf("argmax sample after 60 steps = %q, want it to continue the pattern", out)
	}

	code, out, errOut = recur(t, "eval", "--checkpoint", ck, "--data", data, "--json")
	if code != 0 {
		t.Fatalf("eval exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`^\{"loss":[^,]+,"bpc":[^,]+,"chars":\d+\}\n$`).MatchString(out) {
		t.Errorf("eval --json printed %q, want the keys loss, bpc and chars in that order", out)
	}
	var res struct {
		Loss, BPC float64
		Chars     int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval --json printed %q: %v", out, err)
	}
	if res.Chars != 12*200-1 {
		t.Errorf("eval chars = %d, want %d", res.Chars, 12*200-1)
	}
	if res.Loss > 0.5 || res.BPC <= res.Loss {
		t.Errorf("eval loss %.4f nats, bpc %.4f: want loss ≤ 0.5 and bpc = loss/ln 2", res.Loss, res.BPC)
	}

	// Resuming at the step count already reached does nothing and succeeds.
	code, out, _ = recur(t, "train", "--resume", ck, "--steps", "60")
	if code != 0 || !strings.Contains(out, "nothing to train") {
		t.Errorf("resume at --steps 60: exit %d, output %q", code, out)
	}
	// Resuming continues to a higher step count, writing back to the same directory.
	code, out, errOut = recur(t, "train", "--resume", ck, "--steps", "70", "--log-every", "5")
	if code != 0 || !strings.Contains(out, "(starting at 60)") || !strings.Contains(out, "done: 70 steps") {
		t.Errorf("resume to 70: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = recur(t, "train", "--resume", ck, "--steps", "80", "--hidden", "32")
	if code == 0 || !strings.Contains(errOut, "--hidden 32 conflicts") {
		t.Errorf("resume with another --hidden: exit %d, stderr %q", code, errOut)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("abcd", 100))
	small := writeText(t, dir, "small.txt", "abc")
	empty := writeText(t, dir, "empty.txt", "")
	bad := writeText(t, dir, "bad.txt", "ab\xffcd")
	ck := filepath.Join(dir, "ck")
	args := append([]string{"train", "--data", data, "--steps", "2", "--out", ck}, smallModel...)
	if code, _, errOut := recur(t, args...); code != 0 {
		t.Fatalf("train: %s", errOut)
	}
	noModel := filepath.Join(dir, "no-model")
	if err := os.MkdirAll(noModel, 0o755); err != nil {
		t.Fatal(err)
	}
	rawConfig, err := os.ReadFile(filepath.Join(ck, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeText(t, noModel, "config.json", string(rawConfig))
	corrupt := filepath.Join(dir, "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.json", "model.safetensors"} {
		raw, err := os.ReadFile(filepath.Join(ck, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "model.safetensors" {
			raw = raw[:len(raw)/2]
		}
		writeText(t, corrupt, name, string(raw))
	}

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"train", "--data", filepath.Join(dir, "nope.txt")}, "nope.txt"},
		{"empty file", []string{"train", "--data", empty}, "empty"},
		{"invalid utf8", []string{"train", "--data", bad}, "offset 2"},
		{"corpus smaller than batch", append([]string{"train", "--data", small}, smallModel...), "lower --batch, --seq or --val-frac"},
		{"unknown model", []string{"train", "--data", data, "--model", "mlp"}, `invalid model "mlp"`},
		{"unknown optimizer", append([]string{"train", "--data", data, "--optim", "lbfgs"}, smallModel...), `invalid optimizer "lbfgs"`},
		{"unknown device", append([]string{"train", "--data", data, "--device", "tpu"}, smallModel...), "tpu"},
		{"dropout one", []string{"train", "--data", data, "--dropout", "1"}, "--dropout 1"},
		{"val frac", []string{"train", "--data", data, "--val-frac", "1.5"}, "1.5"},
		{"no data", []string{"train"}, "missing --data"},
		{"negative temperature", []string{"sample", "--checkpoint", ck, "--temperature", "-0.5"}, "--temperature -0.5"},
		{"prime outside vocabulary", []string{"sample", "--checkpoint", ck, "--prime", "abz"}, "'z' (U+007A) at offset 2"},
		{"truncated checkpoint", []string{"sample", "--checkpoint", corrupt}, "model.safetensors"},
		{"missing checkpoint", []string{"sample", "--checkpoint", filepath.Join(dir, "none")}, "none not found: pass a directory written by recur train"},
		{"resume missing checkpoint", []string{"train", "--resume", filepath.Join(dir, "none")}, "none not found: pass a directory written by recur train"},
		{"checkpoint without weights", []string{"sample", "--checkpoint", noModel}, "has no model.safetensors, so it is incomplete"},
		{"eval invalid utf8", []string{"eval", "--checkpoint", ck, "--data", bad}, "offset 2"},
		{"eval unknown character", []string{"eval", "--checkpoint", ck, "--data", writeText(t, dir, "oov.txt", "abcz")}, "'z' (U+007A) at character offset 3 is not in the vocabulary"},
		{"eval one character", []string{"eval", "--checkpoint", ck, "--data", writeText(t, dir, "one.txt", "a")}, "at least 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := recur(t, c.args...)
			if code == 0 {
				t.Fatalf("exit 0, want an error containing %q", c.want)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q lacks %q", errOut, c.want)
			}
		})
	}

	for _, args := range [][]string{{"train", "--hidden", "x"}, {"train", "--no-such-flag"}, {"sample", "--length", "1e3"}} {
		code, stdout, errOut := recur(t, args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if want := "run 'recur " + args[0] + " -h' for the flags\n"; !strings.HasSuffix(errOut, want) {
			t.Errorf("%q: stderr %q does not end with the hint %q", args, errOut, want)
		}
		if lines := strings.Count(errOut, "\n"); lines != 2 {
			t.Errorf("%q: stderr has %d lines, want the error and the hint:\n%s", args, lines, errOut)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", args, stdout)
		}
	}
	code, stdout, errOut := recur(t, "train", "-h")
	if code != 0 {
		t.Errorf("train -h: exit %d, want 0", code)
	}
	for _, want := range []string{"Usage of recur train:", "-max-skipped", "-seq"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train -h: stdout lacks %q", want)
		}
	}
	if errOut != "" {
		t.Errorf("train -h: stderr %q, want nothing", errOut)
	}
	if code, _, errOut := recur(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
}

func TestPlotMetrics(t *testing.T) {
	dir := t.TempDir()
	metrics := writeText(t, dir, "m.jsonl", `{"kind":"train","step":10,"train_loss":3.1,"val_loss":null,"val_bpc":null,"tokens_per_s":100}
{"kind":"train","step":20,"train_loss":2.5,"val_loss":null,"val_bpc":null,"tokens_per_s":100}
{"kind":"eval","step":20,"train_loss":null,"val_loss":2.6,"val_bpc":3.75,"tokens_per_s":null}
`)
	out := filepath.Join(dir, "loss.png")
	code, stdout, errOut := recur(t, "plot", "--metrics", metrics, "--out", out)
	if code != 0 {
		t.Fatalf("plot exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, "2 train and 1 validation points") {
		t.Errorf("plot output %q", stdout)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("\x89PNG")) {
		t.Errorf("%s is not a PNG", out)
	}
	if st, err := os.Stat(out); err != nil {
		t.Error(err)
	} else if st.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("%s has mode %v, want it readable by group and others", out, st.Mode().Perm())
	}
	broken := writeText(t, dir, "broken.jsonl", "{nope\n")
	if code, _, errOut := recur(t, "plot", "--metrics", broken, "--out", out); code == 0 || !strings.Contains(errOut, "broken.jsonl:1") {
		t.Errorf("broken metrics: exit %d, stderr %q", code, errOut)
	}
}

func TestOutputsNeverDeleteUserFiles(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("abcd\n", 100))
	file := writeText(t, dir, "notes.txt", "keep me")
	own := filepath.Join(dir, "mine")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	thesis := writeText(t, own, "thesis.tex", "keep me too")
	ck := filepath.Join(dir, "ck")
	train := func(extra ...string) (int, string) {
		args := append([]string{"train", "--data", data, "--steps", "2", "--log-every", "1"}, smallModel...)
		code, _, errOut := recur(t, append(args, extra...)...)
		return code, errOut
	}

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"out is a file", []string{"--out", file}, "is an existing file"},
		{"out holds other files", []string{"--out", own}, "thesis.tex, which recur did not write"},
		{"metrics inside out", []string{"--out", ck, "--metrics", filepath.Join(ck, "m.jsonl")}, "inside the checkpoint directory"},
		{"steps zero", []string{"--out", ck, "--steps", "0"}, "invalid --steps 0"},
		{"dropout rounds to one", []string{"--out", ck, "--dropout", "0.9999999999", "--layers", "2"}, "--dropout"},
		{"lr beyond float32", []string{"--out", ck, "--lr", "1e39"}, "invalid --lr"},
		{"forget bias NaN", []string{"--out", ck, "--forget-bias", "NaN"}, "invalid --forget-bias"},
		{"forget bias on rnn", []string{"--out", ck, "--forget-bias", "1", "--model", "rnn"}, "LSTM gates only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, errOut := train(c.args...)
			if code == 0 {
				t.Fatalf("exit 0, want an error containing %q", c.want)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q lacks %q", errOut, c.want)
			}
		})
	}
	for path, want := range map[string]string{file: "keep me", thesis: "keep me too"} {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s now holds %q (error %v), want %q", path, got, err, want)
		}
	}

	// A missing parent directory is created.
	if code, errOut := train("--out", filepath.Join(dir, "runs", "first")); code != 0 {
		t.Fatalf("--out under a missing parent: %s", errOut)
	}
	// A trailing slash names the same directory.
	if code, errOut := train("--out", ck+"/"); code != 0 {
		t.Fatalf("--out with a trailing slash: %s", errOut)
	}
	// A second fresh run must not replace the first run's checkpoint.
	if code, errOut := train("--out", ck); code == 0 || !strings.Contains(errOut, "already contains a checkpoint") {
		t.Errorf("fresh run over a checkpoint: exit %d, stderr %q", code, errOut)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}

func TestDivergedRunKeepsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("abcd\n", 200))
	ck := filepath.Join(dir, "ck")
	args := append([]string{"train", "--data", data, "--steps", "4", "--out", ck, "--optim", "sgd"}, smallModel...)
	if code, _, errOut := recur(t, args...); code != 0 {
		t.Fatalf("train: %s", errOut)
	}
	before, err := os.ReadFile(filepath.Join(ck, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(dir, "m.jsonl")
	code, stdout, errOut := recur(t, "train", "--resume", ck, "--steps", "200", "--lr", "1e38", "--clip", "0",
		"--eval-every", "2", "--metrics", metrics)
	errOut = stdout + errOut
	if code == 0 {
		t.Fatal("training at --lr 1e38 succeeded, want a divergence error")
	}
	// float32(1e38)/2 prints as 5e+37.
	for _, want := range []string{"restored the checkpoint of step 4", "lowered the learning rate to 5e+37 (restore 1 of 3)",
		"contains the weights of step 4", "skipped: the loss ("} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "and 0 steps in a row were skipped") {
		t.Errorf("output reports 0 skipped steps as a reason:\n%s", errOut)
	}
	// With the default --max-skipped, the tenth non-finite step in a row restores the
	// checkpoint, after nine logged skips.
	if step, run := skipRunBeforeRestore(t, errOut); run != lstm.MaxSkippedSteps-1 {
		t.Errorf("the restore at step %d followed %d logged skipped steps, want %d", step, run, lstm.MaxSkippedSteps-1)
	}
	after, err := os.ReadFile(filepath.Join(ck, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the checkpoint changed although every later evaluation was non-finite")
	}
	raw, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("metrics line %q is not JSON: %v", line, err)
		}
	}
}

func TestPlotRejectsUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	metrics := writeText(t, dir, "m.jsonl", `{"kind":"train","step":1,"train_loss":3,"val_loss":null,"val_bpc":null,"tokens_per_s":1}`+"\n")
	code, _, errOut := recur(t, "plot", "--metrics", metrics, "--out", metrics)
	if code == 0 || !strings.Contains(errOut, ".png, .svg, .pdf") {
		t.Errorf("plot over a .jsonl: exit %d, stderr %q", code, errOut)
	}
	raw, err := os.ReadFile(metrics)
	if err != nil || len(raw) == 0 {
		t.Errorf("metrics file emptied by a rejected plot (error %v)", err)
	}
}

// TestInterruptWritesCheckpoint sends SIGINT or SIGTERM to the test process while recur
// trains in it, and checks the exit status, the resume hint and the final checkpoint.
func TestInterruptWritesCheckpoint(t *testing.T) {
	cases := []struct {
		sig      syscall.Signal
		wantCode int
	}{
		{syscall.SIGINT, 130},
		{syscall.SIGTERM, 143},
	}
	for _, c := range cases {
		t.Run(signalName(c.sig), func(t *testing.T) {
			dir := t.TempDir()
			data := writeText(t, dir, "in.txt", strings.Repeat("abcd\n", 400))
			ck := filepath.Join(dir, "ck")
			metrics := filepath.Join(dir, "m.jsonl")
			args := append([]string{"train", "--data", data, "--steps", "1000000", "--log-every", "1",
				"--eval-every", "0", "--out", ck, "--metrics", metrics}, smallModel...)
			done := make(chan int)
			var out string
			go func() {
				code, stdout, _ := recur(t, args...)
				out = stdout
				done <- code
			}()
			// Wait for the first metrics record: the signal handler is installed by then.
			for {
				if raw, err := os.ReadFile(metrics); err == nil && len(raw) > 0 {
					break
				}
				select {
				case code := <-done:
					t.Fatalf("training ended with exit %d before it was interrupted", code)
				case <-time.After(10 * time.Millisecond):
				}
			}
			if err := syscall.Kill(os.Getpid(), c.sig); err != nil {
				t.Fatal(err)
			}
			if code := <-done; code != c.wantCode {
				t.Fatalf("exit %d after %v, want %d\n%s", code, c.sig, c.wantCode, out)
			}
			stopped := regexp.MustCompile(`stopped at step (\d+) of 1000000; continue with: recur train --resume `).FindStringSubmatch(out)
			if stopped == nil {
				t.Fatalf("output lacks the stop line and resume hint:\n%s", out)
			}

			loaded, err := lstm.LoadCheckpoint(ck)
			if err != nil {
				t.Fatalf("the checkpoint written at %v does not load: %v", c.sig, err)
			}
			if loaded.State == nil {
				t.Fatalf("the checkpoint written at %v has no training state", c.sig)
			}
			if got := loaded.State.Metadata["step"]; got != stopped[1] {
				t.Errorf("the checkpoint is at step %s, but the output reports a stop at step %s", got, stopped[1])
			}
			if step, err := strconv.Atoi(stopped[1]); err != nil || step < 1 {
				t.Errorf("stopped at step %q, want 1 or more", stopped[1])
			}
			code, stdout, errOut := recur(t, "sample", "--checkpoint", ck, "--length", "5")
			if code != 0 {
				t.Fatalf("sampling from the checkpoint written at %v failed: %s", c.sig, errOut)
			}
			if len([]rune(strings.TrimSpace(stdout))) != 6 {
				t.Errorf("sample from the interrupted checkpoint = %q, want 6 characters", stdout)
			}
		})
	}
}
