package datagen

import (
	"math/rand/v2"
	"strings"
)

var classifyDefaults = Options{Train: 20000, Val: 1000, Test: 2000}

// classifyLabels are the labels, and classifyKeys[i] are the two key characters that decide
// classifyLabels[i]. No other character of a text is uppercase.
var (
	classifyLabels = [4]string{"alpha", "beta", "gamma", "delta"}
	classifyKeys   = [4][2]byte{{'A', 'E'}, {'B', 'F'}, {'C', 'G'}, {'D', 'H'}}
)

// The text after the key character has between minDistractors and maxDistractors
// characters, so the last minDistractors characters of a line never contain the key.
const (
	minDistractors = 30
	maxDistractors = 60
)

// classifyStream is the PCG stream of Classify.
const classifyStream = 0x636c617373696679

// Classify writes train.tsv, val.tsv and test.tsv into dir, creating dir if needed, with
// lines label<TAB>text. The label is alpha, beta, gamma or delta. The text starts with 0 to 2
// lowercase letters and one uppercase key character, two keys per label, followed by 30 to 60
// lowercase letters and spaces drawn independently of the label. A classifier must therefore
// remember a character from the first 3 to the end of the line. No line appears twice.
func Classify(dir string, opt Options) ([]OutputFile, error) {
	counts, err := opt.resolve("classify", classifyDefaults)
	if err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	rng := newRand(opt.Seed, classifyStream)
	splits, err := distinctSplits("classify", counts, func() string { return classifyLine(rng) })
	if err != nil {
		return nil, err
	}
	return writeSplits(dir, splits)
}

// classifyLine returns one line label<TAB>text.
func classifyLine(rng *rand.Rand) string {
	label := rng.IntN(len(classifyLabels))
	var b strings.Builder
	b.WriteString(classifyLabels[label])
	b.WriteByte('\t')
	for range rng.IntN(3) {
		b.WriteByte(randomLetter(rng))
	}
	b.WriteByte(classifyKeys[label][rng.IntN(2)])
	b.WriteString(distractors(rng, minDistractors+rng.IntN(maxDistractors-minDistractors+1)))
	return b.String()
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
