package engine

import (
	"fmt"
)

// MultiStream is implemented by a backend that can run work on several device streams at
// once. Work queued on one stream runs in order; work on different streams may overlap
// unless Signal and WaitFor order it. Between Fork and Join, the backend's operations queue
// on the stream that UseStream picked last. Token ids may be staged only on stream 0, and
// nothing may wait for the device (Download, Upload, Sync) before Join.
type MultiStream interface {
	// Wavefront reports whether a stack of recurrent layers should run as a wavefront: layer
	// l on stream l, each step as soon as the layer below has finished that step.
	Wavefront() bool
	// Fork opens a region of n streams, numbered 0 to n−1, where stream 0 is the backend's
	// main stream. Each stream's work in the region runs after all work queued before Fork.
	// Stream 0 is current afterwards.
	Fork(n int)
	// UseStream makes the operations that follow queue on stream i of the region.
	UseStream(i int)
	// Signal marks the end of the work queued so far on the current stream.
	Signal()
	// WaitFor makes the work queued from now on on the current stream wait for the work
	// before stream i's last Signal.
	WaitFor(i int)
	// Join closes the region. The work queued after it, on stream 0, runs after the work of
	// every stream of the region.
	Join()
}

var _ MultiStream = (*CUDA)(nil)

// streamRegion is the state of the CUDA backend between Fork and Join.
type streamRegion struct {
	active  bool
	n       int // streams in the region
	current int // the stream that operations queue on, 0 outside a region
}

// SetWavefront sets what Wavefront reports.
func (c *CUDA) SetWavefront(on bool) {
	c.lock()
	defer c.mu.Unlock()
	c.wavefront = on
}

// Wavefront reports whether the wavefront option is on (CUDAOptions.Wavefront).
func (c *CUDA) Wavefront() bool {
	c.lock()
	defer c.mu.Unlock()
	return c.wavefront
}

// Fork opens a region of n streams, as MultiStream documents. The side streams, each with its
// own cuBLAS handle, are created on first use. Until Join, blocks that tensors return to the
// memory pool are held back, because work on another stream may still use them.
func (c *CUDA) Fork(n int) {
	c.lock()
	defer c.mu.Unlock()
	if c.region.active {
		panic("engine: CUDA Fork inside a Fork region; call Join first")
	}
	if n < 1 {
		panic(fmt.Sprintf("engine: CUDA Fork(%d): a region needs at least 1 stream", n))
	}
	c.region = streamRegion{active: true, n: n}
	c.pool.hold()
	if c.err != nil {
		return
	}
	c.record("Fork", c.dev.signal())
	for i := 1; i < n && c.err == nil; i++ {
		c.record("Fork", c.dev.useStream(i))
		c.record("Fork", c.dev.waitFor(0))
	}
	c.record("Fork", c.dev.useStream(0))
}

// UseStream makes the operations that follow queue on stream i of the region.
func (c *CUDA) UseStream(i int) {
	c.lock()
	defer c.mu.Unlock()
	c.checkStream("UseStream", i)
	c.region.current = i
	if c.err == nil {
		c.record("UseStream", c.dev.useStream(i))
	}
}

// Signal marks the end of the work queued so far on the current stream.
func (c *CUDA) Signal() {
	c.lock()
	defer c.mu.Unlock()
	c.checkStream("Signal", c.region.current)
	if c.err == nil {
		c.record("Signal", c.dev.signal())
	}
}

// WaitFor makes the current stream's later work wait for stream i's last Signal.
func (c *CUDA) WaitFor(i int) {
	c.lock()
	defer c.mu.Unlock()
	c.checkStream("WaitFor", i)
	if c.err == nil {
		c.record("WaitFor", c.dev.waitFor(i))
	}
}

// Join closes the region: stream 0 waits for the work of every other stream, and the memory
// pool reuses the blocks that it held back.
func (c *CUDA) Join() {
	c.lock()
	defer c.mu.Unlock()
	if !c.region.active {
		panic("engine: CUDA Join without Fork")
	}
	n := c.region.n
	c.region = streamRegion{}
	if c.err == nil {
		for i := 1; i < n && c.err == nil; i++ {
			c.record("Join", c.dev.useStream(i))
			c.record("Join", c.dev.signal())
		}
		c.record("Join", c.dev.useStream(0))
		for i := 1; i < n && c.err == nil; i++ {
			c.record("Join", c.dev.waitFor(i))
		}
	}
	c.pool.unhold()
}

// checkStream panics outside a region or when i is not a stream of the region. The caller
// holds c.mu and unlocks it in a deferred call.
func (c *CUDA) checkStream(op string, i int) {
	if !c.region.active {
		panic(fmt.Sprintf("engine: CUDA %s outside a Fork region", op))
	}
	if i < 0 || i >= c.region.n {
		panic(fmt.Sprintf("engine: CUDA %s(%d): the region has streams 0 to %d", op, i,
			c.region.n-1))
	}
}

// checkWaitAllowed panics when op, which waits for the device, is called between Fork and
// Join, where it would wait for the main stream alone. The caller holds c.mu and unlocks it
// in a deferred call.
func (c *CUDA) checkWaitAllowed(op string) {
	if c.region.active {
		panic(fmt.Sprintf("engine: CUDA %s between Fork and Join; call Join first", op))
	}
}

// SetCUDAFeatures sets the step-graph and wavefront options of be when it is the CUDA backend
// and reports whether it is. Other backends have neither option.
func SetCUDAFeatures(be Backend, stepGraphs, wavefront bool) bool {
	c, ok := be.(*CUDA)
	if !ok {
		return false
	}
	c.SetStepGraphs(stepGraphs)
	c.SetWavefront(wavefront)
	return true
}
