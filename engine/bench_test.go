package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The benchmarks use the shape of one LSTM layer step with B = 64 and H = 512, and the
// default thread count (one per CPU).
const benchB, benchH = 64, 512

func benchCPU(b *testing.B, gemm string) *CPU {
	b.Helper()
	cpu, err := NewCPU(CPUOptions{GEMM: gemm})
	if err != nil {
		b.Skipf("GEMM %q: %v", gemm, err)
	}
	b.Cleanup(func() { cpu.Close() })
	return cpu
}

func benchTensor(cpu *CPU, rng *rand.Rand, n int, lo, hi float32) Tensor {
	t := cpu.Alloc(n)
	cpu.Upload(t, randomValues(rng, n, lo, hi))
	return t
}

// BenchmarkGemm times the recurrent projection of a step, [B×H]·[H×4H], and reports GFLOP/s.
// "NT" multiplies by the transpose of a [4H×H] weight as stored by PyTorch, "NN" by a
// [H×4H] matrix.
func BenchmarkGemm(b *testing.B) {
	const m, n, k = benchB, 4 * benchH, benchH
	for _, gemm := range []string{"blas", "gonum"} {
		for _, transB := range []bool{true, false} {
			name := gemm + "/NN"
			if transB {
				name = gemm + "/NT"
			}
			b.Run(name, func(b *testing.B) {
				cpu := benchCPU(b, gemm)
				rng := rand.New(rand.NewPCG(1, 1))
				x, w := benchTensor(cpu, rng, m*k, -1, 1), benchTensor(cpu, rng, k*n, -1, 1)
				out := cpu.Alloc(m * n)
				for b.Loop() {
					cpu.Gemm(false, transB, m, n, k, 1, x, w, 1, out)
				}
				b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkLSTMForward(b *testing.B) {
	cpu := benchCPU(b, "gonum")
	rng := rand.New(rand.NewPCG(1, 2))
	pre := randomValues(rng, benchB*4*benchH, -3, 3)
	gates := cpu.Alloc(len(pre))
	cPrev := benchTensor(cpu, rng, benchB*benchH, -1, 1)
	c, h := cpu.Alloc(benchB*benchH), cpu.Alloc(benchB*benchH)
	b.SetBytes(int64(4 * (len(pre)*2 + 3*benchB*benchH)))
	for b.Loop() {
		cpu.Upload(gates, pre) // LSTMForward overwrites its input
		cpu.LSTMForward(gates, cPrev, c, h, benchB, benchH)
	}
}

func BenchmarkLSTMBackward(b *testing.B) {
	cpu := benchCPU(b, "gonum")
	rng := rand.New(rand.NewPCG(1, 3))
	gates := benchTensor(cpu, rng, benchB*4*benchH, 0, 1)
	cPrev, c := benchTensor(cpu, rng, benchB*benchH, -1, 1), benchTensor(cpu, rng, benchB*benchH, -1, 1)
	dhOut, dhRec := benchTensor(cpu, rng, benchB*benchH, -1, 1), benchTensor(cpu, rng, benchB*benchH, -1, 1)
	dc, dgates := cpu.Alloc(benchB*benchH), cpu.Alloc(benchB*4*benchH)
	for b.Loop() {
		cpu.LSTMBackward(gates, cPrev, c, dhOut, dhRec, dc, dgates, benchB, benchH)
	}
}

// BenchmarkSoftmaxCrossEntropy uses T·B = 32·64 rows of a 1000-token vocabulary.
func BenchmarkSoftmaxCrossEntropy(b *testing.B) {
	const rows, V = 32 * benchB, 1000
	cpu := benchCPU(b, "gonum")
	rng := rand.New(rand.NewPCG(1, 4))
	logits := benchTensor(cpu, rng, rows*V, -5, 5)
	targets := make([]int32, rows)
	for r := range targets {
		targets[r] = int32(rng.IntN(V))
	}
	losses, dlogits := cpu.Alloc(rows), cpu.Alloc(rows*V)
	for b.Loop() {
		cpu.SoftmaxCrossEntropy(logits, targets, losses, dlogits, rows, V, 1)
	}
}

// benchParams is the parameter count of one LSTM layer with X = H = 512.
const benchParams = 2*4*benchH*benchH + 2*4*benchH

func BenchmarkClipGradNorm(b *testing.B) {
	cpu := benchCPU(b, "gonum")
	g := benchTensor(cpu, rand.New(rand.NewPCG(1, 5)), benchParams, -1, 1)
	norm := cpu.Alloc(1)
	b.SetBytes(4 * benchParams)
	for b.Loop() {
		cpu.ClipGradNorm(g, 1e9, norm)
	}
}

func BenchmarkAdamStep(b *testing.B) {
	cpu := benchCPU(b, "gonum")
	rng := rand.New(rand.NewPCG(1, 6))
	param, grad := benchTensor(cpu, rng, benchParams, -1, 1), benchTensor(cpu, rng, benchParams, -1, 1)
	m, v := cpu.Alloc(benchParams), cpu.Alloc(benchParams)
	step := 0
	for b.Loop() {
		step++
		cpu.AdamStep(param, grad, m, v, 1e-3, 0.9, 0.999, 1e-8, step)
	}
}

func BenchmarkSumRows(b *testing.B) {
	const rows, cols = 32 * benchB, 4 * benchH
	cpu := benchCPU(b, "gonum")
	x := benchTensor(cpu, rand.New(rand.NewPCG(1, 7)), rows*cols, -1, 1)
	dst := cpu.Alloc(cols)
	b.SetBytes(4 * rows * cols)
	for b.Loop() {
		cpu.SumRows(dst, x, rows, cols)
	}
}

// BenchmarkSmallGemm times the recurrent products of one step on one thread, the AVX2
// small-GEMM kernels ("own") against OpenBLAS ("blas"): NT is [B×H]·[4H×H]^T of the forward
// step, NN is [B×4H]·[4H×H] of the backward step.
func BenchmarkSmallGemm(b *testing.B) {
	if !smallGemmBuilt {
		b.Skip("the AVX2 small-GEMM kernels are not built or not supported here")
	}
	lib, err := loadSystemBLAS()
	if err != nil {
		b.Logf("OpenBLAS is not available, so only the own kernels run: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 8))
	for _, shape := range [][2]int{{32, 128}, {32, 256}, {64, 512}} {
		batch, hidden := shape[0], shape[1]
		for _, transB := range []bool{true, false} {
			m, n, k := batch, 4*hidden, hidden
			name := fmt.Sprintf("NT/B%d_H%d", batch, hidden)
			if !transB {
				n, k = hidden, 4*hidden
				name = fmt.Sprintf("NN/B%d_H%d", batch, hidden)
			}
			a, w := randomValues(rng, m*k, -1, 1), randomValues(rng, k*n, -1, 1)
			c := make([]float32, m*n)
			ldb := n
			if transB {
				ldb = k
			}
			report := func(b *testing.B) {
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
			b.Run("own/"+name, func(b *testing.B) {
				for b.Loop() {
					smallGemm(transB, m, n, k, a, w, c, 0, n, true)
				}
				report(b)
			})
			if lib == nil {
				continue
			}
			b.Run("blas/"+name, func(b *testing.B) {
				for b.Loop() {
					lib.gemm(1, false, transB, m, n, k, 1, a, k, w, ldb, 1, c, n)
				}
				report(b)
			})
		}
	}
}
