//go:build !cgo

package hostmath

import "testing"

func TestHostMathNeedsCgo(t *testing.T) {
	t.Skip("kernels/hostmath: the kernel math is compiled by the C compiler through cgo, which this build " +
		"disables (CGO_ENABLED=0)")
}
