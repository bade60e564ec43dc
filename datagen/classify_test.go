package datagen

import (
	"math"
	"strings"
	"testing"
)

// keyLabels maps each key character to the index of its label in classifyLabels.
func keyLabels() map[byte]int {
	labels := map[byte]int{}
	for i, keys := range classifyKeys {
		for _, k := range keys {
			labels[k] = i
		}
	}
	return labels
}

// labelIndex returns the index of label in classifyLabels, failing when it is not one.
func labelIndex(t *testing.T, label string) int {
	t.Helper()
	for i, l := range classifyLabels {
		if l == label {
			return i
		}
	}
	t.Fatalf("label %q is not one of %v", label, classifyLabels)
	return -1
}

// keyPositions returns the indices of the key characters in text.
func keyPositions(text string) []int {
	labels := keyLabels()
	var positions []int
	for i := range len(text) {
		if _, ok := labels[text[i]]; ok {
			positions = append(positions, i)
		}
	}
	return positions
}

func TestClassifyLayout(t *testing.T) {
	splits := readSplits(t, generate(t, "classify", small))
	checkCounts(t, splits, small)
	checkDisjoint(t, splits)
	labels := keyLabels()
	const maxOpening = maxLead + len(classifyLabels)*(1+maxLead)
	labelsSeen := map[string]bool{}
	for _, lines := range splits {
		for _, line := range lines {
			label, text := fields(t, line)
			want := labelIndex(t, label)
			labelsSeen[label] = true
			if bad := strings.IndexFunc(text, func(r rune) bool {
				_, key := labels[byte(r)]
				return r != ' ' && (r < 'a' || r > 'z') && !key
			}); bad >= 0 {
				t.Errorf("text %q has character %q, want lowercase letters, spaces and keys only", text, text[bad])
			}
			if n := len(text); n < len(classifyLabels)+minDistractors || n > maxOpening+maxDistractors {
				t.Errorf("text %q has %d characters, want %d to %d",
					text, n, len(classifyLabels)+minDistractors, maxOpening+maxDistractors)
			}
			keys := keyPositions(text)
			if n := len(keys); n < len(classifyLabels)+minTailKeys || n > len(classifyLabels)+maxTailKeys {
				t.Errorf("text %q has %d keys, want %d to %d", text, n,
					len(classifyLabels)+minTailKeys, len(classifyLabels)+maxTailKeys)
				continue
			}
			if keys[0] > maxLead {
				t.Errorf("text %q: the first key is at index %d, want at most %d", text, keys[0], maxLead)
			}
			if got := labels[text[keys[0]]]; got != want {
				t.Errorf("line %q: the first key %c belongs to %s, want %s",
					line, text[keys[0]], classifyLabels[got], label)
			}
			opening := map[int]bool{}
			for _, p := range keys[:len(classifyLabels)] {
				opening[labels[text[p]]] = true
			}
			if len(opening) != len(classifyLabels) {
				t.Errorf("text %q: the first %d keys name %d labels, want one key of each",
					text, len(classifyLabels), len(opening))
			}
			if last := keys[len(classifyLabels)-1]; len(text)-last-1 < minDistractors {
				t.Errorf("text %q: %d characters follow the fourth key, want at least %d",
					text, len(text)-last-1, minDistractors)
			}
		}
	}
	if len(labelsSeen) != len(classifyLabels) {
		t.Errorf("labels seen: %v, want all of %v", labelsSeen, classifyLabels)
	}
}

// naiveBayes is a multinomial naive Bayes classifier over the counts of the bytes that a
// feature function picks from a text, with add-one smoothing.
type naiveBayes struct {
	logPrior [len(classifyLabels)]float64
	logProb  [len(classifyLabels)][256]float64
}

func trainNaiveBayes(texts []string, labels []int, feature func(string) string) naiveBayes {
	var nb naiveBayes
	var counts [len(classifyLabels)][256]float64
	var examples, totals [len(classifyLabels)]float64
	for i, text := range texts {
		examples[labels[i]]++
		for _, c := range []byte(feature(text)) {
			counts[labels[i]][c]++
			totals[labels[i]]++
		}
	}
	for l := range nb.logProb {
		nb.logPrior[l] = math.Log(examples[l] / float64(len(texts)))
		for c := range nb.logProb[l] {
			nb.logProb[l][c] = math.Log((counts[l][c] + 1) / (totals[l] + 256))
		}
	}
	return nb
}

