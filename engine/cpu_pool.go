package engine

import (
	"sync/atomic"
	"time"
)

// task is one operation split into numbered work items. run processes items [lo, hi). An
// operation must give the same result for any partition of its items, which is how the CPU
// backend stays independent of the thread count and of scheduling.
type task interface {
	run(lo, hi int)
}

// spinWait is how long an idle worker, and the goroutine that waits for the workers, poll
// before they block. A training step hands the pool a few hundred operations of tens of
// microseconds each, and waking a blocked goroutine takes several microseconds, so polling
// across the short gaps between operations saves that time. Past spinWait, they block and
// leave the core to other work.
const spinWait = 30 * time.Microsecond

// workerPool runs tasks on a fixed set of goroutines plus the calling goroutine. run splits
// a task into a fixed number of parts, and every goroutine, the caller included, claims
// parts from a shared counter until none is left. The split depends only on the item count
// and the thread count, so results do not depend on which goroutine runs a part, and a
// worker that the operating system has not scheduled in time only costs parallelism: the
// caller runs the parts itself.
//
// A workerPool is not safe for concurrent use, so the CPU backend serializes calls with its
// mutex.
type workerPool struct {
	threads int
	workers []*poolWorker

	// claim holds the task's generation in bits 32 to 63, its part count in bits 16 to 31
	// and the next unclaimed part in bits 0 to 15. run writes current, items and parts
	// before it publishes a new generation, and a goroutine reads them only after claiming a
	// part of it.
	claim   atomic.Uint64
	current task
	items   int
	parts   int

	pending atomic.Int32 // parts of the current task that have not finished
	waiting atomic.Bool  // run is blocked on done, or about to be
	done    chan struct{}
}

// poolWorker is one worker goroutine.
type poolWorker struct {
	blocked atomic.Bool // blocked on wake, or about to be
	wake    chan struct{}
	stop    atomic.Bool
}

func newWorkerPool(threads int) *workerPool {
	p := &workerPool{threads: threads, done: make(chan struct{}, 1)}
	for range threads - 1 {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go p.work(w)
	}
	return p
}

// work runs parts of each new task until the pool is closed.
func (p *workerPool) work(w *poolWorker) {
	var seen uint32 // the last generation this worker took part in
	for {
		gen, ok := p.awaitGeneration(w, seen)
		if !ok {
			return
		}
		seen = gen
		p.runParts(gen)
	}
}

// awaitGeneration polls for a generation newer than seen for spinWait, then blocks until run
// publishes one. It returns false once the pool is closed.
func (p *workerPool) awaitGeneration(w *poolWorker, seen uint32) (uint32, bool) {
	for spin := (spinner{}); ; {
		if gen := uint32(p.claim.Load() >> 32); gen != seen {
			return gen, true
		}
		if w.stop.Load() {
			return 0, false
		}
		if spin.more() {
			continue
		}
		// Publish blocked before the last check, so that run either sees it and sends on
		// wake, or published its generation before the check.
		w.blocked.Store(true)
		if uint32(p.claim.Load()>>32) == seen && !w.stop.Load() {
			<-w.wake
		}
		w.blocked.Store(false)
		spin = spinner{}
	}
}

// runParts claims and runs parts of generation gen until none is left, and returns the
// number it ran.
func (p *workerPool) runParts(gen uint32) int {
	ran := 0
	for {
		c := p.claim.Load()
		part, parts := int(uint16(c)), int(uint16(c>>16))
		if uint32(c>>32) != gen || part >= parts {
			return ran
		}
		if !p.claim.CompareAndSwap(c, c+1) {
			continue
		}
		// The claimed part keeps pending above zero, so run cannot start another task
		// until it finishes, and current, items and parts stay those of gen.
		lo, hi := partRange(p.items, p.parts, part)
		p.current.run(lo, hi)
		ran++
		if p.pending.Add(-1) == 0 && p.waiting.Load() {
			signal(p.done)
		}
	}
}

// signal sends on a channel of capacity 1 without blocking. A token left over from an
// earlier signal wakes the receiver once more, and it checks its condition again.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// spinner bounds a polling loop to spinWait, reading the clock every 256 polls.
type spinner struct {
	polls    int
	deadline time.Time
}

// more reports whether the loop may poll again.
func (s *spinner) more() bool {
	s.polls++
	if s.polls%256 != 0 {
		return true
	}
	now := time.Now()
	if s.deadline.IsZero() {
		s.deadline = now.Add(spinWait)
	}
	return now.Before(s.deadline)
}

// maxParts is the most parts a task is split into, the limit of claim's 16-bit fields.
const maxParts = 1<<16 - 1

// partRange returns the items of part number part when items are split into parts
// contiguous parts of nearly equal size.
func partRange(items, parts, part int) (lo, hi int) {
	return part * items / parts, (part + 1) * items / parts
}

// run processes items [0, items) of t, in parallel when there are at least 2·minItems items,
// split into at most one part per thread of at least minItems items each.
func (p *workerPool) run(t task, items, minItems int) {
	parts := min(p.threads, items/max(minItems, 1), maxParts)
	if parts <= 1 {
		t.run(0, items)
		return
	}
	p.current, p.items, p.parts = t, items, parts
	p.pending.Store(int32(parts))
	gen := uint32(p.claim.Load()>>32) + 1
	p.claim.Store(uint64(gen)<<32 | uint64(parts)<<16)
	for _, w := range p.workers[:parts-1] {
		if w.blocked.Load() {
			signal(w.wake)
		}
	}
	p.runParts(gen)
	p.wait()
	p.current = nil
}

// wait returns once every part of the current task has finished.
func (p *workerPool) wait() {
	for spin := (spinner{}); p.pending.Load() != 0; {
		if spin.more() {
			continue
		}
		p.waiting.Store(true)
		if p.pending.Load() != 0 {
			<-p.done
		}
		p.waiting.Store(false)
		spin = spinner{}
	}
}

// close stops the workers. The pool must not be used afterwards.
func (p *workerPool) close() {
	for _, w := range p.workers {
		w.stop.Store(true)
		signal(w.wake)
	}
	p.workers = nil
}
