package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/recur-ml/recur/cuda"
)

func TestSizeClass(t *testing.T) {
	tests := []struct{ bytes, want int64 }{
		{1, 512}, {4, 512}, {512, 512}, {513, 1024}, {65536, 65536},
		{65537, 73728},         // (2^16, 2^17] in steps of 2^13
		{1 << 20, 1 << 20},     // a power of two is its own class
		{1<<20 + 1, 1179648},   // 2^20 + 2^17
		{3_000_000, 3_145_728}, // (2^21, 2^22] in steps of 2^18
	}
	for _, tc := range tests {
		if got := sizeClass(tc.bytes); got != tc.want {
			t.Errorf("sizeClass(%d) = %d, want %d", tc.bytes, got, tc.want)
		}
	}
	prev := int64(0)
	for bytes := int64(1); bytes < 1<<26; bytes = bytes*9/8 + 1 {
		class := sizeClass(bytes)
		if class < bytes || class < prev || class%smallClassStep != 0 {
			t.Fatalf("sizeClass(%d) = %d: want ≥ the request, monotonic and a multiple of %d",
				bytes, class, smallClassStep)
		}
		if bytes > smallClassLimit && float64(class-bytes) > float64(bytes)/8 {
			t.Errorf("sizeClass(%d) = %d wastes more than 1/8", bytes, class)
		}
		prev = class
	}
}

func TestDevicePoolReuse(t *testing.T) {
	alloc := newFakeAllocator()
	p := newDevicePool(alloc)
	a, err := p.get(1000)
	if err != nil {
		t.Fatal(err)
	}
	if a.size != 1024 {
		t.Errorf("get(1000) gave a block of %d bytes, want the 1024-byte class", a.size)
	}
	p.put(a)
	b, err := p.get(700) // the same class, so the cached block comes back
	if err != nil {
		t.Fatal(err)
	}
	if b != a {
		t.Errorf("get after put returned %+v, want the cached block %+v", b, a)
	}
	if _, err := p.get(5000); err != nil {
		t.Fatal(err)
	}
	want := CUDAMemoryStats{InUse: 1024 + 5120, Cached: 0, Peak: 1024 + 5120, Allocs: 2}
	if got := p.memoryStats(); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	p.put(b)
	if got := p.memoryStats(); got.InUse != 5120 || got.Cached != 1024 {
		t.Errorf("after put: InUse %d, Cached %d; want 5120 and 1024", got.InUse, got.Cached)
	}
}

func TestDevicePoolOutOfMemoryReleasesCache(t *testing.T) {
	alloc := newFakeAllocator()
	alloc.limit = 8192
	p := newDevicePool(alloc)
	small, _ := p.get(4096)
	p.put(small) // 4096 cached
	big, err := p.get(6000)
	if err != nil {
		t.Fatalf("get(6000) with 4096 bytes cached and 8192 available: %v", err)
	}
	if big.size != 6144 {
		t.Errorf("block of %d bytes, want 6144", big.size)
	}
	// The cached block is freed only after the stream is idle, because queued work may
	// still use it.
	want := []string{"alloc 4096", "alloc 6144", "sync", "free", "alloc 6144"}
	if !slices.Equal(alloc.calls, want) {
		t.Errorf("allocator calls %q, want %q", alloc.calls, want)
	}
	if _, err := p.get(4096); !errors.Is(err, cuda.ErrOutOfMemory) {
		t.Errorf("get beyond the limit with nothing cached: %v, want ErrOutOfMemory", err)
	}
}

func TestDevicePoolRejectsForeignBlock(t *testing.T) {
	p := newDevicePool(newFakeAllocator())
	defer func() {
		if recover() == nil {
			t.Error("put of a block the pool never handed out did not panic")
		}
	}()
	p.put(deviceBlock{ptr: 0x42, size: 512})
}

func TestDevicePoolClose(t *testing.T) {
	alloc := newFakeAllocator()
	p := newDevicePool(alloc)
	a, _ := p.get(100)
	b, _ := p.get(100_000)
	p.put(b)
	if err := p.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if len(alloc.live) != 0 {
		t.Errorf("after close %d blocks are still allocated, want 0", len(alloc.live))
	}
	if alloc.calls[len(alloc.calls)-3] != "sync" {
		t.Errorf("allocator calls %q, want a sync before the frees", alloc.calls)
	}
	p.put(a) // a cleanup that runs after close must do nothing
	if _, err := p.get(100); err == nil {
		t.Error("get after close succeeded, want an error")
	}
	if err := p.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestDevicePoolRelease(t *testing.T) {
	alloc := newFakeAllocator()
	p := newDevicePool(alloc)
	a, _ := p.get(100)
	b, _ := p.get(200_000)
	p.put(b)
	if err := p.release(); err != nil {
		t.Fatal(err)
	}
	if got := p.memoryStats(); got.Cached != 0 || got.InUse != a.size {
		t.Errorf("after release: %+v, want Cached 0 and InUse %d", got, a.size)
	}
	if len(alloc.freed) != 1 || alloc.freed[0] != b.ptr {
		t.Errorf("freed %v, want only the cached block %v", alloc.freed, b.ptr)
	}
}
