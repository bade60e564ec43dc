package engine

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/recur-ml/recur/cuda"
)

// launchArgs decodes launch l's arguments by parameter name, with the signatures of
// recur_kernels.cu.
func launchArgs(t *testing.T, sigs map[string][]kernelParam, l fakeLaunch) map[string]any {
	t.Helper()
	params := sigs[kernelNames[l.kernel]]
	if len(l.args) != 8*len(params) {
		t.Fatalf("%s: %d argument bytes for %d parameters", kernelNames[l.kernel], len(l.args),
			len(params))
	}
	out := map[string]any{}
	for i, p := range params {
		out[p.name] = decodeArg(t, p.ctype, l.args[8*i:8*i+8])
	}
	return out
}

// launchesOf returns the launches of kernel name among ls.
func launchesOf(ls []fakeLaunch, name string) []fakeLaunch {
	var out []fakeLaunch
	for _, l := range ls {
		if kernelNames[l.kernel] == name {
			out = append(out, l)
		}
	}
	return out
}

// stepFixture is a small training-like step on the fake device: ids staged for an embedding,
// a dropout whose offset changes per step, the update guard and an Adam update.
type stepFixture struct {
	c                    *CUDA
	dev                  *fakeDevice
	table, out, x, mask  Tensor
	norm, losses         Tensor
	param, grad, m, v    Tensor
	ids                  []int32
	dropLen              int // the elements of x that the dropout covers
	offset               uint64
	adamStep             int
	allocInside, copyOut bool
}

func newStepFixture(t *testing.T) *stepFixture {
	c, dev, _, _ := newFakeCUDA(t)
	const n = 40
	return &stepFixture{c: c, dev: dev,
		table: c.Alloc(6 * 4), out: c.Alloc(5 * 4), x: c.Alloc(n), mask: c.Alloc(n),
		norm: c.Alloc(1), losses: c.Alloc(5),
		param: c.Alloc(n), grad: c.Alloc(n), m: c.Alloc(n), v: c.Alloc(n),
		ids: []int32{1, 0, 5, 3, 3}, dropLen: n, offset: 100, adamStep: 1}
}

// run calls RunStep with the fixture's step and advances its host values.
func (f *stepFixture) run(t *testing.T) {
	t.Helper()
	err := f.c.RunStep(func() {
		f.c.EmbeddingForward(f.out, f.table, f.ids, 4)
		f.c.Dropout(f.x.Slice(0, f.dropLen), f.mask.Slice(0, f.dropLen), 0.25, 7, f.offset)
		if f.allocInside {
			f.c.Alloc(3)
		}
		if f.copyOut {
			f.c.Download(make([]float32, 1), f.norm)
		}
		f.c.GuardUpdates(f.norm, f.losses)
		f.c.AdamStep(f.param, f.grad, f.m, f.v, 0.01, 0.9, 0.999, 1e-8, f.adamStep)
	})
	if err != nil {
		t.Fatalf("RunStep: %v", err)
	}
	f.offset += 1000
	f.adamStep++
	f.ids[0] = (f.ids[0] + 1) % 6
}

// arenaWords returns the staged words of the fixture's graph: ids, the dropout offset and the
// Adam bias corrections, in their arena slots.
func (f *stepFixture) arenaWords() (ids []int32, offset uint64, bc [2]float32) {
	s := &f.c.step
	h := s.arena.host
	ids = slices.Clone(h[s.slots[0] : s.slots[0]+len(f.ids)])
	o := s.slots[1]
	offset = uint64(uint32(h[o])) | uint64(uint32(h[o+1]))<<32
	b := s.slots[2]
	bc = [2]float32{math.Float32frombits(uint32(h[b])), math.Float32frombits(uint32(h[b+1]))}
	return ids, offset, bc
}

