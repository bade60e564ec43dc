package lstm

import (
	"fmt"
	"testing"

	"github.com/recur-ml/recur/engine"
)

// gemmShape is the shape of one Gemm call.
type gemmShape struct {
	transA, transB bool
	m, n, k        int
}

// countingBackend wraps a backend and records the calls that show a stack's per-step
// structure: every GEMM's shape and the number of fused gate kernels and bias additions.
type countingBackend struct {
	engine.Backend
	gemms   []gemmShape
	gateFwd int // LSTMForward, GRUForward or RNNForward calls
	gateBwd int // LSTMBackward, GRUBackward or RNNBackward calls
	addBias int
}

func (b *countingBackend) Gemm(transA, transB bool, m, n, k int, alpha float32, a, x engine.Tensor,
	beta float32, c engine.Tensor) {
	b.gemms = append(b.gemms, gemmShape{transA, transB, m, n, k})
	b.Backend.Gemm(transA, transB, m, n, k, alpha, a, x, beta, c)
}

func (b *countingBackend) AddBias(y, bias engine.Tensor, rows, cols int) {
	b.addBias++
	b.Backend.AddBias(y, bias, rows, cols)
}

func (b *countingBackend) LSTMForward(gates, cPrev, c, h engine.Tensor, B, H int) {
	b.gateFwd++
	b.Backend.LSTMForward(gates, cPrev, c, h, B, H)
}

func (b *countingBackend) LSTMBackward(gates, cPrev, c, dhOut, dhRec, dc, dgates engine.Tensor, B, H int) {
	b.gateBwd++
	b.Backend.LSTMBackward(gates, cPrev, c, dhOut, dhRec, dc, dgates, B, H)
}

func (b *countingBackend) GRUForward(xg, hg, bhh, hPrev, h engine.Tensor, B, H int) {
	b.gateFwd++
	b.Backend.GRUForward(xg, hg, bhh, hPrev, h, B, H)
}

func (b *countingBackend) GRUBackward(xg, hg, hPrev, dhOut, dhRec, dxg, dhg, dhPrev engine.Tensor, B, H int) {
	b.gateBwd++
	b.Backend.GRUBackward(xg, hg, hPrev, dhOut, dhRec, dxg, dhg, dhPrev, B, H)
}

func (b *countingBackend) RNNForward(pre, h engine.Tensor) {
	b.gateFwd++
	b.Backend.RNNForward(pre, h)
}

func (b *countingBackend) RNNBackward(h, dhOut, dhRec, dpre engine.Tensor) {
	b.gateBwd++
	b.Backend.RNNBackward(h, dhOut, dhRec, dpre)
}

func (b *countingBackend) reset() {
	b.gemms, b.gateFwd, b.gateBwd, b.addBias = nil, 0, 0, 0
}

// count returns how many recorded GEMMs have shape s.
func (b *countingBackend) count(s gemmShape) int {
	n := 0
	for _, g := range b.gemms {
		if g == s {
			n++
		}
	}
	return n
}

// TestStackStepStructure checks the work that a stack queues per layer for T steps: one
// input-projection GEMM over all T steps, one recurrent GEMM and one fused gate kernel per
// step, and in backward the weight gradients as one GEMM each over all T steps.
func TestStackStepStructure(t *testing.T) {
	const B, H, In = 3, 5, 4
	for _, cell := range []string{CellLSTM, CellGRU, CellRNN} {
		for _, shape := range []struct{ T, L int }{{5, 1}, {7, 3}} {
			T, L := shape.T, shape.L
			t.Run(fmt.Sprintf("%s T=%d L=%d", cell, T, L), func(t *testing.T) {
				be := &countingBackend{Backend: newCPU(t)}
				specs, n := AppendStackSpecs(nil, 0, "rnn", cell, L, H, In)
				params, grads := be.Alloc(n), be.Alloc(n)
				be.Fill(params, 0.1)
				s := NewStack(be, cell, L, H, In, specs, 0, params, grads)
				r := s.NewRun(B, T)
				s.PrepareBackward(r, false)
				x := be.Alloc(T * B * In)
				G := GatesPerUnit(cell)
				GH := G * H

				be.reset()
				s.Forward(r, StackInput{X: x})
				checkForwardStructure(t, be, cell, B, T, L, GH, H, In)

				be.reset()
				s.Backward(r, StateGrad{})
				checkBackwardStructure(t, be, B, T, L, GH, H, In)
			})
		}
	}
}

func checkForwardStructure(t *testing.T, be *countingBackend, cell string, B, T, L, GH, H, In int) {
	t.Helper()
	inputProj := be.count(gemmShape{false, true, T * B, GH, In})
	if L > 1 {
		inputProj += be.count(gemmShape{false, true, T * B, GH, H})
	}
	if inputProj != L {
		t.Errorf("forward: %d input-projection GEMMs over all %d steps, want one per layer (%d)",
			inputProj, T, L)
	}
	if got := be.count(gemmShape{false, true, B, GH, H}); got != T*L {
		t.Errorf("forward: %d recurrent GEMMs, want one per step per layer (%d)", got, T*L)
	}
	if got := len(be.gemms); got != L+T*L {
		t.Errorf("forward: %d GEMMs in all, want %d: %v", got, L+T*L, be.gemms)
	}
	if be.gateFwd != T*L {
		t.Errorf("forward: %d fused gate kernels, want one per step per layer (%d)", be.gateFwd,
			T*L)
	}
	// b_ih for every layer, and b_hh too for LSTM and RNN; the GRU gate kernel adds b_hh.
	wantBias := 2 * L
	if cell == CellGRU {
		wantBias = L
	}
	if be.addBias != wantBias {
		t.Errorf("forward: %d bias additions, want %d, each over all steps", be.addBias,
			wantBias)
	}
}

func checkBackwardStructure(t *testing.T, be *countingBackend, B, T, L, GH, H, In int) {
	t.Helper()
	if be.gateBwd != T*L {
		t.Errorf("backward: %d fused gate kernels, want one per step per layer (%d)", be.gateBwd,
			T*L)
	}
	// The weight gradients are the only GEMMs with a transposed first operand.
	var weightGrads []gemmShape
	for _, g := range be.gemms {
		if g.transA {
			weightGrads = append(weightGrads, g)
		}
	}
	if len(weightGrads) != 2*L {
		t.Fatalf("backward: %d weight-gradient GEMMs, want 2 per layer (%d): %v",
			len(weightGrads), 2*L, weightGrads)
	}
	for _, g := range weightGrads {
		if g.k != T*B || g.m != GH || (g.n != H && g.n != In) {
			t.Errorf("backward: weight-gradient GEMM %+v, want %d×(%d or %d) over all %d steps "+
				"(k = %d)", g, GH, H, In, T, T*B)
		}
	}
	if got := be.count(gemmShape{false, false, B, H, GH}); got < (T-1)*L {
		t.Errorf("backward: %d recurrent gradient GEMMs, want at least one per step but the "+
			"first per layer (%d)", got, (T-1)*L)
	}
}
