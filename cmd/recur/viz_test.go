package main

import (
	"bytes"
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

	if !strings.Contains(stderr, "wrote "+gallery+": 14 panels") {
		t.Errorf("stderr %q does not name the gallery and its 14 panels", stderr)
	}
}

func TestVizFindDefaultGallery(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	t.Chdir(t.TempDir())
	code, table, stderr := recur(t, "viz", "--find", "--checkpoint", ck, "--text", text, "--device", "cpu")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(table, "feature") || !strings.Contains(table, "in_if_block") {
		t.Errorf("viz --find prints no ranking table:\n%s", table)
	}
	if !strings.Contains(table, "wrote gallery.html: 21 panels") {
		t.Errorf("stdout does not name gallery.html and its 21 panels (7 features, 3 units each):\n%s", table)
	}
	if _, err := os.Stat("gallery.html"); err != nil {
		t.Errorf("viz --find without --out wrote no gallery.html: %v", err)
	}
}

func TestVizFindNoGallery(t *testing.T) {
	ck, text := trainTinyCheckpoint(t, lstm.CellLSTM)
	t.Chdir(t.TempDir())
	code, table, stderr := recur(t, "viz", "--find", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", "")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(table, "wrote") {
		t.Errorf("viz --find --out '' reports a written file:\n%s", table)
	}
	if _, err := os.Stat("gallery.html"); err == nil {
		t.Error("viz --find --out '' wrote gallery.html")
	}
}

func TestVizFindConstantFeature(t *testing.T) {
	ck, _ := trainTinyCheckpoint(t, lstm.CellLSTM)
	dir := t.TempDir()
	// vizText without its comment, so in_comment is 0 at every character.
	plain := strings.Replace(vizText, " // c", "", 1)
	text := writeText(t, dir, "plain.txt", plain)
	gallery := filepath.Join(dir, "gallery.html")
	code, table, stderr := recur(t, "viz", "--find", "--top", "2", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", gallery)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var commentLines []string
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "in_comment") {
			commentLines = append(commentLines, line)
		}
	}
	if len(commentLines) != 1 || !strings.Contains(commentLines[0], "constant over this text") {
		t.Errorf("the table has in_comment lines %q, want one that calls it constant", commentLines)
	}

	code, stdout, stderr := recur(t, "viz", "--find", "--json", "--top", "2", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", "")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `{"feature":"in_comment","constant":true,"units":[]}`) {
		t.Errorf("JSON does not list in_comment as constant with no units:\n%s", stdout)
	}
	if !strings.Contains(stdout, `{"feature":"in_quotes","constant":false,"units":[{`) {
		t.Errorf("JSON does not list units for in_quotes:\n%s", stdout)
	}

	raw, err := os.ReadFile(gallery)
	if err != nil {
		t.Fatal(err)
	}
	// 6 varying features × 2 units, each panel a unit row and a feature row.
	checkRows(t, string(raw), plain, 6*2*2)
	if strings.Contains(string(raw), "<h2>in_comment") {
		t.Error("the gallery has a panel for the constant in_comment")
	}
	if !strings.Contains(string(raw), "without a panel: in_comment.") {
		t.Error("the gallery does not say that in_comment is constant")
	}
}

func TestVizHelpListsGradFlow(t *testing.T) {
	code, stdout, stderr := recur(t, "viz", "--help")
	if code != 0 {
		t.Fatalf("viz --help exited with %d: %s", code, stderr)
	}
	for _, want := range []string{"recur viz --grad-flow", "Flags of --grad-flow:", "-compare", "-max-distance", "-samples", "-find", "-unit"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("viz --help lacks %q:\n%s", want, stdout)
		}
	}
}

// chromiumFlags run headless Chromium on a local file with no network: name lookups fail, any
// http(s) request goes to a proxy on a closed loopback port, and the background services that
// fetch updates, sync or safe-browsing lists are off. The fixed window size makes screenshots
// comparable.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
	"--window-size=1000,1150", "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-domain-reliability", "--disable-client-side-phishing-detection", "--disable-extensions",
	"--no-pings", "--no-first-run", "--no-default-browser-check"}

// TestVizChromium renders a page in headless Chromium, checks the DOM it built and takes a
// screenshot. By default the page is one of a tiny model trained here. Two environment
// variables let scripts/viz_docs.sh check a page it generated and keep the screenshot:
//
//   - RECUR_VIZ_PAGE and RECUR_VIZ_PAGE_TEXT: an existing page of recur viz and the text file
//     it shows, checked in place of the generated page.
//   - RECUR_VIZ_SCREENSHOT: where to write the screenshot (PNG), in place of a temporary file.
func TestVizChromium(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing, and CI=true requires the browser test", chromium)
		}
		t.Skipf("%s is not installed; skipping the headless browser check", chromium)
	}
	dir := t.TempDir()
	page, text := os.Getenv("RECUR_VIZ_PAGE"), os.Getenv("RECUR_VIZ_PAGE_TEXT")
	if (page == "") != (text == "") {
		t.Fatalf("RECUR_VIZ_PAGE is %q and RECUR_VIZ_PAGE_TEXT is %q: set both or neither", page, text)
	}
	if page == "" {
		var ck string
		ck, text = trainTinyCheckpoint(t, lstm.CellLSTM)
		page = filepath.Join(dir, "page.html")
		if code, _, stderr := recur(t, "viz", "--checkpoint", ck, "--text", text, "--device", "cpu", "--out", page); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	page, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	pageHTML, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(text)
	if err != nil {
		t.Fatal(err)
	}
	// Every row has a label: the units' rows and the p(char) row.
	rows := strings.Count(string(pageHTML), `<div class="label">`)
	if rows == 0 {
		t.Fatalf("%s has no labelled rows", page)
	}

	dom, err := exec.Command(chromium, append(chromiumFlags, "--user-data-dir="+filepath.Join(dir, "profile1"), "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	checkRows(t, string(dom), string(want), rows)

	shot := os.Getenv("RECUR_VIZ_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "page.png")
	}
	if shot, err = filepath.Abs(shot); err != nil {
		t.Fatal(err)
	}
	os.Remove(shot) // so that a stale file cannot pass the check below
	cmd := exec.Command(chromium, append(chromiumFlags, "--user-data-dir="+filepath.Join(dir, "profile2"), "--screenshot="+shot, "file://"+page)...)
	if raw, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, raw)
	}
	raw, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot at %s: %v", shot, err)
	}
	if !bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("the screenshot %s is not a PNG file", shot)
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
	code, stdout, stderr := recur(t, "viz", "--find", "--json", "--checkpoint", ck, "--text", tree, "--filter", "*.txt", "--device", "cpu", "--out", "")
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
