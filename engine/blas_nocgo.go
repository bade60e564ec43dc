//go:build !cgo

package engine

import "errors"

// cgoEnabled reports whether this build can load a system BLAS, which needs cgo.
const cgoEnabled = false

// systemBLAS is the placeholder for the dlopen-loaded OpenBLAS, which needs cgo. This build
// never creates one.
type systemBLAS struct {
	path   string
	config string
}

func loadSystemBLAS() (*systemBLAS, error) {
	return nil, errors.New("system BLAS needs cgo, and this binary was built with " +
		"CGO_ENABLED=0; rebuild with cgo or use the gonum GEMM")
}

func (s *systemBLAS) gemm(threads int, transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("engine: system BLAS called in a build without cgo")
}
