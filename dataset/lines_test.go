package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFile writes content to a new file in a temporary directory and returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadLabeled(t *testing.T) {
	path := writeFile(t, "train.tsv", "\uFEFFpos\tgreat film\r\n\n  \t \nneg\tdull, très ennuyeux 😴\r\nneu\t  spaced  \n")
	got, err := ReadLabeled(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Labeled{
		{"pos", "great film", 1},
		{"neg", "dull, très ennuyeux 😴", 4},
		{"neu", "  spaced  ", 5},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ReadLabeled = %+v, want %+v", got, want)
	}
}

func TestReadLabeledOneLineWithoutNewline(t *testing.T) {
	path := writeFile(t, "one.tsv", "spam\tbuy now")
	got, err := ReadLabeled(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Labeled{{"spam", "buy now", 1}}; !slices.Equal(got, want) {
		t.Errorf("ReadLabeled = %+v, want %+v", got, want)
	}
}

func TestReadLabeledLongLine(t *testing.T) {
	text := strings.Repeat("abcdefgh ", 100_000) // 900 kB, far past bufio.Scanner's 64 KiB
	path := writeFile(t, "long.tsv", "short\tx\nlong\t"+text+"\n")
	got, err := ReadLabeled(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Label != "long" || got[1].Text != text {
		t.Errorf("the long line was not read whole: got %d examples", len(got))
	}
}

func TestReadLabeledErrors(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    string
	}{
		{"empty file", "", "contains no examples; expected lines of the form label<TAB>text"},
		{"blank lines only", "\n \r\n\t\n", "contains no examples"},
		{"missing tab", "pos\tok\nneg no tab here\n", `:2: missing tab: expected label<TAB>text, but the line "neg no tab here" has no tab`},
		{"two tabs", "pos\ta\tb\n", ":1: the line has 2 tabs, but it must have exactly one, between the label and the text"},
		{"empty label", "\ttext\n", ":1: empty label before the tab"},
		{"blank label", "   \ttext\n", ":1: empty label before the tab"},
		{"empty text", "pos\t\r\n", ":1: empty text after the tab"},
		{"invalid UTF-8", "pos\tok\nneg\tba\xffd\n", ":2: invalid UTF-8 at byte offset 6 of the line (byte 13 of the file)"},
	}
	for _, c := range cases {
		path := writeFile(t, "labels.tsv", c.content)
		got, err := ReadLabeled(path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ReadLabeled = %+v, %v, want an error containing %+v", c.name, got, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", c.name, err)
		}
	}
}

func TestReadLabeledMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.tsv")
	if _, err := ReadLabeled(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadLabeled(missing) error = %v, want one naming %s", err, path)
	}
}

func TestReadLabeledLongLineInMessageIsCut(t *testing.T) {
	path := writeFile(t, "labels.tsv", strings.Repeat("x", 5000)+"\n")
	_, err := ReadLabeled(path)
	if err == nil {
		t.Fatal("ReadLabeled accepted a line without a tab")
	}
	if len(err.Error()) > 400 {
		t.Errorf("error quotes the whole line: %d bytes", len(err.Error()))
	}
}

func TestReadTagged(t *testing.T) {
	path := writeFile(t, "tags.tsv", "John  lives in Zürich\tB-PER O O B-LOC\n\nhi\tO\n")
	got, err := ReadTagged(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("ReadTagged returned %d examples, want 2", len(got))
	}
	if want := []string{"John", "lives", "in", "Zürich"}; !slices.Equal(got[0].Tokens, want) {
		t.Errorf("tokens = %q, want %q", got[0].Tokens, want)
	}
	if want := []string{"B-PER", "O", "O", "B-LOC"}; !slices.Equal(got[0].Tags, want) {
		t.Errorf("tags = %q, want %q", got[0].Tags, want)
	}
	if !slices.Equal(got[1].Tokens, []string{"hi"}) || !slices.Equal(got[1].Tags, []string{"O"}) {
		t.Errorf("second example = %+v, want [hi] [O]", got[1])
	}
}

func TestReadTaggedUnequalCounts(t *testing.T) {
	path := writeFile(t, "tags.tsv", "a b\tX Y\na b c\tX Y\n")
	_, err := ReadTagged(path)
	want := ":2: 3 tokens but 2 tags; give exactly one tag per token"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ReadTagged error = %v, want one containing %q", err, want)
	}
}

func TestReadTaggedEmptyTags(t *testing.T) {
	path := writeFile(t, "tags.tsv", "a b\t   \n")
	_, err := ReadTagged(path)
	if err == nil || !strings.Contains(err.Error(), ":1: empty tags after the tab") {
		t.Errorf("ReadTagged error = %v, want an empty-tags error on line 1", err)
	}
}

func TestReadPairs(t *testing.T) {
	path := writeFile(t, "pairs.tsv", "hello world\tbonjour le monde\r\n5 + 3\t8\n")
	got, err := ReadPairs(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{"hello world", "bonjour le monde", 1}, {"5 + 3", "8", 2}}
	if !slices.Equal(got, want) {
		t.Errorf("ReadPairs = %+v, want %+v", got, want)
	}
}

func TestReadPairsMissingTab(t *testing.T) {
	path := writeFile(t, "pairs.tsv", "hello\n")
	_, err := ReadPairs(path)
	if err == nil || !strings.Contains(err.Error(), "missing tab: expected source<TAB>target") {
		t.Errorf("ReadPairs error = %v, want a missing-tab error", err)
	}
}

func TestReadCaptions(t *testing.T) {
	path := writeFile(t, "captions.tsv", "0\ta dog runs\n 12 \tdeux chats\n0\tanother caption\n")
	got, err := ReadCaptions(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Caption{{0, "a dog runs", 1}, {12, "deux chats", 2}, {0, "another caption", 3}}
	if !slices.Equal(got, want) {
		t.Errorf("ReadCaptions = %v, want %v", got, want)
	}
}

func TestReadCaptionsBadIndex(t *testing.T) {
	for _, index := range []string{"-1", "1.5", "x", "99999999999999999999", "0x10"} {
		path := writeFile(t, "captions.tsv", "0\tok\n"+index+"\ta caption\n")
		_, err := ReadCaptions(path)
		want := `:2: image index "` + index + `" is not a non-negative integer`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("index %q: error = %v, want one containing %q", index, err, want)
		}
	}
}

func TestReadInputs(t *testing.T) {
	path := writeFile(t, "inputs.txt", "\uFEFFgreat film\r\n\n  \ndull\n")
	got, err := ReadInputs(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Input{{"great film", 1}, {"dull", 4}}
	if !slices.Equal(got, want) {
		t.Errorf("ReadInputs = %+v, want %+v", got, want)
	}
}

func TestReadInputsRejectsTab(t *testing.T) {
	path := writeFile(t, "inputs.txt", "great film\npos\tdull\n")
	_, err := ReadInputs(path)
	if err == nil || !strings.Contains(err.Error(), "inputs.txt:2: the line contains a tab") {
		t.Errorf("ReadInputs error = %v, want a tab error on line 2", err)
	}
}

func TestHasTabs(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{{"\n\npos\tgood\n", true}, {"good film\n", false}, {"\n", false}} {
		got, err := HasTabs(writeFile(t, "f.tsv", c.text))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("HasTabs(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}
