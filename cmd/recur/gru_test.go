package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrainSampleGRU(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("hello world\n", 200))
	ck := filepath.Join(dir, "ck")
	args := append([]string{"train", "--data", data, "--model", "gru", "--steps", "20",
		"--log-every", "10", "--out", ck}, smallModel...)
	args = append(args, "--layers", "2", "--dropout", "0.1")
	code, out, errOut := recur(t, args...)
	if code != 0 {
		t.Fatalf("train exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "gru, 2 layers") {
		t.Errorf("train output does not name the gru model:\n%s", out)
	}
	if !strings.Contains(out, "done: 20 steps") {
		t.Errorf("train output lacks the final step:\n%s", out)
	}

	raw, err := os.ReadFile(filepath.Join(ck, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct{ Model string }
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("config.json %q: %v", raw, err)
	}
	if cfg.Model != "gru" {
		t.Errorf("config.json model = %q, want gru", cfg.Model)
	}

	code, out, errOut = recur(t, "sample", "--checkpoint", ck, "--prime", "hello", "--length", "20")
	if code != 0 {
		t.Fatalf("sample exit %d: %s", code, errOut)
	}
	if got := strings.TrimSuffix(out, "\n"); len([]rune(got)) != 25 || !strings.HasPrefix(got, "hello") {
		t.Errorf("sample = %q, want the prime and 20 characters", got)
	}
}
