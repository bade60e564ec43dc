// Package viz records what a character-level model computes while it reads a text (the
// hidden and cell states, the LSTM gates and the next-character distribution at every
// position), scores units against text features, and renders both as self-contained HTML.
package viz

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/recur-ml/recur/lstm"
)

// State names accepted by Run and Trace.Unit: the hidden state h, the cell state c and the
// activated LSTM gates i (input), f (forget), g (candidate) and o (output).
const (
	StateH = "h"
	StateC = "c"
	StateI = "i"
	StateF = "f"
	StateG = "g"
	StateO = "o"
)

// gateBlock is the position of each LSTM gate in a gate row of 4H values.
var gateBlock = map[string]int{StateI: 0, StateF: 1, StateG: 2, StateO: 3}

// StatesOf returns the state names that a cell type ("lstm" or "rnn") has.
func StatesOf(cell string) []string {
	if cell == lstm.CellLSTM {
		return []string{StateH, StateC, StateI, StateF, StateG, StateO}
	}
	return []string{StateH}
}

// CheckSelection returns an error when layer, a unit in units or state does not exist in a
// model with configuration cfg. Layers and units count from 0.
func CheckSelection(cfg lstm.Config, layer int, units []int, state string) error {
	if layer < 0 || layer >= cfg.Layers {
		return fmt.Errorf("invalid --layer %d: the checkpoint has %d layer(s), numbered 0 to %d", layer, cfg.Layers, cfg.Layers-1)
	}
	for _, u := range units {
		if u < 0 || u >= cfg.Hidden {
			return fmt.Errorf("invalid --unit %d: each layer has %d units, numbered 0 to %d", u, cfg.Hidden, cfg.Hidden-1)
		}
	}
	states := StatesOf(cfg.Model)
	for _, s := range states {
		if s == state {
			return nil
		}
	}
	if _, isGate := gateBlock[state]; cfg.Model == lstm.CellRNN && (isGate || state == StateC) {
		return fmt.Errorf("invalid --state %q: the checkpoint is an RNN, which has only the hidden state h; c, i, f, g and o exist only in an LSTM", state)
	}
	return fmt.Errorf("invalid --state %q: use one of %s", state, strings.Join(states, ", "))
}

// Options selects what Run records.
type Options struct {
	States []string // state names to record for every layer in Layers
	Layers []int    // layers to record; nil records every layer
	TopK   int      // next-character predictions kept per position; 0 keeps none
	Chunk  int      // characters per forward pass; 0 uses 64
}

// Prediction is one candidate for the next character and its probability.
type Prediction struct {
	Char string  `json:"c"`
	P    float64 `json:"p"`
}

type stateKey struct {
	state string
	layer int
}

// Trace is the record of a model's states and predictions over a text of N characters.
type Trace struct {
	Cell   string
	Layers int
	Hidden int
	Text   []rune
	// Prob[i] is the probability the model gave Text[i] after reading Text[:i]. Prob[0] is
	// NaN, because the first character is an input only.
	Prob []float64
	// Top[i] lists the K most likely characters after Text[:i+1], most likely first.
	Top [][]Prediction

	values map[stateKey][]float32 // [N×H] per recorded state and layer
}

// Unit returns the series of one unit over the text, or nil when Run did not record that
// state and layer.
func (tr *Trace) Unit(state string, layer, unit int) []float32 {
	all, ok := tr.values[stateKey{state, layer}]
	if !ok {
		return nil
	}
	out := make([]float32, len(tr.Text))
	for i := range out {
		out[i] = all[i*tr.Hidden+unit]
	}
	return out
}

