package tasks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/recur-ml/recur/dataset"
)

// Example is one encoded example of any task.
type Example struct {
	In    []int32 // input tokens: the text, the tagged tokens or the seq2seq source
	Image int     // row of the image in Data.Pixels or Data.Features
	Label int32   // a classifier's class
	Out   []int32 // the tags, or the decoder's target tokens without Start and End
	Text  string  // the original input line's text, for reports
	Want  string  // the expected output as text: class, tags, target or caption
	Line  int     // line number of the example in Data.Path, counting from 1
	// Unlabeled marks an input read for prediction without an expected output.
	Unlabeled bool
}

// Data is a task's examples with the images they refer to.
type Data struct {
	Examples []Example
	Pixels   []float32 // images [N×Rows×Width] of a classifier of images
	Features []float32 // feature vectors [N×Features] of a caption task
	N        int       // images in Pixels or Features
	Path     string    // the file the examples were read from
}

// Vocabs are the vocabularies of a task, built from its training data and then stored in
// its Config.
type Vocabs struct {
	In, Out *dataset.Vocab
	Labels  []string // classes or tags, sorted
}

// inReserved and outReserved are the reserved tokens that start input and output
// vocabularies.
var (
	inReserved  = []string{Pad, Unk}
	outReserved = []string{Pad, Unk, Start, End}
)

