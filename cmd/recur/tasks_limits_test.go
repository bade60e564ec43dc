package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassifyTrainRejectsLineTooLongForTensor(t *testing.T) {
	dir := t.TempDir()
	// 20000 steps of 4·16384 gates in 2 rows exceed 2³¹−1 elements. The check runs before the
	// model (a billion parameters at --hidden 16384) is allocated, so this stays small.
	data := writeText(t, dir, "long.tsv", "neg\tbye\npos\t"+strings.Repeat("a", 20000)+"\n")
	code, _, errOut := recur(t, "classify", "train", "--data", data, "--out", filepath.Join(dir, "ck"),
		"--hidden", "16384", "--embed", "4", "--steps", "1", "--batch", "4", "--device", "cpu")
	if code == 0 {
		t.Fatal("classify train accepted a line too long for a tensor")
	}
	for _, want := range []string{"long.tsv:2:", "20000 tokens", "lower --batch"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not contain %q", errOut, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ck")); err == nil {
		t.Error("the rejected run created its checkpoint directory")
	}
}

func TestClassifyTrainRejectsWorkspaceOverMemory(t *testing.T) {
	saved := physicalMemory
	defer func() { physicalMemory = saved }()
	const fakeMemory = 1 << 20 // bytes
	physicalMemory = func() int64 { return fakeMemory }

	dir := t.TempDir()
	data := writeText(t, dir, "long.tsv", "neg\tbye\npos\t"+strings.Repeat("a", 5000)+"\n")
	code, _, errOut := recur(t, "classify", "train", "--data", data, "--out", filepath.Join(dir, "ck"),
		"--hidden", "8", "--embed", "4", "--steps", "1", "--batch", "4", "--device", "cpu")
	if code == 0 {
		t.Fatal("classify train accepted a workspace larger than the memory")
	}
	for _, want := range []string{"long.tsv:2:", "5000 tokens", "GiB", "lower --batch"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not contain %q", errOut, want)
		}
	}
}

func TestTaskTrainRejectsBadForgetBias(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "train.tsv", sentimentLines())
	for _, value := range []string{"NaN", "1e300", "-Inf"} {
		for _, task := range []string{"classify", "tag", "seq2seq", "caption"} {
			out := filepath.Join(dir, "ck-"+task)
			args := []string{task, "train", "--data", data, "--out", out,
				"--forget-bias", value, "--steps", "1", "--device", "cpu"}
			if task == "caption" {
				// The options are checked before the files are read, so the file need not exist.
				args = append(args, "--images", filepath.Join(dir, "features.npy"))
			}
			code, _, errOut := recur(t, args...)
			if code == 0 {
				t.Errorf("%s train --forget-bias %s exited with 0", task, value)
				continue
			}
			if !strings.Contains(errOut, "--forget-bias") {
				t.Errorf("%s train --forget-bias %s: stderr %q does not name the flag", task, value, errOut)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s train --forget-bias %s created %s", task, value, out)
			}
		}
	}
}

func TestTaskResumeNamesStoredSetting(t *testing.T) {
	dir := t.TempDir()
	_, ckpt := trainClassifier(t, dir)
	path := filepath.Join(ckpt, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fc map[string]any
	if err := json.Unmarshal(raw, &fc); err != nil {
		t.Fatal(err)
	}
	fc["train"].(map[string]any)["batch"] = 0
	raw, err = json.Marshal(fc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := recur(t, "classify", "train", "--resume", ckpt, "--steps", "100", "--device", "cpu")
	if code == 0 {
		t.Fatal("resume with batch 0 in config.json exited with 0")
	}
	if !strings.Contains(errOut, `"batch" in `+path) {
		t.Errorf("stderr %q does not name batch in %s", errOut, path)
	}
	if strings.Contains(errOut, "--batch") {
		t.Errorf("stderr %q names --batch, which the command line did not pass", errOut)
	}
}

func TestSeq2SeqPredictRejectsHugeMaxLen(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "pairs.tsv", "ab\tba\ncd\tdc\n")
	code, _, errOut := recur(t, "seq2seq", "predict", "--checkpoint", filepath.Join(dir, "none"),
		"--data", data, "--max-len", "100000000", "--device", "cpu")
	if code == 0 {
		t.Fatal("seq2seq predict --max-len 1e8 exited with 0")
	}
	if !strings.Contains(errOut, "invalid --max-len 100000000") {
		t.Errorf("stderr %q does not reject --max-len", errOut)
	}
}
