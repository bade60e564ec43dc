package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// lstmShapes are a tiny step that runs on the calling goroutine and one that 3 threads split
// in the middle of a row.
var lstmShapes = [][2]int{{2, 3}, {5, 411}}

func TestLSTMForward(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(2, 1))
	for _, shape := range lstmShapes {
		B, H := shape[0], shape[1]
		pre := randomValues(rng, B*4*H, -3, 3)
		cPrev := randomValues(rng, B*H, -2, 2)
		gates, cv := newView(cpu, pre), newView(cpu, cPrev)
		cNext, h := newView(cpu, make([]float32, B*H)), newView(cpu, make([]float32, B*H))
		cpu.LSTMForward(gates, cv, cNext, h, B, H)

		wantGates := make([]float64, B*4*H)
		wantC, wantH := make([]float64, B*H), make([]float64, B*H)
		for b := range B {
			for j := range H {
				row := b * 4 * H
				i := sigmoid64(float64(pre[row+j]))
				f := sigmoid64(float64(pre[row+H+j]))
				g := math.Tanh(float64(pre[row+2*H+j]))
				o := sigmoid64(float64(pre[row+3*H+j]))
				wantGates[row+j], wantGates[row+H+j] = i, f
				wantGates[row+2*H+j], wantGates[row+3*H+j] = g, o
				c := f*float64(cPrev[b*H+j]) + i*g
				wantC[b*H+j], wantH[b*H+j] = c, o*math.Tanh(c)
			}
		}
		name := fmt.Sprintf("B=%d H=%d", B, H)
		checkClose(t, name+" gates", Float32s(gates), wantGates, elementAtol, elementRtol)
		checkClose(t, name+" c", Float32s(cNext), wantC, elementAtol, elementRtol)
		checkClose(t, name+" h", Float32s(h), wantH, elementAtol, elementRtol)
		for _, v := range []Tensor{gates, cNext, h} {
			checkGuards(t, name, v)
		}
	}
}

func TestLSTMBackward(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(2, 2))
	for _, shape := range lstmShapes {
		B, H := shape[0], shape[1]
		// Activated gates: σ values in (0, 1) and tanh(g) in (-1, 1).
		gates := randomValues(rng, B*4*H, 0, 1)
		for b := range B {
			copy(gates[b*4*H+2*H:b*4*H+3*H], randomValues(rng, H, -1, 1))
		}
		cPrev, c := randomValues(rng, B*H, -2, 2), randomValues(rng, B*H, -2, 2)
		dhOut, dhRec := randomValues(rng, B*H, -1, 1), randomValues(rng, B*H, -1, 1)
		dcNext := randomValues(rng, B*H, -1, 1)

		for _, recurrent := range []bool{false, true} {
			dc, dgates := newView(cpu, dcNext), newView(cpu, make([]float32, B*4*H))
			var rec Tensor
			if recurrent {
				rec = newView(cpu, dhRec)
			}
			cpu.LSTMBackward(newView(cpu, gates), newView(cpu, cPrev), newView(cpu, c),
				newView(cpu, dhOut), rec, dc, dgates, B, H)

			wantDgates, wantDc := make([]float64, B*4*H), make([]float64, B*H)
			for b := range B {
				for j := range H {
					row, u := b*4*H, b*H+j
					i, f := float64(gates[row+j]), float64(gates[row+H+j])
					g, o := float64(gates[row+2*H+j]), float64(gates[row+3*H+j])
					dh := float64(dhOut[u])
					if recurrent {
						dh += float64(dhRec[u])
					}
					tc := math.Tanh(float64(c[u]))
					dct := float64(dcNext[u]) + dh*o*(1-tc*tc)
					wantDgates[row+j] = dct * g * i * (1 - i)
					wantDgates[row+H+j] = dct * float64(cPrev[u]) * f * (1 - f)
					wantDgates[row+2*H+j] = dct * i * (1 - g*g)
					wantDgates[row+3*H+j] = dh * tc * o * (1 - o)
					wantDc[u] = dct * f
				}
			}
			name := fmt.Sprintf("B=%d H=%d dhRec=%v", B, H, recurrent)
			checkClose(t, name+" dgates", Float32s(dgates), wantDgates, elementAtol, elementRtol)
			checkClose(t, name+" dc", Float32s(dc), wantDc, elementAtol, elementRtol)
			checkGuards(t, name+" dgates", dgates)
			checkGuards(t, name+" dc", dc)
		}
	}
}

