package tasks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// Task names.
const (
	TaskClassify = "classify"
	TaskTag      = "tag"
	TaskSeq2Seq  = "seq2seq"
	TaskCaption  = "caption"
)

// Ways of splitting text into tokens.
const (
	TokensChars = "chars"
	TokensWords = "words"
)

// Readouts of a classifier.
const (
	PoolLast = "last" // the last step's output
	PoolMean = "mean" // the mean of the outputs over the real (unpadded) steps
)

// Reserved tokens. Input vocabularies start with Pad and Unk. Output vocabularies of the
// seq2seq and caption decoders start with Pad, Unk, Start and End.
const (
	Pad   = "<pad>"
	Unk   = "<unk>"
	Start = "<s>"
	End   = "</s>"
)

// Config is a task model's architecture and vocabularies, stored as config.json in its
// checkpoint.
type Config struct {
	Task   string `json:"task"`
	Cell   string `json:"model"` // lstm, gru or rnn
	Layers int    `json:"layers"`
	Hidden int    `json:"hidden"`
	Embed  int    `json:"embed"`

	// Tokens is the unit that input text splits into (chars or words), and OutputTokens
	// the unit of seq2seq targets and captions.
	Tokens       string `json:"tokens,omitempty"`
	OutputTokens string `json:"output_tokens,omitempty"`
	// Vocab lists the input tokens (the classifier's text, the tagger's tokens, the seq2seq
	// source). It is empty for a classifier of images and for a caption model.
	Vocab []string `json:"vocab,omitempty"`
	// Outputs lists the classes, the tags, or the decoder's tokens.
	Outputs []string `json:"outputs"`

	Pool       string `json:"pool,omitempty"`        // classifier readout: last or mean
	InputWidth int    `json:"input_width,omitempty"` // classifier of images: values per pixel row
	Rows       int    `json:"rows,omitempty"`        // classifier of images: rows per image
	Features   int    `json:"features,omitempty"`    // caption: width of the image feature vector
	InitState  bool   `json:"init_state,omitempty"`  // caption: the image also sets the initial h
	MaxTarget  int    `json:"max_target,omitempty"`  // decoders: max training target, in tokens
	// BlindDecoder makes a decoder read <unk> after Start at every step, in training,
	// validation and decoding alike, so that it works from its state and the image or source
	// alone. recur TASK train sets it for --word-dropout 1, where training never shows the
	// decoder a real token.
	BlindDecoder bool `json:"blind_decoder,omitempty"`
}

// images reports whether a classifier reads pixel rows instead of text.
func (c Config) images() bool { return c.Task == TaskClassify && c.InputWidth > 0 }

// Validate checks the configuration and returns an error naming the first invalid field.
func (c Config) Validate() error {
	switch c.Task {
	case TaskClassify, TaskTag, TaskSeq2Seq, TaskCaption:
	default:
		return fmt.Errorf("invalid task %q in config.json: use classify, tag, seq2seq or caption",
			c.Task)
	}
	if c.Cell != lstm.CellLSTM && c.Cell != lstm.CellGRU && c.Cell != lstm.CellRNN {
		return fmt.Errorf("invalid model %q (--model): use lstm, gru or rnn", c.Cell)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"layers (--layers)", c.Layers},
		{"hidden size (--hidden)", c.Hidden},
		{"embedding size (--embed)", c.Embed},
	} {
		if f.v < 1 || f.v > 1<<16 {
			return fmt.Errorf("invalid %s %d: use 1 to 65536", f.name, f.v)
		}
	}
	if len(c.Outputs) < 1 {
		return fmt.Errorf("no output classes or tokens: the training data has no labels")
	}
	if !c.images() && len(c.Vocab) < 1 && c.Task != TaskCaption {
		return fmt.Errorf("empty input vocabulary: the training data has no text")
	}
	if c.Task == TaskClassify && c.Pool != PoolLast && c.Pool != PoolMean {
		return fmt.Errorf("invalid readout %q (--pool): use last or mean", c.Pool)
	}
	if c.Task == TaskCaption && c.Features < 1 {
		return fmt.Errorf("invalid feature width %d: the features file needs one vector of "+
			"1 or more values per image", c.Features)
	}
	if c.images() && c.Rows < 1 {
		return fmt.Errorf("invalid image height %d: images need at least one pixel row", c.Rows)
	}
	if len(c.Vocab) > 1<<24 || len(c.Outputs) > 1<<24 || c.InputWidth > 1<<24 ||
		c.Features > 1<<24 || c.Rows > 1<<24 {
		return fmt.Errorf("data too large: vocabulary %d, outputs %d, image rows %d of %d values, "+
			"features %d (each at most %d)",
			len(c.Vocab), len(c.Outputs), c.Rows, c.InputWidth, c.Features, 1<<24)
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"outputs", c.Outputs}, {"vocab", c.Vocab}} {
		if dup, ok := firstDuplicate(list.items); ok {
			return fmt.Errorf("invalid %s in config.json: %q appears more than once, so its "+
				"ids are ambiguous; remove the repeat", list.name, dup)
		}
	}
	if c.MaxTarget < 0 || c.MaxTarget > MaxDecodeLen {
		return fmt.Errorf("invalid max target length %d (max_target in config.json, or the "+
			"longest training target): use 0 to %d tokens", c.MaxTarget, MaxDecodeLen)
	}
	if lay, _, _ := c.layout(); lay.off > 1<<32 {
		return fmt.Errorf("model too large: %d parameters, at most %d are supported",
			lay.off, int64(1)<<32)
	}
	return nil
}

