package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// testSizes are an odd size that runs on the calling goroutine and one that the worker pool
// splits over 3 threads.
var testSizes = []int{7, 100003}

func TestFill(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	for _, n := range testSizes {
		x := newView(cpu, make([]float32, n))
		cpu.Fill(x, -2.5)
		want := make([]float64, n)
		for i := range want {
			want[i] = -2.5
		}
		checkClose(t, fmt.Sprintf("x (n=%d)", n), Float32s(x), want, 0, 0)
		checkGuards(t, "x", x)
	}
}

func TestAxpy(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range testSizes {
		x, y := randomValues(rng, n, -1, 1), randomValues(rng, n, -1, 1)
		xv, yv := newView(cpu, x), newView(cpu, y)
		cpu.Axpy(-1.5, xv, yv)
		want := make([]float64, n)
		for i := range want {
			want[i] = float64(y[i]) - 1.5*float64(x[i])
		}
		checkClose(t, fmt.Sprintf("y (n=%d)", n), Float32s(yv), want, elementAtol, elementRtol)
		checkGuards(t, "y", yv)
	}
}

func TestMul(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range testSizes {
		dst, x := randomValues(rng, n, -1, 1), randomValues(rng, n, -1, 1)
		dv := newView(cpu, dst)
		cpu.Mul(dv, newView(cpu, x))
		want := make([]float64, n)
		for i := range want {
			want[i] = float64(dst[i]) * float64(x[i])
		}
		checkClose(t, fmt.Sprintf("dst (n=%d)", n), Float32s(dv), want, elementAtol, elementRtol)
		checkGuards(t, "dst", dv)
	}
}

func TestAddBias(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(1, 3))
	for _, shape := range [][2]int{{7, 5}, {1001, 97}} {
		rows, cols := shape[0], shape[1]
		y, bias := randomValues(rng, rows*cols, -1, 1), randomValues(rng, cols, -1, 1)
		yv := newView(cpu, y)
		cpu.AddBias(yv, newView(cpu, bias), rows, cols)
		want := make([]float64, rows*cols)
		for r := range rows {
			for j := range cols {
				want[r*cols+j] = float64(y[r*cols+j]) + float64(bias[j])
			}
		}
		checkClose(t, fmt.Sprintf("y (%d×%d)", rows, cols), Float32s(yv), want, elementAtol, elementRtol)
		checkGuards(t, "y", yv)
	}
}

func sumRowsReference(dst, x []float32, rows, cols int) []float64 {
	want := float64s(dst)
	for r := range rows {
		for j := range cols {
			want[j] += float64(x[r*cols+j])
		}
	}
	return want
}

func TestSumRows(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(1, 4))
	// 1000×300 has 4 row blocks and 2 column chunks, the last of each partial. The smaller
	// shapes then reuse its scratch.
	for _, shape := range [][2]int{{1000, 300}, {7, 5}, {0, 4}} {
		rows, cols := shape[0], shape[1]
		x, dst := randomValues(rng, rows*cols, -1, 1), randomValues(rng, cols, -1, 1)
		dv := newView(cpu, dst)
		cpu.SumRows(dv, newView(cpu, x), rows, cols)
		want := sumRowsReference(dst, x, rows, cols)
		checkClose(t, fmt.Sprintf("dst (%d×%d)", rows, cols), Float32s(dv), want, elementAtol, elementRtol)
		checkGuards(t, "dst", dv)
	}
}

