package engine

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/recur-ml/recur/cuda"
)

// deviceAllocator is the device memory that a devicePool draws from. The CUDA backend's
// implementation calls cuMemAlloc and cuMemFree; tests use a fake.
type deviceAllocator interface {
	alloc(bytes int64) (cuda.DevicePtr, error)
	free(p cuda.DevicePtr) error
	// synchronize waits until the queued work, which may still use blocks that were returned
	// to the pool, has finished.
	synchronize() error
}

// deviceBlock is a range of device memory from a devicePool.
type deviceBlock struct {
	ptr  cuda.DevicePtr
	size int64 // bytes, a size class
}

// CUDAMemoryStats describes the device memory of a CUDA backend, in bytes.
type CUDAMemoryStats struct {
	InUse  int64 // held by tensors and by the backend's own buffers
	Cached int64 // freed by tensors and kept for reuse
	Peak   int64 // the largest InUse + Cached so far: the memory taken from the driver
	Allocs int   // cuMemAlloc calls so far
}

// devicePool hands out device memory in size classes and keeps returned blocks in free lists
// for reuse, because cuMemAlloc and cuMemFree are slow and cuMemFree synchronizes the device.
//
// A returned block goes back into use without waiting, because outside a Fork region every
// operation of the CUDA backend runs on the main stream: work queued with the new owner runs
// after the old owner's. Inside a region, work on another stream may still use a returned
// block, so hold keeps returned blocks aside until unhold, which the backend calls after the
// main stream has been made to wait for every other stream.
//
// It is safe for concurrent use, because garbage-collector cleanups return blocks from
// another goroutine.
type devicePool struct {
	mu      sync.Mutex
	device  deviceAllocator
	free    map[int64][]cuda.DevicePtr // cached blocks by size class
	owned   map[cuda.DevicePtr]int64   // every block taken from device, with its size class
	stats   CUDAMemoryStats
	closed  bool
	held    bool          // put keeps blocks in pending instead of free
	pending []deviceBlock // blocks returned while held
}

func newDevicePool(device deviceAllocator) *devicePool {
	return &devicePool{device: device, free: map[int64][]cuda.DevicePtr{},
		owned: map[cuda.DevicePtr]int64{}}
}

// Size classes: multiples of smallClassStep up to smallClassLimit, then eight classes per
// power of two, so that rounding up wastes at most 1/8 of a large block.
const (
	smallClassStep  = 512
	smallClassLimit = 64 << 10
	classesPerPow2  = 8
)

// sizeClass returns the block size that serves a request of bytes, at least 1.
func sizeClass(bytes int64) int64 {
	if bytes <= smallClassLimit {
		return roundUp(max(bytes, 1), smallClassStep)
	}
	// bytes lies in (2^(e−1), 2^e], where the classes are 2^(e−1)/classesPerPow2 apart.
	e := bits.Len64(uint64(bytes - 1))
	return roundUp(bytes, int64(1)<<(e-1)/classesPerPow2)
}

func roundUp(n, step int64) int64 { return (n + step - 1) / step * step }

// get returns a block of at least bytes bytes. When the device is out of memory, it frees the
// cached blocks and tries once more.
func (p *devicePool) get(bytes int64) (deviceBlock, error) {
	if bytes <= 0 {
		return deviceBlock{}, fmt.Errorf("invalid allocation of %d bytes", bytes)
	}
	size := sizeClass(bytes)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return deviceBlock{}, errors.New("device memory pool used after Close")
	}
	if list := p.free[size]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.free[size] = list[:len(list)-1]
		p.stats.Cached -= size
		p.stats.InUse += size
		return deviceBlock{ptr: ptr, size: size}, nil
	}

	ptr, err := p.device.alloc(size)
	if errors.Is(err, cuda.ErrOutOfMemory) && p.stats.Cached > 0 {
		if err := p.releaseLocked(); err != nil {
			return deviceBlock{}, err
		}
		ptr, err = p.device.alloc(size)
	}
	if err != nil {
		return deviceBlock{}, err
	}
	p.owned[ptr] = size
	p.stats.Allocs++
	p.stats.InUse += size
	p.stats.Peak = max(p.stats.Peak, p.stats.InUse+p.stats.Cached)
	return deviceBlock{ptr: ptr, size: size}, nil
}

// put returns a block for reuse by later work on the stream. After close it does nothing,
// because close freed every block.
func (p *devicePool) put(b deviceBlock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if size, ok := p.owned[b.ptr]; !ok || size != b.size {
		panic(fmt.Sprintf("engine: device block %#x of %d bytes returned to a pool that did "+
			"not hand it out", b.ptr, b.size))
	}
	if p.held {
		p.pending = append(p.pending, b)
		return
	}
	p.free[b.size] = append(p.free[b.size], b.ptr)
	p.stats.InUse -= b.size
	p.stats.Cached += b.size
}

// hold makes put keep returned blocks aside until unhold.
func (p *devicePool) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = true
}

// unhold ends hold and makes the blocks returned meanwhile reusable.
func (p *devicePool) unhold() {
	p.mu.Lock()
	pending := p.pending
	p.held, p.pending = false, nil
	p.mu.Unlock()
	for _, b := range pending {
		p.put(b)
	}
}

// release frees every cached block, after waiting for the work that may still use them.
func (p *devicePool) release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	return p.releaseLocked()
}

func (p *devicePool) releaseLocked() error {
	if p.stats.Cached == 0 {
		return nil
	}
	if err := p.device.synchronize(); err != nil {
		return err
	}
	var firstErr error
	for size, list := range p.free {
		for _, ptr := range list {
			if err := p.device.free(ptr); err != nil && firstErr == nil {
				firstErr = err
			}
			delete(p.owned, ptr)
			p.stats.Cached -= size
		}
		delete(p.free, size)
	}
	return firstErr
}

// close frees every block, in use or cached, after waiting for queued work. Blocks returned
// later are ignored.
func (p *devicePool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.device.synchronize()
	for ptr := range p.owned {
		if ferr := p.device.free(ptr); ferr != nil && err == nil {
			err = ferr
		}
	}
	p.owned, p.free = nil, nil
	p.stats.InUse, p.stats.Cached = 0, 0
	return err
}

// memoryStats returns the pool's counters.
func (p *devicePool) memoryStats() CUDAMemoryStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}
