package engine

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/recur-ml/recur/cuda"
)

func TestCUDAAllocZeroFillsAndSlices(t *testing.T) {
	c, dev, _, _ := newFakeCUDA(t)
	x := c.Alloc(10)
	if len(dev.memsets) != 1 || dev.memsets[0] != (fakeMemset{ptrOf(x), 0, 10}) {
		t.Errorf("Alloc(10) queued memsets %+v, want one zeroing 10 words at %v", dev.memsets,
			ptrOf(x))
	}
	v := x.Slice(3, 5).Slice(1, 2)
	if v.Len() != 2 || ptrOf(v) != ptrOf(x).Add(16) {
		t.Errorf("view of 2 at element 4: Len %d at %v, want 2 at %v", v.Len(), ptrOf(v),
			ptrOf(x).Add(16))
	}
	if empty := c.Alloc(0); empty.Len() != 0 || len(dev.memsets) != 1 {
		t.Errorf("Alloc(0): Len %d and %d memsets, want 0 and no new memset", empty.Len(),
			len(dev.memsets))
	}
	for _, r := range [][2]int{{-1, 1}, {9, 2}, {0, 11}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Slice(%d, %d) of 10 elements did not panic", r[0], r[1])
				}
			}()
			x.Slice(r[0], r[1])
		}()
	}
}

func TestCUDAFillWritesBits(t *testing.T) {
	c, dev, _, _ := newFakeCUDA(t)
	x := c.Alloc(4)
	c.Fill(x, -1.5)
	want := fakeMemset{ptrOf(x), math.Float32bits(-1.5), 4}
	if got := dev.memsets[len(dev.memsets)-1]; got != want {
		t.Errorf("Fill queued %+v, want %+v", got, want)
	}
}

func TestCUDACopy(t *testing.T) {
	c, dev, _, _ := newFakeCUDA(t)
	x := c.Alloc(100)
	y := c.Alloc(10)

	c.Copy(y, x.Slice(5, 10))
	if len(dev.copies) != 1 || dev.copies[0] != (fakeCopy{ptrOf(y), ptrOf(x).Add(20), 40}) {
		t.Errorf("disjoint Copy queued %+v, want one copy of 40 bytes", dev.copies)
	}

	dev.copies = nil
	c.Copy(x.Slice(0, 10), x.Slice(0, 10))
	if len(dev.copies) != 0 {
		t.Errorf("Copy onto itself queued %+v, want nothing", dev.copies)
	}

	// Overlapping ranges go through a temporary block.
	c.Copy(x.Slice(0, 10), x.Slice(4, 10))
	if len(dev.copies) != 2 {
		t.Fatalf("overlapping Copy queued %d copies, want 2", len(dev.copies))
	}
	first, second := dev.copies[0], dev.copies[1]
	if first.src != ptrOf(x).Add(16) || second.dst != ptrOf(x) || first.dst != second.src ||
		rangesOverlap(first.dst, ptrOf(x), 400) {
		t.Errorf("overlapping Copy queued %+v, want src → temporary → dst", dev.copies)
	}
}

func TestCUDAFailureIsKept(t *testing.T) {
	c, dev, _, _ := newFakeCUDA(t)
	x, y := c.Alloc(8), c.Alloc(8)
	dev.err = errors.New("device fault")
	c.Axpy(1, x, y)
	dev.err = nil
	c.Mul(y, x)
	if len(dev.launches) != 0 {
		t.Errorf("%d launches after a failure, want none", len(dev.launches))
	}
	host := make([]float32, 8)
	c.Download(host, y)
	if dev.downloads != 0 || !math.IsNaN(float64(host[3])) {
		t.Errorf("Download after a failure ran %d copies and wrote %v; want none and NaN",
			dev.downloads, host[3])
	}
	err := c.Sync()
	if err == nil || !strings.Contains(err.Error(), "Axpy") ||
		!strings.Contains(err.Error(), "device fault") {
		t.Errorf("Sync = %v, want the Axpy failure", err)
	}
	if err2 := c.Sync(); err2 != err {
		t.Errorf("second Sync = %v, want the same failure", err2)
	}
}

