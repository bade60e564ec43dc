package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// skipRunBeforeRestore finds the first "training diverged" line of a train log and returns
// its step and the number of "skipped" lines for the consecutive steps that end at it.
func skipRunBeforeRestore(t *testing.T, log string) (step, run int) {
	t.Helper()
	restore := regexp.MustCompile(`(?m)^step (\d+)  training diverged: restored`).FindStringSubmatchIndex(log)
	if restore == nil {
		t.Fatalf("the log has no \"training diverged: restored\" line:\n%s", log)
	}
	step, err := strconv.Atoi(log[restore[2]:restore[3]])
	if err != nil {
		t.Fatal(err)
	}
	before := log[:restore[0]]
	for strings.Contains(before, "step "+strconv.Itoa(step-run)+"  skipped: ") {
		run++
	}
	return step, run
}

func TestMaxSkippedRestoresAndPersists(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("abcd\n", 200))
	ck := filepath.Join(dir, "ck")
	const maxSkipped = 2
	args := append([]string{"train", "--data", data, "--steps", "4", "--out", ck, "--optim", "sgd",
		"--max-skipped", strconv.Itoa(maxSkipped)}, smallModel...)
	if code, _, errOut := recur(t, args...); code != 0 {
		t.Fatalf("train: %s", errOut)
	}
	config := filepath.Join(ck, "config.json")
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"max_skipped": 2,`; !strings.Contains(string(raw), want) {
		t.Fatalf("config.json lacks %s:\n%s", want, raw)
	}

	// The resumed run takes --max-skipped from the checkpoint: the restore follows the
	// second non-finite step in a row, one of which is logged as skipped.
	code, stdout, errOut := recur(t, "train", "--resume", ck, "--steps", "100", "--lr", "1e38", "--clip", "0",
		"--eval-every", "2", "--log-every", "1000")
	if code == 0 {
		t.Fatal("training at --lr 1e38 succeeded, want a divergence error")
	}
	step, run := skipRunBeforeRestore(t, stdout+errOut)
	if run != maxSkipped-1 {
		t.Errorf("the restore at step %d followed %d logged skipped steps, want %d:\n%s", step, run, maxSkipped-1, stdout)
	}

	// A checkpoint written before --max-skipped existed resumes with the default of 10,
	// which the next checkpoint records.
	old := strings.Replace(string(raw), `"max_skipped": 2,`, "", 1)
	if err := os.WriteFile(config, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := recur(t, "train", "--resume", ck, "--steps", "6"); code != 0 {
		t.Fatalf("resume of a checkpoint without max_skipped: %s", errOut)
	}
	raw, err = os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"max_skipped": 10,`; !strings.Contains(string(raw), want) {
		t.Errorf("config.json after resuming an old checkpoint lacks %s:\n%s", want, raw)
	}

	if code, _, errOut := recur(t, "train", "--data", data, "--max-skipped", "0"); code != 1 || !strings.Contains(errOut, "invalid --max-skipped 0") {
		t.Errorf("--max-skipped 0: exit %d, stderr %q", code, errOut)
	}
}

// TestHugeSeqRejected checks that a sequence length near the int limit, given as a flag or in
// a checkpoint's config.json, is an error naming the value rather than a panic.
func TestHugeSeqRejected(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("abcd\n", 100))
	const huge = "9223372036854775807"

	code, _, errOut := recur(t, "train", "--data", data, "--seq", huge, "--batch", "1", "--out", filepath.Join(dir, "fresh"))
	if code != 1 {
		t.Errorf("--seq %s: exit %d, want 1", huge, code)
	}
	if want := "invalid --seq " + huge; !strings.Contains(errOut, want) {
		t.Errorf("--seq %s: stderr %q lacks %q", huge, errOut, want)
	}

	ck := filepath.Join(dir, "ck")
	args := append([]string{"train", "--data", data, "--steps", "2", "--out", ck}, smallModel...)
	if code, _, errOut := recur(t, args...); code != 0 {
		t.Fatalf("train: %s", errOut)
	}
	config := filepath.Join(ck, "config.json")
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), `"seq": 8,`, `"seq": `+huge+`,`, 1)
	if edited == string(raw) {
		t.Fatalf("config.json has no \"seq\": 8:\n%s", raw)
	}
	if err := os.WriteFile(config, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = recur(t, "train", "--resume", ck, "--steps", "4")
	if code != 1 {
		t.Errorf("resume with seq %s: exit %d, want 1", huge, code)
	}
	for _, want := range []string{"invalid --seq " + huge, `"train" section`, "start a new run"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("resume with seq %s: stderr %q lacks %q", huge, errOut, want)
		}
	}
}
