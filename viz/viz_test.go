package viz

import (
	"bytes"
	"encoding/json"
	"html"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

func featureMap(text string) map[string][]float64 {
	out := map[string][]float64{}
	for _, f := range Features([]rune(text)) {
		out[f.Name] = f.Values
	}
	return out
}

func checkFeature(t *testing.T, text, name string, want []float64) {
	t.Helper()
	got := featureMap(text)[name]
	if len(got) != len(want) {
		t.Fatalf("%s of %q: got %d values, want %d", name, text, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s of %q: got %v, want %v (first difference at %d)", name, text, got, want, i)
			return
		}
	}
}

func TestFeaturesQuotes(t *testing.T) {
	checkFeature(t, `a"b\"c"d='e'`, FeatureQuote, []float64{0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1})
	// A ' after a letter or a digit is an apostrophe, not a quote.
	checkFeature(t, `don't 'x' 90's`, FeatureQuote, []float64{0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0})
	// An unclosed string ends with its line; a quote inside a comment opens nothing.
	checkFeature(t, "\"ab\nc//\"\nd", FeatureQuote, []float64{1, 1, 1, 0, 0, 0, 0, 0, 0, 0})
}

func TestFeaturesRawString(t *testing.T) {
	// A raw string spans lines and has no escapes: its \ does not escape the closing `.
	checkFeature(t, "a`b\nc\\`d", FeatureQuote, []float64{0, 1, 1, 1, 1, 1, 1, 0})
	// Brackets and a " inside a raw string are text, so the depth after it is back to 0 and
	// the " opens no string.
	text := "f(`(\"`)\nx"
	checkFeature(t, text, FeatureBracket, []float64{0, 1, 1, 1, 1, 1, 1, 0, 0})
	checkFeature(t, text, FeatureQuote, []float64{0, 0, 1, 1, 1, 1, 0, 0, 0})
}

func TestFeaturesLinePosition(t *testing.T) {
	checkFeature(t, "ab\ncde\n", FeatureColumn, []float64{0, 1, 2, 0, 1, 2, 3})
}

func TestFeaturesBracketDepth(t *testing.T) {
	checkFeature(t, "a(b[c]{d})e", FeatureBracket, []float64{0, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0})
	// Brackets in strings and comments do not count, and an extra closer stays at 0.
	checkFeature(t, `)"("(/*(*/)`, FeatureBracket, []float64{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1})
}

func TestFeaturesIndentDepth(t *testing.T) {
	checkFeature(t, "a\n  b c\n\tx\n", FeatureIndent, []float64{0, 0, 2, 2, 2, 2, 2, 2, 1, 1, 1})
	checkFeature(t, "  x", FeatureIndent, []float64{2, 2, 2})
}

func TestFeaturesComment(t *testing.T) {
	checkFeature(t, "a//b\nc/*d\n*/e", FeatureComment, []float64{0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0})
	checkFeature(t, `"//"x`, FeatureComment, []float64{0, 0, 0, 0, 0})
}

func TestFeaturesIfBlock(t *testing.T) {
	text := "if x {\n y\n}\nfor {\n z\n}\n"
	want := make([]float64, len(text))
	for i := strings.Index(text, "{"); i <= strings.Index(text, "}"); i++ {
		want[i] = 1
	}
	checkFeature(t, text, FeatureIfBlock, want)
	// A nested block inside an if block is inside it too; "iffy" is not "if".
	checkFeature(t, "  if a {b{c}}d\niffy {e}", FeatureIfBlock,
		[]float64{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
}

// ifBlockWant returns an in_if_block series of text that is 1 over each span of indices,
// both ends included, and 0 elsewhere.
func ifBlockWant(text string, spans ...[2]int) []float64 {
	want := make([]float64, len(text))
	for _, s := range spans {
		for i := s[0]; i <= s[1]; i++ {
			want[i] = 1
		}
	}
	return want
}

func TestFeaturesElseIfBlock(t *testing.T) {
	text := "if a {\n} else if b {\n} else {\n}\n"
	first := [2]int{strings.Index(text, "{"), strings.Index(text, "}")}
	second := [2]int{strings.Index(text, "b {") + 2, strings.Index(text, "} else {")}
	checkFeature(t, text, FeatureIfBlock, ifBlockWant(text, first, second))
}

func TestFeaturesIfContinuationLine(t *testing.T) {
	// The condition continues after && and inside the call's parentheses, so the block is
	// the { on the last line; the func literal's braces sit deeper than the if.
	text := "if a &&\n\tf(func() {\n}) {\n\tx\n}\n"
	open := strings.Index(text, "}) {") + 3
	checkFeature(t, text, FeatureIfBlock, ifBlockWant(text, [2]int{open, strings.LastIndex(text, "}")}))
	// Go's init statement: the ; inside the condition does not end the if.
	text = "if v, ok := m[k]; ok {\n}"
	checkFeature(t, text, FeatureIfBlock, ifBlockWant(text, [2]int{strings.Index(text, "{"), len(text) - 1}))
}

func TestFeaturesIfWithoutBlock(t *testing.T) {
	// A braceless C if ends with its line, so the later for block is not an if block, and
	// neither is a { after an if in a comment or a string.
	for _, text := range []string{
		"if (a) b();\nfor (;;) {\n}\n",
		"if (a)\n\treturn;\nwhile (x) {}\n",
		"// if a\nfor {}\n",
		"s := \"if\" + t {}\n",
		"x := `if\n` + y {}\n",
	} {
		checkFeature(t, text, FeatureIfBlock, make([]float64, len(text)))
	}
}

func TestFeaturesWordStart(t *testing.T) {
	checkFeature(t, "ab c_d(e1", FeatureWord, []float64{1, 0, 0, 1, 0, 0, 0, 1, 0})
}

func TestPearsonKnownVectors(t *testing.T) {
	cases := []struct {
		x    []float32
		y    []float64
		want float64
	}{
		{[]float32{1, 2, 3, 4}, []float64{2, 4, 6, 8}, 1},
		{[]float32{1, 2, 3, 4}, []float64{8, 6, 4, 2}, -1},
		{[]float32{1, 2, 3}, []float64{1, 3, 2}, 0.5},
		{[]float32{1, 0, 1, 0}, []float64{1, 1, 0, 0}, 0},
		{[]float32{5, 5, 5}, []float64{1, 2, 3}, 0}, // constant: undefined, reported as 0
	}
	for _, c := range cases {
		if got := Pearson(c.x, c.y); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Pearson(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}

func TestColorScale(t *testing.T) {
	cases := []struct {
		v, lo, hi float64
		want      string
	}{
		{0, -1, 1, "#ffffff"},
		{-1, -1, 1, "#2166ac"},
		{1, -1, 1, "#b2182b"},
		{5, -1, 1, "#b2182b"},
		{1, 1, 0, "#2166ac"}, // reversed range
		{math.NaN(), -1, 1, "#e0e0e0"},
	}
	for _, c := range cases {
		if got := Color(c.v, c.lo, c.hi); got != c.want {
			t.Errorf("Color(%v, %v, %v) = %s, want %s", c.v, c.lo, c.hi, got, c.want)
		}
	}
}

var spanRE = regexp.MustCompile(`<span data-i="(\d+)" style="background:#[0-9a-f]{6}" title="[^"]*">([^<]*)</span>`)

func TestPageEscapesAndColoursEveryCharacter(t *testing.T) {
	text := []rune("a<b>&\"c'\n\té</script>")
	values := make([]float64, len(text))
	for i := range values {
		values[i] = float64(i)/float64(len(text))*2 - 1
	}
	values[2] = math.NaN()
	page := Page{
		Title:    "t<1>",
		Sections: []Section{{Text: text, Rows: []Row{{Label: "u<0>", Values: values, Lo: -1, Hi: 1}}}},
		Top:      map[int][]Prediction{0: {{Char: "<", P: 0.5}}},
	}
	var buf bytes.Buffer
	if err := WritePage(&buf, page); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	spans := spanRE.FindAllStringSubmatch(out, -1)
	if len(spans) != len(text) {
		t.Fatalf("page has %d coloured character spans, want %d", len(spans), len(text))
	}
	for i, s := range spans {
		if s[2] != html.EscapeString(string(text[i])) {
			t.Errorf("span %d holds %q, want %q", i, s[2], html.EscapeString(string(text[i])))
		}
	}
	if strings.Contains(out, "</script>\t") || strings.Count(out, "</script>") != 2 {
		t.Errorf("the text's </script> was not escaped: the page has %d </script> tags, want 2", strings.Count(out, "</script>"))
	}
	if strings.Contains(out, "http://") || strings.Contains(out, "https://") {
		t.Error("the page refers to an http:// or https:// address; it must be self-contained")
	}
	if !strings.Contains(out, `"0":[{"c":"\u003c","p":0.5}]`) {
		t.Error("the top-k JSON is missing or its < is not escaped")
	}
}

func TestExcerptStartFindsVariation(t *testing.T) {
	values := make([]float64, 1000)
	for i := 600; i < 700; i += 2 {
		values[i] = 1
	}
	start := ExcerptStart(values, 200)
	if start > 600 || start+200 < 700 {
		t.Errorf("ExcerptStart = %d: the window [%d, %d) misses the varying part [600, 700)", start, start, start+200)
	}
	if got := ExcerptStart(values[:50], 200); got != 0 {
		t.Errorf("ExcerptStart of a short series = %d, want 0", got)
	}
}

func newModel(t *testing.T, cell string, vocab []string) *lstm.Model {
	t.Helper()
	be, err := engine.NewCPU(engine.CPUOptions{GEMM: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	cfg := lstm.Config{Model: cell, Layers: 2, Hidden: 6, Embed: 4, Vocab: vocab}
	m, err := lstm.NewModel(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	m.Backend.Upload(m.Params, lstm.InitParams(cfg, rand.New(rand.NewPCG(1, 2)), math.NaN()))
	return m
}

// TestRunChunkingKeepsState checks that the carried state makes the chunk size irrelevant,
// including a short last chunk, and that the recorded values are consistent.
func TestRunChunkingKeepsState(t *testing.T) {
	m := newModel(t, lstm.CellLSTM, []string{"a", "b", "c", "\n"})
	text := []rune(strings.Repeat("abcab\nc", 5))
	all := StatesOf(lstm.CellLSTM)
	one, err := Run(m, text, Options{States: all, TopK: 3, Chunk: 1})
	if err != nil {
		t.Fatal(err)
	}
	many, err := Run(m, text, Options{States: all, TopK: 3, Chunk: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		for l := 0; l < 2; l++ {
			for u := 0; u < 6; u++ {
				a, b := one.Unit(s, l, u), many.Unit(s, l, u)
				for i := range a {
					if math.Abs(float64(a[i]-b[i])) > 1e-5 {
						t.Fatalf("%s layer %d unit %d at %d: %v with chunks of 1, %v with chunks of 8", s, l, u, i, a[i], b[i])
					}
				}
			}
		}
	}
	// h = o·tanh(c) holds for every recorded position.
	h, c, o := many.Unit(StateH, 1, 2), many.Unit(StateC, 1, 2), many.Unit(StateO, 1, 2)
	for i := range h {
		if want := float64(o[i]) * math.Tanh(float64(c[i])); math.Abs(float64(h[i])-want) > 1e-5 {
			t.Fatalf("at %d: h = %v, but o·tanh(c) = %v", i, h[i], want)
		}
	}
	if !math.IsNaN(many.Prob[0]) {
		t.Errorf("Prob[0] = %v, want NaN: the first character has no prediction", many.Prob[0])
	}
	for i := 1; i < len(text); i++ {
		if math.Abs(many.Prob[i]-one.Prob[i]) > 1e-5 || !(many.Prob[i] > 0 && many.Prob[i] < 1) {
			t.Fatalf("Prob[%d] = %v with chunks of 8 and %v with chunks of 1", i, many.Prob[i], one.Prob[i])
		}
	}
	top := many.Top[3]
	if len(top) != 3 || top[0].P < top[1].P || top[1].P < top[2].P {
		t.Errorf("Top[3] = %v, want 3 predictions, most likely first", top)
	}
}

func TestRankUnitsConstantFeature(t *testing.T) {
	m := newModel(t, lstm.CellLSTM, []string{"a", "b", "(", ")", "\n"})
	text := []rune(strings.Repeat("a(b)\nab\n", 4))
	tr, err := Run(m, text, Options{States: []string{StateH, StateC}})
	if err != nil {
		t.Fatal(err)
	}
	ranking := RankUnits(tr, Features(text), 2)
	byName := map[string]FeatureRanking{}
	for _, fr := range ranking {
		byName[fr.Feature] = fr
	}

	// The text has no comment, so in_comment is 0 everywhere.
	comment := byName[FeatureComment]
	if !comment.Constant {
		t.Errorf("in_comment of a text without comments is not marked constant: %+v", comment)
	}
	if comment.Units == nil || len(comment.Units) != 0 {
		t.Errorf("in_comment lists units %#v, want an empty, non-nil list", comment.Units)
	}
	raw, err := json.Marshal(comment)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"feature":"in_comment","constant":true,"units":[]}`; string(raw) != want {
		t.Errorf("JSON of a constant feature is %s, want %s", raw, want)
	}

	bracket := byName[FeatureBracket]
	if bracket.Constant {
		t.Error("bracket_depth, which varies, is marked constant")
	}
	if len(bracket.Units) != 2 {
		t.Errorf("bracket_depth lists %d units, want 2", len(bracket.Units))
	}
}

func TestRunRejectsUnknownCharacter(t *testing.T) {
	m := newModel(t, lstm.CellRNN, []string{"a", "b"})
	if _, err := Run(m, []rune("abz"), Options{States: []string{StateH}}); err == nil || !strings.Contains(err.Error(), `'z'`) {
		t.Errorf("Run over a text with z: got error %v, want one naming 'z'", err)
	}
}

func TestCheckSelectionErrors(t *testing.T) {
	rnn := lstm.Config{Model: lstm.CellRNN, Layers: 2, Hidden: 4}
	cases := []struct {
		layer int
		units []int
		state string
		want  string
	}{
		{2, []int{0}, "h", "invalid --layer 2"},
		{-1, []int{0}, "h", "invalid --layer -1"},
		{0, []int{0, 4}, "h", "invalid --unit 4"},
		{0, []int{0}, "c", "the checkpoint is an RNN"},
		{0, []int{0}, "f", "the checkpoint is an RNN"},
		{0, []int{0}, "x", `invalid --state "x"`},
	}
	for _, c := range cases {
		err := CheckSelection(rnn, c.layer, c.units, c.state)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckSelection(layer %d, units %v, state %q) = %v, want an error containing %q", c.layer, c.units, c.state, err, c.want)
		}
	}
	lstmCfg := rnn
	lstmCfg.Model = lstm.CellLSTM
	if err := CheckSelection(lstmCfg, 1, []int{3}, "g"); err != nil {
		t.Errorf("CheckSelection of a valid LSTM gate: %v", err)
	}
}
