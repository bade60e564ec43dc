package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withScalarLoops runs f with the AVX2 loops turned off and restores them afterwards.
func withScalarLoops(f func()) {
	saved := useAVX2
	useAVX2 = false
	defer func() { useAVX2 = saved }()
	f()
}

// TestLSTMBackwardVectorMatchesScalar checks that LSTMBackward gives the same bits with the
// AVX2 loop as with the scalar loop alone, with and without dhRec, in place and not. H = 37
// leaves a scalar tail after the blocks of 8 in every row, and the 2 threads split a row.
func TestLSTMBackwardVectorMatchesScalar(t *testing.T) {
	if !useAVX2 {
		t.Skip("the AVX2 loops are not built or not supported here")
	}
	const B, H = 3, 37
	rng := rand.New(rand.NewPCG(11, 12))
	gates := randomValues(rng, B*4*H, 0, 1)
	cPrev, c := randomValues(rng, B*H, -2, 2), randomValues(rng, B*H, -2, 2)
	dhOut, dhRec := randomValues(rng, B*H, -1, 1), randomValues(rng, B*H, -1, 1)
	dc0 := randomValues(rng, B*H, -1, 1)
	cpu := newTestCPU(t, 2, "gonum")
	for _, withRec := range []bool{false, true} {
		for _, inPlace := range []bool{false, true} {
			name := fmt.Sprintf("dhRec=%v inPlace=%v", withRec, inPlace)
			run := func() (dgates, dc []float32) {
				g := newView(cpu, gates)
				dg := g
				if !inPlace {
					dg = cpu.Alloc(B * 4 * H)
				}
				var rec Tensor
				if withRec {
					rec = newView(cpu, dhRec)
				}
				dcv := newView(cpu, dc0)
				cpu.LSTMBackward(g, newView(cpu, cPrev), newView(cpu, c), newView(cpu, dhOut), rec,
					dcv, dg, B, H)
				return Float32s(dg), Float32s(dcv)
			}
			vecGates, vecDc := run()
			var scalarGates, scalarDc []float32
			withScalarLoops(func() { scalarGates, scalarDc = run() })
			checkSameBits(t, name+" dgates", vecGates, scalarGates)
			checkSameBits(t, name+" dc", vecDc, scalarDc)
		}
	}
}

// TestEmbeddingBackwardVectorMatchesScalar checks EmbeddingBackward's AVX2 additions against
// the scalar loop, with repeated ids and a width that leaves a scalar tail.
func TestEmbeddingBackwardVectorMatchesScalar(t *testing.T) {
	if !useAVX2 {
		t.Skip("the AVX2 loops are not built or not supported here")
	}
	const V, dim = 5, 45
	ids := []int32{3, 1, 3, 0, 4, 3, 1}
	rng := rand.New(rand.NewPCG(13, 14))
	dout := randomValues(rng, len(ids)*dim, -1, 1)
	table0 := randomValues(rng, V*dim, -1, 1)
	cpu := newTestCPU(t, 2, "gonum")
	run := func() []float32 {
		table := newView(cpu, table0)
		cpu.EmbeddingBackward(table, newView(cpu, dout), ids, dim)
		return Float32s(table)
	}
	vec := run()
	var scalar []float32
	withScalarLoops(func() { scalar = run() })
	checkSameBits(t, "dtable", vec, scalar)
}

// checkSameBits reports the first element where got and want differ in their bits.
func checkSameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s[%d] = %v (%#x), want %v (%#x)", name, i, got[i],
				math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			return
		}
	}
}
