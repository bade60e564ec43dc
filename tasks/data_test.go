package tasks

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/recur-ml/recur/lstm"
)

// dataCase is a small data set of one task, written to files by write.
type dataCase struct {
	name string
	cfg  Config // the task and tokenization; BuildVocabs fills the rest
	// train is the training file's lines; val adds an unknown input token and is loaded
	// with the training vocabularies.
	train, val []string
	images     []float32 // pixels or features, or nil
	shape      []int
	// unkExample and unkPos locate the unknown input token of val in Examples[].In, or in
	// Out for a decoder target (unkInOut).
	unkExample, unkPos int
	unkInOut           bool
}

var dataCases = []dataCase{
	{
		name:   "classify",
		cfg:    Config{Task: TaskClassify, Tokens: TokensChars, Pool: PoolLast},
		train:  []string{"pos\tabc", "", "neg\tbd", "   ", "pos\tca"},
		val:    []string{"neg\tazb"},
		unkPos: 1,
	},
	{
		name:   "classify-images",
		cfg:    Config{Task: TaskClassify, Pool: PoolMean},
		train:  []string{"a\t0", "b\t1", "", "a\t2"},
		val:    []string{"b\t2"},
		images: []float32{1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0},
		shape:  []int{3, 2, 2},
		unkPos: -1,
	},
	{
		name:   "tag",
		cfg:    Config{Task: TaskTag},
		train:  []string{"the cat sat\tD N V", "", "a dog\tD N"},
		val:    []string{"the emu sat\tD N V"},
		unkPos: 1,
	},
	{
		name:   "seq2seq",
		cfg:    Config{Task: TaskSeq2Seq, Tokens: TokensChars, OutputTokens: TokensChars},
		train:  []string{"abc\tcba", "", "ab\tba"},
		val:    []string{"cxb\tbc"},
		unkPos: 1,
	},
	{
		name:     "caption",
		cfg:      Config{Task: TaskCaption, OutputTokens: TokensWords},
		train:    []string{"0\tred circle", "", "1\tblue square", "2\tred square"},
		val:      []string{"1\tgreen square"},
		images:   []float32{1, 0, 0, 1, 0, 0, 1, 1, 0},
		shape:    []int{3, 3},
		unkPos:   0,
		unkInOut: true,
	},
}

// write writes the case's files into dir and returns the sources of its training and
// validation sets.
func (c dataCase) write(t *testing.T, dir string) (train, val Sources) {
	t.Helper()
	train.Path = writeFile(t, dir, "train.txt", c.train...)
	val.Path = writeFile(t, dir, "val.txt", c.val...)
	if c.images != nil {
		train.Images = writeNPY(t, dir, "images.npy", c.images, c.shape...)
		val.Images = train.Images
	}
	return train, val
}

// build runs BuildVocabs and Load on the case's training file and returns the filled
// configuration, the vocabularies and the training data.
func (c dataCase) build(t *testing.T, dir string) (Config, *Vocabs, *Data) {
	t.Helper()
	src, _ := c.write(t, dir)
	cfg := c.cfg
	cfg.Cell, cfg.Layers, cfg.Hidden, cfg.Embed = lstm.CellLSTM, 1, 4, 3
	v, err := BuildVocabs(&cfg, src)
	if err != nil {
		t.Fatalf("BuildVocabs: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate after BuildVocabs: %v", err)
	}
	d, err := Load(cfg, v, src)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg, v, d
}

