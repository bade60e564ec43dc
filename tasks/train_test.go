package tasks

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/recur-ml/recur/lstm"
)

// learnCase is a trivially learnable data set and a model that should fit it in a few
// hundred steps.
type learnCase struct {
	name    string
	cfg     Config // task, cell, sizes and tokenization; BuildVocabs fills the vocabularies
	steps   int
	batch   int
	lr      float64
	dropout float64
	// lines returns the lines of a data set drawn from rng, and images its pixels or
	// features (nil when the task reads none).
	lines  func(rng *rand.Rand) []string
	images func() ([]float32, []int)
}

// randomString returns n characters drawn from alphabet.
func randomString(rng *rand.Rand, alphabet string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// reverse returns s with its bytes in reverse order.
func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// tagWords maps each word of the tagging data set to its tag.
var tagWords = map[string]string{
	"red": "COLOR", "blue": "COLOR", "green": "COLOR",
	"cat": "ANIMAL", "dog": "ANIMAL", "emu": "ANIMAL",
	"one": "NUMBER", "two": "NUMBER", "six": "NUMBER",
}

// captionWords is the caption of each of the four image classes.
var captionWords = []string{"red circle", "blue square", "green circle", "red square"}

// Each image of the classifier is 4 rows of 3 values. Its class sets row 0 to a one-hot
// vector, and the other rows are noise, so the model must carry row 0 to the end.
const (
	learnImages    = 30
	learnImageRows = 4
	learnImageCols = 3
)

// learnPixels returns learnImages images; image i is of class i mod 3.
func learnPixels() ([]float32, []int) {
	rng := rand.New(rand.NewPCG(9, 9))
	px := make([]float32, learnImages*learnImageRows*learnImageCols)
	for i := range learnImages {
		img := px[i*learnImageRows*learnImageCols:]
		for j := range learnImageRows * learnImageCols {
			img[j] = float32(rng.Float64()*0.5 - 0.25)
		}
		img[i%3] = 1
	}
	return px, []int{learnImages, learnImageRows, learnImageCols}
}

var learnCases = []learnCase{
	{
		name:  "classify-first-char-lstm-last",
		cfg:   Config{Task: TaskClassify, Cell: lstm.CellLSTM, Layers: 1, Hidden: 16, Embed: 8, Tokens: TokensChars, Pool: PoolLast},
		steps: 300, batch: 16, lr: 0.02,
		lines: func(rng *rand.Rand) []string {
			var out []string
			for range 60 {
				first := randomString(rng, "abc", 1)
				out = append(out, first+"\t"+first+randomString(rng, "abcdef", 1+rng.IntN(4)))
			}
			return out
		},
	},
	{
		name:  "classify-first-char-gru-mean",
		cfg:   Config{Task: TaskClassify, Cell: lstm.CellGRU, Layers: 1, Hidden: 16, Embed: 8, Tokens: TokensChars, Pool: PoolMean},
		steps: 300, batch: 16, lr: 0.02,
		lines: func(rng *rand.Rand) []string {
			var out []string
			for range 60 {
				first := randomString(rng, "abc", 1)
				out = append(out, first+"\t"+first+randomString(rng, "abcdef", 1+rng.IntN(4)))
			}
			return out
		},
	},
	{
		name:  "classify-first-char-lstm-2-layers-dropout",
		cfg:   Config{Task: TaskClassify, Cell: lstm.CellLSTM, Layers: 2, Hidden: 16, Embed: 8, Tokens: TokensChars, Pool: PoolLast},
		steps: 300, batch: 16, lr: 0.02, dropout: 0.1,
		lines: func(rng *rand.Rand) []string {
			var out []string
			for range 60 {
				first := randomString(rng, "abc", 1)
				out = append(out, first+"\t"+first+randomString(rng, "abcdef", 1+rng.IntN(4)))
			}
			return out
		},
	},
	{
		name:  "classify-images-gru",
		cfg:   Config{Task: TaskClassify, Cell: lstm.CellGRU, Layers: 1, Hidden: 16, Embed: 8, Pool: PoolLast},
		steps: 200, batch: 10, lr: 0.02,
		lines: func(rng *rand.Rand) []string {
			var out []string
			for i := range learnImages {
				out = append(out, fmt.Sprintf("%c\t%d", 'a'+i%3, i))
			}
			return out
		},
		images: learnPixels,
	},
	{
		name:  "tag-word-class-rnn",
		cfg:   Config{Task: TaskTag, Cell: lstm.CellRNN, Layers: 1, Hidden: 16, Embed: 8},
		steps: 200, batch: 16, lr: 0.02,
		lines: func(rng *rand.Rand) []string {
			words := []string{"red", "blue", "green", "cat", "dog", "emu", "one", "two", "six"}
			var out []string
			for range 60 {
				var toks, tags []string
				for range 1 + rng.IntN(5) {
					w := words[rng.IntN(len(words))]
					toks = append(toks, w)
					tags = append(tags, tagWords[w])
				}
				out = append(out, strings.Join(toks, " ")+"\t"+strings.Join(tags, " "))
			}
			return out
		},
	},
	{
		name:  "seq2seq-reverse-lstm",
		cfg:   Config{Task: TaskSeq2Seq, Cell: lstm.CellLSTM, Layers: 1, Hidden: 32, Embed: 8, Tokens: TokensChars, OutputTokens: TokensChars},
		steps: 400, batch: 16, lr: 0.02,
		lines: func(rng *rand.Rand) []string {
			var out []string
			for _, a := range "abcd" {
				for _, b := range "abcd" {
					for _, c := range "abcd" {
						s := string([]rune{a, b, c})
						out = append(out, s+"\t"+reverse(s))
					}
				}
			}
			return out
		},
	},
	{
		name:  "caption-class-gru",
		cfg:   Config{Task: TaskCaption, Cell: lstm.CellGRU, Layers: 1, Hidden: 16, Embed: 8, OutputTokens: TokensWords},
		steps: 150, batch: 8, lr: 0.02,
		lines:  captionLines,
		images: captionFeatures,
	},
	{
		name:  "caption-class-lstm-init-state",
		cfg:   Config{Task: TaskCaption, Cell: lstm.CellLSTM, Layers: 1, Hidden: 16, Embed: 8, OutputTokens: TokensWords, InitState: true},
		steps: 150, batch: 8, lr: 0.02,
		lines:  captionLines,
		images: captionFeatures,
	},
}

// captionLines returns one caption line per image of captionFeatures.
func captionLines(*rand.Rand) []string {
	var out []string
	for i := range 8 {
		out = append(out, fmt.Sprintf("%d\t%s", i, captionWords[i%4]))
	}
	return out
}

// captionFeatures returns 8 feature vectors; image i is the one-hot vector of class i mod 4.
func captionFeatures() ([]float32, []int) {
	f := make([]float32, 8*4)
	for i := range 8 {
		f[i*4+i%4] = 1
	}
	return f, []int{8, 4}
}

// prepare writes the case's training set and a second draw of it as validation set, and
// returns a freshly initialised model with both data sets.
func (c learnCase) prepare(t *testing.T) (m *Model, train, val *Data) {
	t.Helper()
	dir := t.TempDir()
	src := Sources{Path: writeFile(t, dir, "train.txt", c.lines(rand.New(rand.NewPCG(1, 1)))...)}
	valSrc := Sources{Path: writeFile(t, dir, "val.txt", c.lines(rand.New(rand.NewPCG(2, 2)))...)}
	if c.images != nil {
		data, shape := c.images()
		src.Images = writeNPY(t, dir, "images.npy", data, shape...)
		valSrc.Images = src.Images
	}
	cfg := c.cfg
	v, err := BuildVocabs(&cfg, src)
	if err != nil {
		t.Fatalf("BuildVocabs: %v", err)
	}
	if train, err = Load(cfg, v, src); err != nil {
		t.Fatalf("Load of the training set: %v", err)
	}
	if val, err = Load(cfg, v, valSrc); err != nil {
		t.Fatalf("Load of the validation set: %v", err)
	}
	m = newModel(t, cfg)
	m.Init(3, 1)
	return m, train, val
}

// options returns the case's training options for the given number of steps.
func (c learnCase) options(steps int) TrainOptions {
	return TrainOptions{Batch: c.batch, Steps: steps, LR: c.lr, Optim: lstm.OptimAdam, Clip: 5, Seed: 4, Dropout: c.dropout}
}

// learnCaseNamed returns the entry of learnCases with the given name.
func learnCaseNamed(t *testing.T, name string) learnCase {
	t.Helper()
	for _, c := range learnCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no learn case %q", name)
	return learnCase{}
}

// TestTrainerLearnsTinyTasks trains each task on a data set that a small model fits easily
// and requires near-perfect accuracy from Predict on a second draw of the data set. The
// seq2seq, image and caption sets are exhaustive, so their second draw repeats the first.
func TestTrainerLearnsTinyTasks(t *testing.T) {
	for _, c := range learnCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, train, val := c.prepare(t)
			before, _ := Predict(m, val, 16, DecodeOptions{})
			if before.Accuracy > 0.8 {
				t.Errorf("accuracy %.3f before training, want at most 0.8: the data set is too easy to test training", before.Accuracy)
			}
			tr, err := NewTrainer(m, train, val, c.options(c.steps))
			if err != nil {
				t.Fatalf("NewTrainer: %v", err)
			}
			var first, last Progress
			reports := 0
			err = tr.Run(context.Background(), func(p Progress) {
				if reports == 0 {
					first = p
				}
				last = p
				reports++
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if reports != c.steps {
				t.Errorf("Run reported %d steps, want %d", reports, c.steps)
			}
			if tr.Skipped != 0 {
				t.Errorf("%d steps were skipped for a non-finite loss or gradient", tr.Skipped)
			}
			if last.Val == nil {
				t.Fatal("the last step carries no validation metrics")
			}
			mt, preds := Predict(m, val, 16, DecodeOptions{})
			t.Logf("loss %.3f at step 1, %.3f at step %d; validation loss %.4f, accuracy %.3f before training and %.3f after",
				first.Loss, last.Loss, last.Step, mt.Loss, before.Accuracy, mt.Accuracy)
			if mt.Accuracy < 0.95 {
				for _, p := range preds {
					if !p.Correct {
						t.Logf("wrong: %q → %q, want %q", p.Example.Text, p.Output, p.Example.Want)
					}
				}
				t.Errorf("validation accuracy %.3f after %d steps, want at least 0.95", mt.Accuracy, c.steps)
			}
			if last.Val.Accuracy != mt.Accuracy {
				t.Errorf("Run's final validation accuracy %.4f differs from Predict's %.4f", last.Val.Accuracy, mt.Accuracy)
			}
		})
	}
}

