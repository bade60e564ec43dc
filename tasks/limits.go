package tasks

import (
	"fmt"

	"github.com/recur-ml/recur/lstm"
)

// MaxDecodeLen bounds the decoding steps of seq2seq and caption models (DecodeOptions.MaxLen)
// and the longest training target that a configuration records (Config.MaxTarget). Each step
// runs the decoder once per row, so a larger bound would let a typo run for hours.
const MaxDecodeLen = 1 << 20

// stepWidths returns the largest number of elements per batch row and per step among the
// workspace tensors of the encoder (or only) stack and of the decoder. A tensor of T steps
// and B rows has at most (T+1)·B·width elements: the hidden and cell states hold T+1 steps.
func (c Config) stepWidths() (enc, dec int) {
	G, H, E, V := lstm.GatesPerUnit(c.Cell), c.Hidden, c.Embed, len(c.Outputs)
	// Gate pre-activations and their gradients are G·H wide, states and masks H.
	enc = max(G*H, H)
	if c.images() {
		enc = max(enc, c.InputWidth)
	} else {
		enc = max(enc, E)
	}
	if c.Task == TaskTag {
		enc = max(enc, V) // a tagger has logits at every step
	}
	dec = max(G*H, H, E, V)
	return enc, dec
}

// ValidateLengths returns an error when a workspace for d, in batches of batch examples (and
// a beam of beam rows), would hold a tensor of more than lstm.MaxTensorElements elements. The
// error names the first example that is too long, with its file and line. It allocates
// nothing, so call it before NewTrainer or Predict; NewTrainer also calls it.
func (d *Data) ValidateLengths(cfg Config, batch, beam int) error {
	if len(d.Examples) == 0 {
		return nil
	}
	rows := int64(max(1, min(batch, len(d.Examples)), beam))
	encWidth, decWidth := cfg.stepWidths()
	// maxSteps is the largest T with (T+1)·rows·width ≤ MaxTensorElements.
	maxSteps := func(width int) int64 {
		return lstm.MaxTensorElements/(rows*int64(width)) - 1
	}
	fail := func(e *Example, what string, n, limit int64, width int) error {
		return fmt.Errorf("%s:%d: the %s has %d tokens, but batches of %d rows fit at most %d "+
			"(a workspace tensor of (%d+1)×%d×%d elements would exceed the %d a tensor can hold): "+
			"shorten or split the line, or lower --batch",
			d.Path, e.Line, what, n, rows, max(limit, 0), n, rows, width, int64(lstm.MaxTensorElements))
	}

	hasEncoder := cfg.Task != TaskCaption
	if hasEncoder && cfg.images() {
		if limit := maxSteps(encWidth); int64(cfg.Rows) > limit {
			return fmt.Errorf("images of %d rows are too tall for batches of %d rows: at most %d "+
				"rows fit a tensor of %d elements, so lower --batch",
				cfg.Rows, rows, max(limit, 0), int64(lstm.MaxTensorElements))
		}
		hasEncoder = false
	}
	hasDecoder := cfg.Task == TaskSeq2Seq || cfg.Task == TaskCaption
	encLimit, decLimit := maxSteps(encWidth), maxSteps(decWidth)
	for i := range d.Examples {
		e := &d.Examples[i]
		if n := int64(len(e.In)); hasEncoder && n > encLimit {
			return fail(e, "input", n, encLimit, encWidth)
		}
		// The decoder reads Start and the target, one step more than the target's tokens.
		if n := int64(len(e.Out)) + 1; hasDecoder && n > decLimit {
			return fail(e, "target (with the start token)", n, decLimit, decWidth)
		}
	}
	return nil
}

// WorkspaceBytes estimates the bytes of the workspace that training (with backward) or
// Predict allocates for d in batches of batch examples and a beam of beam rows. It also
// returns the example with the most tokens, which sets the workspace's length.
// NOTE: the estimate counts the tensors of NewWorkspace and lstm.Stack.NewRun per step and
// row; buffers of size B·H, the parameters and the host copies of a batch are left out.
// Call it after ValidateLengths, which bounds every tensor, so the sum cannot overflow.
func (d *Data) WorkspaceBytes(cfg Config, batch, beam int, backward bool) (int64, *Example) {
	if len(d.Examples) == 0 {
		return 0, nil
	}
	rows := int64(max(1, min(batch, len(d.Examples)), beam))
	var longest *Example
	T, decT := int64(0), int64(0)
	for i := range d.Examples {
		e := &d.Examples[i]
		if n := int64(len(e.In)); n > T {
			T = n
			longest = e
		}
		if n := int64(len(e.Out)) + 1; n > decT && n > T {
			decT = n
			longest = e
		}
	}
	if longest == nil {
		longest = &d.Examples[0]
	}
	if cfg.images() {
		T = int64(cfg.Rows)
	}

	G, H, E, V, L := int64(lstm.GatesPerUnit(cfg.Cell)), int64(cfg.Hidden), int64(cfg.Embed),
		int64(len(cfg.Outputs)), int64(cfg.Layers)
	gru := int64(0)
	if cfg.Cell == lstm.CellGRU {
		gru = 1
	}
	bw := int64(0)
	if backward {
		bw = 1
	}
	// stack returns the elements per step and row of one stack run with input width in.
	// Each layer has the gates (twice for a GRU), h, c and two dropout buffers. Backward
	// adds the gradients of the gates, outputs and inputs.
	stack := func(in int64) int64 {
		perLayer := G*H*(1+gru) + 4*H
		return L*perLayer + bw*(G*H*(1+gru)+2*H+in)
	}
	var elems int64
	switch cfg.Task {
	case TaskClassify, TaskTag:
		in := E
		if cfg.images() {
			in = int64(cfg.InputWidth)
		}
		perStep := stack(in) + in*(1+bw) + 3*H
		if cfg.Task == TaskTag {
			perStep += V * (1 + bw)
		}
		elems = (T + 1) * rows * perStep
	case TaskSeq2Seq:
		elems = (T+1)*rows*(stack(E)+E*(1+bw)+3*H) + (decT+1)*rows*(stack(E)+E+V*(1+bw))
	case TaskCaption:
		elems = (decT + 1) * rows * (stack(E) + E + V*(1+bw))
	}
	return 4 * elems, longest
}