// TestReductionsThreadsIdentical checks that SumRows and ClipGradNorm give the same bits for
// 1, 2 and 3 threads on 100,003 elements, a prime, so no block or part divides it evenly.
func TestReductionsThreadsIdentical(t *testing.T) {
	const n = 100003
	rng := rand.New(rand.NewPCG(7, 7))
	x := randomValues(rng, n, -1, 1)
	type result struct{ column, row, norm, clipped []float32 }
	var first *result
	for _, threads := range []int{1, 2, 3} {
		cpu := newTestCPU(t, threads, "gonum")
		column := newView(cpu, []float32{0.25})
		cpu.SumRows(column, newView(cpu, x), n, 1)
		row := newView(cpu, make([]float32, n))
		cpu.SumRows(row, newView(cpu, x), 1, n)
		g, norm := newView(cpu, x), newView(cpu, []float32{0})
		cpu.ClipGradNorm(g, 1, norm)
		got := &result{Float32s(column), Float32s(row), Float32s(norm), Float32s(g)}

		if first == nil {
			first = got
			checkClose(t, "column sum", got.column, sumRowsReference([]float32{0.25}, x, n, 1),
				elementAtol, elementRtol)
			var sq float64
			for _, v := range x {
				sq += float64(v) * float64(v)
			}
			checkClose(t, "norm", got.norm, []float64{math.Sqrt(sq)}, elementAtol, elementRtol)
			continue
		}
		checkEqual(t, fmt.Sprintf("column sum, %d threads", threads), got.column, first.column)
		checkEqual(t, fmt.Sprintf("row sum, %d threads", threads), got.row, first.row)
		checkEqual(t, fmt.Sprintf("norm, %d threads", threads), got.norm, first.norm)
		checkEqual(t, fmt.Sprintf("clipped g, %d threads", threads), got.clipped, first.clipped)
	}
}

func TestRNNForward(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(1, 5))
	for _, n := range testSizes {
		pre := randomValues(rng, n, -4, 4)
		pv, hv := newView(cpu, pre), newView(cpu, make([]float32, n))
		cpu.RNNForward(pv, hv)
		want := make([]float64, n)
		for i, v := range pre {
			want[i] = math.Tanh(float64(v))
		}
		checkClose(t, fmt.Sprintf("h (n=%d)", n), Float32s(hv), want, elementAtol, elementRtol)
		checkGuards(t, "h", hv)
	}
}

func TestRNNBackward(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(1, 6))
	for _, n := range testSizes {
		h := randomValues(rng, n, -1, 1)
		dhOut, dhRec := randomValues(rng, n, -1, 1), randomValues(rng, n, -1, 1)
		for _, recurrent := range []bool{false, true} {
			dpre := newView(cpu, make([]float32, n))
			var rec Tensor
			if recurrent {
				rec = newView(cpu, dhRec)
			}
			cpu.RNNBackward(newView(cpu, h), newView(cpu, dhOut), rec, dpre)
			want := make([]float64, n)
			for i := range want {
				dh := float64(dhOut[i])
				if recurrent {
					dh += float64(dhRec[i])
				}
				want[i] = dh * (1 - float64(h[i])*float64(h[i]))
			}
			name := fmt.Sprintf("dpre (n=%d, dhRec=%v)", n, recurrent)
			checkClose(t, name, Float32s(dpre), want, elementAtol, elementRtol)
			checkGuards(t, name, dpre)
		}
	}
}

func TestEmbeddingForward(t *testing.T) {
	cpu := newTestCPU(t, 2, "gonum")
	const V, dim = 4, 3
	table := []float32{0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}
	ids := []int32{3, 0, 3, 2, 1}
	out := newView(cpu, make([]float32, len(ids)*dim))
	cpu.EmbeddingForward(out, newView(cpu, table), ids, dim)
	checkEqual(t, "out", Float32s(out), []float32{30, 31, 32, 0, 1, 2, 30, 31, 32, 20, 21, 22, 10, 11, 12})
	checkGuards(t, "out", out)

	for _, id := range []int32{-1, V} {
		expectPanic(t, func() {
			cpu.EmbeddingForward(out, newView(cpu, table), []int32{0, 1, id, 2, 3}, dim)
		}, fmt.Sprintf("ids[2] = %d", id), fmt.Sprintf("[0, %d)", V))
	}
}

func TestEmbeddingBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 7))
	// dim 37 gives 3 column groups, the last partial, so 3 threads each get one.
	const V, dim, rows = 5, 37, 2000
	ids := make([]int32, rows)
	for r := range ids {
		ids[r] = int32(rng.IntN(V))
	}
	dout, dtable := randomValues(rng, rows*dim, -1, 1), randomValues(rng, V*dim, -1, 1)
	want := float64s(dtable)
	for r, id := range ids {
		for j := range dim {
			want[int(id)*dim+j] += float64(dout[r*dim+j])
		}
	}
	var first []float32
	for _, threads := range []int{1, 3} {
		cpu := newTestCPU(t, threads, "gonum")
		dv := newView(cpu, dtable)
		cpu.EmbeddingBackward(dv, newView(cpu, dout), ids, dim)
		// 2000 float32 additions into each entry.
		checkClose(t, fmt.Sprintf("dtable, %d threads", threads), Float32s(dv), want, 1e-4, elementRtol)
		checkGuards(t, "dtable", dv)
		if first == nil {
			first = Float32s(dv)
		} else {
			checkEqual(t, fmt.Sprintf("dtable, %d threads", threads), Float32s(dv), first)
		}
	}
}

func TestDropoutMaskValues(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	const n, p = 100000, float32(0.3)
	scale := float32(1 / (1 - float64(p)))
	x := randomValues(rand.New(rand.NewPCG(1, 8)), n, -1, 1)
	xv, mask := newView(cpu, x), newView(cpu, make([]float32, n))
	cpu.Dropout(xv, mask, p, 42, 1000)
	keptCount := 0
	for i, m := range Float32s(mask) {
		if m != 0 && m != scale {
			t.Fatalf("mask[%d] = %v, want 0 or %v", i, m, scale)
		}
		if wantKeep := DropoutKeep(42, 1000+uint64(i), p); (m != 0) != wantKeep {
			t.Fatalf("mask[%d] = %v, but DropoutKeep(42, %d, %v) = %v", i, m, 1000+i, p, wantKeep)
		}
		if m != 0 {
			keptCount++
		}
		if got, want := Float32s(xv)[i], x[i]*m; got != want {
			t.Fatalf("x[%d] = %v, want %v·%v = %v", i, got, x[i], m, want)
		}
	}
	if frac := float64(keptCount) / n; math.Abs(frac-(1-float64(p))) > 0.01 {
		t.Errorf("kept fraction %.4f, want %.2f within 0.01", frac, 1-p)
	}
	checkGuards(t, "mask", mask)
	checkGuards(t, "x", xv)
}

func TestDropoutSeeds(t *testing.T) {
	cpu := newTestCPU(t, 2, "gonum")
	const n = 1000
	masks := map[string][]float32{}
	for _, run := range []struct {
		name         string
		seed, offset uint64
	}{{"first", 9, 0}, {"repeat", 9, 0}, {"other seed", 10, 0}, {"other offset", 9, 1}} {
		x, mask := cpu.Alloc(n), cpu.Alloc(n)
		cpu.Fill(x, 1)
		cpu.Dropout(x, mask, 0.5, run.seed, run.offset)
		masks[run.name] = Float32s(mask)
	}
	checkEqual(t, "repeated mask", masks["repeat"], masks["first"])
	for _, name := range []string{"other seed", "other offset"} {
		same := 0
		for i, m := range masks[name] {
			if m == masks["first"][i] {
				same++
			}
		}
		if same > n*3/4 {
			t.Errorf("%s: %d of %d mask values equal the first mask's, want about half", name, same, n)
		}
	}
}

func TestDropoutZeroProbability(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	x := []float32{1, -2, 3, 0.5, 7}
	xv, mask := newView(cpu, x), newView(cpu, make([]float32, len(x)))
	cpu.Dropout(xv, mask, 0, 1, 0)
	checkEqual(t, "mask", Float32s(mask), []float32{1, 1, 1, 1, 1})
	checkEqual(t, "x", Float32s(xv), x)
	for _, p := range []float32{-0.1, 1, float32(math.NaN())} {
		expectPanic(t, func() { cpu.Dropout(xv, mask, p, 1, 0) }, "Dropout", "probability")
	}
}
