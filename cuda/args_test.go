package cuda

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestArgsLayout(t *testing.T) {
	var a Args
	a.Reset().Ptr(0x1122334455667788).Int(-3).Float32(1.5).Uint64(1<<63 + 5).Float64(-0.25).Ptr(0)

	if got := a.Len(); got != 6 {
		t.Fatalf("Len() = %d, want 6", got)
	}
	b := a.Bytes()
	if len(b) != 6*argSlot {
		t.Fatalf("packed %d bytes, want %d", len(b), 6*argSlot)
	}
	slot := func(i int) []byte { return b[i*argSlot : (i+1)*argSlot] }
	if got := binary.NativeEndian.Uint64(slot(0)); got != 0x1122334455667788 {
		t.Errorf("slot 0 (Ptr) = %#x, want 0x1122334455667788", got)
	}
	if got := int32(binary.NativeEndian.Uint32(slot(1))); got != -3 {
		t.Errorf("slot 1 (Int) = %d, want -3", got)
	}
	if got := math.Float32frombits(binary.NativeEndian.Uint32(slot(2))); got != 1.5 {
		t.Errorf("slot 2 (Float32) = %g, want 1.5", got)
	}
	if got := binary.NativeEndian.Uint64(slot(3)); got != 1<<63+5 {
		t.Errorf("slot 3 (Uint64) = %d, want %d", got, uint64(1<<63+5))
	}
	if got := math.Float64frombits(binary.NativeEndian.Uint64(slot(4))); got != -0.25 {
		t.Errorf("slot 4 (Float64) = %g, want -0.25", got)
	}
	if got := binary.NativeEndian.Uint64(slot(5)); got != 0 {
		t.Errorf("slot 5 (null Ptr) = %#x, want 0", got)
	}
	// A 4-byte value leaves the rest of its slot zero, so no stale bytes reach the kernel.
	for _, i := range []int{1, 2} {
		if rest := slot(i)[4:]; binary.NativeEndian.Uint32(rest) != 0 {
			t.Errorf("slot %d: bytes 4..8 = %v, want zeros", i, rest)
		}
	}
}

func TestArgsResetClearsStaleBytes(t *testing.T) {
	var a Args
	a.Uint64(math.MaxUint64)
	a.Reset().Int(7)
	if got := binary.NativeEndian.Uint64(a.Bytes()); got != 7 {
		t.Errorf("after Reset, Int(7) packed as %#x, want 0x7 with zero upper bytes", got)
	}
}

func TestArgsAlignment(t *testing.T) {
	type holder struct {
		flag bool
		args Args
	}
	var h holder
	if addr := uintptrOf(&h.args.buf[0]); addr%8 != 0 {
		t.Errorf("Args buffer at address %#x inside a struct, want 8-byte alignment", addr)
	}
}

func TestArgsIntOutOfRange(t *testing.T) {
	for _, v := range []int{math.MaxInt32 + 1, math.MinInt32 - 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Int(%d) did not panic", v)
				}
			}()
			var a Args
			a.Int(v)
		}()
	}
}

func TestArgsTooMany(t *testing.T) {
	var a Args
	for range maxArgs {
		a.Int(1)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("argument %d did not panic", maxArgs+1)
		}
	}()
	a.Int(1)
}
