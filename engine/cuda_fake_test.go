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
//
// Between beginCapture and endCapture, launches, memsets, copies and GEMMs go into a
// fakeGraph instead, and launchGraph appends the graph's work to the lists, as a replay would
// run it.
type fakeDevice struct {
	launches  []fakeLaunch
	memsets   []fakeMemset
	copies    []fakeCopy
	gemms     []fakeGemm
	uploads   int
	downloads int
	syncs     int
	err       error

	current    int      // the stream of useStream
	streamOps  []string // "use 1", "signal 1", "wait 1 for 0", in order
	slotCopies []int    // the words of each copySlot

	capture       *fakeGraph // the graph being captured, or nil
	captureErr    error      // beginCapture fails with it when set
	graphLaunches int
	graphWaits    int
	graphsFreed   int
}

// fakeGraph is the work recorded between beginCapture and endCapture.
type fakeGraph struct {
	launches []fakeLaunch
	memsets  []fakeMemset
	copies   []fakeCopy
	gemms    []fakeGemm
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
	l := fakeLaunch{k, cfg, slices.Clone(args.Bytes())}
	if d.capture != nil {
		d.capture.launches = append(d.capture.launches, l)
		return nil
	}
	d.launches = append(d.launches, l)
	return nil
}

func (d *fakeDevice) memset32(dst cuda.DevicePtr, value uint32, count int) error {
	if d.err != nil {
		return d.err
	}
	if d.capture != nil {
		d.capture.memsets = append(d.capture.memsets, fakeMemset{dst, value, count})
		return nil
	}
	d.memsets = append(d.memsets, fakeMemset{dst, value, count})
	return nil
}

func (d *fakeDevice) copyDevice(dst, src cuda.DevicePtr, bytes int64) error {
	if d.err != nil {
		return d.err
	}
	if d.capture != nil {
		d.capture.copies = append(d.capture.copies, fakeCopy{dst, src, bytes})
		return nil
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
	if d.capture != nil {
		d.capture.gemms = append(d.capture.gemms, fakeGemm{g, alpha, beta, c})
		return nil
	}
	d.gemms = append(d.gemms, fakeGemm{g, alpha, beta, c})
	return nil
}

func (d *fakeDevice) synchronize() error {
	d.syncs++
	return d.err
}

func (d *fakeDevice) useStream(i int) error {
	d.current = i
	d.streamOps = append(d.streamOps, fmt.Sprintf("use %d", i))
	return d.err
}

func (d *fakeDevice) signal() error {
	d.streamOps = append(d.streamOps, fmt.Sprintf("signal %d", d.current))
	return d.err
}

func (d *fakeDevice) waitFor(i int) error {
	d.streamOps = append(d.streamOps, fmt.Sprintf("wait %d for %d", d.current, i))
	return d.err
}

func (d *fakeDevice) copySlot(m idSlotMemory, words int) error {
	d.slotCopies = append(d.slotCopies, words)
	return d.err
}

func (d *fakeDevice) beginCapture() error {
	if d.captureErr != nil {
		return d.captureErr
	}
	d.capture = &fakeGraph{}
	return d.err
}

func (d *fakeDevice) endCapture() (any, error) {
	g := d.capture
	d.capture = nil
	return g, d.err
}

func (d *fakeDevice) launchGraph(g any) error {
	fg := g.(*fakeGraph)
	d.graphLaunches++
	d.launches = append(d.launches, fg.launches...)
	d.memsets = append(d.memsets, fg.memsets...)
	d.copies = append(d.copies, fg.copies...)
	d.gemms = append(d.gemms, fg.gemms...)
	return d.err
}

func (d *fakeDevice) waitGraph() error {
	d.graphWaits++
	return d.err
}

func (d *fakeDevice) destroyGraph(g any) error {
	d.graphsFreed++
	return nil
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
