//go:build !cgo

package cuda

func init() { cgoDisabled = true }
