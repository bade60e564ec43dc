package tasks

import (
	"testing"

	"github.com/recur-ml/recur/lstm"
)

// paddingTol bounds the difference between a row's logits in a padded batch and alone. The
// two runs do the same float32 arithmetic on that row, so only the order of a GEMM's sums
// could differ, by a few float32 ulps of values near 1.
const paddingTol = 1e-5

// forwardLogits runs m on examples idx of d, batched as B rows, and returns the logits and
// the batch.
func forwardLogits(t *testing.T, m *Model, d *Data, idx []int, B int) ([]float32, *Batch) {
	t.Helper()
	b := d.Batch(m.Cfg, idx, B)
	w := m.NewWorkspace(B, max(b.T, 1), b.DecT, false)
	m.Forward(w, b, false, lstm.Dropout{})
	return m.Logits(w), b
}

// TestPaddedRowsMatchAlone checks that each example's logits in a batch of three ragged
// examples equal its logits in a batch of one. A classifier and a seq2seq encoder left-pad
// their inputs, so this holds only if the reset mask keeps the state zero until a row's
// first token and the mean readout averages over the real steps only. A tagger and a decoder
// right-pad, so the steps after a row's end must not reach its earlier logits.
func TestPaddedRowsMatchAlone(t *testing.T) {
	for _, c := range []gradientCase{{TaskClassify, "last"}, {TaskClassify, "mean"}, {TaskTag, ""}, {TaskSeq2Seq, ""}, {TaskCaption, "init"}} {
		for _, cell := range cells {
			t.Run(c.name(cell), func(t *testing.T) {
				cfg := tinyConfig(c.task, cell, c.variant)
				m := newModel(t, cfg)
				setUniformParams(m, 11, gradBound)
				d := tinyData(cfg, 3)
				V := len(cfg.Outputs)
				batched, b := forwardLogits(t, m, d, allIndices(3), 3)

				for i, e := range d.Examples {
					alone, _ := forwardLogits(t, m, d, []int{i}, 1)
					// steps is the number of logit rows of example i: one for a classifier,
					// one per token for a tagger, one per target plus End for a decoder.
					steps := 1
					switch c.task {
					case TaskTag:
						steps = len(e.In)
					case TaskSeq2Seq, TaskCaption:
						steps = len(e.Out) + 1
					}
					for s := range steps {
						got := batched[(s*b.B+i)*V : (s*b.B+i+1)*V]
						want := alone[s*V : (s+1)*V]
						if diff := maxAbsDiff(got, want); diff > paddingTol {
							t.Errorf("example %d, step %d: logits in the padded batch %v, alone %v (difference %.3g)",
								i, s, got, want, diff)
						}
					}
				}
			})
		}
	}
}

// TestTagPaddingTokensIgnored checks that the ids at a tagger's padded steps do not change
// the logits of the real steps, and that the padded steps are not scored.
func TestTagPaddingTokensIgnored(t *testing.T) {
	cfg := tinyConfig(TaskTag, lstm.CellGRU, "")
	m := newModel(t, cfg)
	setUniformParams(m, 11, gradBound)
	d := tinyData(cfg, 3)
	b := d.Batch(cfg, allIndices(3), 3)
	w := m.NewWorkspace(3, b.T, 0, false)
	V := len(cfg.Outputs)

	m.Forward(w, b, false, lstm.Dropout{})
	want := m.Logits(w)
	loss := m.Loss(w)

	changed := *b
	changed.IDs = append([]int32(nil), b.IDs...)
	padded := 0
	for i, target := range b.Targets {
		if target < 0 {
			changed.IDs[i] = 5
			padded++
		}
	}
	if padded == 0 {
		t.Fatal("the batch has no padded steps; the examples need different lengths")
	}
	m.Forward(w, &changed, false, lstm.Dropout{})
	got := m.Logits(w)
	for i, target := range b.Targets {
		if target < 0 {
			continue
		}
		if diff := maxAbsDiff(got[i*V:(i+1)*V], want[i*V:(i+1)*V]); diff > 0 {
			t.Errorf("row %d (step %d of example %d): logits changed by %.3g when only padding ids changed",
				i, i/b.B, i%b.B, diff)
		}
	}
	if got := m.Loss(w); got != loss {
		t.Errorf("summed loss = %.7g after changing padding ids, %.7g before", got, loss)
	}
}
