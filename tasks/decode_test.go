package tasks

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recur-ml/recur/dataset"
	"github.com/recur-ml/recur/lstm"
)

// decoderCases are the decoders of tinyConfig that the decoding tests check. With random
// parameters they emit outputs of varied lengths.
var decoderCases = []gradientCase{{TaskSeq2Seq, ""}, {TaskCaption, ""}, {TaskCaption, "init"}}

// randomDecoder returns a decoder of case c with parameters from U(−1, 1) and its tiny data.
func randomDecoder(t *testing.T, c gradientCase, cell string) (*Model, *Data) {
	t.Helper()
	cfg := tinyConfig(c.task, cell, c.variant)
	m := newModel(t, cfg)
	setUniformParams(m, 21, 1)
	return m, tinyData(cfg, 3)
}

// partlyTrainedReverser returns the string-reversing seq2seq model of learnCases after 20
// steps, when greedy decoding reverses about a quarter of the strings, with its data.
func partlyTrainedReverser(t *testing.T) (*Model, *Data) {
	t.Helper()
	c := learnCaseNamed(t, "seq2seq-reverse-lstm")
	m, train, val := c.prepare(t)
	tr, err := NewTrainer(m, train, nil, c.options(20))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), func(Progress) {}); err != nil {
		t.Fatal(err)
	}
	return m, val
}

