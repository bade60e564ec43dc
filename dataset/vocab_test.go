package dataset

import (
	"slices"
	"strings"
	"testing"
)

func TestVocabCharsFirstSeenOrder(t *testing.T) {
	v, err := NewVocab(Chars, []string{"<pad>", "<unk>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Add("日é a😀é日"); err != nil {
		t.Fatal(err)
	}
	want := []string{"<pad>", "<unk>", "日", "é", " ", "a", "😀"}
	if got := v.Tokens(); !slices.Equal(got, want) {
		t.Fatalf("Tokens() = %q, want %q", got, want)
	}
	if v.Len() != 7 {
		t.Errorf("Len() = %d, want 7", v.Len())
	}
	if v.Reserved() != 2 {
		t.Errorf("Reserved() = %d, want 2", v.Reserved())
	}
	if id, ok := v.ID("😀"); !ok || id != 6 {
		t.Errorf("ID(😀) = %d, %v, want 6, true", id, ok)
	}
	if id, ok := v.ID("<unk>"); !ok || id != 1 {
		t.Errorf("ID(<unk>) = %d, %v, want 1, true", id, ok)
	}
	if _, ok := v.ID("z"); ok {
		t.Errorf("ID(z) found, want missing")
	}
}

func TestVocabCharsEncodeDecode(t *testing.T) {
	v, err := NewVocab(Chars, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := "héllo, 世界 😀"
	if err := v.Add(text); err != nil {
		t.Fatal(err)
	}
	ids, err := v.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 11 {
		t.Errorf("Encode(%q) returned %d ids, want 11 (one per code point)", text, len(ids))
	}
	if got := v.Decode(ids); got != text {
		t.Errorf("Decode(Encode(%q)) = %q", text, got)
	}
}

func TestVocabWordsSplitOnSpaceRuns(t *testing.T) {
	v, err := NewVocab(Words, []string{"<pad>", "<unk>", "<s>", "</s>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Add("  the cat   sat on\tthe mat  "); err != nil {
		t.Fatal(err)
	}
	want := []string{"<pad>", "<unk>", "<s>", "</s>", "the", "cat", "sat", "on\tthe", "mat"}
	if got := v.Tokens(); !slices.Equal(got, want) {
		t.Fatalf("Tokens() = %q, want %q", got, want)
	}
	ids, err := v.Encode("the  mat cat")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{4, 8, 5}; !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	if got := v.Decode(ids); got != "the mat cat" {
		t.Errorf("Decode = %q, want %q", got, "the mat cat")
	}
	if got := v.Decode([]int32{2, 4, 3}); got != "<s> the </s>" {
		t.Errorf("Decode of reserved ids = %q, want %q", got, "<s> the </s>")
	}
}

func TestVocabUnknownMapsToUnk(t *testing.T) {
	v, err := NewVocab(Words, []string{"<pad>", "<unk>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Add("a b"); err != nil {
		t.Fatal(err)
	}
	ids, err := v.Encode("a zebra b ünknown")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{2, 1, 3, 1}; !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
}

func TestVocabUnknownWithoutUnkFails(t *testing.T) {
	cases := []struct {
		mode Mode
		text string
		want string
	}{
		{Words, "a zebra", `token 1 of the text, "zebra", is not in the vocabulary of 3 tokens`},
		{Chars, "ab日", `token 2 of the text, "日", is not in the vocabulary`},
	}
	for _, c := range cases {
		v, err := NewVocab(c.mode, []string{"<pad>"})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Add("a b"); err != nil {
			t.Fatal(err)
		}
		ids, err := v.Encode(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s Encode(%q) = %v, %v, want an error containing %q", c.mode, c.text, ids, err, c.want)
		}
	}
}

func TestVocabInvalidUTF8(t *testing.T) {
	v, err := NewVocab(Chars, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Add("ab\xffc")
	if err == nil || !strings.Contains(err.Error(), "byte offset 2") {
		t.Errorf("Add(invalid UTF-8) error = %v, want one naming byte offset 2", err)
	}
	_, err = v.Encode("é\xc3")
	if err == nil || !strings.Contains(err.Error(), "byte offset 2") {
		t.Errorf("Encode(invalid UTF-8) error = %v, want one naming byte offset 2", err)
	}
}

func TestVocabDecodeOutOfRange(t *testing.T) {
	v, err := NewVocab(Chars, []string{"<pad>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Add("ab"); err != nil {
		t.Fatal(err)
	}
	if got := v.Decode([]int32{1, -1, 3, 2}); got != "a\uFFFD\uFFFDb" {
		t.Errorf("Decode = %q, want replacement characters for -1 and 3", got)
	}
}

func TestVocabEmptyText(t *testing.T) {
	v, err := NewVocab(Words, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Add("   "); err != nil {
		t.Fatal(err)
	}
	if v.Len() != 0 {
		t.Errorf("Len() after adding spaces = %d, want 0", v.Len())
	}
	ids, err := v.Encode("")
	if err != nil || len(ids) != 0 {
		t.Errorf("Encode(\"\") = %v, %v, want no ids", ids, err)
	}
}

func TestNewVocabRejects(t *testing.T) {
	cases := []struct {
		mode     Mode
		reserved []string
		want     string
	}{
		{"bytes", nil, `unknown vocabulary mode "bytes"`},
		{Chars, []string{"<pad>", ""}, "reserved token 1 is empty"},
		{Words, []string{"<pad>", "<unk>", "<pad>"}, `reserved tokens 0 and 2 are both "<pad>"`},
		{Words, []string{"\xff"}, "not valid UTF-8"},
	}
	for _, c := range cases {
		_, err := NewVocab(c.mode, c.reserved)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewVocab(%q, %q) error = %v, want one containing %q", c.mode, c.reserved, err, c.want)
		}
	}
}

func TestLoadVocabRoundTrip(t *testing.T) {
	for _, mode := range []Mode{Chars, Words} {
		built, err := NewVocab(mode, []string{"<pad>", "<unk>"})
		if err != nil {
			t.Fatal(err)
		}
		if err := built.Add("le chat noir et le chien"); err != nil {
			t.Fatal(err)
		}
		loaded, err := LoadVocab(mode, built.Tokens(), built.Reserved())
		if err != nil {
			t.Fatalf("%s: LoadVocab(Tokens()) failed: %v", mode, err)
		}
		if !slices.Equal(loaded.Tokens(), built.Tokens()) {
			t.Errorf("%s: loaded tokens %q, want %q", mode, loaded.Tokens(), built.Tokens())
		}
		if loaded.Mode() != mode || loaded.Reserved() != 2 {
			t.Errorf("%s: loaded mode %s and reserved %d, want %s and 2", mode, loaded.Mode(), loaded.Reserved(), mode)
		}
		text := "le chien noir et un zèbre"
		want, _ := built.Encode(text)
		got, err := loaded.Encode(text)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: loaded Encode = %v, %v, want %v", mode, got, err, want)
		}
	}
}

func TestLoadVocabRejects(t *testing.T) {
	cases := []struct {
		mode     Mode
		tokens   []string
		reserved int
		want     string
	}{
		{Chars, []string{"<pad>", "a", "bc"}, 1, `entry 2 "bc": token has 2 characters`},
		{Chars, []string{"a", "b", "a"}, 0, `entries 0 and 2 are both "a"`},
		{Words, []string{"<pad>", "a b"}, 1, "contains a space"},
		{Words, []string{"a", ""}, 0, "token is empty"},
		{Words, []string{"a", "\xfe"}, 0, "not valid UTF-8"},
		{Words, []string{"a"}, 2, "reserved token count 2 is outside [0, 1]"},
		{Words, []string{"a"}, -1, "reserved token count -1"},
		{Words, []string{"<unk>", "<unk>"}, 2, "reserved tokens 0 and 1"},
	}
	for _, c := range cases {
		_, err := LoadVocab(c.mode, c.tokens, c.reserved)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadVocab(%s, %q, %d) error = %v, want one containing %q",
				c.mode, c.tokens, c.reserved, err, c.want)
		}
	}
}

func TestLoadVocabUnkOnlyWhenReserved(t *testing.T) {
	// In word mode, "<unk>" may be an ordinary word of the text. It replaces unknown tokens
	// only when it is among the reserved tokens.
	v, err := LoadVocab(Words, []string{"a", "<unk>"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Encode("a b"); err == nil {
		t.Errorf("Encode with an unreserved <unk> mapped an unknown word, want an error")
	}
	v, err = LoadVocab(Words, []string{"<unk>", "a"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := v.Encode("a b")
	if err != nil || !slices.Equal(ids, []int32{1, 0}) {
		t.Errorf("Encode with a reserved <unk> = %v, %v, want [1 0]", ids, err)
	}
}
