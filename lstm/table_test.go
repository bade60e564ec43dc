package lstm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/recur-ml/recur/engine"
)

// tableTolerance bounds |table − rows| ≤ tableTolerance·(1 + |rows|) between the two input
// paths, which sum the same float32 products in different orders.
const tableTolerance = 1e-5

// TestStackTableInputMatchesRows runs a two-layer stack once on embedded rows (StackInput.X)
// and once on the embedding table with ids (StackInput.Table), with a gate bias and a reset
// mask, and compares the outputs, the final states, the parameter gradients and the
// gradient at the table.
func TestStackTableInputMatchesRows(t *testing.T) {
	const layers, hidden, in, V, B, T = 2, 8, 5, 4, 3, 6
	for _, cell := range []string{CellLSTM, CellGRU, CellRNN} {
		t.Run(cell, func(t *testing.T) {
			be := newCPU(t)
			G := GatesPerUnit(cell)
			specs, n := AppendStackSpecs(nil, 0, "stack", cell, layers, hidden, in)
			rng := rand.New(rand.NewPCG(31, 32))
			upload := func(n int, lo, hi float64) engine.Tensor {
				v := make([]float32, n)
				for i := range v {
					v[i] = float32(lo + (hi-lo)*rng.Float64())
				}
				x := be.Alloc(n)
				be.Upload(x, v)
				return x
			}
			params := upload(n, -0.5, 0.5)
			table := upload(V*in, -1, 1)
			gateBias := upload(B*G*hidden, -0.2, 0.2)
			dy := make([]float32, T*B*hidden)
			for i := range dy {
				dy[i] = float32(rng.Float64() - 0.5)
			}
			ids := make([]int32, T*B)
			for i := range ids {
				ids[i] = int32(rng.IntN(V))
			}
			resetHost := make([]float32, T*B*hidden)
			for i := range resetHost {
				resetHost[i] = 1
			}
			for j := 0; j < hidden; j++ {
				resetHost[B*hidden+j] = 0 // row 0 at step 1 is left padding
			}
			reset := be.Alloc(len(resetHost))
			be.Upload(reset, resetHost)

			type outcome struct{ out, final, grads, tableGrad []float32 }
			run := func(fromTable bool) outcome {
				grads := be.Alloc(n)
				s := NewStack(be, cell, layers, hidden, in, specs, 0, params, grads)
				r := s.NewRun(B, T)
				s.PrepareBackward(r, false)
				input := StackInput{GateBias: gateBias, Reset: reset}
				tableGrad := be.Alloc(V * in)
				if fromTable {
					input.Table, input.TableGrad, input.IDs = table, tableGrad, ids
				} else {
					x := be.Alloc(T * B * in)
					be.EmbeddingForward(x, table, ids, in)
					input.X = x
				}
				s.Forward(r, input)
				be.Upload(r.OutputGrad(), dy)
				s.Backward(r, StateGrad{})
				if !fromTable {
					be.EmbeddingBackward(tableGrad, r.InputGrad(), ids, in)
				}
				h, _ := r.FinalState(layers - 1)
				return outcome{download(be, r.Output()), download(be, h), download(be, grads),
					download(be, tableGrad)}
			}
			rows, tab := run(false), run(true)
			compareClose(t, "output", tab.out, rows.out)
			compareClose(t, "final h", tab.final, rows.final)
			compareClose(t, "parameter gradients", tab.grads, rows.grads)
			compareClose(t, "table gradient", tab.tableGrad, rows.tableGrad)
		})
	}
}

func download(be engine.Backend, x engine.Tensor) []float32 {
	v := make([]float32, x.Len())
	be.Download(v, x)
	return v
}

// compareClose reports the first element where got and want differ by more than
// tableTolerance·(1 + |want|).
func compareClose(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tableTolerance*(1+math.Abs(float64(want[i]))) {
			t.Errorf("%s[%d] = %g, want %g within %g", name, i, got[i], want[i], tableTolerance)
			return
		}
	}
}