func TestCUDARunStepPlansCapturesAndReplays(t *testing.T) {
	sigs := kernelSignatures(t)
	f := newStepFixture(t)
	f.c.SetStepGraphs(true)

	// Step 1 plans: the work runs as it is queued, with the offset as a launch argument.
	f.dev.launches = nil
	f.run(t)
	if f.dev.graphLaunches != 0 {
		t.Fatalf("the plan step launched %d graphs, want 0", f.dev.graphLaunches)
	}
	drops := launchesOf(f.dev.launches, "dropout")
	if len(drops) != 1 {
		t.Fatalf("the plan step launched dropout %d times, want 1", len(drops))
	}
	a := launchArgs(t, sigs, drops[0])
	if a["offset"] != uint64(100) {
		t.Errorf("plan step dropout: offset %v, want 100", a["offset"])
	}
	if a["offset_dev"] != cuda.DevicePtr(0) {
		t.Errorf("plan step dropout: offset_dev %v, want NULL", a["offset_dev"])
	}
	if want := []int{5, 2, 2}; !slices.Equal(f.c.step.plan, want) {
		t.Errorf("plan %v, want the staged sizes %v", f.c.step.plan, want)
	}

	// Step 2 captures and launches the graph, which starts with the arena's copy.
	f.dev.launches = nil
	f.run(t)
	if f.dev.graphLaunches != 1 {
		t.Fatalf("the capture step launched %d graphs, want 1", f.dev.graphLaunches)
	}
	if want := []int{len(f.c.step.arena.host)}; !slices.Equal(f.dev.slotCopies, want) {
		t.Errorf("the capture copied slots %v, want one copy of the arena's words %v",
			f.dev.slotCopies, want)
	}
	arena := f.c.step.arena.device
	drops = launchesOf(f.dev.launches, "dropout")
	if len(drops) != 1 {
		t.Fatalf("the captured graph launched dropout %d times, want 1", len(drops))
	}
	a = launchArgs(t, sigs, drops[0])
	if a["offset"] != uint64(0) {
		t.Errorf("captured dropout: offset %v, want 0", a["offset"])
	}
	if want := arena.Add(4 * int64(f.c.step.slots[1])); a["offset_dev"] != want {
		t.Errorf("captured dropout: offset_dev %v, want the arena slot %v", a["offset_dev"], want)
	}
	adam := launchArgs(t, sigs, launchesOf(f.dev.launches, "adam_step")[0])
	if want := arena.Add(4 * int64(f.c.step.slots[2])); adam["bias_corrections"] != want {
		t.Errorf("captured adam_step: bias_corrections %v, want the arena slot %v",
			adam["bias_corrections"], want)
	}
	if adam["guard"] != f.c.guard.ptr {
		t.Errorf("captured adam_step: guard %v, want %v", adam["guard"], f.c.guard.ptr)
	}
	ids, offset, bc := f.arenaWords()
	if !slices.Equal(ids, []int32{2, 0, 5, 3, 3}) {
		t.Errorf("arena ids after the capture: %v, want [2 0 5 3 3]", ids)
	}
	if offset != 1100 {
		t.Errorf("arena dropout offset after the capture: %d, want 1100", offset)
	}
	if want := float32(1 - math.Pow(float64(float32(0.9)), 2)); bc[0] != want {
		t.Errorf("arena bias correction 1 after step 2: %v, want %v", bc[0], want)
	}

	// Step 3 replays: nothing is queued but the graph, and the arena holds step 3's values.
	f.dev.launches = nil
	f.run(t)
	if f.dev.graphLaunches != 2 {
		t.Fatalf("after the replay step %d graph launches, want 2", f.dev.graphLaunches)
	}
	if got := len(f.dev.launches); got != 4 { // the graph's four kernels, appended by the fake
		t.Errorf("the replay queued %d launches, want the graph's 4", got)
	}
	ids, offset, _ = f.arenaWords()
	if !slices.Equal(ids, []int32{3, 0, 5, 3, 3}) {
		t.Errorf("arena ids after the replay: %v, want [3 0 5 3 3]", ids)
	}
	if offset != 2100 {
		t.Errorf("arena dropout offset after the replay: %d, want 2100", offset)
	}
	if want := (StepGraphStats{Captures: 1, Replays: 1, Plain: 1}); f.c.StepGraphStats() != want {
		t.Errorf("stats %+v, want %+v", f.c.StepGraphStats(), want)
	}

	// A step with another shape no longer matches: it runs plainly and the graph is dropped,
	// so the next steps plan and capture again.
	f.dropLen--
	f.dev.launches = nil
	f.run(t)
	if f.dev.graphLaunches != 2 {
		t.Errorf("a changed step launched the graph: %d launches, want 2", f.dev.graphLaunches)
	}
	if f.c.step.exec != nil {
		t.Errorf("the graph was kept after the step changed")
	}
	if got := len(launchesOf(f.dev.launches, "embedding_forward")); got != 1 {
		t.Errorf("the changed step ran embedding_forward %d times, want 1", got)
	}
	f.run(t)
	f.run(t)
	s := f.c.StepGraphStats()
	if s.Captures != 2 {
		t.Errorf("%d captures after the change, want a second one", s.Captures)
	}
	if s.Disabled != "" {
		t.Errorf("graphs turned off after the change: %s", s.Disabled)
	}
}