// Run feeds text to m with one stream (B = 1) in chunks of opt.Chunk characters, carrying the
// state from chunk to chunk and starting from a zero state, and records the selected states
// and the next-character distribution at every position. Every character must be in the
// model's vocabulary.
func Run(m *lstm.Model, text []rune, opt Options) (*Trace, error) {
	cfg := m.Cfg
	ids, err := encode(cfg, text)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("the text is empty: give at least one character")
	}
	layers := opt.Layers
	if layers == nil {
		for l := 0; l < cfg.Layers; l++ {
			layers = append(layers, l)
		}
	}
	for _, s := range opt.States {
		for _, l := range layers {
			if err := CheckSelection(cfg, l, nil, s); err != nil {
				return nil, err
			}
		}
	}
	chunk := opt.Chunk
	if chunk <= 0 {
		chunk = 64
	}

	N, H, V := len(ids), cfg.Hidden, len(cfg.Vocab)
	tr := &Trace{Cell: cfg.Model, Layers: cfg.Layers, Hidden: H, Text: text,
		Prob: make([]float64, N), values: map[stateKey][]float32{}}
	if opt.TopK > 0 {
		tr.Top = make([][]Prediction, N)
	}
	for _, s := range opt.States {
		for _, l := range layers {
			tr.values[stateKey{s, l}] = make([]float32, N*H)
		}
	}

	be := m.Backend
	w := m.NewWorkspace(1, min(chunk, N))
	m.ResetState(w)
	probs := make([]float64, V)
	prev := math.NaN() // probability of ids[off] from the previous chunk's last row
	for off := 0; off < N; {
		n := min(w.T, N-off)
		if n < w.T {
			w = carryInto(m, m.NewWorkspace(1, n), w)
		}
		m.Forward(w, ids[off:off+n], nil, lstm.Dropout{})
		tr.recordStates(m, w, off, n)

		logits := make([]float32, n*V)
		be.Download(logits, w.Logits())
		for t := 0; t < n; t++ {
			tr.Prob[off+t] = prev
			softmax(logits[t*V:(t+1)*V], probs)
			if off+t+1 < N {
				prev = probs[ids[off+t+1]]
			}
			if tr.Top != nil {
				tr.Top[off+t] = topK(probs, cfg.Vocab, opt.TopK)
			}
		}
		m.CarryState(w)
		off += n
	}
	if err := be.Sync(); err != nil {
		return nil, err
	}
	return tr, nil
}

// recordStates copies the recorded states of chunk positions off..off+n-1 out of w.
func (tr *Trace) recordStates(m *lstm.Model, w *lstm.Workspace, off, n int) {
	H := tr.Hidden
	var gateRows []float32
	for key, dst := range tr.values {
		h, c, gates := w.ChunkStates(key.layer)
		part := dst[off*H : (off+n)*H]
		switch key.state {
		case StateH:
			m.Backend.Download(part, h)
		case StateC:
			m.Backend.Download(part, c)
		default:
			if len(gateRows) != gates.Len() {
				gateRows = make([]float32, gates.Len())
			}
			m.Backend.Download(gateRows, gates)
			b := gateBlock[key.state]
			for t := 0; t < n; t++ {
				copy(part[t*H:(t+1)*H], gateRows[t*4*H+b*H:t*4*H+(b+1)*H])
			}
		}
	}
}

// carryInto copies the carried state of src into dst and returns dst.
func carryInto(m *lstm.Model, dst, src *lstm.Workspace) *lstm.Workspace {
	for l := 0; l < m.Cfg.Layers; l++ {
		dh, dc := dst.State(l)
		sh, sc := src.State(l)
		m.Backend.Copy(dh, sh)
		if dc != nil {
			m.Backend.Copy(dc, sc)
		}
	}
	return dst
}

// encode maps text to token ids, naming the first character outside the vocabulary.
func encode(cfg lstm.Config, text []rune) ([]int32, error) {
	index := make(map[rune]int32, len(cfg.Vocab))
	for i, s := range cfg.Vocab {
		index[[]rune(s)[0]] = int32(i)
	}
	ids := make([]int32, len(text))
	for i, r := range text {
		id, ok := index[r]
		if !ok {
			return nil, fmt.Errorf("character %q (%U) at offset %d is not in the model's vocabulary of %d characters; use a text made of characters the model was trained on", r, r, i, len(cfg.Vocab))
		}
		ids[i] = id
	}
	return ids, nil
}

// softmax writes the softmax of logits into probs, computed in float64.
func softmax(logits []float32, probs []float64) {
	maxLogit := math.Inf(-1)
	for _, v := range logits {
		maxLogit = math.Max(maxLogit, float64(v))
	}
	var total float64
	for i, v := range logits {
		probs[i] = math.Exp(float64(v) - maxLogit)
		total += probs[i]
	}
	for i := range probs {
		probs[i] /= total
	}
}

// topK returns the k most likely characters of probs, most likely first; ties keep
// vocabulary order.
func topK(probs []float64, vocab []string, k int) []Prediction {
	order := make([]int, len(probs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return probs[order[a]] > probs[order[b]] })
	k = min(k, len(order))
	out := make([]Prediction, k)
	for i := 0; i < k; i++ {
		out[i] = Prediction{Char: vocab[order[i]], P: probs[order[i]]}
	}
	return out
}
