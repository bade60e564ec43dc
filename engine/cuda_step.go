package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/recur-ml/recur/cuda"
)

// StepRunner is implemented by a backend that queues a whole training step, the optimizer
// update included, without waiting for the device, so that the host reads the step's loss and
// gradient norm only afterwards. The CUDA backend implements it. The CPU backend does not,
// because its operations finish before they return, so a training loop on it reads the loss
// and norm first and decides on the host whether to update.
type StepRunner interface {
	Backend
	// RunStep calls step, which queues one training step on the backend. step must not read
	// from the backend (no Download, Upload or Sync). Every call must queue the same
	// operations on the same tensors, and only host values may change: token ids, dropout
	// offsets and the optimizer's step number. RunStep may call step more than once, so
	// step must set any host state it changes rather than increment it. It returns the
	// first failure known so far without waiting for the device.
	RunStep(step func()) error
	// GuardUpdates queues a check of the step's gradient norm norm[0] and of every element
	// of losses. The optimizer steps queued after it, until step returns, skip their update
	// on the device unless all of these are finite, exactly when a host that read them would
	// skip the step. It panics outside RunStep.
	GuardUpdates(norm, losses Tensor)
}

var _ StepRunner = (*CUDA)(nil)

// stepMode selects how RunStep runs a call of step.
type stepMode int

const (
	stepPlain   stepMode = iota // run the work as it is queued
	stepPlan                    // run it, and note the sizes of the values it stages
	stepCapture                 // capture it into a CUDA graph, which then runs it
	stepReplay                  // check that it matches the graph, which then runs it
)

// maxRecaptures is how often a graph that no longer matches the step is captured again before
// RunStep stops using graphs, so that steps whose shapes keep changing do not pay for a
// capture each time.
const maxRecaptures = 3

// stepState is the CUDA backend's state for RunStep: whether a step is running, whether its
// optimizer updates are guarded, and, when StepGraphs is on, the captured graph.
//
// A graph's launch arguments are fixed when it is captured, so every value that changes from
// step to step is staged through device memory that the graph reads: token ids, dropout
// offsets and Adam's bias corrections. The plan step, the first with graphs on, runs the work
// plainly and notes the size of each such value. RunStep then allocates one page-locked arena
// for them and its device copy. The capture step queues a single copy of the whole arena
// first, so the graph starts with it, and each value is written into its place in the
// page-locked arena on the host. A replay runs step again without queuing anything: each
// operation is compared with the captured one, and each staged value is written into the
// arena, before the graph is launched. Any difference runs the step plainly instead.
type stepState struct {
	active  bool // inside RunStep
	guarded bool // GuardUpdates was called in this step
	mode    stepMode

	enabled    bool
	plan       []int // words of each staged value of the plan step
	slots      []int // the first word of each staged value in the arena
	arena      idSlotMemory
	arenaReady bool
	next       int // the staged value that comes next in this step
	exec       any // the instantiated graph, or nil
	trace      []byte
	tracePos   int
	scratch    []byte
	mismatch   string // the reason a replay does not match the graph, or ""
	failure    error  // the reason the capture failed, or nil
	recaptures int
	stats      StepGraphStats
}

// StepGraphStats counts what RunStep has done with CUDA graphs.
type StepGraphStats struct {
	Captures int    // graphs captured
	Replays  int    // steps that ran as a graph replay
	Plain    int    // steps that ran without a graph, plan steps and fallbacks included
	Disabled string // the reason graphs were turned off after being requested, or ""
}

// usesSlots reports whether staged values go into the arena in this step.
func (s *stepState) usesSlots() bool { return s.mode == stepCapture || s.mode == stepReplay }

// failCapture keeps err as the reason the current capture failed, unless one is kept already.
func (s *stepState) failCapture(err error) {
	if s.failure == nil {
		s.failure = err
	}
}

// noteMismatch keeps the reason the current replay does not match the graph, unless a reason
// is kept already.
func (s *stepState) noteMismatch(format string, args ...any) {
	if s.mismatch == "" {
		s.mismatch = fmt.Sprintf(format, args...)
	}
}