// firstDuplicate returns the first item of items that an earlier item equals.
func firstDuplicate(items []string) (string, bool) {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it] {
			return it, true
		}
		seen[it] = true
	}
	return "", false
}

// Model is a task model: the layers its task needs, all in one parameter vector.
type Model struct {
	Cfg Config
	*net

	embed, gembed   engine.Tensor // input embedding [V×E] and its gradient (the seq2seq encoder's)
	dembed, gdembed engine.Tensor // decoder embedding [V_out×E] and its gradient (seq2seq, caption)
	enc             *lstm.Stack   // classify and tag stack, or the seq2seq encoder
	dec             *lstm.Stack   // seq2seq and caption decoder
	head            linear        // [outputs×H]
	imgProj         linear        // caption: W_v [G·H×F], no bias
	imgInit         linear        // caption with InitState: [H×F]
}

// NewModel validates cfg and allocates a model on be with every parameter zero. Init or a
// checkpoint sets the parameters.
func NewModel(cfg Config, be engine.Backend) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	H, E, L, cell := cfg.Hidden, cfg.Embed, cfg.Layers, cfg.Cell
	lay, encFirst, decFirst := cfg.layout()
	m := &Model{Cfg: cfg, net: newNet(be, lay)}
	in := E
	if cfg.images() {
		in = cfg.InputWidth
	}
	switch cfg.Task {
	case TaskClassify, TaskTag:
		m.enc = m.newStack(cell, L, H, in, encFirst)
		if !cfg.images() {
			m.embed, m.gembed = m.view("embedding.weight")
		}
	case TaskSeq2Seq:
		m.enc = m.newStack(cell, L, H, E, encFirst)
		m.dec = m.newStack(cell, L, H, E, decFirst)
		m.embed, m.gembed = m.view("encoder.embedding.weight")
		m.dembed, m.gdembed = m.view("decoder.embedding.weight")
	case TaskCaption:
		m.dec = m.newStack(cell, L, H, E, decFirst)
		m.dembed, m.gdembed = m.view("embedding.weight")
		m.imgProj = m.linear("image_proj", cfg.Features, m.gatesPerUnit()*H)
		if cfg.InitState {
			m.imgInit = m.linear("image_init", cfg.Features, H)
		}
	}
	m.head = m.linear("head", H, len(cfg.Outputs))
	return m, nil
}

