package tasks

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/recur-ml/recur/dataset"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// DecodeOptions control how a decoder produces its output.
type DecodeOptions struct {
	Beam int // beam width, where 0 or 1 decodes greedily
	// MaxLen is the max number of decoding steps, End included. 0 picks 2 + 2·(L+1), where L
	// is the longer of the model's max training target and the longest target in the data.
	// Either is capped at MaxDecodeLen.
	MaxLen      int
	Temperature float64 // if > 0, samples each token at this temperature and ignores Beam
	Seed        uint64  // seed of the sampling random number generator
}

// Metrics are the scores of a model on a data set.
type Metrics struct {
	Loss float64 // mean loss per scored label or target, in nats, with teacher forcing
	// Accuracy is the fraction of examples classified correctly (classify), of tokens tagged
	// correctly (tag), or of outputs decoded exactly (seq2seq, caption).
	Accuracy float64
	// TokenAccuracy is the fraction of decoder targets predicted correctly with teacher
	// forcing (seq2seq, caption).
	TokenAccuracy float64
	Count         int                      // examples with an expected output
	Tokens        int                      // scored labels, tags or decoder targets
	Confusion     *dataset.ConfusionMatrix // classify and tag
}

// Prediction is a model's output for one example.
type Prediction struct {
	Example *Example
	Output  string // class, tags, target or caption
	Correct bool
}

// Evaluate scores m on d with batches of B examples.
func Evaluate(m *Model, d *Data, B int, opt DecodeOptions) Metrics {
	mt, _ := Predict(m, d, B, opt)
	return mt
}

// Predict runs m over every example of d, in batches of B, and returns the metrics and one
// prediction per example. Unlabeled examples get a prediction but are not scored. Call
// d.ValidateLengths first: an example too long for a tensor would fail in the allocation.
func Predict(m *Model, d *Data, B int, opt DecodeOptions) (Metrics, []Prediction) {
	cfg := m.Cfg
	B = max(1, min(B, len(d.Examples)))
	T, decT := d.MaxLens(cfg)
	w := m.NewWorkspace(B, max(T, 1), max(decT, 1), false)
	mt := Metrics{}
	for _, e := range d.Examples {
		if !e.Unlabeled {
			mt.Count++
		}
	}
	if cfg.Task == TaskClassify || cfg.Task == TaskTag {
		mt.Confusion = dataset.NewConfusionMatrix(cfg.Outputs)
	}

	preds := make([]Prediction, 0, len(d.Examples))
	var lossSum float64
	var scored, right, tokRight int
	V := len(cfg.Outputs)
	maxLen := opt.MaxLen
	if maxLen <= 0 {
		longest := cfg.MaxTarget
		if longest == 0 {
			// A checkpoint written before max_target was stored.
			longest = defaultMaxTarget
		}
		maxLen = 2 + 2*max(decT, longest+1)
	}
	// An automatic length past the bound is cut to it, and so is a library caller's MaxLen.
	maxLen = min(maxLen, MaxDecodeLen)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6465636f6465))
	// A decoder's vocabulary, to turn ids into text, and the workspace of beam search, whose
	// rows are the beam's hypotheses, serve every batch.
	var vocab *dataset.Vocab
	var beamWS *Workspace
	if cfg.Task == TaskSeq2Seq || cfg.Task == TaskCaption {
		// NewModel validated the configuration, and LoadVocab reads the same list.
		vocab, _ = dataset.LoadVocab(dataset.Mode(cfg.OutputTokens), cfg.Outputs, len(outReserved))
		if opt.Beam > 1 && opt.Temperature == 0 {
			beamWS = m.NewWorkspace(opt.Beam, max(T, 1), 1, false)
		}
	}

	for lo := 0; lo < len(d.Examples); lo += B {
		idx := make([]int, 0, B)
		for i := lo; i < min(lo+B, len(d.Examples)); i++ {
			idx = append(idx, i)
		}
		b := d.Batch(cfg, idx, B)
		n := m.Forward(w, b, false, lstm.Dropout{})
		lossSum += m.Loss(w)
		scored += n
		logits := m.Logits(w)
		pred := argmaxRows(logits, V)

		switch cfg.Task {
		case TaskClassify:
			for r, i := range idx {
				e := &d.Examples[i]
				if e.Unlabeled {
					preds = append(preds, Prediction{Example: e, Output: cfg.Outputs[pred[r]]})
					continue
				}
				mt.Confusion.Add(int(e.Label), int(pred[r]))
				ok := pred[r] == e.Label
				if ok {
					right++
				}
				preds = append(preds,
					Prediction{Example: e, Output: cfg.Outputs[pred[r]], Correct: ok})
			}
		case TaskTag:
			for r, i := range idx {
				e := &d.Examples[i]
				tags := make([]string, len(e.In))
				ok := !e.Unlabeled
				for t := range e.In {
					p := pred[t*B+r]
					tags[t] = cfg.Outputs[p]
					if e.Unlabeled {
						continue
					}
					mt.Confusion.Add(int(e.Out[t]), int(p))
					if p == e.Out[t] {
						right++
					} else {
						ok = false
					}
				}
				preds = append(preds,
					Prediction{Example: e, Output: strings.Join(tags, " "), Correct: ok})
			}
		default:
			for t, target := range b.Targets {
				if target >= 0 && pred[t] == target {
					tokRight++
				}
			}
			var outs [][]int32
			switch {
			case opt.Temperature > 0:
				outs = m.decodeGreedy(w, b, maxLen, opt.Temperature, rng)
			case opt.Beam > 1:
				for _, i := range idx {
					outs = append(outs, m.decodeBeam(beamWS, d, i, maxLen))
				}
			default:
				outs = m.decodeGreedy(w, b, maxLen, 0, nil)
			}
			for r, i := range idx {
				e := &d.Examples[i]
				ok := !e.Unlabeled && slices.Equal(outs[r], e.Out)
				if ok {
					right++
				}
				preds = append(preds,
					Prediction{Example: e, Output: vocab.Decode(outs[r]), Correct: ok})
			}
		}
	}

	mt.Loss = lossSum / float64(max(scored, 1))
	switch cfg.Task {
	case TaskTag:
		mt.Accuracy = float64(right) / float64(max(scored, 1))
	case TaskSeq2Seq, TaskCaption:
		mt.Accuracy = float64(right) / float64(max(mt.Count, 1))
		mt.TokenAccuracy = float64(tokRight) / float64(max(scored, 1))
	default:
		mt.Accuracy = float64(right) / float64(max(mt.Count, 1))
	}
	mt.Tokens = scored
	return mt, preds
}