// dropGraph destroys the graph and frees the arena. Graphs stay enabled, so the next steps
// plan and capture again.
func (s *stepState) dropGraph(dev cudaDevice, ids idTransfers) error {
	var errs []error
	if s.exec != nil {
		errs = append(errs, dev.destroyGraph(s.exec))
		s.exec = nil
	}
	if s.arenaReady {
		errs = append(errs, dev.waitGraph(), ids.freeSlot(s.arena))
		s.arenaReady = false
	}
	s.plan, s.slots = s.plan[:0], s.slots[:0]
	s.trace = s.trace[:0]
	return errors.Join(errs...)
}

// disable turns graphs off until SetStepGraphs turns them on again, and logs the reason.
func (s *stepState) disable(reason error, dev cudaDevice, ids idTransfers) error {
	s.enabled = false
	s.stats.Disabled = reason.Error()
	slog.Warn("engine: CUDA graphs are off; training steps run without them", "reason", reason)
	return s.dropGraph(dev, ids)
}

func (s *stepState) close(dev cudaDevice, ids idTransfers) error {
	return s.dropGraph(dev, ids)
}

// SetStepGraphs turns CUDA graphs for RunStep on or off. With them on, the first RunStep runs
// plainly and the second captures its work as a graph and launches it. Later calls replay that
// graph when step queues the same work, which saves the host the cost of queuing each
// operation. When a capture fails, for example because the driver lacks graphs or step
// allocates memory, RunStep logs the reason with log/slog, runs the step plainly and turns
// graphs off.
func (c *CUDA) SetStepGraphs(on bool) {
	c.lock()
	defer c.mu.Unlock()
	if c.step.active {
		panic("engine: SetStepGraphs inside RunStep")
	}
	if !on {
		c.record("SetStepGraphs", c.step.dropGraph(c.dev, c.ids.dev))
	}
	c.step.enabled = on
	c.step.stats.Disabled = ""
}

// StepGraphStats returns what RunStep has done with CUDA graphs so far.
func (c *CUDA) StepGraphStats() StepGraphStats {
	c.lock()
	defer c.mu.Unlock()
	return c.step.stats
}

// RunStep calls step, which queues one training step, as StepRunner documents. With
// StepGraphs on, it plans, captures or replays a CUDA graph of the step.
func (c *CUDA) RunStep(step func()) error {
	c.lock()
	if c.step.active {
		c.mu.Unlock()
		panic("engine: RunStep inside RunStep")
	}
	if c.region.active {
		c.mu.Unlock()
		panic("engine: RunStep between Fork and Join")
	}
	mode := stepPlain
	if c.step.enabled && c.err == nil {
		switch {
		case c.step.exec != nil:
			mode = stepReplay
		case c.step.arenaReady:
			mode = stepCapture
		default:
			mode = stepPlan
		}
	}
	c.step.active = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.step.active, c.step.guarded, c.step.mode = false, false, stepPlain
		c.mu.Unlock()
	}()

	switch mode {
	case stepPlan:
		c.planStep(step)
	case stepCapture:
		c.captureStep(step)
	case stepReplay:
		c.replayStep(step)
	default:
		c.runPlain(step)
	}
	c.lock()
	defer c.mu.Unlock()
	return c.err
}

// runPlain runs step with every operation queued as it comes.
func (c *CUDA) runPlain(step func()) {
	c.lock()
	c.step.guarded = false // a failed capture's GuardUpdates does not carry over
	c.mu.Unlock()
	step()
	c.lock()
	c.step.stats.Plain++
	c.mu.Unlock()
}

// planStep runs step plainly, noting the size of each value it stages, and then allocates
// the arena that the capture and the replays write those values into.
func (c *CUDA) planStep(step func()) {
	c.lock()
	c.step.mode = stepPlan
	c.step.plan = c.step.plan[:0]
	c.mu.Unlock()
	c.runPlain(step)

	c.lock()
	defer c.mu.Unlock()
	c.step.mode = stepPlain
	if c.err != nil {
		return
	}
	s := &c.step
	total := 0
	s.slots = s.slots[:0]
	for _, words := range s.plan {
		s.slots = append(s.slots, total)
		// Each value starts at an even word, so that 64-bit values stay aligned.
		total += words + words%2
	}
	arena, err := c.ids.dev.newSlot(max(total, 2))
	if err != nil {
		c.record("RunStep", s.disable(fmt.Errorf("allocating the staging arena of a graph: %w",
			err), c.dev, c.ids.dev))
		return
	}
	s.arena, s.arenaReady = arena, true
}

