//go:build !cgo

package engine

// cgoBuild reports whether this test binary was built with cgo, which the system BLAS needs.
const cgoBuild = false
