package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// vizText is a small code-like corpus with quotes, brackets, comments and an if block.
const vizText = "if (a < b) {\n\tx = \"s&t\" // c\n}\n"

// trainTinyCheckpoint trains a small model of cell type cell for a few steps on repeats of
// vizText and returns the checkpoint directory and a text file of vizText.
func trainTinyCheckpoint(t *testing.T, cell string) (ck, text string) {
	t.Helper()
	dir := t.TempDir()
	runes := []rune(strings.Repeat(vizText, 30))
	vocab := corpus.BuildVocab(runes)
	ids, err := vocab.Encode(runes)
	if err != nil {
		t.Fatal(err)
	}
	be, err := engine.NewCPU(engine.CPUOptions{GEMM: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	cfg := lstm.Config{Model: cell, Layers: 2, Hidden: 8, Embed: 4, Vocab: vocabStrings(vocab)}
	m, err := lstm.NewModel(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	m.Backend.Upload(m.Params, lstm.InitParams(cfg, rand.New(rand.NewPCG(1, 7)), math.NaN()))
	tc := lstm.TrainConfig{Seq: 8, Batch: 4, Steps: 10, LR: 1e-2, Optim: lstm.OptimAdam, Clip: 5, Seed: 3}
	tr, err := lstm.NewTrainer(m, tc, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < tc.Steps; i++ {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	ck = filepath.Join(dir, "ck")
	if err := lstm.SaveCheckpoint(ck, m, &tc, tr); err != nil {
		t.Fatal(err)
	}
	return ck, writeText(t, dir, "in.txt", vizText)
}

var vizSpanRE = regexp.MustCompile(`<span data-i="\d+" style="background:#[0-9a-f]{6}" title="[^"]*">([^<]*)</span>`)

// checkRows checks that the page draws text rows times, one coloured span per character.
func checkRows(t *testing.T, page, text string, rows int) {
	t.Helper()
	spans := vizSpanRE.FindAllStringSubmatch(page, -1)
	runes := []rune(text)
	if len(spans) != rows*len(runes) {
		t.Fatalf("page has %d coloured spans, want %d rows of %d characters", len(spans), rows, len(runes))
	}
	for i, s := range spans {
		// Unescaped, because a browser's DOM dump escapes fewer characters than the page.
		if got, want := html.UnescapeString(s[1]), string(runes[i%len(runes)]); got != want {
			t.Fatalf("span %d holds %q, want %q", i, got, want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page refers to an http:// or https:// address; it must be self-contained")
	}
}

func TestVizPage(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	out := filepath.Join(t.TempDir(), "page.html")
	code, stdout, stderr := recur(t, "viz", "--checkpoint", ck, "--text", text, "--device", "cpu",
		"--layer", "1", "--unit", "0,7", "--state", "f", "--top-k", "3", "--chunk", "5", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "3 rows") {
		t.Errorf("stdout %q does not report the 3 rows", stdout)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	checkRows(t, page, vizText, 3) // units 0 and 7, then p(char)
	if !strings.Contains(page, ">&lt;</span>") || !strings.Contains(page, ">&amp;</span>") {
		t.Error("the page does not HTML-escape < and & in the text")
	}
	for _, label := range []string{"layer 1 f[0]", "layer 1 f[7]", "p(char)"} {
		if !strings.Contains(page, label) {
			t.Errorf("the page has no row labelled %q", label)
		}
	}
	m := regexp.MustCompile(`<script type="application/json" id="topk">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the page has no top-k JSON")
	}
	var top map[string][]struct {
		C string  `json:"c"`
		P float64 `json:"p"`
	}
	if err := json.Unmarshal([]byte(m[1]), &top); err != nil {
		t.Fatal(err)
	}
	if len(top) != len([]rune(vizText)) || len(top["0"]) != 3 {
		t.Errorf("top-k JSON has %d positions and %d predictions at 0, want %d and 3", len(top), len(top["0"]), len([]rune(vizText)))
	}
}

func TestVizSample(t *testing.T) {
	ck, _ := trainTinyCheckpoint(t, lstm.CellRNN)
	dir := t.TempDir()
	pages := make([]string, 2)
	for k := range pages {
		out := filepath.Join(dir, "sample.html")
		code, _, stderr := recur(t, "viz", "--checkpoint", ck, "--sample", "40", "--seed", "9", "--device", "cpu", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		pages[k] = string(raw)
	}
	if pages[0] != pages[1] {
		t.Error("two runs with the same --seed wrote different pages")
	}
	// The first character is the vocabulary's first, then 40 sampled ones, in 2 rows.
	if n := len(vizSpanRE.FindAllString(pages[0], -1)); n != 2*41 {
		t.Errorf("sample page has %d spans, want %d", n, 2*41)
	}
	if !strings.Contains(pages[0], `title="p(char) = no value"`) || !strings.Contains(pages[0], `title="p(char) = 0.`) {
		t.Error("the p(char) row lacks the first character's empty value or the probabilities")
	}
}

func TestVizErrors(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellRNN)
	out := filepath.Join(t.TempDir(), "p.html")
	base := []string{"viz", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", out}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--layer", "2"}, "invalid --layer 2"},
		{[]string{"--unit", "8"}, "invalid --unit 8"},
		{[]string{"--unit", "1,x"}, `invalid --unit "1,x"`},
		{[]string{"--state", "c"}, "the checkpoint is an RNN"},
		{[]string{"--state", "o"}, "the checkpoint is an RNN"},
		{[]string{"--sample", "5"}, "exclude each other"},
		{[]string{"--find", "--layer", "1"}, "--layer does not apply to --find"},
		{[]string{"--json"}, "--json needs --find"},
	}
	for _, c := range cases {
		code, _, stderr := recur(t, append(base, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("viz %v: exit %d, stderr %q; want exit 1 and %q", c.args, code, stderr, c.want)
		}
	}
	code, _, stderr := recur(t, "viz", "--checkpoint", ck, "--text", text)
	if code != 1 || !strings.Contains(stderr, "missing --out") {
		t.Errorf("viz without --out: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed viz wrote its --out file")
	}
}

func TestVizFindJSON(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	gallery := filepath.Join(t.TempDir(), "gallery.html")
	code, stdout, stderr := recur(t, "viz", "--find", "--json", "--top", "2", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", gallery)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Chars    int `json:"chars"`
		Features []struct {
			Feature string `json:"feature"`
			Units   []struct {
				Layer int     `json:"layer"`
				State string  `json:"state"`
				Unit  int     `json:"unit"`
				R     float64 `json:"r"`
			} `json:"units"`
		} `json:"features"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if got.Chars != len([]rune(vizText)) {
		t.Errorf("chars = %d, want %d", got.Chars, len([]rune(vizText)))
	}
	names := []string{"in_quotes", "line_position", "bracket_depth", "indent_depth", "in_comment", "in_if_block", "word_start"}
	if len(got.Features) != len(names) {
		t.Fatalf("got %d features, want %d", len(got.Features), len(names))
	}
	for k, f := range got.Features {
		if f.Feature != names[k] {
			t.Errorf("feature %d is %q, want %q", k, f.Feature, names[k])
		}
		if len(f.Units) != 2 {
			t.Errorf("feature %s lists %d units, want 2", f.Feature, len(f.Units))
		}
		for _, u := range f.Units {
			if u.Layer < 0 || u.Layer > 1 || (u.State != "h" && u.State != "c") || u.Unit < 0 || u.Unit > 7 || math.Abs(u.R) > 1 {
				t.Errorf("feature %s: invalid entry %+v", f.Feature, u)
			}
		}
		if len(f.Units) == 2 && math.Abs(f.Units[0].R) < math.Abs(f.Units[1].R) {
			t.Errorf("feature %s: units are not ordered by |r|: %+v", f.Feature, f.Units)
		}
	}
	raw, err := os.ReadFile(gallery)
	if err != nil {
		t.Fatal(err)
	}
	// 7 features × 2 units, each panel a unit row and a feature row over the whole text.
	checkRows(t, string(raw), vizText, 7*2*2)

	code, table, stderr := recur(t, "viz", "--find", "--checkpoint", ck, "--text", text, "--device", "cpu")
	if code != 0 || !strings.HasPrefix(table, "feature") || !strings.Contains(table, "in_if_block") {
		t.Errorf("viz --find table: exit %d, stdout %q, stderr %q", code, table, stderr)
	}
}

// TestVizChromium renders a page in headless Chromium and checks the DOM it built.
func TestVizChromium(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing, and CI=true requires the browser test", chromium)
		}
		t.Skipf("%s is not installed; skipping the headless browser check", chromium)
	}
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	dir := t.TempDir()
	out := filepath.Join(dir, "page.html")
	if code, _, stderr := recur(t, "viz", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run"}
	dom, err := exec.Command(chromium, append(flags, "--user-data-dir="+filepath.Join(dir, "profile1"), "--dump-dom", "file://"+out)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	checkRows(t, string(dom), vizText, 2)
	shot := filepath.Join(dir, "page.png")
	cmd := exec.Command(chromium, append(flags, "--user-data-dir="+filepath.Join(dir, "profile2"), "--screenshot="+shot, "file://"+out)...)
	if raw, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, raw)
	}
	if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
		t.Fatalf("chromium wrote no screenshot at %s: %v", shot, err)
	}
}

func TestVizFindFilter(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	tree := t.TempDir()
	raw, err := os.ReadFile(text)
	if err != nil {
		t.Fatal(err)
	}
	writeText(t, tree, "a.txt", string(raw))
	// A character outside the model's vocabulary, so reading this file is an error.
	writeText(t, tree, "b.go", "§§§\n")
	code, stdout, stderr := recur(t, "viz", "--find", "--json", "--checkpoint", ck, "--text", tree, "--filter", "*.txt", "--device", "cpu")
	if code != 0 {
		t.Fatalf("viz --find --filter '*.txt' exited with %d: %s", code, stderr)
	}
	want := fmt.Sprintf(`"chars":%d`, len([]rune(string(raw))))
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout does not contain %s, the characters of a.txt alone:\n%s", want, stdout)
	}
	if code, _, _ := recur(t, "viz", "--find", "--checkpoint", ck, "--text", tree, "--device", "cpu"); code == 0 {
		t.Errorf("viz --find without --filter read b.go's unknown characters and exited with 0")
	}
}
