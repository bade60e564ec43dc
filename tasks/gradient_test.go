package tasks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/recur-ml/recur/lstm"
)

// Settings of the finite-difference gradient check.
//
// The loss is computed in float32. On these models (seed 11, the parameters below), the
// central differences agree with Backward to about 3e-6 where gradients are small. That is
// float32 round-off divided by 2·gradStep. Where gradients are large, they agree to about
// 1e-3 of the gradient, the truncation error gradStep²/6 times the third derivative.
// gradRtol is 20 times that relative error. gradAtol is 30 times the round-off, yet below
// 4e-4, the smallest "largest gradient" of any tensor, so a path that Backward drops fails.
const (
	gradStep    = 1e-2
	gradRtol    = 2e-2
	gradAtol    = 1e-4
	gradSamples = 40 // elements checked per tensor; smaller tensors are checked whole
	// gradBound bounds the parameters, drawn from U(−gradBound, gradBound). Larger values
	// saturate tanh and σ more often, and with 0.5 the largest gradient of an LSTM tagger's
	// weight_hh_l0 falls to 4e-5, below gradAtol.
	gradBound = 1.0
)

// gradientCase is a task and a variant of tinyConfig.
type gradientCase struct {
	task, variant string
}

var gradientCases = []gradientCase{
	{TaskClassify, "last"},
	{TaskClassify, "mean"},
	{TaskClassify, "images"},
	{TaskClassify, "images-mean"},
	{TaskTag, ""},
	{TaskSeq2Seq, ""},
	{TaskCaption, ""},
	{TaskCaption, "init"},
}

func (c gradientCase) name(cell string) string {
	if c.variant == "" {
		return c.task + "/" + cell
	}
	return c.task + "-" + c.variant + "/" + cell
}

func TestModelGradients(t *testing.T) {
	for _, c := range gradientCases {
		for _, cell := range cells {
			t.Run(c.name(cell), func(t *testing.T) {
				t.Parallel()
				checkGradients(t, tinyConfig(c.task, cell, c.variant), lstm.Dropout{})
			})
		}
	}
}

// TestModelGradientsWithDropout repeats the check with dropout between the two layers. The
// mask depends only on the seed and the element's index, so the perturbed forward passes
// drop the same units as the one that Backward differentiates.
func TestModelGradientsWithDropout(t *testing.T) {
	for _, c := range []gradientCase{{TaskClassify, "mean"}, {TaskTag, ""}, {TaskSeq2Seq, ""}, {TaskCaption, "init"}} {
		for _, cell := range []string{lstm.CellLSTM, lstm.CellGRU} {
			t.Run(c.name(cell), func(t *testing.T) {
				t.Parallel()
				checkGradients(t, tinyConfig(c.task, cell, c.variant), lstm.Dropout{P: 0.3, Seed: 8, Offset: 5 << 32})
			})
		}
	}
}

// checkGradients compares the gradient that Backward accumulates with central differences
// of the mean loss, on a batch of three ragged examples, for a sample of the elements of
// every parameter tensor. It also requires every tensor to have some element whose numeric
// gradient exceeds gradAtol, so that a path the forward pass drops cannot pass as two zeros.
// The workspace has two more steps than the batch needs, as a trainer's has for all but its
// longest batches.
func checkGradients(t *testing.T, cfg Config, drop lstm.Dropout) {
	t.Helper()
	m := newModel(t, cfg)
	setUniformParams(m, 11, gradBound)
	d := tinyData(cfg, 3)
	b := d.Batch(cfg, allIndices(len(d.Examples)), len(d.Examples))
	w := m.NewWorkspace(b.B, b.T+2, b.DecT+2, true)

	m.ZeroGrads()
	count := m.Forward(w, b, true, drop)
	m.Backward(w, b)
	analytic := downloadGrads(m)
	params := downloadParams(m)
	if count < 1 {
		t.Fatalf("the batch has %d scored labels or targets, want at least 1", count)
	}

	meanLoss := func() float64 {
		m.Forward(w, b, false, drop)
		return m.Loss(w) / float64(count)
	}
	set := func(i int, v float32) { m.be.Upload(m.Params.Slice(i, 1), []float32{v}) }

	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range m.Specs() {
		elems := rng.Perm(s.Len())
		if len(elems) > gradSamples {
			elems = elems[:gradSamples]
		}
		var largest float64 // largest |numeric gradient| of the tensor
		failures := 0
		for _, j := range elems {
			i := s.Offset + j
			up, down := params[i]+gradStep, params[i]-gradStep
			set(i, up)
			lossUp := meanLoss()
			set(i, down)
			lossDown := meanLoss()
			set(i, params[i])

			numeric := (lossUp - lossDown) / (float64(up) - float64(down))
			got := float64(analytic[i])
			largest = max(largest, math.Abs(numeric))
			bound := gradAtol + gradRtol*max(math.Abs(numeric), math.Abs(got))
			if math.Abs(got-numeric) > bound {
				failures++
				if failures <= 3 {
					t.Errorf("%s%v: Backward gives %.6g, central difference %.6g (difference %.3g > %.3g)",
						s.Name, unravel(j, s.Shape), got, numeric, math.Abs(got-numeric), bound)
				}
			}
		}
		if failures > 3 {
			t.Errorf("%s: %d of %d checked elements differ, the first 3 listed", s.Name, failures, len(elems))
		}
		if largest <= gradAtol {
			t.Errorf("%s: the largest numeric gradient of %d elements is %.3g, not above %g: the loss barely depends on this tensor",
				s.Name, len(elems), largest, gradAtol)
		}
	}
}

