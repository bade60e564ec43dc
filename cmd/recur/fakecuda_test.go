//go:build cgo

package main

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/internal/fakecuda"
	"github.com/recur-ml/recur/lstm"
)

// fakeMemLimit is the device memory, in bytes, that the fake CUDA driver hands out in
// TestValidationOutOfMemory: room for the model, its training workspace and the ballast.
const fakeMemLimit = 64 << 20

// TestValidationOutOfMemory runs the training loop on the fake CUDA driver of
// internal/fakecuda with too little device memory left for the validation workspace. The run
// must stop with the out-of-memory error, not report a NaN validation loss. The driver reads
// its memory limit at start-up, hence the subprocess.
func TestValidationOutOfMemory(t *testing.T) {
	if os.Getenv(fakecuda.ChildEnv) != "" {
		runValidationOutOfMemory(t)
		return
	}
	out := fakecuda.RunTests(t, "^TestValidationOutOfMemory$", 2*time.Minute,
		"FAKECUDA_MEM_LIMIT="+strconv.Itoa(fakeMemLimit))
	if !bytes.Contains(out, []byte("--- PASS: TestValidationOutOfMemory")) {
		t.Errorf("the run on the fake driver did not pass:\n%s", out)
	}
}

// runValidationOutOfMemory is the part of TestValidationOutOfMemory that runs on the fake
// driver. It trains one step, then fills the device memory with ballast until less than one
// ballast block is free, which is less than the validation workspace's gate tensor needs.
func runValidationOutOfMemory(t *testing.T) {
	be, _, err := engine.Open("cuda", "fp32")
	if err != nil {
		t.Fatalf("opening the fake CUDA device: %v", err)
	}
	defer be.Close()
	gpu, ok := be.(*engine.CUDA)
	if !ok {
		t.Fatalf("--device cuda opened %T, want *engine.CUDA", be)
	}

	cfg := lstm.Config{Model: lstm.CellLSTM, Layers: 1, Hidden: 32, Embed: 8, Vocab: []string{"a", "b", "c", "d", "e"}}
	m, err := lstm.NewModel(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	be.Upload(m.Params, lstm.InitParams(cfg, rand.New(rand.NewPCG(1, 2)), math.NaN()))
	ids := make([]int32, 2000)
	for i := range ids {
		ids[i] = int32(i % len(cfg.Vocab))
	}
	train, val := ids[:1800], ids[1800:]
	// The validation workspace's gate tensor holds Seq·Batch·4·Hidden = 32768 floats
	// (128 KiB), twice a ballast block.
	tc := lstm.TrainConfig{Seq: 32, Batch: 8, Steps: 3, LR: 1e-2, Optim: lstm.OptimAdam, Clip: 5, Seed: 1,
		MaxSkipped: lstm.MaxSkippedSteps, EvalEvery: 2, LogEvery: 1}
	tr, err := lstm.NewTrainer(m, tc, train)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(); err != nil {
		t.Fatalf("first step: %v", err)
	}

	// Cached blocks count as free, because the pool releases them when the driver runs out.
	const ballastElems = 16 << 10 // 64 KiB, a size class of its own
	var ballast []engine.Tensor
	for fakeMemLimit-gpu.MemoryStats().InUse >= 4*ballastElems {
		ballast = append(ballast, be.Alloc(ballastElems))
	}
	if err := be.Sync(); err != nil {
		t.Fatalf("allocating %d ballast blocks: %v", len(ballast), err)
	}
	t.Logf("%d ballast blocks; %d bytes in use, %d cached", len(ballast), gpu.MemoryStats().InUse, gpu.MemoryStats().Cached)

	f := &trainFlags{TrainConfig: tc, out: filepath.Join(t.TempDir(), "ck")}
	var stdout, stderr bytes.Buffer
	err = trainLoop(f, tr, val, -1, &stdout, &stderr)
	runtime.KeepAlive(ballast)
	log := stdout.String() + stderr.String()
	if err == nil {
		t.Fatalf("training with no device memory left for validation succeeded:\n%s", log)
	}
	if !errors.Is(err, cuda.ErrOutOfMemory) {
		t.Errorf("error %q does not wrap cuda.ErrOutOfMemory", err)
	}
	for _, want := range []string{"step 2: validation failed", "this run wrote no checkpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, wrong := range []string{"NaN", "not finite", "diverged"} {
		if strings.Contains(err.Error()+log, wrong) {
			t.Errorf("the run reported %q for an out-of-memory failure:\nerror: %v\n%s", wrong, err, log)
		}
	}
	if _, statErr := os.Stat(f.out); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("%s exists after a failed validation (stat error %v)", f.out, statErr)
	}
}