// decodeStart sets the initial state of the decoder's one-step run for batch b, which
// Forward must have run on. A seq2seq decoder starts from the encoder's final state, and a
// caption decoder from zero or, with InitState, from the image's state.
func (m *Model) decodeStart(w *Workspace, b *Batch) {
	be, cfg := m.be, m.Cfg
	r := w.dec.Prefix(1)
	if cfg.Task == TaskSeq2Seq {
		// Forward has run the encoder on b already.
		for l := 0; l < cfg.Layers; l++ {
			h, c := r.InitState(l)
			eh, ec := w.encRun.FinalState(l)
			be.Copy(h, eh)
			if c != nil {
				be.Copy(c, ec)
			}
		}
		return
	}
	// Forward has already uploaded the features and computed the projection and h0, so only
	// the state needs setting again.
	for l := 0; l < cfg.Layers; l++ {
		h, c := r.InitState(l)
		be.Fill(h, 0)
		if c != nil {
			be.Fill(c, 0)
		}
		if cfg.InitState {
			be.Copy(h, w.h0)
		}
	}
}

// decodeStep feeds one token per row and returns the logits [B×V] of the next token. It
// copies the final state into the initial state, ready for the next call.
func (m *Model) decodeStep(w *Workspace, ids []int32) []float32 {
	be, cfg := m.be, m.Cfg
	B, E, V := w.B, cfg.Embed, len(cfg.Outputs)
	r := w.dec.Prefix(1)
	in := lstm.StackInput{X: w.dxDec.Slice(0, B*E)}
	if cfg.BlindDecoder {
		blind := make([]int32, len(ids))
		for i, id := range ids {
			blind[i] = 1 // <unk>
			if id == 2 {
				blind[i] = 2 // Start
			}
		}
		ids = blind
	}
	be.EmbeddingForward(in.X, m.dembed, ids, E)
	if cfg.Task == TaskCaption {
		in.GateBias = w.proj
	}
	m.dec.Forward(r, in)
	logits := w.logits.Slice(0, B*V)
	m.head.forward(be, r.Output(), logits, B)
	out := make([]float32, B*V)
	be.Download(out, logits)
	for l := 0; l < cfg.Layers; l++ {
		h, c := r.InitState(l)
		fh, fc := r.FinalState(l)
		be.Copy(h, fh)
		if c != nil {
			be.Copy(c, fc)
		}
	}
	return out
}

// defaultMaxTarget replaces the maximum training target length of a checkpoint that does not
// record it, so that decoding inputs alone still has room for a typical output.
const defaultMaxTarget = 50

// firstOutput is the first id a decoder may emit: Pad, Unk and Start come before it.
const firstOutput = 3

// endID is End's id in every decoder vocabulary.
const endID = 3

// decodeGreedy decodes every row of the batch of the last Forward from Start, taking the
// most likely token (or sampling at temperature > 0) until End or maxLen steps.
func (m *Model) decodeGreedy(
	w *Workspace, b *Batch, maxLen int, temperature float64, rng *rand.Rand,
) [][]int32 {
	B, V := w.B, len(m.Cfg.Outputs)
	m.decodeStart(w, b)
	ids := make([]int32, B)
	for i := range ids {
		ids[i] = 2 // Start
	}
	out := make([][]int32, B)
	done := make([]bool, B)
	probs := make([]float64, V)
	for step := 0; step < maxLen; step++ {
		logits := m.decodeStep(w, ids)
		all := true
		for r := range B {
			row := logits[r*V : (r+1)*V]
			var next int32
			if temperature > 0 {
				next = sampleRow(row, temperature, probs, rng)
			} else {
				next = firstOutput + argmaxRows(row[firstOutput:], V-firstOutput)[0]
			}
			ids[r] = next
			if done[r] {
				continue
			}
			if next == endID {
				done[r] = true
			} else {
				out[r] = append(out[r], next)
			}
			all = all && done[r]
		}
		if all {
			break
		}
	}
	return out
}