func TestBuildVocabsReservedTokens(t *testing.T) {
	for _, c := range dataCases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, _ := c.build(t, t.TempDir())
			switch {
			case cfg.images():
				if len(cfg.Vocab) != 0 {
					t.Errorf("a classifier of images has the input vocabulary %q, want none", cfg.Vocab)
				}
			case cfg.Task == TaskCaption:
				if len(cfg.Vocab) != 0 {
					t.Errorf("a caption model has the input vocabulary %q, want none", cfg.Vocab)
				}
			default:
				if len(cfg.Vocab) < 3 || cfg.Vocab[0] != Pad || cfg.Vocab[1] != Unk {
					t.Errorf("input vocabulary = %q, want %s and %s at ids 0 and 1, then the tokens", cfg.Vocab, Pad, Unk)
				}
			}
			switch cfg.Task {
			case TaskSeq2Seq, TaskCaption:
				want := []string{Pad, Unk, Start, End}
				if len(cfg.Outputs) <= len(want) || !slices.Equal(cfg.Outputs[:len(want)], want) {
					t.Errorf("decoder vocabulary = %q, want %q at ids 0 to 3, then the tokens", cfg.Outputs, want)
				}
			default:
				if !slices.IsSorted(cfg.Outputs) || slices.Contains(cfg.Outputs, Pad) {
					t.Errorf("labels = %q, want the sorted labels of the file and no reserved token", cfg.Outputs)
				}
			}
		})
	}
}

func TestBuildVocabsFillsConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, _, _ := dataCases[0].build(t, dir)
	if want := []string{Pad, Unk, "a", "b", "c", "d"}; !slices.Equal(cfg.Vocab, want) {
		t.Errorf("classify vocabulary = %q, want %q (first-seen order)", cfg.Vocab, want)
	}
	if want := []string{"neg", "pos"}; !slices.Equal(cfg.Outputs, want) {
		t.Errorf("classify outputs = %q, want %q", cfg.Outputs, want)
	}

	images, _, _ := dataCases[1].build(t, t.TempDir())
	if images.Rows != 2 || images.InputWidth != 2 {
		t.Errorf("classifier of images: Rows = %d, InputWidth = %d, want 2 and 2 from the shape [3 2 2]", images.Rows, images.InputWidth)
	}

	tag, _, _ := dataCases[2].build(t, t.TempDir())
	if tag.Tokens != TokensWords {
		t.Errorf("tagger Tokens = %q, want %q", tag.Tokens, TokensWords)
	}
	if want := []string{"D", "N", "V"}; !slices.Equal(tag.Outputs, want) {
		t.Errorf("tagger outputs = %q, want %q", tag.Outputs, want)
	}

	caption, _, _ := dataCases[4].build(t, t.TempDir())
	if caption.Features != 3 {
		t.Errorf("caption Features = %d, want 3 from the shape [3 3]", caption.Features)
	}
	if want := []string{Pad, Unk, Start, End, "red", "circle", "blue", "square"}; !slices.Equal(caption.Outputs, want) {
		t.Errorf("caption outputs = %q, want %q", caption.Outputs, want)
	}
}

func TestLoadSkipsEmptyLines(t *testing.T) {
	for _, c := range dataCases {
		t.Run(c.name, func(t *testing.T) {
			_, _, d := c.build(t, t.TempDir())
			want := 0
			for _, line := range c.train {
				if strings.TrimSpace(line) != "" {
					want++
				}
			}
			if len(d.Examples) != want {
				t.Errorf("loaded %d examples, want %d (the non-empty lines)", len(d.Examples), want)
			}
		})
	}
}

func TestLoadUnknownTokenBecomesUnk(t *testing.T) {
	for _, c := range dataCases {
		if c.unkPos < 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, v, _ := c.build(t, dir)
			_, val := c.write(t, dir)
			d, err := Load(cfg, v, val)
			if err != nil {
				t.Fatalf("Load of a file with an unknown input token: %v", err)
			}
			seq := d.Examples[c.unkExample].In
			if c.unkInOut {
				seq = d.Examples[c.unkExample].Out
			}
			if c.unkPos >= len(seq) || seq[c.unkPos] != 1 {
				t.Errorf("encoded %q as %v, want the id of %s (1) at position %d", c.val[c.unkExample], seq, Unk, c.unkPos)
			}
		})
	}
}

