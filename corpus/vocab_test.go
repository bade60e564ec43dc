package corpus

import (
	"slices"
	"strings"
	"testing"
)

func TestBuildVocabFirstSeenOrder(t *testing.T) {
	v := BuildVocab([]rune("日é a😀é日\n"))
	want := []rune{'日', 'é', ' ', 'a', '😀', '\n'}
	if got := v.Runes(); !slices.Equal(got, want) {
		t.Fatalf("Runes() = %q, want %q", got, want)
	}
	if v.Size() != 6 {
		t.Errorf("Size() = %d, want 6", v.Size())
	}
	if id, ok := v.ID('😀'); !ok || id != 4 {
		t.Errorf("ID(😀) = %d, %v, want 4, true", id, ok)
	}
	if v.Rune(1) != 'é' {
		t.Errorf("Rune(1) = %q, want 'é'", v.Rune(1))
	}
	if _, ok := v.ID('z'); ok {
		t.Errorf("ID(z) = true, want false")
	}
}

func TestVocabEncodeDecode(t *testing.T) {
	text := "日é a😀é日\n"
	v := BuildVocab([]rune(text))
	ids, err := v.Encode([]rune(text))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{0, 1, 2, 3, 4, 1, 0, 5}; !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	if got := v.Decode(ids); got != text {
		t.Errorf("Decode = %q, want %q", got, text)
	}
	if got := v.Decode([]int32{3, -1, 6, 0}); got != "a\uFFFD\uFFFD日" {
		t.Errorf("Decode with invalid ids = %q, want replacement characters", got)
	}
}

func TestEncodeUnknownRune(t *testing.T) {
	v := BuildVocab([]rune("abc"))
	cases := []struct {
		text string
		want string
	}{
		{"ab日c", `character '日' (U+65E5) at character offset 2 is not in the vocabulary of 3 characters`},
		{"😀", `character '😀' (U+1F600) at character offset 0`},
		{"abc\n", `character '\n' (U+000A) at character offset 3`},
	}
	for _, c := range cases {
		ids, err := v.Encode([]rune(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Encode(%q) = %v, %v, want an error containing %q", c.text, ids, err, c.want)
		}
	}
}

func TestNewVocab(t *testing.T) {
	built := BuildVocab([]rune("hello, wörld"))
	v, err := NewVocab(built.Runes())
	if err != nil {
		t.Fatal(err)
	}
	for id, r := range built.Runes() {
		if got, ok := v.ID(r); !ok || got != id {
			t.Errorf("ID(%q) = %d, %v, want %d, true", r, got, ok, id)
		}
	}

	runes := []rune{'x', 'y'}
	v, err = NewVocab(runes)
	if err != nil {
		t.Fatal(err)
	}
	runes[0] = 'q'
	v.Runes()[1] = 'q'
	if got := v.Runes(); !slices.Equal(got, []rune{'x', 'y'}) {
		t.Errorf("Runes() = %q after changing the caller's copies, want \"xy\"", got)
	}
}

func TestNewVocabRejectsCorruptList(t *testing.T) {
	if _, err := NewVocab([]rune{'a', 'b', 'a'}); err == nil ||
		!strings.Contains(err.Error(), `entries 0 and 2 are both 'a' (U+0061)`) {
		t.Errorf("duplicate: error = %v", err)
	}
	if _, err := NewVocab([]rune{'a', 0xD800}); err == nil ||
		!strings.Contains(err.Error(), "entry 1 is 0xd800, which is not a Unicode character") {
		t.Errorf("surrogate: error = %v", err)
	}
	if _, err := NewVocab([]rune{-1}); err == nil {
		t.Errorf("negative rune: no error")
	}
}
