package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
)

// argSlot is the size in bytes of each kernel argument's slot in Args. Every argument type of recur's
// kernels (pointers, int, float, double, unsigned long long) fits in it, and a slot at a
// multiple of 8 keeps every value aligned to its size.
const argSlot = 8

// maxArgs is the maximum number of arguments of a launch, RC_MAX_ARGS in recur_cuda.h, where
// RC_ARG_SLOT equals argSlot.
const maxArgs = 32

// Args holds the argument values of one kernel launch in the order of the kernel's
// parameters. cuLaunchKernel takes an array of pointers, one to each value, and a Go pointer
// to Go memory that contains pointers cannot be passed to C. So the values are packed into one
// byte buffer, argument i at offset 8·i, which contains no pointers, and the C side of Launch
// builds the pointer array itself.
//
// The methods append one argument each and return a so that calls chain:
//
//	args.Reset().Ptr(x).Int(n).Float32(0.5)
//
// A value must have the size of the kernel's parameter: Int for a C int, Uint64 for an
// unsigned long long, Ptr for any pointer.
type Args struct {
	_   [0]uint64 // aligns buf to 8 bytes wherever an Args is placed
	buf [maxArgs * argSlot]byte
	n   int
}

// Reset removes every argument.
func (a *Args) Reset() *Args {
	a.n = 0
	return a
}

// Len returns the number of arguments.
func (a *Args) Len() int { return a.n }

// slot returns the zeroed slot of the next argument.
func (a *Args) slot() []byte {
	if a.n == maxArgs {
		panic(fmt.Sprintf("cuda: a kernel launch takes at most %d arguments", maxArgs))
	}
	s := a.buf[a.n*argSlot : (a.n+1)*argSlot]
	clear(s)
	a.n++
	return s
}

// Ptr appends a device pointer; 0 is a null pointer.
func (a *Args) Ptr(p DevicePtr) *Args {
	binary.NativeEndian.PutUint64(a.slot(), uint64(p))
	return a
}

// Int appends a C int. It panics when v does not fit in 32 bits.
func (a *Args) Int(v int) *Args {
	if v < math.MinInt32 || v > math.MaxInt32 {
		panic(fmt.Sprintf("cuda: kernel argument %d does not fit in a 32-bit int", v))
	}
	binary.NativeEndian.PutUint32(a.slot(), uint32(int32(v)))
	return a
}

// Float32 appends a C float.
func (a *Args) Float32(v float32) *Args {
	binary.NativeEndian.PutUint32(a.slot(), math.Float32bits(v))
	return a
}

// Float64 appends a C double.
func (a *Args) Float64(v float64) *Args {
	binary.NativeEndian.PutUint64(a.slot(), math.Float64bits(v))
	return a
}

// Uint64 appends a C unsigned long long.
func (a *Args) Uint64(v uint64) *Args {
	binary.NativeEndian.PutUint64(a.slot(), v)
	return a
}

// Bytes returns the packed arguments, argument i in bytes [8·i, 8·i+8) in the machine's byte
// order, with a 4-byte value in the first 4 bytes and zeros after it. The slice aliases a and
// is valid until its next change.
func (a *Args) Bytes() []byte { return a.buf[:a.n*argSlot] }
