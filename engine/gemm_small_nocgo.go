//go:build !cgo

package engine

// smallGemmBuilt is false because the AVX2 kernels of small GEMMs are C code, which needs cgo.
const smallGemmBuilt = false

func smallGemm(transB bool, m, n, k int, a, b []float32, c []float32, j0, j1 int,
	accumulate bool) {
	panic("engine: small GEMM kernels called in a build without cgo")
}
