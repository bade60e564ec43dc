// Package corpus reads char-level text corpora and cuts them into training batches.
//
// Characters are Unicode code points. A Vocab assigns ids in first-seen order, Load reads a
// file or a directory tree of UTF-8 text, Split holds out a validation tail, Batcher yields
// truncated-BPTT chunks for training and EvalChunks covers a split once for evaluation.
// Token ids are int32; chunks are time-major, so element t*B+b is step t of stream b.
package corpus

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Vocab maps Unicode code points to ids 0..Size()-1 in first-seen order.
type Vocab struct {
	runes []rune
	ids   map[rune]int
}

// NewVocab returns the vocabulary whose id i is runes[i], as stored in a checkpoint. It
// rejects a duplicate and a value that is not a Unicode scalar value (a surrogate or
// beyond U+10FFFF), since either means the list is corrupt.
func NewVocab(runes []rune) (*Vocab, error) {
	v := &Vocab{runes: slices.Clone(runes), ids: make(map[rune]int, len(runes))}
	for i, r := range runes {
		if !utf8.ValidRune(r) {
			return nil, fmt.Errorf("corpus: vocabulary entry %d is %#x, which is not a Unicode character", i, r)
		}
		if first, ok := v.ids[r]; ok {
			return nil, fmt.Errorf("corpus: vocabulary entries %d and %d are both %s", first, i, describeRune(r))
		}
		v.ids[r] = i
	}
	return v, nil
}

// BuildVocab returns the vocabulary of the characters in text, with ids in order of first
// occurrence.
func BuildVocab(text []rune) *Vocab {
	v := &Vocab{ids: make(map[rune]int)}
	for _, r := range text {
		if _, ok := v.ids[r]; !ok {
			v.ids[r] = len(v.runes)
			v.runes = append(v.runes, r)
		}
	}
	return v
}

// Size returns the number of characters in the vocabulary.
func (v *Vocab) Size() int { return len(v.runes) }

// Rune returns the character with the given id. It panics when id is out of range.
func (v *Vocab) Rune(id int) rune { return v.runes[id] }

// ID returns the id of r and whether r is in the vocabulary.
func (v *Vocab) ID(r rune) (int, bool) {
	id, ok := v.ids[r]
	return id, ok
}

// Runes returns a copy of the characters in id order, the form that NewVocab takes.
func (v *Vocab) Runes() []rune { return slices.Clone(v.runes) }

// Encode returns the id of each character of text. The error for a character outside the
// vocabulary names it and its character offset: the number of code points before it.
func (v *Vocab) Encode(text []rune) ([]int32, error) {
	ids := make([]int32, len(text))
	for i, r := range text {
		id, ok := v.ids[r]
		if !ok {
			return nil, fmt.Errorf("corpus: character %s at character offset %d is not in the vocabulary "+
				"of %d characters; remove it from the text or train a model on text that contains it",
				describeRune(r), i, len(v.runes))
		}
		ids[i] = int32(id)
	}
	return ids, nil
}

// Decode returns the text of ids. An id outside the vocabulary, such as the padding
// target -1, becomes U+FFFD, the Unicode replacement character.
func (v *Vocab) Decode(ids []int32) string {
	buf := make([]byte, 0, len(ids))
	for _, id := range ids {
		r := utf8.RuneError
		if id >= 0 && int(id) < len(v.runes) {
			r = v.runes[id]
		}
		buf = utf8.AppendRune(buf, r)
	}
	return string(buf)
}

// describeRune formats r for messages as a Go-quoted character and its code point, for
// example '\n' (U+000A).
func describeRune(r rune) string {
	return fmt.Sprintf("%q (%U)", r, r)
}