// captureStep captures step's work as a CUDA graph and launches it. When the capture fails,
// it turns graphs off and runs step plainly.
func (c *CUDA) captureStep(step func()) {
	c.lock()
	s := &c.step
	inner := c.dev
	err := inner.waitGraph()
	if err == nil {
		err = inner.beginCapture()
	}
	if err != nil {
		c.record("RunStep", s.disable(fmt.Errorf("starting the capture: %w", err), inner,
			c.ids.dev))
		c.mu.Unlock()
		c.runPlain(step)
		return
	}
	s.mode, s.next, s.failure, s.guarded = stepCapture, 0, nil, false
	s.trace = s.trace[:0]
	c.dev = &stepTracer{inner: inner, s: s}
	// The graph's first node copies the staged values of the whole step to the device. It
	// reads the page-locked arena when the graph runs, after step has written every value.
	c.record("RunStep", inner.copySlot(s.arena, len(s.arena.host)))
	c.mu.Unlock()

	ended := false
	defer func() {
		if !ended { // step panicked
			c.mu.Lock()
			c.dev, s.mode = inner, stepPlain
			if exec, err := inner.endCapture(); err == nil {
				inner.destroyGraph(exec)
			}
			c.mu.Unlock()
		}
	}()
	step()

	c.lock()
	c.dev, s.mode = inner, stepPlain
	exec, endErr := inner.endCapture()
	ended = true
	failure := s.failure
	if failure == nil && s.next != len(s.slots) {
		failure = fmt.Errorf("the step staged %d values, and the plan step %d", s.next,
			len(s.slots))
	}
	if failure == nil {
		failure = endErr
	}
	if failure != nil {
		if endErr == nil {
			inner.destroyGraph(exec)
		}
		c.record("RunStep", s.disable(fmt.Errorf("capturing the step: %w", failure), inner,
			c.ids.dev))
		c.mu.Unlock()
		c.runPlain(step)
		return
	}
	s.exec = exec
	s.stats.Captures++
	c.record("RunStep", inner.launchGraph(exec))
	c.mu.Unlock()
}

// replayStep runs step without queuing its work, comparing each operation with the graph's
// and writing the staged values into the arena, and then launches the graph. When the step
// differs from the graph, it drops the graph and runs step plainly.
func (c *CUDA) replayStep(step func()) {
	c.lock()
	s := &c.step
	inner := c.dev
	// The last launch must have copied the arena before step overwrites it.
	c.record("RunStep", inner.waitGraph())
	s.mode, s.next, s.tracePos, s.mismatch, s.guarded = stepReplay, 0, 0, "", false
	c.dev = &stepTracer{inner: inner, s: s, replay: true}
	c.mu.Unlock()

	done := false
	defer func() {
		if !done { // step panicked
			c.mu.Lock()
			c.dev, s.mode = inner, stepPlain
			c.mu.Unlock()
		}
	}()
	step()

	c.lock()
	c.dev, s.mode = inner, stepPlain
	done = true
	if s.mismatch == "" && s.tracePos != len(s.trace) {
		s.noteMismatch("the step queued fewer operations than the captured one")
	}
	if s.mismatch == "" && s.next != len(s.slots) {
		s.noteMismatch("the step staged %d values, and the captured one %d", s.next,
			len(s.slots))
	}
	if s.mismatch != "" {
		reason := s.mismatch
		s.recaptures++
		if s.recaptures > maxRecaptures {
			c.record("RunStep", s.disable(fmt.Errorf("the step changed %d times: %s",
				s.recaptures, reason), inner, c.ids.dev))
		} else {
			slog.Info("engine: the training step no longer matches its CUDA graph; it will "+
				"be captured again", "reason", reason)
			c.record("RunStep", s.dropGraph(inner, c.ids.dev))
		}
		c.mu.Unlock()
		c.runPlain(step)
		return
	}
	s.stats.Replays++
	c.record("RunStep", inner.launchGraph(s.exec))
	c.mu.Unlock()
}