func TestTrainerRunStopsOnCancel(t *testing.T) {
	c := learnCaseNamed(t, "tag-word-class-rnn")
	m, train, _ := c.prepare(t)
	tr, err := NewTrainer(m, train, nil, c.options(10))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	err = tr.Run(ctx, func(Progress) {
		steps++
		if steps == 3 {
			cancel()
		}
	})
	if err != context.Canceled {
		t.Errorf("Run after cancel returned %v, want context.Canceled", err)
	}
	if steps != 3 || tr.Opt.Step != 3 {
		t.Errorf("Run did %d steps (optimizer step %d) after a cancel at step 3, want 3", steps, tr.Opt.Step)
	}
}

func TestTrainerSkipsNonFiniteStep(t *testing.T) {
	c := learnCaseNamed(t, "tag-word-class-rnn")
	m, train, _ := c.prepare(t)
	tr, err := NewTrainer(m, train, nil, c.options(10))
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	m.be.Upload(m.Params.Slice(m.Params.Len()-1, 1), []float32{nan}) // the last head bias
	before := downloadParams(m)

	p := tr.Step()
	if !p.Skipped {
		t.Errorf("a step with a NaN parameter was not skipped (loss %g)", p.Loss)
	}
	if tr.Skipped != 1 || tr.Opt.Step != 1 {
		t.Errorf("after one skipped step: Skipped = %d, optimizer step = %d, want 1 and 1", tr.Skipped, tr.Opt.Step)
	}
	after := downloadParams(m)
	for i := range before {
		if math.Float32bits(after[i]) != math.Float32bits(before[i]) {
			t.Fatalf("parameter %d changed from %g to %g in a skipped step", i, before[i], after[i])
		}
	}
}
