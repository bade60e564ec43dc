package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recur-ml/recur/lstm"
)

// plotMetricsLines is a metrics file with two train records and one eval record.
const plotMetricsLines = `{"kind":"train","step":10,"train_loss":3.1}
{"kind":"train","step":20,"train_loss":2.5}
{"kind":"eval","step":20,"val_loss":2.6}
`

func TestVizOutProtectsFiles(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	dir := filepath.Dir(text)
	viz := func(out string, extra ...string) (int, string) {
		args := append([]string{"viz", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", out}, extra...)
		code, _, errOut := recur(t, args...)
		return code, errOut
	}

	// --out naming the input text, directly or through a link, leaves the text alone.
	link := filepath.Join(dir, "link.html")
	if err := os.Symlink(text, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{text, link} {
		code, errOut := viz(out, "--overwrite")
		if code == 0 {
			t.Errorf("viz --out %s exited with 0", out)
		}
		if !strings.Contains(errOut, "--out") {
			t.Errorf("viz --out %s: stderr %q does not name --out", out, errOut)
		}
	}
	if raw, err := os.ReadFile(text); err != nil || string(raw) != vizText {
		t.Errorf("the input text changed: %q, %v", raw, err)
	}

	code, errOut := viz(filepath.Join(ck, "page.html"))
	if code == 0 || !strings.Contains(errOut, "inside the checkpoint") {
		t.Errorf("viz --out inside the checkpoint: exit %d, stderr %q", code, errOut)
	}

	// A file that recur did not write needs --overwrite.
	notes := writeText(t, dir, "notes.html", "my notes\n")
	code, errOut = viz(notes)
	if code == 0 || !strings.Contains(errOut, "--overwrite") {
		t.Errorf("viz --out over a user file: exit %d, stderr %q", code, errOut)
	}
	if raw, _ := os.ReadFile(notes); string(raw) != "my notes\n" {
		t.Errorf("the user's file changed to %q", raw)
	}
	if code, errOut = viz(notes, "--overwrite"); code != 0 {
		t.Errorf("viz --out --overwrite: exit %d, stderr %q", code, errOut)
	}

	// A page of an earlier run is replaced without --overwrite.
	page := filepath.Join(dir, "page.html")
	for run := range 2 {
		if code, errOut := viz(page); code != 0 {
			t.Errorf("run %d: viz --out %s: exit %d, stderr %q", run, page, code, errOut)
		}
	}
	if st, err := os.Stat(page); err != nil || st.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("page mode %v (%v), want readable by group and others", st.Mode().Perm(), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".recur-out-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestVizFindKeepsUserGallery(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	dir := t.TempDir()
	gallery := writeText(t, dir, "gallery.html", "hand-written gallery\n")
	saved, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(saved)
	code, _, errOut := recur(t, "viz", "--find", "--checkpoint", ck, "--text", text, "--device", "cpu")
	if code == 0 {
		t.Error("viz --find replaced a gallery.html that recur did not write")
	}
	if !strings.Contains(errOut, "gallery.html") {
		t.Errorf("stderr %q does not name gallery.html", errOut)
	}
	if raw, _ := os.ReadFile(gallery); string(raw) != "hand-written gallery\n" {
		t.Errorf("gallery.html changed to %q", raw)
	}
}

func TestVizFlagErrors(t *testing.T) {
	gru, text := trainTinyCheckpoint(t, lstm.CellGRU)
	out := filepath.Join(t.TempDir(), "page.html")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--checkpoint", gru, "--text", text, "--state", "c"}, "GRU, which has no cell state"},
		{[]string{"--checkpoint", gru, "--text", text, "--prime", "ab"}, "--prime needs --sample"},
		{[]string{"--checkpoint", gru, "--sample", "100000000000"}, "invalid --sample 100000000000: use at most 1000000"},
	}
	for _, c := range cases {
		args := append([]string{"viz", "--device", "cpu", "--out", out}, c.args...)
		code, _, errOut := recur(t, args...)
		if code == 0 {
			t.Errorf("%q exited with 0", c.args)
			continue
		}
		if !strings.Contains(errOut, c.want) {
			t.Errorf("%q: stderr %q does not contain %q", c.args, errOut, c.want)
		}
	}
}

func TestGradFlowOutProtectsText(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	png := filepath.Join(filepath.Dir(text), "text.png")
	if err := os.Link(text, png); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := recur(t, "viz", "--grad-flow", "--checkpoint", ck, "--text", text,
		"--device", "cpu", "--out", png, "--overwrite")
	if code == 0 || !strings.Contains(errOut, "is the input file") {
		t.Errorf("grad-flow --out over the text: exit %d, stderr %q", code, errOut)
	}
	if raw, _ := os.ReadFile(text); string(raw) != vizText {
		t.Errorf("the input text changed to %q", raw)
	}
}

func TestPlotOutErrors(t *testing.T) {
	dir := t.TempDir()
	metrics := writeText(t, dir, "m.jsonl", plotMetricsLines)
	asDir := filepath.Join(dir, "dir.png")
	if err := os.Mkdir(asDir, 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := recur(t, "plot", "--metrics", metrics, "--out", asDir)
	if code == 0 || !strings.Contains(errOut, "is a directory") {
		t.Errorf("plot --out DIR: exit %d, stderr %q", code, errOut)
	}
}

func TestPlotMetricsLineTooLong(t *testing.T) {
	dir := t.TempDir()
	long := `{"kind":"train","step":1,"train_loss":1,"note":"` + strings.Repeat("x", maxMetricsLine) + "\"}\n"
	metrics := writeText(t, dir, "m.jsonl", plotMetricsLines+long)
	code, _, errOut := recur(t, "plot", "--metrics", metrics, "--out", filepath.Join(dir, "loss.png"))
	if code == 0 {
		t.Fatal("plot accepted a metrics line over the limit")
	}
	if !strings.Contains(errOut, "m.jsonl:4:") || !strings.Contains(errOut, "longer than") {
		t.Errorf("stderr %q does not name line 4 as too long", errOut)
	}
}

func TestPlotSkipsTruncatedLastLine(t *testing.T) {
	dir := t.TempDir()
	metrics := writeText(t, dir, "m.jsonl", plotMetricsLines+`{"kind":"train","st`)
	code, stdout, errOut := recur(t, "plot", "--metrics", metrics, "--out", filepath.Join(dir, "loss.png"))
	if code != 0 {
		t.Fatalf("plot exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "m.jsonl:4: skipped the last line") {
		t.Errorf("stderr %q has no note about line 4", errOut)
	}
	if !strings.Contains(stdout, "2 train and 1 validation points") {
		t.Errorf("stdout %q", stdout)
	}
	// A cut line in the middle of the file is still an error.
	middle := writeText(t, dir, "mid.jsonl", `{"kind":"train","st`+"\n"+plotMetricsLines)
	if code, _, errOut := recur(t, "plot", "--metrics", middle, "--out", filepath.Join(dir, "loss.png")); code == 0 || !strings.Contains(errOut, "mid.jsonl:1: invalid JSON") {
		t.Errorf("cut first line: exit %d, stderr %q", code, errOut)
	}
}