// stepValue stages words, a host value of operation op that changes from step to step, when
// the step is captured or replayed. It returns the device address of the staged copy and
// true, or 0 and true when the value stays a launch argument. It returns false after a
// failure, when op must queue nothing.
func (c *CUDA) stepValue(op string, words []int32) (cuda.DevicePtr, bool) {
	switch c.step.mode {
	case stepPlan:
		c.step.plan = append(c.step.plan, len(words))
	case stepCapture, stepReplay:
		return c.stageStepWords(op, words)
	}
	return 0, true
}

// stageStepWords writes words into the arena slot of the next staged value and returns the
// slot's device address. The arena's device copy is the graph's first node.
func (c *CUDA) stageStepWords(op string, words []int32) (cuda.DevicePtr, bool) {
	s := &c.step
	k := s.next
	s.next++
	if k >= len(s.slots) || s.plan[k] != len(words) {
		planned := -1
		if k < len(s.plan) {
			planned = s.plan[k]
		}
		err := fmt.Errorf("%s staged value %d of %d words; the plan step staged %d", op, k,
			len(words), planned)
		if s.mode == stepCapture {
			s.failCapture(err)
		} else {
			s.noteMismatch("%v", err)
		}
		return 0, false
	}
	first := s.slots[k]
	copy(s.arena.host[first:first+len(words)], words)
	return s.arena.device.Add(4 * int64(first)), true
}

// uint64Words splits v into two 32-bit words in little-endian order, the byte order of every
// GPU and host that recur supports.
func uint64Words(v uint64) [2]int32 {
	return [2]int32{int32(uint32(v)), int32(uint32(v >> 32))}
}

// GuardUpdates queues finite_guard, which writes the step's update guard from norm[0] and
// losses, and makes the optimizer steps after it, until the end of the current RunStep, skip
// their update unless the guard is finite.
func (c *CUDA) GuardUpdates(norm, losses Tensor) {
	const op = "GuardUpdates"
	nt := c.anyTensor(op, "norm", norm)
	lt := c.anyTensor(op, "losses", losses)
	if nt.n == 0 {
		panic("engine: GuardUpdates: norm has 0 elements, want at least 1")
	}
	c.lock()
	defer c.mu.Unlock()
	if !c.step.active {
		panic("engine: GuardUpdates outside RunStep")
	}
	c.step.guarded = true
	// finite_guard(const float *norm, const float *x, int n, float *guard)
	c.launch(op, kernelFiniteGuard, finiteGuardLaunch(),
		c.args.Reset().Ptr(nt.ptr).Ptr(lt.ptr).Int(lt.n).Ptr(c.guard.ptr))
}

// updateGuard returns the address of the guard that the optimizer kernels read, or 0 when
// their updates are not guarded.
func (c *CUDA) updateGuard() cuda.DevicePtr {
	if c.step.guarded {
		return c.guard.ptr
	}
	return 0
}

// stepTracer is the cudaDevice of a step that is captured or replayed. It encodes each
// operation into the step's trace. During a capture it appends the encoding and passes the
// operation on to the device, which records it into the graph. During a replay it compares
// the encoding with the captured one and queues nothing. Operations that wait for the device
// fail a capture and differ from any replay.
type stepTracer struct {
	inner  cudaDevice
	s      *stepState
	replay bool
}

// Tags that start each operation's encoding in a step trace.
const (
	traceLaunch byte = iota + 1
	traceMemset
	traceCopy
	traceGemm
	traceUseStream
	traceSignal
	traceWaitFor
)

// begin starts the encoding of an operation in the scratch buffer.
func (t *stepTracer) begin(tag byte) []byte { return append(t.s.scratch[:0], tag) }

