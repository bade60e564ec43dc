package engine

import (
	"math/bits"
	"slices"

	"github.com/recur-ml/recur/cuda"
)

// idSlotMemory is the memory of one idStager slot: page-locked host memory for the ids and the
// device buffer they are copied to. state is the idTransfers implementation's own data, such
// as the buffers to free and the event that marks the end of the slot's copy.
type idSlotMemory struct {
	host   []int32 // page-locked, len is the capacity
	device cuda.DevicePtr
	state  any
}

// idTransfers is the device work of an idStager. The CUDA backend implements it with
// cuMemAllocHost, cuMemcpyHtoDAsync and events; tests use a fake that copies late.
type idTransfers interface {
	// newSlot allocates memory for capacity ids.
	newSlot(capacity int) (idSlotMemory, error)
	// freeSlot releases a slot's memory. Its last copy has finished.
	freeSlot(m idSlotMemory) error
	// copyAsync queues the copy of m.host[:n] to m.device on the stream and records the
	// event that wait waits for.
	copyAsync(m idSlotMemory, n int) error
	// wait returns when the last copy queued for m has finished reading m.host.
	wait(m idSlotMemory) error
}

// idSlots is the number of token-id slices an idStager keeps on the device. A training step
// stages two (the inputs and the targets), so the ring holds two steps' worth. A slot is
// reused only after the copy queued two steps earlier, which has normally finished, so the
// wait for it returns at once.
const idSlots = 4

// minIDCapacity is the smallest slot, in ids.
const minIDCapacity = 256

// idStager copies host token ids to the device without synchronizing the stream. Each slice
// goes through a slot of page-locked memory, from which the copy runs asynchronously. A slot
// is reused in ring order, and before its host memory is overwritten, stage waits for the
// event recorded after its previous copy. The device buffer needs no such wait: the new copy
// is queued on the stream after every kernel that read the old ids.
//
// When the ids passed to stage equal those of a slot, the slot's device copy is returned
// without a new copy: the same ids reach EmbeddingForward, SoftmaxCrossEntropy's targets and
// EmbeddingBackward within a step. The comparison is by value, so a caller may change a
// slice between calls.
type idStager struct {
	dev   idTransfers
	slots [idSlots]idSlot
	next  int // the slot that the next copy uses
}

type idSlot struct {
	mem       idSlotMemory
	allocated bool
	n         int  // ids in the slot, valid when filled
	filled    bool // the device buffer contains host[:n], or will once the queued copy runs
	pending   bool // a copy was queued and not waited for
}

func newIDStager(dev idTransfers) *idStager { return &idStager{dev: dev} }

// stage returns the device address of a copy of ids, for work queued on the stream after the
// call. The copy stays valid until idSlots other slices have been staged. Empty ids give 0.
func (s *idStager) stage(ids []int32) (cuda.DevicePtr, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.filled && sl.n == len(ids) && slices.Equal(sl.mem.host[:sl.n], ids) {
			return sl.mem.device, nil
		}
	}

	sl := &s.slots[s.next]
	s.next = (s.next + 1) % idSlots
	sl.filled = false
	if sl.pending {
		if err := s.dev.wait(sl.mem); err != nil {
			return 0, err
		}
		sl.pending = false
	}
	if !sl.allocated || len(sl.mem.host) < len(ids) {
		if sl.allocated {
			sl.allocated = false
			if err := s.dev.freeSlot(sl.mem); err != nil {
				return 0, err
			}
		}
		mem, err := s.dev.newSlot(idCapacity(len(ids)))
		if err != nil {
			return 0, err
		}
		sl.mem, sl.allocated = mem, true
	}

	copy(sl.mem.host, ids)
	sl.n = len(ids)
	if err := s.dev.copyAsync(sl.mem, len(ids)); err != nil {
		return 0, err
	}
	sl.filled, sl.pending = true, true
	return sl.mem.device, nil
}

// idCapacity returns the slot size for n ids: a power of two of at least minIDCapacity, so
// that growing batches reallocate rarely.
func idCapacity(n int) int {
	if n <= minIDCapacity {
		return minIDCapacity
	}
	return 1 << bits.Len(uint(n-1))
}

// close waits for the pending copies and frees every slot, returning the first error.
func (s *idStager) close() error {
	var firstErr error
	for i := range s.slots {
		sl := &s.slots[i]
		if !sl.allocated {
			continue
		}
		if sl.pending {
			if err := s.dev.wait(sl.mem); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		if err := s.dev.freeSlot(sl.mem); err != nil && firstErr == nil {
			firstErr = err
		}
		*sl = idSlot{}
	}
	return firstErr
}
