package dataset

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Mode selects how a Vocab splits text into tokens. Its value is the name stored in a
// checkpoint's config.json.
type Mode string

const (
	// Chars makes each Unicode code point a token, spaces included.
	Chars Mode = "chars"
	// Words makes each run of characters other than ' ' (U+0020) a token. Runs of spaces
	// separate tokens and produce none, so leading and trailing spaces are dropped.
	Words Mode = "words"
)

// Unknown is the reserved token that Encode substitutes for a token outside the vocabulary,
// when the vocabulary reserves it.
const Unknown = "<unk>"

// Vocab maps tokens to ids 0..Len()-1. Reserved tokens, such as "<pad>" and "<unk>", take
// the first ids in the order given, and the tokens of the text follow in first-seen order.
type Vocab struct {
	mode     Mode
	tokens   []string
	ids      map[string]int32
	reserved int
	unknown  int32 // id of Unknown, or -1 when Unknown is not reserved
}

// NewVocab returns a vocabulary that contains only the reserved tokens, with ids 0, 1, … in
// order. Add then appends the tokens of the text. A reserved token must be non-empty and
// valid UTF-8 and may appear only once. It may also occur as ordinary text: in word mode,
// the text "<s>" encodes to the id of a reserved "<s>".
func NewVocab(mode Mode, reserved []string) (*Vocab, error) {
	v, err := newVocab(mode, len(reserved))
	if err != nil {
		return nil, err
	}
	for i, token := range reserved {
		if err := v.addReserved(i, token); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// LoadVocab returns the vocabulary whose id i is tokens[i], in the form that Tokens returns
// and a checkpoint stores. The first `reserved` entries are the reserved tokens. It rejects a
// duplicate, an empty token and invalid UTF-8. It also rejects a text token that the mode
// cannot produce: more than one character in character mode, or a space in word mode.
// Each of these means that the stored list is corrupt or was saved for the other mode.
func LoadVocab(mode Mode, tokens []string, reserved int) (*Vocab, error) {
	if reserved < 0 || reserved > len(tokens) {
		return nil, fmt.Errorf("dataset: reserved token count %d is outside [0, %d], the "+
			"length of the token list; store the count that the vocabulary was built with",
			reserved, len(tokens))
	}
	v, err := newVocab(mode, len(tokens))
	if err != nil {
		return nil, err
	}
	for i, token := range tokens[:reserved] {
		if err := v.addReserved(i, token); err != nil {
			return nil, err
		}
	}
	for i := reserved; i < len(tokens); i++ {
		token := tokens[i]
		if err := v.checkTextToken(token); err != nil {
			return nil, fmt.Errorf("dataset: vocabulary entry %d %q: %w", i, token, err)
		}
		if first, ok := v.ids[token]; ok {
			return nil, fmt.Errorf("dataset: vocabulary entries %d and %d are both %q; "+
				"the stored token list is corrupt", first, i, token)
		}
		v.append(token)
	}
	return v, nil
}

func newVocab(mode Mode, capacity int) (*Vocab, error) {
	if mode != Chars && mode != Words {
		return nil, fmt.Errorf("dataset: unknown vocabulary mode %q; use %q or %q",
			mode, Chars, Words)
	}
	if capacity > math.MaxInt32 {
		return nil, fmt.Errorf("dataset: %d tokens do not fit in int32 ids", capacity)
	}
	return &Vocab{
		mode:    mode,
		tokens:  make([]string, 0, capacity),
		ids:     make(map[string]int32, capacity),
		unknown: -1,
	}, nil
}

// addReserved appends the reserved token with index i of the reserved list.
func (v *Vocab) addReserved(i int, token string) error {
	if token == "" {
		return fmt.Errorf("dataset: reserved token %d is empty; give each reserved token a "+
			"name such as <pad>", i)
	}
	if !utf8.ValidString(token) {
		return fmt.Errorf("dataset: reserved token %d %q is not valid UTF-8", i, token)
	}
	if first, ok := v.ids[token]; ok {
		return fmt.Errorf("dataset: reserved tokens %d and %d are both %q; list each once",
			first, i, token)
	}
	if token == Unknown {
		v.unknown = int32(len(v.tokens))
	}
	v.append(token)
	v.reserved++
	return nil
}

// checkTextToken returns an error unless token could come from splitting text in v's mode.
func (v *Vocab) checkTextToken(token string) error {
	switch {
	case token == "":
		return fmt.Errorf("token is empty")
	case !utf8.ValidString(token):
		return fmt.Errorf("token is not valid UTF-8")
	case v.mode == Chars && utf8.RuneCountInString(token) != 1:
		return fmt.Errorf("token has %d characters, but a %s vocabulary contains single "+
			"characters after its reserved tokens; check the stored mode and reserved count",
			utf8.RuneCountInString(token), v.mode)
	case v.mode == Words && strings.Contains(token, " "):
		return fmt.Errorf("token contains a space, which a %s vocabulary never produces; "+
			"check the stored mode", v.mode)
	}
	return nil
}

func (v *Vocab) append(token string) {
	v.ids[token] = int32(len(v.tokens))
	v.tokens = append(v.tokens, token)
}

// Add appends the tokens of text that are not yet in the vocabulary, in order of first
// occurrence. Invalid UTF-8 is an error that names the byte offset in text, and so is
// growing past the int32 id range. On error, the tokens before the failure stay added.
func (v *Vocab) Add(text string) error {
	if bad := invalidUTF8Offset(text); bad >= 0 {
		return fmt.Errorf("dataset: invalid UTF-8 at byte offset %d of the text; "+
			"convert it to UTF-8", bad)
	}
	for _, token := range v.split(text) {
		if _, ok := v.ids[token]; ok {
			continue
		}
		if len(v.tokens) == math.MaxInt32 {
			return fmt.Errorf("dataset: the vocabulary already contains %d tokens, the maximum "+
				"that int32 ids allow", len(v.tokens))
		}
		v.append(token)
	}
	return nil
}

// Encode returns the id of each token of text. A token outside the vocabulary becomes the
// id of Unknown when the vocabulary reserves it, and is an error otherwise. The error names
// the token and its position, counted in tokens from the start of text. Invalid UTF-8 is
// an error that names the byte offset.
func (v *Vocab) Encode(text string) ([]int32, error) {
	if bad := invalidUTF8Offset(text); bad >= 0 {
		return nil, fmt.Errorf("dataset: invalid UTF-8 at byte offset %d of the text; "+
			"convert it to UTF-8", bad)
	}
	tokens := v.split(text)
	ids := make([]int32, len(tokens))
	for i, token := range tokens {
		id, ok := v.ids[token]
		if !ok && v.unknown < 0 {
			return nil, fmt.Errorf("dataset: token %d of the text, %q, is not in the vocabulary "+
				"of %d tokens, which reserves no %s; build the vocabulary from text that "+
				"contains it or reserve %s", i, token, len(v.tokens), Unknown, Unknown)
		}
		if !ok {
			id = v.unknown
		}
		ids[i] = id
	}
	return ids, nil
}

// Decode returns the tokens of ids joined with "" in character mode and with " " in word
// mode. Reserved tokens appear by name. An id outside the vocabulary, such as the padding
// target -1, becomes U+FFFD, the Unicode replacement character.
func (v *Vocab) Decode(ids []int32) string {
	sep := ""
	if v.mode == Words {
		sep = " "
	}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(sep)
		}
		if id >= 0 && int(id) < len(v.tokens) {
			b.WriteString(v.tokens[id])
		} else {
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// Len returns the number of tokens, reserved ones included.
func (v *Vocab) Len() int { return len(v.tokens) }

// Reserved returns the number of reserved tokens, which have ids 0..Reserved()-1.
func (v *Vocab) Reserved() int { return v.reserved }

// Mode returns how the vocabulary splits text.
func (v *Vocab) Mode() Mode { return v.mode }

// ID returns the id of token and whether token is in the vocabulary.
func (v *Vocab) ID(token string) (int32, bool) {
	id, ok := v.ids[token]
	return id, ok
}

// Tokens returns a copy of the tokens in id order, the list that LoadVocab takes.
func (v *Vocab) Tokens() []string { return slices.Clone(v.tokens) }

// split cuts valid UTF-8 text into the tokens of v's mode.
func (v *Vocab) split(text string) []string {
	if v.mode == Words {
		return strings.FieldsFunc(text, func(r rune) bool { return r == ' ' })
	}
	tokens := make([]string, 0, len(text))
	for i, r := range text {
		tokens = append(tokens, text[i:i+utf8.RuneLen(r)])
	}
	return tokens
}

// invalidUTF8Offset returns the byte offset of the first invalid byte of text, or -1 when
// text is valid UTF-8. A correctly encoded U+FFFD is valid.
func invalidUTF8Offset(text string) int {
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