func TestVocabsFromConfigMatchBuildVocabs(t *testing.T) {
	for _, c := range dataCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _, want := c.build(t, dir)
			v, err := VocabsFromConfig(cfg)
			if err != nil {
				t.Fatalf("VocabsFromConfig: %v", err)
			}
			src, _ := c.write(t, dir)
			got, err := Load(cfg, v, src)
			if err != nil {
				t.Fatalf("Load with the vocabularies of the config: %v", err)
			}
			if len(got.Examples) != len(want.Examples) {
				t.Fatalf("loaded %d examples, want %d", len(got.Examples), len(want.Examples))
			}
			for i := range got.Examples {
				g, w := got.Examples[i], want.Examples[i]
				if !slices.Equal(g.In, w.In) || !slices.Equal(g.Out, w.Out) || g.Label != w.Label || g.Image != w.Image {
					t.Errorf("example %d: %+v with the config's vocabularies, %+v with BuildVocabs'", i, g, w)
				}
			}
		})
	}
}

func TestLoadUnknownLabelNamesIt(t *testing.T) {
	for _, c := range []struct {
		name, line string
		index      int // the dataCases entry
	}{
		{"classify", "maybe\tab", 0},
		{"classify-images", "maybe\t1", 1},
		{"tag", "the cat\tD maybe", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, v, _ := dataCases[c.index].build(t, dir)
			src, _ := dataCases[c.index].write(t, dir)
			src.Path = writeFile(t, dir, "bad.txt", c.line)
			_, err := Load(cfg, v, src)
			if err == nil {
				t.Fatalf("Load of the label %q unknown to the model returned no error", "maybe")
			}
			if !strings.Contains(err.Error(), `"maybe"`) {
				t.Errorf("error %q does not name the unknown label \"maybe\"", err)
			}
		})
	}
}

func TestLoadImageIndexOutOfRange(t *testing.T) {
	for _, c := range []struct {
		name, line string
		index      int
	}{
		{"classify-images-past-end", "a\t3", 1},
		{"classify-images-negative", "a\t-1", 1},
		{"classify-images-not-a-number", "a\tx", 1},
		{"caption-past-end", "3\tred circle", 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, v, _ := dataCases[c.index].build(t, dir)
			src, _ := dataCases[c.index].write(t, dir)
			src.Path = writeFile(t, dir, "bad.txt", c.line)
			if _, err := Load(cfg, v, src); err == nil {
				t.Errorf("Load of %q with 3 images returned no error", c.line)
			}
		})
	}
}

func TestLoadMissingImagesFile(t *testing.T) {
	for _, index := range []int{1, 4} {
		t.Run(dataCases[index].name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, v, _ := dataCases[index].build(t, dir)
			src, _ := dataCases[index].write(t, dir)
			src.Images = ""
			_, err := Load(cfg, v, src)
			if err == nil || !strings.Contains(err.Error(), "--images") {
				t.Errorf("Load without an images file returned %v, want an error that names --images", err)
			}
		})
	}
}

// TestOneExampleTrains checks that a file of one example loads, batches and trains with a
// batch size larger than the training set.
func TestOneExampleTrains(t *testing.T) {
	for _, c := range dataCases {
		t.Run(c.name, func(t *testing.T) {
			single := c
			for _, line := range c.train {
				if strings.TrimSpace(line) != "" {
					single.train = []string{line}
					break
				}
			}
			cfg, _, d := single.build(t, t.TempDir())
			if len(d.Examples) != 1 {
				t.Fatalf("loaded %d examples, want 1", len(d.Examples))
			}
			m := newModel(t, cfg)
			m.Init(1, 1)
			tr, err := NewTrainer(m, d, d, TrainOptions{Batch: 8, Steps: 3, LR: 0.01, Optim: lstm.OptimAdam, Clip: 5})
			if err != nil {
				t.Fatalf("NewTrainer with a batch of 8 and 1 example: %v", err)
			}
			for range 3 {
				p := tr.Step()
				if p.Skipped || math.IsNaN(p.Loss) || math.IsInf(p.Loss, 0) {
					t.Fatalf("step %d: loss %g, skipped %v", p.Step, p.Loss, p.Skipped)
				}
			}
			mt, preds := Predict(m, d, 8, DecodeOptions{})
			if mt.Count != 1 || len(preds) != 1 {
				t.Errorf("Predict on one example: count %d, %d predictions, want 1 and 1", mt.Count, len(preds))
			}
		})
	}
}