// softmaxReference returns the losses and scale·(softmax − onehot) rows in float64.
func softmaxReference(logits []float32, targets []int32, V int, scale float64) (losses, grad []float64) {
	losses, grad = make([]float64, len(targets)), make([]float64, len(logits))
	for r, target := range targets {
		if target < 0 {
			continue
		}
		row := float64s(logits[r*V : (r+1)*V])
		top := math.Inf(-1)
		for _, v := range row {
			top = math.Max(top, v)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(v - top)
		}
		losses[r] = math.Log(sum) - (row[target] - top)
		for j, v := range row {
			grad[r*V+j] = scale * math.Exp(v-top) / sum
		}
		grad[r*V+int(target)] -= scale
	}
	return losses, grad
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(2, 3))
	for _, shape := range [][2]int{{3, 5}, {40, 1000}} {
		rows, V := shape[0], shape[1]
		logits := randomValues(rng, rows*V, -5, 5)
		targets := make([]int32, rows)
		for r := range targets {
			targets[r] = int32(rng.IntN(V))
		}
		targets[1] = -1
		wantLoss, wantGrad := softmaxReference(logits, targets, V, 0.5)
		name := fmt.Sprintf("%d×%d", rows, V)

		losses, dlogits := newView(cpu, make([]float32, rows)), newView(cpu, randomValues(rng, rows*V, -1, 1))
		cpu.SoftmaxCrossEntropy(newView(cpu, logits), targets, losses, dlogits, rows, V, 0.5)
		checkClose(t, name+" losses", Float32s(losses), wantLoss, elementAtol, elementRtol)
		checkClose(t, name+" dlogits", Float32s(dlogits), wantGrad, elementAtol, elementRtol)
		checkGuards(t, name+" losses", losses)
		checkGuards(t, name+" dlogits", dlogits)

		lossOnly := newView(cpu, make([]float32, rows))
		cpu.SoftmaxCrossEntropy(newView(cpu, logits), targets, lossOnly, nil, rows, V, 0.5)
		checkClose(t, name+" losses without dlogits", Float32s(lossOnly), wantLoss, elementAtol, elementRtol)

		inPlace := newView(cpu, logits)
		cpu.SoftmaxCrossEntropy(inPlace, targets, lossOnly, inPlace, rows, V, 0.5)
		checkClose(t, name+" losses in place", Float32s(lossOnly), wantLoss, elementAtol, elementRtol)
		checkClose(t, name+" dlogits in place", Float32s(inPlace), wantGrad, elementAtol, elementRtol)
	}
}

func TestSoftmaxCrossEntropyHugeLogits(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	logits := []float32{1e4, -1e4, 0, 1e4 - 1}
	losses, dlogits := cpu.Alloc(1), cpu.Alloc(4)
	cpu.SoftmaxCrossEntropy(newView(cpu, logits), []int32{3}, losses, dlogits, 1, 4, 1)
	if loss := Float32s(losses)[0]; math.IsInf(float64(loss), 0) || math.IsNaN(float64(loss)) {
		t.Fatalf("loss = %v, want a finite value", loss)
	}
	wantLoss, wantGrad := softmaxReference(logits, []int32{3}, 4, 1)
	checkClose(t, "losses", Float32s(losses), wantLoss, elementAtol, elementRtol)
	checkClose(t, "dlogits", Float32s(dlogits), wantGrad, elementAtol, elementRtol)
}

func TestSoftmaxCrossEntropyIgnoredTarget(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	losses := newView(cpu, []float32{9})
	dlogits := newView(cpu, []float32{9, 9, 9})
	cpu.SoftmaxCrossEntropy(newView(cpu, []float32{1, 2, 3}), []int32{-1}, losses, dlogits, 1, 3, 1)
	checkEqual(t, "losses", Float32s(losses), []float32{0})
	checkEqual(t, "dlogits", Float32s(dlogits), []float32{0, 0, 0})
}

func TestSoftmaxCrossEntropyTargetOutOfRange(t *testing.T) {
	cpu := newTestCPU(t, 1, "gonum")
	for _, target := range []int32{5, -2} {
		losses := newView(cpu, []float32{9, 9})
		expectPanic(t, func() {
			cpu.SoftmaxCrossEntropy(cpu.Alloc(10), []int32{0, target}, losses, nil, 2, 5, 1)
		}, "row 1", fmt.Sprintf("target %d", target), "V=5")
		checkEqual(t, "losses after the panic", Float32s(losses), []float32{9, 9})
	}
}