// unravel returns the row-major index of element i of a tensor of the given shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		idx[k] = i % shape[k]
		i /= shape[k]
	}
	return idx
}

// TestModelGradientsWithUnscoredRows repeats the check on a batch whose fourth row pads the
// batch and is not scored, as the last batch of an epoch is: that row must add nothing.
func TestModelGradientsWithUnscoredRows(t *testing.T) {
	for _, c := range []gradientCase{{TaskClassify, "mean"}, {TaskTag, ""}, {TaskSeq2Seq, ""}, {TaskCaption, "init"}} {
		t.Run(c.name(lstm.CellLSTM), func(t *testing.T) {
			t.Parallel()
			cfg := tinyConfig(c.task, lstm.CellLSTM, c.variant)
			m := newModel(t, cfg)
			setUniformParams(m, 11, gradBound)
			d := tinyData(cfg, 3)

			full := d.Batch(cfg, allIndices(3), 4)
			w := m.NewWorkspace(4, max(full.T, 1), full.DecT, true)
			m.ZeroGrads()
			countFull := m.Forward(w, full, true, lstm.Dropout{})
			m.Backward(w, full)
			padded := downloadGrads(m)
			lossPadded := m.Loss(w)

			exact := d.Batch(cfg, allIndices(3), 3)
			w3 := m.NewWorkspace(3, max(exact.T, 1), exact.DecT, true)
			m.ZeroGrads()
			countExact := m.Forward(w3, exact, true, lstm.Dropout{})
			m.Backward(w3, exact)
			want := downloadGrads(m)
			lossExact := m.Loss(w3)

			if countFull != countExact {
				t.Errorf("scored count with an unscored row = %d, without = %d", countFull, countExact)
			}
			if math.Abs(lossPadded-lossExact) > 1e-5 {
				t.Errorf("summed loss with an unscored row = %.7g, without = %.7g", lossPadded, lossExact)
			}
			if diff := maxAbsDiff(padded, want); diff > 1e-6 {
				t.Errorf("gradients with an unscored row differ from those without by up to %.3g", diff)
			}
		})
	}
}

// forwardBackward zeroes the gradients, runs Forward and Backward on b and returns the
// logits, the summed loss and the gradients.
func forwardBackward(m *Model, w *Workspace, b *Batch) (logits []float32, loss float64, grads []float32) {
	m.ZeroGrads()
	m.Forward(w, b, true, lstm.Dropout{})
	m.Backward(w, b)
	return m.Logits(w), m.Loss(w), downloadGrads(m)
}

// TestWorkspacePrefixMatchesExact runs a short batch in a workspace sized for a longer one,
// right after the longer batch. It must give the logits, loss and gradients of a workspace
// of its own size, so no buffer may keep values from the longer batch.
func TestWorkspacePrefixMatchesExact(t *testing.T) {
	for _, c := range gradientCases {
		for _, cell := range cells {
			t.Run(c.name(cell), func(t *testing.T) {
				cfg := tinyConfig(c.task, cell, c.variant)
				m := newModel(t, cfg)
				setUniformParams(m, 11, gradBound)
				d := tinyData(cfg, 3)
				long := d.Batch(cfg, allIndices(3), 3)
				short := d.Batch(cfg, []int{0, 2}, 3)

				exact := m.NewWorkspace(3, max(short.T, 1), short.DecT, true)
				wantLogits, wantLoss, wantGrads := forwardBackward(m, exact, short)

				big := m.NewWorkspace(3, max(long.T, 1)+1, long.DecT+1, true)
				forwardBackward(m, big, long)
				gotLogits, gotLoss, gotGrads := forwardBackward(m, big, short)

				if diff := maxAbsDiff(gotLogits, wantLogits); diff > 1e-6 {
					t.Errorf("logits differ by up to %.3g", diff)
				}
				if math.Abs(gotLoss-wantLoss) > 1e-6 {
					t.Errorf("summed loss %.7g in the larger workspace, %.7g in the exact one", gotLoss, wantLoss)
				}
				if diff := maxAbsDiff(gotGrads, wantGrads); diff > 1e-6 {
					t.Errorf("gradients differ by up to %.3g", diff)
				}
			})
		}
	}
}

// TestBackwardAccumulates checks that Backward adds to Grads: two batches without ZeroGrads
// in between give the sum of their separate gradients.
func TestBackwardAccumulates(t *testing.T) {
	for _, c := range gradientCases {
		t.Run(c.name(lstm.CellGRU), func(t *testing.T) {
			cfg := tinyConfig(c.task, lstm.CellGRU, c.variant)
			m := newModel(t, cfg)
			setUniformParams(m, 11, gradBound)
			d := tinyData(cfg, 3)
			first := d.Batch(cfg, []int{0, 1}, 2)
			second := d.Batch(cfg, []int{2}, 2)
			w := m.NewWorkspace(2, max(first.T, 1), max(first.DecT, second.DecT), true)

			_, _, g1 := forwardBackward(m, w, first)
			_, _, g2 := forwardBackward(m, w, second)
			m.ZeroGrads()
			for _, b := range []*Batch{first, second} {
				m.Forward(w, b, true, lstm.Dropout{})
				m.Backward(w, b)
			}
			got := downloadGrads(m)
			want := make([]float32, len(g1))
			for i := range want {
				want[i] = g1[i] + g2[i]
			}
			if diff := maxAbsDiff(got, want); diff > 1e-6 {
				t.Errorf("accumulated gradients differ from the sum of the separate ones by up to %.3g", diff)
			}
		})
	}
}