// VocabsFromConfig rebuilds the vocabularies stored in a checkpoint's config.
func VocabsFromConfig(cfg Config) (*Vocabs, error) {
	v := &Vocabs{}
	var err error
	if len(cfg.Vocab) > 0 {
		v.In, err = dataset.LoadVocab(dataset.Mode(cfg.Tokens), cfg.Vocab, len(inReserved))
		if err != nil {
			return nil, err
		}
	}
	switch cfg.Task {
	case TaskClassify, TaskTag:
		v.Labels = cfg.Outputs
	default:
		mode := dataset.Mode(cfg.OutputTokens)
		if v.Out, err = dataset.LoadVocab(mode, cfg.Outputs, len(outReserved)); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Sources names the files of a task's data set.
type Sources struct {
	// Path is the text file, one example per line: label<TAB>text, tokens<TAB>tags,
	// source<TAB>target or image<TAB>caption.
	Path string
	// Images is the pixels file [N×Rows×Width] of a classifier of images, or the features
	// file [N×F] of a caption task.
	Images string
	// Unlabeled reads Path as inputs alone, one per line, with no expected output.
	Unlabeled bool
}

// BuildVocabs reads the training file and returns vocabularies over it. It also fills the
// fields of cfg that depend on the data: Vocab, Outputs and MaxTarget, a tagger's Tokens, and
// Rows and InputWidth or Features from the images file.
func BuildVocabs(cfg *Config, src Sources) (*Vocabs, error) {
	v := &Vocabs{}
	var err error
	newVocab := func(mode string, reserved []string) *dataset.Vocab {
		if err != nil {
			return nil
		}
		var voc *dataset.Vocab
		voc, err = dataset.NewVocab(dataset.Mode(mode), reserved)
		return voc
	}
	labels := map[string]bool{}

	switch cfg.Task {
	case TaskClassify:
		ex, rerr := dataset.ReadLabeled(src.Path)
		if rerr != nil {
			return nil, rerr
		}
		if src.Images == "" {
			v.In = newVocab(cfg.Tokens, inReserved)
		}
		for _, e := range ex {
			labels[e.Label] = true
			if v.In != nil && err == nil {
				err = v.In.Add(e.Text)
			}
		}
	case TaskTag:
		ex, rerr := dataset.ReadTagged(src.Path)
		if rerr != nil {
			return nil, rerr
		}
		cfg.Tokens = TokensWords
		v.In = newVocab(TokensWords, inReserved)
		for _, e := range ex {
			for i, tok := range e.Tokens {
				labels[e.Tags[i]] = true
				if err == nil {
					err = v.In.Add(tok)
				}
			}
		}
	case TaskSeq2Seq:
		ex, rerr := dataset.ReadPairs(src.Path)
		if rerr != nil {
			return nil, rerr
		}
		v.In = newVocab(cfg.Tokens, inReserved)
		v.Out = newVocab(cfg.OutputTokens, outReserved)
		for _, e := range ex {
			if err == nil {
				err = v.In.Add(e.Source)
			}
			if err == nil {
				err = v.Out.Add(e.Target)
			}
			if err == nil {
				err = longest(&cfg.MaxTarget, v.Out, e.Target)
			}
		}
	case TaskCaption:
		ex, rerr := dataset.ReadCaptions(src.Path)
		if rerr != nil {
			return nil, rerr
		}
		v.Out = newVocab(cfg.OutputTokens, outReserved)
		for _, e := range ex {
			if err == nil {
				err = v.Out.Add(e.Text)
			}
			if err == nil {
				err = longest(&cfg.MaxTarget, v.Out, e.Text)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}

	for l := range labels {
		v.Labels = append(v.Labels, l)
	}
	slices.Sort(v.Labels)
	if v.In != nil {
		cfg.Vocab = v.In.Tokens()
	}
	if v.Out != nil {
		cfg.Outputs = v.Out.Tokens()
	} else {
		cfg.Outputs = v.Labels
	}

	if src.Images != "" {
		_, shape, err := dataset.ReadMatrix(src.Images)
		if err != nil {
			return nil, err
		}
		if cfg.Task == TaskClassify {
			if len(shape) != 3 {
				return nil, fmt.Errorf("%s: images have shape %v, but a classifier reads pixels "+
					"of shape [images, rows, values per row]", src.Images, shape)
			}
			cfg.Rows, cfg.InputWidth = shape[1], shape[2]
		} else {
			if len(shape) != 2 {
				return nil, fmt.Errorf("%s: features have shape %v, but captions need one "+
					"feature vector per image, of shape [images, features]", src.Images, shape)
			}
			cfg.Features = shape[1]
		}
	}
	return v, nil
}

// Load reads and encodes a data set with the vocabularies of a model. A class or tag that
// the model was not trained on is an error, and so is an image index outside the images
// file. Input tokens outside the vocabulary become <unk>. With src.Unlabeled, each line is an
// input alone, with no expected output.
func Load(cfg Config, v *Vocabs, src Sources) (*Data, error) {
	d := &Data{Path: src.Path}
	labelID := map[string]int32{}
	for i, l := range v.Labels {
		labelID[l] = int32(i)
	}
	kind := "class"
	if cfg.Task == TaskTag {
		kind = "tag"
	}
	label := func(line int, l string) (int32, error) {
		id, ok := labelID[l]
		if !ok {
			return 0, fmt.Errorf("%s:%d: unknown %s %q: the model was trained on %d: %s",
				src.Path, line, kind, l, len(v.Labels), abbreviate(v.Labels))
		}
		return id, nil
	}
	needImages := cfg.images() || cfg.Task == TaskCaption
	if needImages {
		if src.Images == "" {
			return nil, fmt.Errorf("missing images file: this model reads images, so pass --images")
		}
		data, shape, err := dataset.ReadMatrix(src.Images)
		if err != nil {
			return nil, err
		}
		switch {
		case cfg.Task == TaskClassify &&
			(len(shape) != 3 || shape[1] != cfg.Rows || shape[2] != cfg.InputWidth):
			return nil, fmt.Errorf("%s: images have shape %v, but the model reads [images, %d, %d]",
				src.Images, shape, cfg.Rows, cfg.InputWidth)
		case cfg.Task == TaskCaption && (len(shape) != 2 || shape[1] != cfg.Features):
			return nil, fmt.Errorf("%s: features have shape %v, but the model reads [images, %d]",
				src.Images, shape, cfg.Features)
		case shape[0] == 0:
			return nil, fmt.Errorf("%s contains no images", src.Images)
		}
		d.N = shape[0]
		if cfg.Task == TaskClassify {
			d.Pixels = data
		} else {
			d.Features = data
		}
	}
	image := func(line int, s string) (int, error) {
		i, err := strconv.Atoi(strings.Trim(s, " "))
		if err != nil || i < 0 || i >= d.N {
			return 0, fmt.Errorf("%s:%d: invalid image index %q: %s contains images 0 to %d",
				src.Path, line, s, src.Images, d.N-1)
		}
		return i, nil
	}

	if src.Unlabeled {
		return loadInputs(d, cfg, v, src, image)
	}
	switch cfg.Task {
	case TaskClassify:
		ex, err := dataset.ReadLabeled(src.Path)
		if err != nil {
			return nil, err
		}
		for _, e := range ex {
			x := Example{Text: e.Text, Want: e.Label, Line: e.Line}
			if x.Label, err = label(e.Line, e.Label); err != nil {
				return nil, err
			}
			if cfg.images() {
				if x.Image, err = image(e.Line, e.Text); err != nil {
					return nil, err
				}
			} else if x.In, err = encode(v.In, src.Path, e.Line, e.Text); err != nil {
				return nil, err
			}
			d.Examples = append(d.Examples, x)
		}
	case TaskTag:
		ex, err := dataset.ReadTagged(src.Path)
		if err != nil {
			return nil, err
		}
		for _, e := range ex {
			x := Example{Text: strings.Join(e.Tokens, " "), Want: strings.Join(e.Tags, " "), Line: e.Line}
			x.In = encodeTokens(v.In, e.Tokens)
			for _, tag := range e.Tags {
				t, err := label(e.Line, tag)
				if err != nil {
					return nil, err
				}
				x.Out = append(x.Out, t)
			}
			d.Examples = append(d.Examples, x)
		}
	case TaskSeq2Seq:
		ex, err := dataset.ReadPairs(src.Path)
		if err != nil {
			return nil, err
		}
		for _, e := range ex {
			x := Example{Text: e.Source, Want: e.Target, Line: e.Line}
			if x.In, err = encode(v.In, src.Path, e.Line, e.Source); err != nil {
				return nil, err
			}
			if x.Out, err = encode(v.Out, src.Path, e.Line, e.Target); err != nil {
				return nil, err
			}
			d.Examples = append(d.Examples, x)
		}
	case TaskCaption:
		ex, err := dataset.ReadCaptions(src.Path)
		if err != nil {
			return nil, err
		}
		for _, e := range ex {
			x := Example{Text: strconv.Itoa(e.Image), Want: e.Text, Line: e.Line}
			if x.Image, err = image(e.Line, strconv.Itoa(e.Image)); err != nil {
				return nil, err
			}
			if x.Out, err = encode(v.Out, src.Path, e.Line, e.Text); err != nil {
				return nil, err
			}
			d.Examples = append(d.Examples, x)
		}
	}
	return d, nil
}

// loadInputs reads a file of inputs without expected outputs, for prediction.
func loadInputs(
	d *Data, cfg Config, v *Vocabs, src Sources, image func(int, string) (int, error),
) (*Data, error) {
	in, err := dataset.ReadInputs(src.Path)
	if err != nil {
		return nil, err
	}
	for _, e := range in {
		x := Example{Text: e.Text, Label: -1, Unlabeled: true, Line: e.Line}
		switch {
		case cfg.images() || cfg.Task == TaskCaption:
			x.Image, err = image(e.Line, e.Text)
		case cfg.Task == TaskTag:
			x.In = encodeTokens(v.In, strings.Fields(e.Text))
		default:
			x.In, err = encode(v.In, src.Path, e.Line, e.Text)
		}
		if err != nil {
			return nil, err
		}
		d.Examples = append(d.Examples, x)
	}
	return d, nil
}

// encodeTokens returns the ids of whole tokens, with <unk> for those outside the vocabulary.
func encodeTokens(v *dataset.Vocab, tokens []string) []int32 {
	unk, _ := v.ID(Unk)
	ids := make([]int32, len(tokens))
	for i, tok := range tokens {
		id, ok := v.ID(tok)
		if !ok {
			id = unk
		}
		ids[i] = id
	}
	return ids
}

func encode(v *dataset.Vocab, path string, line int, text string) ([]int32, error) {
	ids, err := v.Encode(text)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s:%d: the example has no tokens: give it some text", path, line)
	}
	return ids, nil
}

// abbreviate formats the first 8 names, followed by "and more" when there are more.
func abbreviate(names []string) string {
	if len(names) <= 8 {
		return fmt.Sprint(names)
	}
	return fmt.Sprint(names[:8]) + " and more"
}

// MaxLens returns the maximum input length and the maximum decoder length (target plus one
// for Start or End) over the examples. Both are 0 for a task without that part.
func (d *Data) MaxLens(cfg Config) (T, decT int) {
	for _, e := range d.Examples {
		T = max(T, len(e.In))
		decT = max(decT, len(e.Out)+1)
	}
	if cfg.images() {
		T = cfg.Rows
	}
	switch cfg.Task {
	case TaskClassify, TaskTag:
		decT = 0
	case TaskCaption:
		T = 0
	}
	return T, decT
}

// Batch builds the batch of examples idx, padded to B rows. Rows past len(idx) repeat the
// first example and are not scored, and neither are unlabeled examples.
func (d *Data) Batch(cfg Config, idx []int, B int) *Batch {
	b := &Batch{B: B}
	pick := func(r int) *Example {
		if r < len(idx) {
			return &d.Examples[idx[r]]
		}
		return &d.Examples[idx[0]]
	}
	scored := func(r int) bool { return r < len(idx) }
	switch cfg.Task {
	case TaskClassify:
		b.Labels = make([]int32, B)
		for r := range B {
			b.Labels[r] = -1
			if scored(r) {
				b.Labels[r] = pick(r).Label
			}
		}
		if cfg.images() {
			W, R := cfg.InputWidth, cfg.Rows
			b.T = R
			b.Pixels = make([]float32, R*B*W)
			for r := range B {
				img := d.Pixels[pick(r).Image*R*W:]
				for t := range R {
					copy(b.Pixels[(t*B+r)*W:(t*B+r+1)*W], img[t*W:(t+1)*W])
				}
			}
			return b
		}
		seqs := make([][]int32, B)
		for r := range B {
			seqs[r] = pick(r).In
		}
		b.IDs, b.Real, b.T = dataset.PadLeft(seqs, 0)
	case TaskTag:
		seqs, tags := make([][]int32, B), make([][]int32, B)
		for r := range B {
			seqs[r] = pick(r).In
			if scored(r) {
				tags[r] = pick(r).Out
			}
			b.T = max(b.T, len(seqs[r]))
		}
		b.IDs = dataset.PadRight(seqs, 0, b.T)
		b.Targets = dataset.PadRight(tags, -1, b.T)
	case TaskSeq2Seq, TaskCaption:
		start, end := int32(2), int32(3) // ids of Start and End in outReserved
		in, out := make([][]int32, B), make([][]int32, B)
		for r := range B {
			e := pick(r)
			in[r] = append([]int32{start}, e.Out...)
			if cfg.BlindDecoder {
				for j := 1; j < len(in[r]); j++ {
					in[r][j] = 1 // <unk>
				}
			}
			if scored(r) && !e.Unlabeled {
				out[r] = append(slices.Clone(e.Out), end)
			}
			b.DecT = max(b.DecT, len(in[r]))
		}
		b.DecIDs = dataset.PadRight(in, 0, b.DecT)
		b.Targets = dataset.PadRight(out, -1, b.DecT)
		if cfg.Task == TaskSeq2Seq {
			seqs := make([][]int32, B)
			for r := range B {
				seqs[r] = pick(r).In
			}
			b.IDs, b.Real, b.T = dataset.PadLeft(seqs, 0)
		} else {
			F := cfg.Features
			b.Features = make([]float32, B*F)
			for r := range B {
				copy(b.Features[r*F:(r+1)*F], d.Features[pick(r).Image*F:])
			}
		}
	}
	return b
}

// longest sets *n to the token count of text if the text has more tokens than *n.
func longest(n *int, v *dataset.Vocab, text string) error {
	ids, err := v.Encode(text)
	*n = max(*n, len(ids))
	return err
}
