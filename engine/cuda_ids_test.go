package engine

import (
	"fmt"
	"slices"
	"testing"

	"github.com/recur-ml/recur/cuda"
)

// lateIDs is an idTransfers whose copies run late, as on a GPU that is behind the host: a
// queued copy reads the host memory only when wait reaches it or run is called. Each copy
// checks that the host memory still holds the ids staged with it.
type lateIDs struct {
	t       *testing.T
	next    cuda.DevicePtr
	device  map[cuda.DevicePtr][]int32 // device memory after the copies that ran
	queue   []lateCopy
	live    int      // slots allocated and not freed
	waits   []string // device addresses waited for, in order
	copies  int
	freedAt []string // "free <ptr> after <n> copies ran"
	ran     int
}

type lateCopy struct {
	mem  idSlotMemory
	want []int32 // the ids staged with this copy
}

func newLateIDs(t *testing.T) *lateIDs {
	return &lateIDs{t: t, next: 0x2000, device: map[cuda.DevicePtr][]int32{}}
}

func (f *lateIDs) newSlot(capacity int) (idSlotMemory, error) {
	m := idSlotMemory{host: make([]int32, capacity), device: f.next}
	f.next = f.next.Add(4 * int64(capacity))
	f.live++
	return m, nil
}

func (f *lateIDs) freeSlot(m idSlotMemory) error {
	for _, q := range f.queue {
		if q.mem.device == m.device {
			f.t.Errorf("slot %v freed while a copy from it is still queued", m.device)
		}
	}
	f.live--
	f.freedAt = append(f.freedAt, fmt.Sprintf("free %v after %d copies ran", m.device, f.ran))
	return nil
}

func (f *lateIDs) copyAsync(m idSlotMemory, n int) error {
	f.copies++
	f.queue = append(f.queue, lateCopy{mem: m, want: slices.Clone(m.host[:n])})
	return nil
}

// wait runs the queued copies in order up to the last one from m.
func (f *lateIDs) wait(m idSlotMemory) error {
	f.waits = append(f.waits, m.device.String())
	last := -1
	for i, q := range f.queue {
		if q.mem.device == m.device {
			last = i
		}
	}
	f.runCopies(last + 1)
	return nil
}

// run runs every queued copy.
func (f *lateIDs) run() { f.runCopies(len(f.queue)) }

func (f *lateIDs) runCopies(n int) {
	for _, q := range f.queue[:n] {
		got := q.mem.host[:len(q.want)]
		if !slices.Equal(got, q.want) {
			f.t.Errorf("copy from slot %v read %v, but %v was staged: the host memory was "+
				"overwritten before the copy ran", q.mem.device, got, q.want)
		}
		f.device[q.mem.device] = slices.Clone(got)
		f.ran++
	}
	f.queue = f.queue[n:]
}

func TestIDStagerNeverOverwritesPendingCopy(t *testing.T) {
	f := newLateIDs(t)
	s := newIDStager(f)
	want := map[cuda.DevicePtr][]int32{}
	for i := range 3 * idSlots {
		ids := []int32{int32(i), int32(i + 1), int32(i + 2)}
		ptr, err := s.stage(ids)
		if err != nil {
			t.Fatal(err)
		}
		want[ptr] = slices.Clone(ids)
		ids[0] = -99 // the caller may reuse its slice at once
	}
	f.run()
	for ptr, ids := range want {
		if !slices.Equal(f.device[ptr], ids) {
			t.Errorf("device memory at %v contains %v, want the last ids staged there %v", ptr,
				f.device[ptr], ids)
		}
	}
	if len(want) != idSlots {
		t.Errorf("%d device buffers used, want the %d slots of the ring", len(want), idSlots)
	}
	// The first idSlots stagings fill fresh slots; every later one waits for its slot's
	// previous copy.
	if got, wantWaits := len(f.waits), 2*idSlots; got != wantWaits {
		t.Errorf("%d waits, want %d", got, wantWaits)
	}
}

func TestIDStagerReusesEqualIDs(t *testing.T) {
	f := newLateIDs(t)
	s := newIDStager(f)
	ids := []int32{4, 8, 15, 16, 23, 42}
	targets := []int32{8, 15, 16, 23, 42, -1}
	p1, _ := s.stage(ids)
	p2, _ := s.stage(targets)
	p3, _ := s.stage(slices.Clone(ids)) // equal values in another slice
	if p3 != p1 || p2 == p1 {
		t.Errorf("staged ids at %v, targets at %v, ids again at %v; want the ids' copy reused",
			p1, p2, p3)
	}
	if f.copies != 2 {
		t.Errorf("%d copies queued, want 2", f.copies)
	}
	ids[5] = 7 // changed contents need a new copy
	if p4, _ := s.stage(ids); p4 == p1 || f.copies != 3 {
		t.Errorf("changed ids staged at %v after %d copies; want a new slot and a third copy",
			p4, f.copies)
	}
	if p, err := s.stage(nil); p != 0 || err != nil || f.copies != 3 {
		t.Errorf("stage(nil) = %v, %v after %d copies; want 0, nil and no copy", p, err, f.copies)
	}
}

func TestIDStagerGrowsSlot(t *testing.T) {
	f := newLateIDs(t)
	s := newIDStager(f)
	for i := range idSlots {
		s.stage([]int32{1, 2, int32(i)})
	}
	big := make([]int32, 1000)
	for i := range big {
		big[i] = int32(i)
	}
	ptr, err := s.stage(big) // reuses slot 0, which is too small
	if err != nil {
		t.Fatal(err)
	}
	if len(f.freedAt) != 1 || f.freedAt[0] != "free 0x2000 after 1 copies ran" {
		t.Errorf("frees %q, want slot 0x2000 freed after its copy ran", f.freedAt)
	}
	if got := len(s.slots[0].mem.host); got != 1024 {
		t.Errorf("grown slot has room for %d ids, want 1024", got)
	}
	f.run()
	if !slices.Equal(f.device[ptr], big) {
		t.Error("the grown slot's device memory does not hold the 1000 ids")
	}
}

func TestIDStagerClose(t *testing.T) {
	f := newLateIDs(t)
	s := newIDStager(f)
	s.stage([]int32{1})
	s.stage([]int32{2})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if f.live != 0 || len(f.queue) != 0 {
		t.Errorf("after close: %d slots live, %d copies queued; want 0 and 0", f.live,
			len(f.queue))
	}
}

func TestIDCapacity(t *testing.T) {
	for n, want := range map[int]int{1: 256, 256: 256, 257: 512, 1000: 1024, 2048: 2048} {
		if got := idCapacity(n); got != want {
			t.Errorf("idCapacity(%d) = %d, want %d", n, got, want)
		}
	}
}