// sampleRow draws an id ≥ firstOutput from softmax(row/temperature).
func sampleRow(row []float32, temperature float64, probs []float64, rng *rand.Rand) int32 {
	// Subtracting the largest logit before dividing keeps every exponent ≤ 0, so even a
	// tiny temperature gives 1 for the most likely token and 0 or more for the rest.
	mx := float64(slices.Max(row[firstOutput:]))
	var s float64
	for i := range row {
		probs[i] = 0
		if i >= firstOutput {
			probs[i] = math.Exp((float64(row[i]) - mx) / temperature)
			s += probs[i]
		}
	}
	u := rng.Float64() * s
	for i := firstOutput; i < len(row); i++ {
		u -= probs[i]
		if u <= 0 {
			return int32(i)
		}
	}
	return int32(len(row) - 1)
}

// hypothesis is one beam: its tokens after Start and their summed log-probability.
type hypothesis struct {
	tokens []int32
	score  float64
}

// decodeBeam decodes example i of d with a beam of w.B hypotheses in w, a workspace of up to
// the longest input of d, and returns the tokens of
// the most likely hypothesis. Unfinished hypotheses compete only when the search reaches
// maxLen steps.
func (m *Model) decodeBeam(w *Workspace, d *Data, i, maxLen int) []int32 {
	be, cfg := m.be, m.Cfg
	V, H := len(cfg.Outputs), cfg.Hidden
	K := w.B
	b := d.Batch(cfg, []int{i}, K)
	b.DecT, b.DecIDs, b.Targets = 1, make([]int32, K), make([]int32, K)
	for r := range K {
		b.DecIDs[r], b.Targets[r] = 2, -1
	}
	m.Forward(w, b, false, lstm.Dropout{})
	m.decodeStart(w, b)

	live := []hypothesis{{}}
	var finished []hypothesis
	logp := make([]float64, V)
	type cand struct {
		parent int
		tok    int32
		score  float64
	}
	hs := make([][]float32, cfg.Layers)
	cs := make([][]float32, cfg.Layers)
	for step := 0; step < maxLen && len(live) > 0; step++ {
		ids := make([]int32, K)
		for r := range K {
			ids[r] = 2
			if r < len(live) && len(live[r].tokens) > 0 {
				ids[r] = live[r].tokens[len(live[r].tokens)-1]
			}
		}
		logits := m.decodeStep(w, ids)
		var cands []cand
		for r, h := range live {
			logSoftmax(logp, logits[r*V:(r+1)*V])
			for v := firstOutput; v < V; v++ {
				cands = append(cands, cand{r, int32(v), h.score + logp[v]})
			}
		}
		sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
		var next []hypothesis
		var parents []int
		for _, c := range cands {
			if len(next) == K {
				break
			}
			toks := append(slices.Clone(live[c.parent].tokens), c.tok)
			if c.tok == endID {
				finished = append(finished, hypothesis{toks[:len(toks)-1], c.score})
				continue
			}
			next = append(next, hypothesis{toks, c.score})
			parents = append(parents, c.parent)
		}
		// Scores only fall as a hypothesis grows, so a finished one that beats every live
		// one is final.
		best := math.Inf(-1)
		for _, f := range finished {
			best = max(best, f.score)
		}
		if len(next) == 0 || (len(finished) > 0 && best >= next[0].score) {
			live = nil
			break
		}
		// Reorder the carried state: row j continues from row parents[j].
		r := w.dec.Prefix(1)
		for l := 0; l < cfg.Layers; l++ {
			h, c := r.InitState(l)
			hs[l] = permuteRows(be, h, parents, K, H, hs[l])
			if c != nil {
				cs[l] = permuteRows(be, c, parents, K, H, cs[l])
			}
		}
		live = next
	}
	all := append(finished, live...)
	if len(all) == 0 {
		return nil
	}
	bestH := all[0]
	for _, h := range all[1:] {
		if h.score > bestH.score {
			bestH = h
		}
	}
	return bestH.tokens
}

// permuteRows makes row j of t [K×H] the old row parents[j], for j < len(parents), using
// buf as host staging, and returns buf.
func permuteRows(
	be engine.Backend, t engine.Tensor, parents []int, K, H int, buf []float32,
) []float32 {
	if len(buf) != 2*K*H {
		buf = make([]float32, 2*K*H)
	}
	old, out := buf[:K*H], buf[K*H:]
	be.Download(old, t)
	copy(out, old)
	for j, p := range parents {
		copy(out[j*H:(j+1)*H], old[p*H:(p+1)*H])
	}
	be.Upload(t, out)
	return buf
}