func TestNewTrainerRejectsEmptyData(t *testing.T) {
	m := newModel(t, tinyConfig(TaskClassify, lstm.CellLSTM, "last"))
	_, err := NewTrainer(m, &Data{}, nil, TrainOptions{Batch: 2, Steps: 1, LR: 0.01, Optim: lstm.OptimAdam})
	if err == nil {
		t.Error("NewTrainer with no training examples returned no error")
	}
}

// TestBatchLayout checks the padding of each task's batch: left padding with a reset mask
// for a classifier, right padding with unscored targets for a tagger, and a decoder input
// that starts with Start and a target that ends with End.
func TestBatchLayout(t *testing.T) {
	t.Run("classify", func(t *testing.T) {
		cfg := tinyConfig(TaskClassify, lstm.CellLSTM, "last")
		d := tinyData(cfg, 1)
		b := d.Batch(cfg, []int{0, 2}, 3) // inputs {2 3} and {5 4 3}; row 2 repeats row 0
		if b.T != 3 {
			t.Fatalf("T = %d, want 3", b.T)
		}
		wantIDs := []int32{0, 5, 0, 2, 4, 2, 3, 3, 3}
		wantReal := []float32{0, 1, 0, 1, 1, 1, 1, 1, 1}
		if !slices.Equal(b.IDs, wantIDs) {
			t.Errorf("IDs = %v, want %v (time-major, left-padded)", b.IDs, wantIDs)
		}
		if !slices.Equal(b.Real, wantReal) {
			t.Errorf("Real = %v, want %v", b.Real, wantReal)
		}
		if want := []int32{0, 2, -1}; !slices.Equal(b.Labels, want) {
			t.Errorf("Labels = %v, want %v (the row that pads the batch is not scored)", b.Labels, want)
		}
	})
	t.Run("tag", func(t *testing.T) {
		cfg := tinyConfig(TaskTag, lstm.CellLSTM, "")
		d := tinyData(cfg, 1)
		b := d.Batch(cfg, []int{0, 2}, 2)
		wantIDs := []int32{2, 5, 3, 4, 0, 3}
		wantTargets := []int32{2, 2, 0, 1, -1, 0}
		if !slices.Equal(b.IDs, wantIDs) {
			t.Errorf("IDs = %v, want %v (time-major, right-padded)", b.IDs, wantIDs)
		}
		if !slices.Equal(b.Targets, wantTargets) {
			t.Errorf("Targets = %v, want %v", b.Targets, wantTargets)
		}
	})
	t.Run("seq2seq", func(t *testing.T) {
		cfg := tinyConfig(TaskSeq2Seq, lstm.CellLSTM, "")
		d := tinyData(cfg, 1)
		b := d.Batch(cfg, []int{1, 2}, 2) // targets {6} and {5 4}
		if b.DecT != 3 {
			t.Fatalf("DecT = %d, want 3 (the longest target plus End)", b.DecT)
		}
		wantDec := []int32{2, 2, 6, 5, 0, 4}
		wantTargets := []int32{6, 5, 3, 4, -1, 3}
		if !slices.Equal(b.DecIDs, wantDec) {
			t.Errorf("DecIDs = %v, want %v (Start, then the target)", b.DecIDs, wantDec)
		}
		if !slices.Equal(b.Targets, wantTargets) {
			t.Errorf("Targets = %v, want %v (the target, then End)", b.Targets, wantTargets)
		}
		if b.T != 5 || len(b.Real) != 10 {
			t.Errorf("encoder T = %d with %d mask values, want 5 and 10", b.T, len(b.Real))
		}
	})
}