func TestCUDAAllocOutOfMemory(t *testing.T) {
	c, dev, alloc, _ := newFakeCUDA(t)
	alloc.limit = alloc.allocated + 4096
	x := c.Alloc(2000) // 8000 bytes
	if x.Len() != 2000 {
		t.Errorf("failed Alloc returned a tensor of %d elements, want 2000", x.Len())
	}
	c.Fill(x, 1)
	if len(dev.memsets) != 0 {
		t.Errorf("%d memsets after the failed Alloc, want none", len(dev.memsets))
	}
	err := c.Sync()
	if !errors.Is(err, cuda.ErrOutOfMemory) || !strings.Contains(err.Error(), "Alloc(2000)") {
		t.Errorf("Sync = %v, want the out-of-memory failure of Alloc(2000)", err)
	}
}

func TestCUDARejectsForeignTensors(t *testing.T) {
	c, _, _, _ := newFakeCUDA(t)
	other, _, _, _ := newFakeCUDA(t)
	cpu, err := NewCPU(CPUOptions{Threads: 1, GEMM: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	x := c.Alloc(4)
	for name, foreign := range map[string]Tensor{"CPU": cpu.Alloc(4), "other CUDA": other.Alloc(4)} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), "Axpy") {
					t.Errorf("Axpy with a %s tensor: panic %v, want one naming Axpy", name, r)
				}
			}()
			c.Axpy(1, foreign, x)
		}()
	}
}

func TestCUDASoftmaxRejectsTargetsFirst(t *testing.T) {
	c, dev, _, ids := newFakeCUDA(t)
	logits, losses := c.Alloc(2*3), c.Alloc(2)
	for _, targets := range [][]int32{{0, 3}, {-2, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("targets %v with V=3 did not panic", targets)
				}
			}()
			c.SoftmaxCrossEntropy(logits, targets, losses, nil, 2, 3, 1)
		}()
	}
	if ids.copies != 0 || len(dev.launches) != 0 {
		t.Errorf("rejected targets were copied %d times and launched %d kernels, want none",
			ids.copies, len(dev.launches))
	}
}

func TestCUDAEmbeddingRejectsIDs(t *testing.T) {
	c, _, _, _ := newFakeCUDA(t)
	table, out := c.Alloc(4*3), c.Alloc(2*3)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "ids[1] = 4") {
			t.Errorf("id 4 of a 4-row table: panic %v, want one naming ids[1] = 4", r)
		}
	}()
	c.EmbeddingForward(out, table, []int32{0, 4}, 3)
}

func TestCUDAReturnsUnreachableMemory(t *testing.T) {
	c, _, _, _ := newFakeCUDA(t)
	before := c.MemoryStats()
	func() {
		x := c.Alloc(1 << 20)
		_ = x.Slice(10, 10)
	}()
	deadline := time.Now().Add(2 * time.Second)
	for c.MemoryStats().InUse != before.InUse && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if got := c.MemoryStats(); got.InUse != before.InUse || got.Cached < 4<<20 {
		t.Errorf("after the tensor became unreachable: %+v, want InUse back at %d and its "+
			"4 MiB cached", got, before.InUse)
	}
}

func TestCUDAClose(t *testing.T) {
	c, _, alloc, _ := newFakeCUDA(t)
	c.Alloc(100)
	c.EmbeddingForward(c.Alloc(6), c.Alloc(12), []int32{1, 2}, 3)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(alloc.live) != 0 {
		t.Errorf("%d device blocks still allocated after Close", len(alloc.live))
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Alloc after Close did not panic")
		}
	}()
	c.Alloc(1)
}

func TestNewCUDAInvalidPrecision(t *testing.T) {
	_, err := NewCUDA(CUDAOptions{Precision: "fp16"})
	if err == nil || !strings.Contains(err.Error(), `"fp16"`) ||
		!strings.Contains(err.Error(), "tf32") {
		t.Errorf("NewCUDA(fp16) = %v, want an error naming the value and the valid ones", err)
	}
}

// TestNewCUDAWithoutGPU checks the error on machines without a usable GPU, such as CI.
func TestNewCUDAWithoutGPU(t *testing.T) {
	c, err := NewCUDA(CUDAOptions{})
	if err == nil {
		c.Close()
		t.Skip("skipping: this machine has a usable GPU")
	}
	if !errors.Is(err, cuda.ErrUnavailable) {
		t.Errorf("NewCUDA without a GPU: %v, want an error matching cuda.ErrUnavailable", err)
	}
	backend, note, err := Open("auto", "fp32")
	if err != nil {
		t.Fatalf("Open(auto): %v", err)
	}
	defer backend.Close()
	if !strings.HasPrefix(note, "cpu: auto did not use CUDA: cuda: ") {
		t.Errorf("Open(auto) note %q, want the CPU with the reason CUDA was not used", note)
	}
}