// outputVocab returns the decoder vocabulary of m.
func outputVocab(t *testing.T, m *Model) *dataset.Vocab {
	t.Helper()
	v, err := dataset.LoadVocab(dataset.Mode(m.Cfg.OutputTokens), m.Cfg.Outputs, len(outReserved))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// countTokens returns the number of tokens of a decoded output.
func countTokens(m *Model, output string) int {
	if m.Cfg.OutputTokens == TokensWords {
		return len(strings.Fields(output))
	}
	return utf8.RuneCountInString(output)
}

// encodeOutput returns the token ids of a decoded output.
func encodeOutput(t *testing.T, m *Model, output string) []int32 {
	t.Helper()
	ids, err := outputVocab(t, m).Encode(output)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// teacherForcedLogProb returns the log-probability that m gives to tokens as the output of
// example i of d, computed with Forward. With finished, End follows the tokens and its
// probability counts too. A decoder stopped by the length cap emits no End, so then it
// does not count.
func teacherForcedLogProb(t *testing.T, m *Model, d *Data, i int, tokens []int32, finished bool) float64 {
	t.Helper()
	single := &Data{Examples: []Example{d.Examples[i]}, Pixels: d.Pixels, Features: d.Features, N: d.N}
	single.Examples[0].Out = tokens
	b := single.Batch(m.Cfg, []int{0}, 1)
	if !finished {
		b.Targets[len(tokens)] = -1
	}
	w := m.NewWorkspace(1, max(b.T, 1), b.DecT, false)
	m.Forward(w, b, false, lstm.Dropout{})
	return -m.Loss(w)
}

func TestBeamWidthOneMatchesGreedy(t *testing.T) {
	for _, c := range decoderCases {
		for _, cell := range cells {
			t.Run(c.name(cell), func(t *testing.T) {
				m, d := randomDecoder(t, c, cell)
				const maxLen = 6
				_, greedy := Predict(m, d, 3, DecodeOptions{MaxLen: maxLen})
				vocab := outputVocab(t, m)
				for i := range d.Examples {
					beam := vocab.Decode(beamDecode(m, d, i, 1, maxLen))
					if beam != greedy[i].Output {
						t.Errorf("example %d: beam of width 1 gives %q, greedy %q", i, beam, greedy[i].Output)
					}
				}
			})
		}
	}
}

// TestBeamScoresAtLeastGreedy checks that a beam of width 4 returns, for each example, an
// output whose log-probability, recomputed with teacher forcing, is at least that of the
// greedy output. Beam search does not guarantee this in general, because it can prune the
// greedy path, but on these models it holds, and a beam that scores or reorders its state
// wrongly breaks it.
func TestBeamScoresAtLeastGreedy(t *testing.T) {
	check := func(t *testing.T, m *Model, d *Data, maxLen int) {
		_, greedy := Predict(m, d, 8, DecodeOptions{MaxLen: maxLen})
		_, beam := Predict(m, d, 8, DecodeOptions{MaxLen: maxLen, Beam: 4})
		better := 0
		for i := range d.Examples {
			g := encodeOutput(t, m, greedy[i].Output)
			b := encodeOutput(t, m, beam[i].Output)
			lg := teacherForcedLogProb(t, m, d, i, g, len(g) < maxLen)
			lb := teacherForcedLogProb(t, m, d, i, b, len(b) < maxLen)
			if lb < lg-1e-4 {
				t.Errorf("example %d: beam output %q has log-probability %.5f, below greedy %q with %.5f",
					i, beam[i].Output, lb, greedy[i].Output, lg)
			}
			if lb > lg+1e-4 {
				better++
			}
		}
		t.Logf("the beam beats greedy decoding on %d of %d examples", better, len(d.Examples))
	}
	t.Run("partly-trained-reverser", func(t *testing.T) {
		m, d := partlyTrainedReverser(t)
		check(t, m, d, 6)
	})
	for _, c := range decoderCases {
		for _, cell := range cells {
			t.Run(c.name(cell), func(t *testing.T) {
				m, d := randomDecoder(t, c, cell)
				check(t, m, d, 6)
			})
		}
	}
}

func TestMaxLenCapsOutput(t *testing.T) {
	for _, c := range decoderCases {
		t.Run(c.name(lstm.CellGRU), func(t *testing.T) {
			m, d := randomDecoder(t, c, lstm.CellGRU)
			longest := 0
			for _, opt := range []DecodeOptions{{MaxLen: 30}, {MaxLen: 30, Temperature: 2, Seed: 1}} {
				_, preds := Predict(m, d, 3, opt)
				for _, p := range preds {
					longest = max(longest, countTokens(m, p.Output))
				}
			}
			if longest <= 2 {
				t.Fatalf("the longest output without a tight cap has %d tokens; the model must emit more than 2 to test the cap", longest)
			}
			for _, opt := range []DecodeOptions{
				{MaxLen: 2},
				{MaxLen: 2, Beam: 3},
				{MaxLen: 2, Temperature: 2, Seed: 1},
			} {
				_, preds := Predict(m, d, 3, opt)
				for i, p := range preds {
					if n := countTokens(m, p.Output); n > opt.MaxLen {
						t.Errorf("%+v, example %d: output %q has %d tokens, more than MaxLen", opt, i, p.Output, n)
					}
				}
			}
		})
	}
}

func TestSamplingDeterministicForSeed(t *testing.T) {
	m, d := partlyTrainedReverser(t)
	sample := func(seed uint64) []string {
		_, preds := Predict(m, d, 16, DecodeOptions{Temperature: 1.5, Seed: seed})
		return predictionOutputs(preds)
	}
	first, again, other := sample(1), sample(1), sample(2)
	if !slices.Equal(first, again) {
		t.Errorf("two samplings with seed 1 differ:\n%q\n%q", first, again)
	}
	if slices.Equal(first, other) {
		t.Errorf("samplings with seeds 1 and 2 are identical over %d examples: the seed is not used", len(first))
	}

	// A temperature near zero puts all the probability on the most likely token.
	_, greedy := Predict(m, d, 16, DecodeOptions{})
	_, cold := Predict(m, d, 16, DecodeOptions{Temperature: 1e-4, Seed: 3})
	if g, c := predictionOutputs(greedy), predictionOutputs(cold); !slices.Equal(g, c) {
		t.Errorf("sampling at temperature 1e-4 gives %q, greedy decoding %q", c, g)
	}
}

// TestTeacherForcedLogProbMatchesLoss checks the helper of TestBeamScoresAtLeastGreedy. For
// the targets themselves, the negated log-probabilities must average to Predict's loss.
func TestTeacherForcedLogProbMatchesLoss(t *testing.T) {
	m, d := randomDecoder(t, decoderCases[0], lstm.CellLSTM)
	var sum float64
	targets := 0
	for i, e := range d.Examples {
		sum += teacherForcedLogProb(t, m, d, i, e.Out, true)
		targets += len(e.Out) + 1
	}
	mt, _ := Predict(m, d, 3, DecodeOptions{})
	if got := -sum / float64(targets); math.Abs(got-mt.Loss) > 1e-5 {
		t.Errorf("mean of the teacher-forced losses = %.6f, Predict's loss = %.6f", got, mt.Loss)
	}
}

// nextLogProbs returns the log-probabilities that m gives to each output token after
// prefix, for example i of d, computed with a teacher-forced Forward over Start and prefix.
func nextLogProbs(t *testing.T, m *Model, d *Data, i int, prefix []int32) []float64 {
	t.Helper()
	single := &Data{Examples: []Example{d.Examples[i]}, Pixels: d.Pixels, Features: d.Features, N: d.N}
	single.Examples[0].Out = prefix
	b := single.Batch(m.Cfg, []int{0}, 1)
	w := m.NewWorkspace(1, max(b.T, 1), b.DecT, false)
	m.Forward(w, b, false, lstm.Dropout{})
	V := len(m.Cfg.Outputs)
	logits := m.Logits(w)
	out := make([]float64, V)
	logSoftmax(out, logits[len(prefix)*V:(len(prefix)+1)*V])
	return out
}

// referenceBeam is a beam search that scores every hypothesis with teacher forcing instead
// of carrying decoder states. It keeps the width best hypotheses at each step, moves those
// that end with End to the finished list, and stops when the best finished one scores at
// least as high as the best live one or after maxLen steps. It returns the tokens of the
// best hypothesis, finished or not.
func referenceBeam(t *testing.T, m *Model, d *Data, i, width, maxLen int) []int32 {
	t.Helper()
	type hyp struct {
		tokens []int32
		score  float64
	}
	live := []hyp{{}}
	var finished []hyp
	V := len(m.Cfg.Outputs)
	for step := 0; step < maxLen && len(live) > 0; step++ {
		var cands []hyp
		for _, h := range live {
			lp := nextLogProbs(t, m, d, i, h.tokens)
			for v := firstOutput; v < V; v++ {
				cands = append(cands, hyp{append(slices.Clone(h.tokens), int32(v)), h.score + lp[v]})
			}
		}
		slices.SortStableFunc(cands, func(a, b hyp) int {
			switch {
			case a.score > b.score:
				return -1
			case a.score < b.score:
				return 1
			}
			return 0
		})
		var next []hyp
		for _, c := range cands {
			if len(next) == width {
				break
			}
			if c.tokens[len(c.tokens)-1] == endID {
				finished = append(finished, hyp{c.tokens[:len(c.tokens)-1], c.score})
				continue
			}
			next = append(next, c)
		}
		best := math.Inf(-1)
		for _, f := range finished {
			best = max(best, f.score)
		}
		if len(next) == 0 || (len(finished) > 0 && best >= next[0].score) {
			live = nil
			break
		}
		live = next
	}
	all := append(finished, live...)
	bestHyp := all[0]
	for _, h := range all[1:] {
		if h.score > bestHyp.score {
			bestHyp = h
		}
	}
	return bestHyp.tokens
}

// TestBeamMatchesReferenceSearch checks decodeBeam, which carries and reorders the decoder
// states of its hypotheses, against referenceBeam, which recomputes every hypothesis from
// Start. A hypothesis continued from another's state scores differently, so a wrong
// reordering changes the result.
func TestBeamMatchesReferenceSearch(t *testing.T) {
	for _, c := range decoderCases {
		for _, cell := range cells {
			t.Run(c.name(cell), func(t *testing.T) {
				m, d := randomDecoder(t, c, cell)
				for _, width := range []int{2, 3, 4} {
					for i := range d.Examples {
						got := beamDecode(m, d, i, width, 5)
						want := referenceBeam(t, m, d, i, width, 5)
						if !slices.Equal(got, want) {
							t.Errorf("width %d, example %d: decodeBeam returns %v, the reference search %v", width, i, got, want)
						}
					}
				}
			})
		}
	}
	t.Run("partly-trained-reverser", func(t *testing.T) {
		m, d := partlyTrainedReverser(t)
		for i := range d.Examples {
			got := beamDecode(m, d, i, 4, 6)
			want := referenceBeam(t, m, d, i, 4, 6)
			if !slices.Equal(got, want) {
				t.Errorf("example %d (%q): decodeBeam returns %v, the reference search %v", i, d.Examples[i].Text, got, want)
			}
		}
	})
}

func TestArgmaxRowsSkipsNaN(t *testing.T) {
	nan := float32(math.NaN())
	got := argmaxRows([]float32{nan, nan, nan, 1, nan, 3, 2, 2, 0}, 3)
	want := []int32{0, 2, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: argmax = %d, want %d", i, got[i], want[i])
		}
	}
}

// beamDecode decodes example i of d with a beam of the given width in a workspace of its own.
func beamDecode(m *Model, d *Data, i, width, maxLen int) []int32 {
	T, _ := d.MaxLens(m.Cfg)
	return m.decodeBeam(m.NewWorkspace(width, max(T, 1), 1, false), d, i, maxLen)
}

// With BlindDecoder, the decoder's next-token distribution depends on the prefix's length
// alone, and beam search, which feeds its own tokens one step at a time, still agrees with
// the teacher-forced reference, which reads the prefix through Data.Batch.
func TestBlindDecoderIgnoresPrefixTokens(t *testing.T) {
	for _, c := range decoderCases {
		t.Run(c.name(lstm.CellLSTM), func(t *testing.T) {
			m, d := randomDecoder(t, c, lstm.CellLSTM)
			m.Cfg.BlindDecoder = true
			b := d.Batch(m.Cfg, []int{0}, 1)
			for j, id := range b.DecIDs {
				want := int32(1) // <unk>
				if j == 0 {
					want = 2 // Start
				}
				if id != want && b.Targets[j] >= 0 {
					t.Errorf("decoder input %d is %d, want %d", j, id, want)
				}
			}

			first := firstOutput
			a := nextLogProbs(t, m, d, 0, []int32{int32(first), int32(first)})
			z := nextLogProbs(t, m, d, 0, []int32{int32(first + 1), int32(first + 2)})
			if !slices.Equal(a, z) {
				t.Errorf("log-probabilities after two different prefixes differ: %v and %v", a[:4], z[:4])
			}
			// One decoding step from Start, then a second step fed two different tokens.
			second := func(id int32) []float32 {
				b := d.Batch(m.Cfg, []int{0}, 1)
				w := m.NewWorkspace(1, max(b.T, 1), b.DecT, false)
				m.Forward(w, b, false, lstm.Dropout{})
				m.decodeStart(w, b)
				m.decodeStep(w, []int32{2})
				return m.decodeStep(w, []int32{id})
			}
			if x, y := second(int32(first)), second(int32(first+1)); !slices.Equal(x, y) {
				t.Errorf("decodeStep's logits after two different tokens differ: %v and %v", x[:4], y[:4])
			}
			for i := range d.Examples {
				got := beamDecode(m, d, i, 3, 5)
				want := referenceBeam(t, m, d, i, 3, 5)
				if !slices.Equal(got, want) {
					t.Errorf("example %d: decodeBeam returns %v, the reference search %v", i, got, want)
				}
			}
		})
	}
}
