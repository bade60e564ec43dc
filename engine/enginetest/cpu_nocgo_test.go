//go:build !cgo

package enginetest

func init() { cgoDisabled = true }