// layout lists the configuration's parameter tensors without allocating them. encFirst and
// decFirst are the indexes of the first tensor of the encoder (or only) stack and of the
// decoder stack.
func (cfg Config) layout() (lay layout, encFirst, decFirst int) {
	c := cfg
	H, E, L, cell := c.Hidden, c.Embed, c.Layers, c.Cell
	G := lstm.GatesPerUnit(cell)
	switch c.Task {
	case TaskClassify, TaskTag:
		in := E
		if c.images() {
			in = c.InputWidth
		} else {
			lay.add("embedding.weight", len(c.Vocab), E)
		}
		encFirst = lay.stack(cell, cell, L, H, in)
	case TaskSeq2Seq:
		lay.add("encoder.embedding.weight", len(c.Vocab), E)
		encFirst = lay.stack("encoder."+cell, cell, L, H, E)
		lay.add("decoder.embedding.weight", len(c.Outputs), E)
		decFirst = lay.stack("decoder."+cell, cell, L, H, E)
	case TaskCaption:
		lay.add("embedding.weight", len(c.Outputs), E)
		lay.add("image_proj.weight", G*H, c.Features)
		if c.InitState {
			lay.add("image_init.weight", H, c.Features)
			lay.add("image_init.bias", H)
		}
		decFirst = lay.stack(cell, cell, L, H, E)
	}
	lay.add("head.weight", len(c.Outputs), H)
	lay.add("head.bias", len(c.Outputs))

	return lay, encFirst, decFirst
}

// Specs lists the model's parameter tensors with PyTorch-style names and shapes.
func (m *Model) Specs() []lstm.ParamSpec { return m.specs }

// Init draws fresh parameters from seed as initParams describes. forgetBias sets the LSTM
// forget-gate bias, and NaN keeps PyTorch's default.
func (m *Model) Init(seed uint64, forgetBias float64) {
	m.initParams(rand.New(rand.NewPCG(seed, 0x7265637572)), m.Cfg.Cell, m.Cfg.Hidden, forgetBias)
}

// gatesPerUnit returns G, the number of gate blocks per hidden unit of the model's cell:
// 4 for LSTM, 3 for GRU and 1 for a plain RNN.
func (m *Model) gatesPerUnit() int {
	return lstm.GatesPerUnit(m.Cfg.Cell)
}

// Batch is one batch of examples, prepared on the host. Sequences are time-major: index
// t·B+b is step t of row b. A label or target of −1 is not scored.
type Batch struct {
	B, T int
	// IDs are the input tokens [T·B] (the seq2seq source), left-padded for a classifier and
	// an encoder, right-padded for a tagger.
	IDs []int32
	// Real is [T·B], 1 where IDs contains a token and 0 at left padding. It is nil for
	// image and tagger batches.
	Real []float32
	// Pixels are a classifier's image rows [T·B×InputWidth].
	Pixels []float32
	// Labels are a classifier's classes [B].
	Labels []int32
	// Targets are a tagger's tags [T·B], or the decoder's targets [DecT·B].
	Targets []int32
	// DecT and DecIDs are the decoder's steps and input tokens [DecT·B], starting with Start.
	DecT   int
	DecIDs []int32
	// Features are the image feature vectors [B×Features] of a caption batch.
	Features []float32
}

// Workspace contains a model's activation buffers for batches of B rows, up to T input steps
// and up to DecT decoder steps.
type Workspace struct {
	B, T, DecT int

	enc, dec *lstm.StackRun // runs sized for T and DecT steps, of which a batch uses a prefix
	encRun   *lstm.StackRun // the prefix the last batch used
	decRun   *lstm.StackRun

	x, dx         engine.Tensor // [T·B×in] inputs (embedded tokens or pixels)
	dxDec         engine.Tensor // [DecT·B×E] embedded decoder inputs
	reset, poolW  engine.Tensor // [T·B×H] state-reset mask and mean-readout weights
	pooled, dpool engine.Tensor // [B×H]
	tmp           engine.Tensor // [T·B×H]
	logits        engine.Tensor // [rows×outputs], rows = B, T·B or DecT·B
	dlogits       engine.Tensor
	losses        engine.Tensor
	feats         engine.Tensor // [B×F]
	proj, dproj   engine.Tensor // [B×G·H]
	h0, dh0       engine.Tensor // [B×H]: the image's initial state and its gradient

	host      []float32 // host staging buffer for uploads
	hostLoss  []float32
	rows      int // rows of logits in the last forward
	ids, dids []int32
	backward  bool
}

