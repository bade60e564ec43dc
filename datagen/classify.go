package datagen

import (
	"math/rand/v2"
	"strings"
)

var classifyDefaults = Options{Train: 20000, Val: 1000, Test: 2000}

// classifyLabels are the labels, and classifyKeys[i] are the two key characters of
// classifyLabels[i]. No other character of a text is uppercase.
var (
	classifyLabels = [4]string{"alpha", "beta", "gamma", "delta"}
	classifyKeys   = [4][2]byte{{'A', 'E'}, {'B', 'F'}, {'C', 'G'}, {'D', 'H'}}
)

// The text after the opening keys has between minDistractors and maxDistractors characters,
// with minTailKeys to maxTailKeys keys among them.
const (
	minDistractors = 30
	maxDistractors = 60
	minTailKeys    = 2
	maxTailKeys    = 5
	// maxLead is the maximum number of lowercase letters before the first key and after each
	// opening key.
	maxLead = 2
)

// classifyStream is the PCG stream of Classify.
const classifyStream = 0x636c617373696679

// Classify writes train.tsv, val.tsv and test.tsv into dir, creating dir if needed, with
// lines label<TAB>text. The label is alpha, beta, gamma or delta, and each label has two
// uppercase key characters. A text starts with 0 to 2 lowercase letters and then the keys of
// all four labels, one of each in random order and each followed by 0 to 2 lowercase
// letters. The first key, within the first 3 characters, decides the label. Then come 30 to
// 60 characters of lowercase words and spaces in which 2 to 5 letters are replaced by keys
// drawn uniformly from all eight.
//
// Everything but the order of the opening keys is drawn independently of the label: every
// text contains each label's keys once in its opening and the later keys are random. So the
// counts of the characters in a line, and its last 30 characters, say nothing about the
// label. A classifier must note which key comes first and keep it to the end of the
// line, across at least 30 steps and later keys of every label. No line appears twice.
func Classify(dir string, opt Options) ([]OutputFile, error) {
	counts, err := opt.resolve("classify", classifyDefaults, MaxLines)
	if err != nil {
		return nil, err
	}
	rng := newRand(opt.Seed, classifyStream)
	splits, err := distinctSplits("classify", counts, func() string { return classifyLine(rng) })
	if err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	return writeSplits(dir, splits)
}

// classifyLine returns one line label<TAB>text.
func classifyLine(rng *rand.Rand) string {
	order := rng.Perm(len(classifyLabels))
	var b strings.Builder
	b.WriteString(classifyLabels[order[0]])
	b.WriteByte('\t')
	writeLetters(&b, rng, rng.IntN(maxLead+1))
	for _, label := range order {
		b.WriteByte(randomKey(rng, label))
		writeLetters(&b, rng, rng.IntN(maxLead+1))
	}
	tail := []byte(distractors(rng, minDistractors+rng.IntN(maxDistractors-minDistractors+1)))
	var letters []int
	for i, c := range tail {
		if c != ' ' {
			letters = append(letters, i)
		}
	}
	keys := minTailKeys + rng.IntN(maxTailKeys-minTailKeys+1)
	for _, i := range rng.Perm(len(letters))[:keys] {
		tail[letters[i]] = randomKey(rng, rng.IntN(len(classifyLabels)))
	}
	b.Write(tail)
	return b.String()
}

// randomKey returns one of the two key characters of classifyLabels[label].
func randomKey(rng *rand.Rand, label int) byte {
	return classifyKeys[label][rng.IntN(2)]
}

func writeLetters(b *strings.Builder, rng *rand.Rand, n int) {
	for range n {
		b.WriteByte(randomLetter(rng))
	}
}

// distractors returns n characters of lowercase words separated by single spaces. The text
// starts with a space and, for n > 1, ends with a letter.
func distractors(rng *rand.Rand, n int) string {
	buf := make([]byte, n)
	for i := range buf {
		// A word ends after each letter with probability 1/6, so words average 6 letters,
		// fewer where the end of the text cuts the last word.
		if i == 0 || (buf[i-1] != ' ' && i < n-1 && rng.IntN(6) == 0) {
			buf[i] = ' '
		} else {
			buf[i] = randomLetter(rng)
		}
	}
	return string(buf)
}

func randomLetter(rng *rand.Rand) byte {
	return byte('a' + rng.IntN(26))
}