func TestCUDARunStepCaptureFailureRunsPlainly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(f *stepFixture)
		reason string
	}{
		{"Download", func(f *stepFixture) { f.copyOut = true }, "Download waits for the device"},
		{"Alloc", func(f *stepFixture) { f.allocInside = true }, "Alloc(3) inside the step"},
		{"no graphs", func(f *stepFixture) {
			f.dev.captureErr = errors.New("cuda: this driver has no cuGraphInstantiateWithFlags")
		}, "no cuGraphInstantiateWithFlags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newStepFixture(t)
			tc.setup(f)
			f.c.SetStepGraphs(true)
			f.run(t) // plan
			f.dev.launches = nil
			f.run(t) // the capture fails, and the step runs plainly
			if f.dev.graphLaunches != 0 {
				t.Errorf("%d graphs launched after a failed capture, want 0", f.dev.graphLaunches)
			}
			if got := len(launchesOf(f.dev.launches, "adam_step")); got != 1 {
				t.Errorf("the step ran adam_step %d times after the failed capture, want 1", got)
			}
			s := f.c.StepGraphStats()
			if !strings.Contains(s.Disabled, tc.reason) {
				t.Errorf("graphs turned off for %q, want a reason containing %q", s.Disabled,
					tc.reason)
			}
			if err := f.c.Sync(); err != nil {
				t.Errorf("Sync after a failed capture: %v, want nil", err)
			}
			f.run(t)
			s = f.c.StepGraphStats()
			if s.Plain != 3 {
				t.Errorf("%d plain steps of 3, want every step plain", s.Plain)
			}
			if s.Captures != 0 {
				t.Errorf("%d captures, want none", s.Captures)
			}
		})
	}
}

func TestCUDAGuardUpdatesOutsideRunStepPanics(t *testing.T) {
	c, _, _, _ := newFakeCUDA(t)
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "outside RunStep") {
			t.Errorf("GuardUpdates outside RunStep panicked with %q, want a message naming "+
				"RunStep", msg)
		}
	}()
	c.GuardUpdates(c.Alloc(1), c.Alloc(3))
}

func TestCUDAOptimizersUnguardedAfterRunStep(t *testing.T) {
	sigs := kernelSignatures(t)
	c, dev, _, _ := newFakeCUDA(t)
	p, g, buf := c.Alloc(8), c.Alloc(8), c.Alloc(8)
	c.RunStep(func() { c.GuardUpdates(c.Alloc(1), c.Alloc(2)) })
	dev.launches = nil
	c.SGDStep(p, g, buf, 0.1, 0.9)
	if a := launchArgs(t, sigs, dev.launches[0]); a["guard"] != cuda.DevicePtr(0) {
		t.Errorf("sgd_step after RunStep got guard %v, want NULL", a["guard"])
	}
}

func TestCUDAForkJoinOrdersStreams(t *testing.T) {
	c, dev, _, _ := newFakeCUDA(t)
	x := c.Alloc(4)
	c.Fork(3)
	c.UseStream(1)
	c.WaitFor(0)
	c.Fill(x, 1)
	c.Signal()
	c.UseStream(2)
	c.WaitFor(1)
	c.Signal()
	c.Join()
	want := []string{"signal 0", "use 1", "wait 1 for 0", "use 2", "wait 2 for 0", "use 0",
		"use 1", "wait 1 for 0", "signal 1", "use 2", "wait 2 for 1", "signal 2",
		"use 1", "signal 1", "use 2", "signal 2", "use 0", "wait 0 for 1", "wait 0 for 2"}
	if !slices.Equal(dev.streamOps, want) {
		t.Errorf("stream operations\n%q\nwant\n%q", dev.streamOps, want)
	}
	if dev.current != 0 {
		t.Errorf("stream %d is current after Join, want 0", dev.current)
	}
}

func TestCUDAPoolHoldsBlocksUntilJoin(t *testing.T) {
	c, _, _, _ := newFakeCUDA(t)
	block, err := c.pool.get(1024)
	if err != nil {
		t.Fatal(err)
	}
	c.Fork(2)
	c.pool.put(block)
	if again, _ := c.pool.get(1024); again.ptr == block.ptr {
		t.Errorf("a block returned inside a Fork region was reused before Join")
	}
	c.Join()
	if again, _ := c.pool.get(1024); again.ptr != block.ptr {
		t.Errorf("the block returned inside the region was not reused after Join")
	}
}

func TestCUDAStreamMisusePanics(t *testing.T) {
	c, _, _, _ := newFakeCUDA(t)
	for _, tc := range []struct {
		name, want string
		run        func()
	}{
		{"UseStream outside a region", "outside a Fork region", func() { c.UseStream(0) }},
		{"Join without Fork", "Join without Fork", func() { c.Join() }},
		{"stream out of range", "the region has streams 0 to 1", func() {
			c.Fork(2)
			defer c.Join()
			c.UseStream(2)
		}},
		{"Download inside a region", "Download between Fork and Join", func() {
			c.Fork(2)
			defer c.Join()
			c.Download(make([]float32, 1), c.Alloc(1))
		}},
		{"ids on a side stream", "token ids are staged on the main stream only", func() {
			c.Fork(2)
			defer c.Join()
			c.UseStream(1)
			c.EmbeddingForward(c.Alloc(4), c.Alloc(8), []int32{1}, 4)
		}},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("%s panicked with %q, want %q", tc.name, msg, tc.want)
				}
			}()
			tc.run()
		}()
	}
}