// NewWorkspace allocates buffers for batches of B rows, at most T input steps and at most
// DecT decoder steps (0 when the task has no decoder). With backward, it also allocates the
// gradient buffers.
func (m *Model) NewWorkspace(B, T, DecT int, backward bool) *Workspace {
	be, cfg := m.be, m.Cfg
	H, E, V := cfg.Hidden, cfg.Embed, len(cfg.Outputs)
	w := &Workspace{B: B, T: T, DecT: DecT, backward: backward}
	rows := B

	if m.enc != nil {
		w.enc = m.enc.NewRun(B, T)
		in := E
		if cfg.images() {
			in = cfg.InputWidth
		}
		w.x = be.Alloc(T * B * in)
		w.reset = be.Alloc(T * B * H)
		w.poolW = be.Alloc(T * B * H)
		w.tmp = be.Alloc(T * B * H)
		w.pooled = be.Alloc(B * H)
		if backward {
			m.enc.PrepareBackward(w.enc, false)
			w.dpool = be.Alloc(B * H)
		}
		if cfg.Task == TaskTag {
			rows = T * B
		}
	}

	if m.dec != nil {
		w.dec = m.dec.NewRun(B, DecT)
		w.dxDec = be.Alloc(DecT * B * E)
		rows = DecT * B
		if backward {
			m.dec.PrepareBackward(w.dec, cfg.Task == TaskSeq2Seq || cfg.InitState)
		}
	}

	if cfg.Task == TaskCaption {
		G := m.gatesPerUnit()
		w.feats = be.Alloc(B * cfg.Features)
		w.proj = be.Alloc(B * G * H)
		w.h0 = be.Alloc(B * H)
		if backward {
			w.dproj = be.Alloc(B * G * H)
			w.dh0 = be.Alloc(B * H)
		}
	}

	w.logits = be.Alloc(rows * V)
	w.losses = be.Alloc(rows)
	if backward {
		w.dlogits = be.Alloc(rows * V)
	}
	w.hostLoss = make([]float32, rows)
	return w
}

// upload copies host values into the first len(v) elements of t.
func (m *Model) upload(t engine.Tensor, v []float32) { m.be.Upload(t.Slice(0, len(v)), v) }

// expand uploads a per-step mask [T·B] as [T·B×H], repeating each value H times. A non-nil
// scale [B] multiplies the values of each batch row.
func (m *Model) expand(w *Workspace, dst engine.Tensor, mask []float32, scale []float32) {
	H := m.Cfg.Hidden
	need := len(mask) * H
	if cap(w.host) < need {
		w.host = make([]float32, need)
	}
	h := w.host[:need]
	B := w.B
	for i, v := range mask {
		if scale != nil {
			v *= scale[i%B]
		}
		for j := range H {
			h[i*H+j] = v
		}
	}
	m.upload(dst, h)
}