func (nb naiveBayes) predict(features string) int {
	best, bestScore := 0, math.Inf(-1)
	for l := range nb.logProb {
		score := nb.logPrior[l]
		for _, c := range []byte(features) {
			score += nb.logProb[l][c]
		}
		if score > bestScore {
			best, bestScore = l, score
		}
	}
	return best
}

// accuracy returns the share of texts for which rule returns the label.
func accuracy(texts []string, labels []int, rule func(string) int) float64 {
	right := 0
	for i, text := range texts {
		if rule(text) == labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(texts))
}

// TestClassifyNeedsMemory checks that rules which see the characters of a line without their
// order, or only its end, score near chance, while the first key gives every label.
func TestClassifyNeedsMemory(t *testing.T) {
	opt := Options{Seed: 11, Train: 4000, Val: 10, Test: 2000}
	splits := readSplits(t, generate(t, "classify", opt))
	read := func(lines []string) ([]string, []int) {
		texts := make([]string, len(lines))
		labels := make([]int, len(lines))
		for i, line := range lines {
			label, text := fields(t, line)
			texts[i], labels[i] = text, labelIndex(t, label)
		}
		return texts, labels
	}
	trainTexts, trainLabels := read(splits[0])
	testTexts, testLabels := read(splits[2])
	keys := keyLabels()

	// With 2000 test lines, the accuracy of a rule that ignores the label has a standard
	// deviation of about 1 point around chance, so 4 points above chance is far out.
	const chance = 1 / float64(len(classifyLabels))
	const tolerance = 0.04

	firstKey := func(text string) int { return keys[text[keyPositions(text)[0]]] }
	if got := accuracy(testTexts, testLabels, firstKey); got != 1 {
		t.Errorf("label of the first key: accuracy %.4f, want 1", got)
	}

	// A control: naive Bayes given only the first key must find the rule, so the chance
	// scores below come from the data and not from a broken classifier.
	onlyFirstKey := func(text string) string { return string(text[keyPositions(text)[0]]) }
	control := trainNaiveBayes(trainTexts, trainLabels, onlyFirstKey)
	controlRule := func(text string) int { return control.predict(onlyFirstKey(text)) }
	const minControl = 0.99
	if got := accuracy(testTexts, testLabels, controlRule); got < minControl {
		t.Errorf("naive Bayes on the first key: accuracy %.4f, want at least %.2f", got, minControl)
	}

	whole := func(text string) string { return text }
	lastChars := func(text string) string { return text[len(text)-minDistractors:] }
	for _, c := range []struct {
		name    string
		feature func(string) string
	}{
		{"naive Bayes on the counts of all characters", whole},
		{"naive Bayes on the last 30 characters", lastChars},
	} {
		nb := trainNaiveBayes(trainTexts, trainLabels, c.feature)
		rule := func(text string) int { return nb.predict(c.feature(text)) }
		if got := accuracy(testTexts, testLabels, rule); got > chance+tolerance {
			t.Errorf("%s: accuracy %.4f, want at most %.2f", c.name, got, chance+tolerance)
		}
	}

	mostFrequentLabel := func(text string) int {
		var counts [len(classifyLabels)]int
		for _, p := range keyPositions(text) {
			counts[keys[text[p]]]++
		}
		best := 0
		for l, n := range counts {
			if n > counts[best] {
				best = l
			}
		}
		return best
	}
	if got := accuracy(testTexts, testLabels, mostFrequentLabel); got > chance+tolerance {
		t.Errorf("label with the most keys: accuracy %.4f, want at most %.2f", got, chance+tolerance)
	}
	lastKey := func(text string) int {
		p := keyPositions(text)
		return keys[text[p[len(p)-1]]]
	}
	if got := accuracy(testTexts, testLabels, lastKey); got > chance+tolerance {
		t.Errorf("label of the last key: accuracy %.4f, want at most %.2f", got, chance+tolerance)
	}
}
