package engine

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/recur-ml/recur/cuda"
)

// fakeDevice is a cudaDevice that records the work queued on it, for host tests of the CUDA
// backend. Every call fails with err when err is set.
type fakeDevice struct {
	launches  []fakeLaunch
	memsets   []fakeMemset
	copies    []fakeCopy
	gemms     []fakeGemm
	uploads   int
	downloads int
	syncs     int
	err       error
}

type fakeLaunch struct {
	kernel kernel
	cfg    cuda.LaunchConfig
	args   []byte // a copy of the packed arguments
}

type fakeMemset struct {
	dst   cuda.DevicePtr
	value uint32
	count int
}

type fakeCopy struct {
	dst, src cuda.DevicePtr
	bytes    int64
}

type fakeGemm struct {
	g           columnMajorGemm[cuda.DevicePtr]
	alpha, beta float32
	c           cuda.DevicePtr
}

func (d *fakeDevice) launch(k kernel, cfg cuda.LaunchConfig, args *cuda.Args) error {
	if d.err != nil {
		return d.err
	}
	d.launches = append(d.launches, fakeLaunch{k, cfg, slices.Clone(args.Bytes())})
	return nil
}

func (d *fakeDevice) memset32(dst cuda.DevicePtr, value uint32, count int) error {
	if d.err != nil {
		return d.err
	}
	d.memsets = append(d.memsets, fakeMemset{dst, value, count})
	return nil
}

func (d *fakeDevice) copyDevice(dst, src cuda.DevicePtr, bytes int64) error {
	if d.err != nil {
		return d.err
	}
	d.copies = append(d.copies, fakeCopy{dst, src, bytes})
	return nil
}

func (d *fakeDevice) upload(dst cuda.DevicePtr, src []float32) error {
	if d.err != nil {
		return d.err
	}
	d.uploads++
	return nil
}

func (d *fakeDevice) download(dst []float32, src cuda.DevicePtr) error {
	if d.err != nil {
		return d.err
	}
	d.downloads++
	clear(dst)
	return nil
}

func (d *fakeDevice) gemm(g columnMajorGemm[cuda.DevicePtr], alpha, beta float32,
	c cuda.DevicePtr) error {
	if d.err != nil {
		return d.err
	}
	d.gemms = append(d.gemms, fakeGemm{g, alpha, beta, c})
	return nil
}

func (d *fakeDevice) synchronize() error {
	d.syncs++
	return d.err
}

// fakeAllocator hands out device addresses from 0x1000_0000 upwards and fails with an
// out-of-memory error once more than limit bytes are allocated (no limit when 0).
type fakeAllocator struct {
	next      cuda.DevicePtr
	allocated int64
	limit     int64
	live      map[cuda.DevicePtr]int64
	freed     []cuda.DevicePtr
	syncs     int
	calls     []string // "alloc N", "free", "sync", in order
}

func newFakeAllocator() *fakeAllocator {
	return &fakeAllocator{next: 0x1000_0000, live: map[cuda.DevicePtr]int64{}}
}

// errFakeOutOfMemory matches cuda.ErrOutOfMemory like the driver's error does.
var errFakeOutOfMemory = &cuda.Error{Call: "cuMemAlloc_v2", Code: 2,
	Name: "CUDA_ERROR_OUT_OF_MEMORY"}

func (a *fakeAllocator) alloc(bytes int64) (cuda.DevicePtr, error) {
	a.calls = append(a.calls, fmt.Sprintf("alloc %d", bytes))
	if a.limit > 0 && a.allocated+bytes > a.limit {
		return 0, errFakeOutOfMemory
	}
	p := a.next
	a.next = a.next.Add(bytes)
	a.allocated += bytes
	a.live[p] = bytes
	return p, nil
}

func (a *fakeAllocator) free(p cuda.DevicePtr) error {
	a.calls = append(a.calls, "free")
	bytes, ok := a.live[p]
	if !ok {
		return errors.New("free of an address not allocated")
	}
	delete(a.live, p)
	a.allocated -= bytes
	a.freed = append(a.freed, p)
	return nil
}

func (a *fakeAllocator) synchronize() error {
	a.calls = append(a.calls, "sync")
	a.syncs++
	return nil
}

// immediateIDs is an idTransfers whose copies finish at once, for backend tests that only
// need device addresses of staged ids.
type immediateIDs struct {
	pool   *devicePool
	copies int
}

func (t *immediateIDs) newSlot(capacity int) (idSlotMemory, error) {
	b, err := t.pool.get(4 * int64(capacity))
	if err != nil {
		return idSlotMemory{}, err
	}
	return idSlotMemory{host: make([]int32, capacity), device: b.ptr, state: b}, nil
}

func (t *immediateIDs) freeSlot(m idSlotMemory) error {
	t.pool.put(m.state.(deviceBlock))
	return nil
}

func (t *immediateIDs) copyAsync(m idSlotMemory, n int) error {
	t.copies++
	return nil
}

func (t *immediateIDs) wait(m idSlotMemory) error { return nil }

// newFakeCUDA returns a CUDA backend on a fakeDevice and a fakeAllocator.
func newFakeCUDA(t *testing.T) (*CUDA, *fakeDevice, *fakeAllocator, *immediateIDs) {
	t.Helper()
	dev, alloc := &fakeDevice{}, newFakeAllocator()
	ids := &immediateIDs{}
	c, err := newCUDA(dev, alloc, func(pool *devicePool) idTransfers {
		ids.pool = pool
		return ids
	})
	if err != nil {
		t.Fatalf("newCUDA: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, dev, alloc, ids
}