// Forward runs the model on a batch and queues the loss. With train, it also writes the
// gradient of the mean loss at the logits, for Backward. It returns the number of scored
// labels or targets. drop is the dropout between stacked layers (P = 0 in evaluation).
// Forward panics when the batch is larger than the workspace.
func (m *Model) Forward(w *Workspace, b *Batch, train bool, drop lstm.Dropout) int {
	if b.B != w.B || b.T > w.T || b.DecT > w.DecT {
		panic(fmt.Sprintf("tasks: a batch of %d rows, %d input steps and %d decoder steps "+
			"does not fit a workspace of %d rows, %d input steps and %d decoder steps",
			b.B, b.T, b.DecT, w.B, w.T, w.DecT))
	}
	be, cfg := m.be, m.Cfg
	H, B := cfg.Hidden, b.B
	V := len(cfg.Outputs)
	var targets []int32
	var top engine.Tensor

	switch cfg.Task {
	case TaskClassify, TaskTag, TaskSeq2Seq:
		w.encRun = w.enc.Prefix(b.T)
		TB := b.T * B
		in := lstm.StackInput{Drop: drop}
		if cfg.images() {
			in.X = w.x.Slice(0, TB*cfg.InputWidth)
			m.upload(in.X, b.Pixels)
			in.NoInputGrad = true
		} else {
			in.X = w.x.Slice(0, TB*cfg.Embed)
			be.EmbeddingForward(in.X, m.embed, b.IDs, cfg.Embed)
			w.ids = b.IDs
			if cfg.Task != TaskTag && b.Real != nil {
				in.Reset = w.reset.Slice(0, TB*H)
				m.expand(w, in.Reset, b.Real, nil)
			}
		}
		m.enc.Forward(w.encRun, in)
		switch cfg.Task {
		case TaskClassify:
			top = m.pool(w, b)
			targets = b.Labels
		case TaskTag:
			top = w.encRun.Output()
			targets = b.Targets
		}
	}

	if m.dec != nil {
		w.decRun = w.dec.Prefix(b.DecT)
		in := lstm.StackInput{X: w.dxDec.Slice(0, b.DecT*B*cfg.Embed), Drop: drop}
		if drop.P > 0 {
			// Skip the encoder's dropout counters so that the decoder draws other masks.
			in.Drop.Offset += uint64(cfg.Layers * w.T * B * H)
		}
		be.EmbeddingForward(in.X, m.dembed, b.DecIDs, cfg.Embed)
		w.dids = b.DecIDs
		for l := 0; l < cfg.Layers; l++ {
			h, c := w.decRun.InitState(l)
			switch {
			case cfg.Task == TaskSeq2Seq:
				eh, ec := w.encRun.FinalState(l)
				be.Copy(h, eh)
				if c != nil {
					be.Copy(c, ec)
				}
			default:
				be.Fill(h, 0)
				if c != nil {
					be.Fill(c, 0)
				}
			}
		}
		if cfg.Task == TaskCaption {
			m.upload(w.feats, b.Features)
			m.imgProj.forward(be, w.feats, w.proj, B)
			in.GateBias = w.proj
			if cfg.InitState {
				m.imgInit.forward(be, w.feats, w.h0, B)
				be.RNNForward(w.h0, w.h0)
				for l := 0; l < cfg.Layers; l++ {
					h, _ := w.decRun.InitState(l)
					be.Copy(h, w.h0)
				}
			}
		}
		m.dec.Forward(w.decRun, in)
		top = w.decRun.Output()
		targets = b.Targets
	}

	rows := len(targets)
	w.rows = rows
	logits := w.logits.Slice(0, rows*V)
	m.head.forward(be, top, logits, rows)
	count := 0
	for _, t := range targets {
		if t >= 0 {
			count++
		}
	}
	var dlogits engine.Tensor
	scale := float32(0)
	if train {
		dlogits = w.dlogits.Slice(0, rows*V)
		if count > 0 {
			scale = 1 / float32(count)
		}
	}
	be.SoftmaxCrossEntropy(logits, targets, w.losses.Slice(0, rows), dlogits, rows, V, scale)
	return count
}

// pool writes the classifier's readout of the last forward into w.pooled and returns it.
func (m *Model) pool(w *Workspace, b *Batch) engine.Tensor {
	be, H, B, T := m.be, m.Cfg.Hidden, b.B, b.T
	out := w.encRun.Output()
	if m.Cfg.Pool == PoolLast {
		return out.Slice((T-1)*B*H, B*H)
	}
	// Mean over the real steps: weights 1/length at real steps, 0 at padding.
	inv := make([]float32, B)
	for i := range B {
		n := float32(0)
		for t := 0; t < T; t++ {
			if b.Real == nil || b.Real[t*B+i] > 0 {
				n++
			}
		}
		inv[i] = 1 / max(n, 1)
	}

	real := b.Real
	if real == nil {
		real = make([]float32, T*B)
		for i := range real {
			real[i] = 1
		}
	}
	pw := w.poolW.Slice(0, T*B*H)
	m.expand(w, pw, real, inv)
	tmp := w.tmp.Slice(0, T*B*H)
	be.Copy(tmp, out)
	be.Mul(tmp, pw)
	be.Fill(w.pooled, 0)
	be.SumRows(w.pooled, tmp, T, B*H)
	return w.pooled
}

// Loss returns the summed loss in nats of the last Forward. It reads from the backend, so on
// a device it waits for the queued work.
func (m *Model) Loss(w *Workspace) float64 {
	m.be.Download(w.hostLoss[:w.rows], w.losses.Slice(0, w.rows))
	var s float64
	for _, v := range w.hostLoss[:w.rows] {
		s += float64(v)
	}
	return s
}

// Logits downloads the logits of the last Forward, [rows×outputs].
func (m *Model) Logits(w *Workspace) []float32 {
	out := make([]float32, w.rows*len(m.Cfg.Outputs))
	m.be.Download(out, w.logits.Slice(0, len(out)))
	return out
}

