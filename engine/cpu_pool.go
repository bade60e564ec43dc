package engine

import "sync"

// task is one operation split into numbered work items. run processes items [lo, hi). An
// operation must give the same result for any partition of its items, which is how the CPU
// backend stays independent of the thread count and of scheduling.
type task interface {
	run(lo, hi int)
}

// workerPool runs tasks on a fixed set of goroutines plus the calling goroutine. It is not
// safe for concurrent use, so the CPU backend serializes calls with its mutex.
type workerPool struct {
	threads int
	starts  []chan int // starts[w] receives the part number that worker w processes next
	wg      sync.WaitGroup

	// run sets these before it wakes the workers, and the channel send orders the writes
	// before the workers' reads.
	current task
	items   int
	parts   int
}

func newWorkerPool(threads int) *workerPool {
	p := &workerPool{threads: threads}
	for range threads - 1 {
		start := make(chan int, 1)
		p.starts = append(p.starts, start)
		go p.work(start)
	}
	return p
}

func (p *workerPool) work(start chan int) {
	for part := range start {
		lo, hi := partRange(p.items, p.parts, part)
		p.current.run(lo, hi)
		p.wg.Done()
	}
}

// partRange returns the items of part number part when items are split into parts
// contiguous parts of nearly equal size.
func partRange(items, parts, part int) (lo, hi int) {
	return part * items / parts, (part + 1) * items / parts
}

// run processes items [0, items) of t, in parallel when there are at least 2·minItems items,
// giving each part at least minItems items. The calling goroutine processes part 0.
func (p *workerPool) run(t task, items, minItems int) {
	parts := min(p.threads, items/max(minItems, 1))
	if parts <= 1 {
		t.run(0, items)
		return
	}
	p.current, p.items, p.parts = t, items, parts
	p.wg.Add(parts - 1)
	for w := range parts - 1 {
		p.starts[w] <- w + 1
	}
	lo, hi := partRange(items, parts, 0)
	t.run(lo, hi)
	p.wg.Wait()
	p.current = nil
}

// close stops the workers. The pool must not be used afterwards.
func (p *workerPool) close() {
	for _, start := range p.starts {
		close(start)
	}
	p.starts = nil
}
