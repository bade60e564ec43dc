package cuda

import "unsafe"

func uintptrOf(p *byte) uintptr { return uintptr(unsafe.Pointer(p)) }

// cgoDisabled is set by a test file built only without cgo.
var cgoDisabled bool
