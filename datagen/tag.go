package datagen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

var tagDefaults = Options{Train: 10000, Val: 500, Test: 1000}

// tagWords is the vocabulary of the tag task besides the brackets.
var tagWords = [20]string{
	"a", "the", "cat", "dog", "bird", "sat", "ran", "saw", "big", "red",
	"old", "on", "in", "and", "or", "not", "it", "we", "go", "up",
}

const (
	minTagTokens = 8
	maxTagTokens = 40
	maxTagDepth  = 4
	tagStream    = 0x746167
)

// Tag writes train.tsv, val.tsv and test.tsv into dir, creating dir if needed, with lines
// tokens<TAB>tags. A line has 8 to 40 tokens separated by single spaces, each a word from
// a 20-word vocabulary or a bracket, and as many tags, d0 to d4. The tag of a token is the
// bracket nesting depth after reading it, so "(" is tagged with the depth it opens and ")"
// with the depth it returns to. Depth never exceeds 4, and every line ends at depth 0.
// Every word occurs at every depth, so a tagger needs to count the brackets before a token.
// No line appears twice.
func Tag(dir string, opt Options) ([]OutputFile, error) {
	counts, err := opt.resolve("tag", tagDefaults, MaxLines)
	if err != nil {
		return nil, err
	}
	rng := newRand(opt.Seed, tagStream)
	splits, err := distinctSplits("tag", counts, func() string { return tagLine(rng) })
	if err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	return writeSplits(dir, splits)
}

// tagLine returns one line tokens<TAB>tags.
func tagLine(rng *rand.Rand) string {
	n := minTagTokens + rng.IntN(maxTagTokens-minTagTokens+1)
	tokens := make([]string, n)
	tags := make([]string, n)
	depth := 0
	for i := range n {
		// After this token, left tokens remain, and they must be able to close every
		// bracket still open.
		left := n - i - 1
		canOpen := depth < maxTagDepth && depth+1 <= left
		canClose := depth > 0
		mustClose := depth > left
		r := rng.Float64()
		switch {
		case mustClose || (canClose && r < 0.2):
			tokens[i] = ")"
			depth--
		case canOpen && r >= 0.75:
			tokens[i] = "("
			depth++
		default:
			tokens[i] = tagWords[rng.IntN(len(tagWords))]
		}
		tags[i] = fmt.Sprintf("d%d", depth)
	}
	return strings.Join(tokens, " ") + "\t" + strings.Join(tags, " ")
}