// add appends each value's 8 bytes to an encoding.
func add(b []byte, values ...uint64) []byte {
	for _, v := range values {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// emit adds the encoding b of operation op to the trace, or compares it with the trace, and
// reports whether the operation goes on to the device.
func (t *stepTracer) emit(op string, b []byte) bool {
	s := t.s
	s.scratch = b
	if !t.replay {
		s.trace = append(s.trace, b...)
		return true
	}
	end := s.tracePos + len(b)
	if s.mismatch == "" && (end > len(s.trace) || string(s.trace[s.tracePos:end]) != string(b)) {
		s.noteMismatch("%s at byte %d of the trace differs from the captured step", op,
			s.tracePos)
	}
	s.tracePos = end
	return false
}

func (t *stepTracer) launch(k kernel, cfg cuda.LaunchConfig, args *cuda.Args) error {
	b := add(t.begin(traceLaunch), uint64(k), uint64(cfg.Grid.X), uint64(cfg.Grid.Y),
		uint64(cfg.Grid.Z), uint64(cfg.Block.X), uint64(cfg.Block.Y), uint64(cfg.Block.Z),
		uint64(cfg.SharedBytes))
	b = append(b, args.Bytes()...)
	if t.emit("launch of "+kernelNames[k], b) {
		return t.inner.launch(k, cfg, args)
	}
	return nil
}

func (t *stepTracer) memset32(dst cuda.DevicePtr, value uint32, count int) error {
	if t.emit("memset", add(t.begin(traceMemset), uint64(dst), uint64(value), uint64(count))) {
		return t.inner.memset32(dst, value, count)
	}
	return nil
}

func (t *stepTracer) copyDevice(dst, src cuda.DevicePtr, bytes int64) error {
	if t.emit("copy", add(t.begin(traceCopy), uint64(dst), uint64(src), uint64(bytes))) {
		return t.inner.copyDevice(dst, src, bytes)
	}
	return nil
}

func (t *stepTracer) gemm(g columnMajorGemm[cuda.DevicePtr], alpha, beta float32,
	c cuda.DevicePtr) error {
	b := add(t.begin(traceGemm), boolWord(g.transa), boolWord(g.transb), uint64(g.m),
		uint64(g.n), uint64(g.k), uint64(g.a), uint64(g.lda), uint64(g.b), uint64(g.ldb),
		uint64(g.ldc), uint64(math.Float32bits(alpha)), uint64(math.Float32bits(beta)),
		uint64(c))
	if t.emit("GEMM", b) {
		return t.inner.gemm(g, alpha, beta, c)
	}
	return nil
}

func boolWord(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (t *stepTracer) useStream(i int) error {
	if t.emit("stream switch", add(t.begin(traceUseStream), uint64(i))) {
		return t.inner.useStream(i)
	}
	return nil
}

func (t *stepTracer) signal() error {
	if t.emit("event record", t.begin(traceSignal)) {
		return t.inner.signal()
	}
	return nil
}

func (t *stepTracer) waitFor(i int) error {
	if t.emit("event wait", add(t.begin(traceWaitFor), uint64(i))) {
		return t.inner.waitFor(i)
	}
	return nil
}

// waits rejects an operation that waits for the device inside a captured or replayed step.
func (t *stepTracer) waits(op string) error {
	err := fmt.Errorf("%s waits for the device, which a step must not do", op)
	if t.replay {
		t.s.noteMismatch("%v", err)
		return nil
	}
	return err
}

func (t *stepTracer) upload(dst cuda.DevicePtr, src []float32) error {
	return t.waits("Upload")
}

func (t *stepTracer) download(dst []float32, src cuda.DevicePtr) error {
	return t.waits("Download")
}

func (t *stepTracer) synchronize() error { return t.waits("Sync") }

func (t *stepTracer) copySlot(m idSlotMemory, words int) error {
	return errors.New("engine: a staged copy inside a traced step")
}

func (t *stepTracer) beginCapture() error {
	return errors.New("engine: a graph capture inside a traced step")
}

func (t *stepTracer) endCapture() (any, error) {
	return nil, errors.New("engine: a graph capture inside a traced step")
}

func (t *stepTracer) launchGraph(g any) error {
	return errors.New("engine: a graph launch inside a traced step")
}

func (t *stepTracer) waitGraph() error { return t.inner.waitGraph() }

func (t *stepTracer) destroyGraph(g any) error { return t.inner.destroyGraph(g) }