// Backward accumulates into Grads the gradient of the mean loss of the last Forward, which
// must have run with train on a workspace allocated with backward.
func (m *Model) Backward(w *Workspace, b *Batch) {
	be, cfg := m.be, m.Cfg
	H, B := cfg.Hidden, b.B
	V := len(cfg.Outputs)
	dlogits := w.dlogits.Slice(0, w.rows*V)

	switch cfg.Task {
	case TaskClassify:
		r := w.encRun
		T := r.T
		var top engine.Tensor
		if cfg.Pool == PoolLast {
			top = r.Output().Slice((T-1)*B*H, B*H)
		} else {
			top = w.pooled
		}
		m.head.backward(be, top, dlogits, w.dpool, B)
		dy := r.OutputGrad()
		if cfg.Pool == PoolLast {
			be.Fill(dy, 0)
			be.Copy(dy.Slice((T-1)*B*H, B*H), w.dpool)
		} else {
			for t := 0; t < T; t++ {
				be.Copy(dy.Slice(t*B*H, B*H), w.dpool)
			}
			be.Mul(dy, w.poolW.Slice(0, T*B*H))
		}
		m.enc.Backward(r, lstm.StateGrad{})
		if !cfg.images() {
			be.EmbeddingBackward(m.gembed, r.InputGrad(), w.ids, cfg.Embed)
		}
	case TaskTag:
		r := w.encRun
		m.head.backward(be, r.Output(), dlogits, r.OutputGrad(), w.rows)
		m.enc.Backward(r, lstm.StateGrad{})
		be.EmbeddingBackward(m.gembed, r.InputGrad(), w.ids, cfg.Embed)
	case TaskSeq2Seq, TaskCaption:
		r := w.decRun
		m.head.backward(be, r.Output(), dlogits, r.OutputGrad(), w.rows)
		m.dec.Backward(r, lstm.StateGrad{})
		be.EmbeddingBackward(m.gdembed, r.InputGrad(), w.dids, cfg.Embed)
		if cfg.Task == TaskSeq2Seq {
			var sg lstm.StateGrad
			for l := 0; l < cfg.Layers; l++ {
				dh, dc := r.InitGrad(l)
				sg.H = append(sg.H, dh)
				if dc != nil {
					sg.C = append(sg.C, dc)
				}
			}
			e := w.encRun
			be.Fill(e.OutputGrad(), 0)
			m.enc.Backward(e, sg)
			be.EmbeddingBackward(m.gembed, e.InputGrad(), w.ids, cfg.Embed)
			return
		}
		G := m.gatesPerUnit()
		be.Fill(w.dproj, 0)
		be.SumRows(w.dproj, r.Layer0GateGrad(), r.T, B*G*H)
		m.imgProj.backward(be, w.feats, w.dproj, nil, B)
		if cfg.InitState {
			dh, _ := r.InitGrad(0)
			be.Copy(w.dh0, dh)
			for l := 1; l < cfg.Layers; l++ {
				dh, _ := r.InitGrad(l)
				be.Axpy(1, dh, w.dh0)
			}
			be.RNNBackward(w.h0, w.dh0, nil, w.dh0)
			m.imgInit.backward(be, w.feats, w.dh0, nil, B)
		}
	}
}

// ZeroGrads clears the gradient vector.
func (m *Model) ZeroGrads() { m.be.Fill(m.Grads, 0) }

// argmaxRows returns the index of the maximum of each row of x [rows×n], the first on ties.
func argmaxRows(x []float32, n int) []int32 {
	out := make([]int32, len(x)/n)
	for r := range out {
		// NaN compares false, so a row of NaN logits (from diverged weights) picks index 0
		// instead of an index of −1.
		best := float32(math.Inf(-1))
		for j, v := range x[r*n : (r+1)*n] {
			if v > best {
				best, out[r] = v, int32(j)
			}
		}
	}
	return out
}

// logSoftmax writes the log-probabilities of row into dst.
func logSoftmax(dst []float64, row []float32) {
	mx := float64(slices.Max(row))
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	lse := mx + math.Log(s)
	for i, v := range row {
		dst[i] = float64(v) - lse
	}
}
