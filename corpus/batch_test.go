package corpus

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func iota32(n int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids
}

func TestSplit(t *testing.T) {
	cases := []struct {
		n       int
		valFrac float64
		nVal    int
	}{
		{100, 0, 0},
		{100, 0.05, 5},
		{100, 0.5, 50},
		{10, 0.05, 1}, // 0.5 rounds away from zero
		{10, 0.04, 0},
		{0, 0.5, 0},
	}
	for _, c := range cases {
		ids := iota32(c.n)
		train, val, err := Split(ids, c.valFrac)
		if err != nil {
			t.Fatalf("Split(%d ids, %v): %v", c.n, c.valFrac, err)
		}
		if len(val) != c.nVal {
			t.Errorf("Split(%d ids, %v): %d val, want %d", c.n, c.valFrac, len(val), c.nVal)
		}
		if len(train) != c.n-c.nVal {
			t.Errorf("Split(%d ids, %v): %d train, want %d", c.n, c.valFrac, len(train), c.n-c.nVal)
		}
		if !slices.Equal(slices.Concat(train, val), ids) {
			t.Errorf("Split(%d ids, %v): train+val is not the input", c.n, c.valFrac)
		}
	}
}

func TestSplitAppendKeepsVal(t *testing.T) {
	train, val, err := Split(iota32(10), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(train, 99)
	if val[0] != 5 {
		t.Errorf("appending to train changed val[0] to %d", val[0])
	}
}

func TestSplitInvalidFraction(t *testing.T) {
	for _, frac := range []float64{-0.1, 1.0, 1.5, math.NaN()} {
		_, _, err := Split(iota32(10), frac)
		want := fmt.Sprintf("validation fraction %v is outside [0, 1)", frac)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Split(%v) error = %v, want it to contain %q", frac, err, want)
		}
	}
}

func TestBatcherChunks(t *testing.T) {
	// 21 tokens, B=2: stream 0 is 0..9, stream 1 is 10..19 and token 20 is unused.
	b, err := NewBatcher(iota32(21), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if b.StreamLen() != 10 || b.ChunksPerEpoch() != 3 {
		t.Fatalf("StreamLen, ChunksPerEpoch = %d, %d, want 10, 3", b.StreamLen(), b.ChunksPerEpoch())
	}
	steps := []struct {
		inputs, targets []int32
		reset           bool
		pos, epoch      int
	}{
		{[]int32{0, 10, 1, 11, 2, 12}, []int32{1, 11, 2, 12, 3, 13}, false, 3, 0},
		{[]int32{3, 13, 4, 14, 5, 15}, []int32{4, 14, 5, 15, 6, 16}, false, 6, 0},
		{[]int32{6, 16, 7, 17, 8, 18}, []int32{7, 17, 8, 18, 9, 19}, false, 9, 0},
		{[]int32{0, 10, 1, 11, 2, 12}, []int32{1, 11, 2, 12, 3, 13}, true, 3, 1},
		{[]int32{3, 13, 4, 14, 5, 15}, []int32{4, 14, 5, 15, 6, 16}, false, 6, 1},
	}
	inputs, targets := make([]int32, 6), make([]int32, 6)
	for i, want := range steps {
		reset := b.Next(inputs, targets)
		if !slices.Equal(inputs, want.inputs) {
			t.Errorf("chunk %d: inputs = %v, want %v", i, inputs, want.inputs)
		}
		if !slices.Equal(targets, want.targets) {
			t.Errorf("chunk %d: targets = %v, want %v", i, targets, want.targets)
		}
		if reset != want.reset {
			t.Errorf("chunk %d: reset = %v, want %v", i, reset, want.reset)
		}
		if b.Pos != want.pos || b.Epoch != want.epoch {
			t.Errorf("chunk %d: Pos, Epoch = %d, %d, want %d, %d", i, b.Pos, b.Epoch, want.pos, want.epoch)
		}
	}
}

func TestBatcherResume(t *testing.T) {
	ids := iota32(50)
	a, err := NewBatcher(ids, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	in, tg := make([]int32, 12), make([]int32, 12)
	for range 5 {
		a.Next(in, tg)
	}
	b, err := NewBatcher(ids, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	b.Pos, b.Epoch = a.Pos, a.Epoch
	in2, tg2 := make([]int32, 12), make([]int32, 12)
	for i := range 7 {
		resetA, resetB := a.Next(in, tg), b.Next(in2, tg2)
		if !slices.Equal(in2, in) {
			t.Fatalf("chunk %d after resume: inputs = %v, want %v", i, in2, in)
		}
		if !slices.Equal(tg2, tg) {
			t.Fatalf("chunk %d after resume: targets = %v, want %v", i, tg2, tg)
		}
		if resetB != resetA {
			t.Fatalf("chunk %d after resume: reset = %v, want %v", i, resetB, resetA)
		}
	}
	if a.Epoch == 0 {
		t.Errorf("Epoch = 0 after 12 chunks of a %d-chunk epoch, want a wrap", a.ChunksPerEpoch())
	}
	if b.Epoch != a.Epoch {
		t.Errorf("resumed Epoch = %d, want %d", b.Epoch, a.Epoch)
	}
}

func TestBatcherMinimumCorpus(t *testing.T) {
	b, err := NewBatcher(iota32(8), 2, 3)
	if err != nil {
		t.Fatalf("8 tokens for B=2, T=3: %v", err)
	}
	in, tg := make([]int32, 6), make([]int32, 6)
	if b.Next(in, tg) {
		t.Errorf("first chunk reported a reset")
	}
	if !b.Next(in, tg) {
		t.Errorf("second chunk of a one-chunk epoch did not report a reset")
	}
	if want := []int32{0, 4, 1, 5, 2, 6}; !slices.Equal(in, want) {
		t.Errorf("inputs = %v, want %v", in, want)
	}
	if want := []int32{1, 5, 2, 6, 3, 7}; !slices.Equal(tg, want) {
		t.Errorf("targets = %v, want %v", tg, want)
	}
}

func TestBatcherTooSmall(t *testing.T) {
	_, err := NewBatcher(iota32(7), 2, 3)
	for _, want := range []string{"7 characters", "--batch 2", "--seq 3", "B·(T+1) = 8", "lower --batch, --seq or --val-frac"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewBatcher error = %v, want it to contain %q", err, want)
		}
	}
	if _, err := NewBatcher(iota32(100), 0, 3); err == nil {
		t.Errorf("B=0: no error")
	}
	if _, err := NewBatcher(iota32(100), 2, 0); err == nil {
		t.Errorf("T=0: no error")
	}
}

func TestBatcherHugeSizesRejected(t *testing.T) {
	cases := []struct {
		name     string
		B, T     int
		wantNeed string
	}{
		{"max seq", 1, math.MaxInt, "B·(T+1) = 9223372036854775808"},
		{"max batch", math.MaxInt, 1, "B·(T+1) = 18446744073709551614"},
		{"product overflows", 1 << 32, 1 << 32, "B·(T+1) = 18446744078004518912"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewBatcher(iota32(100), c.B, c.T)
			if err == nil {
				t.Fatalf("NewBatcher(100 ids, B=%d, T=%d): no error", c.B, c.T)
			}
			if !strings.Contains(err.Error(), c.wantNeed) {
				t.Errorf("error %q lacks %q", err, c.wantNeed)
			}
		})
	}
}

func TestBatcherWrongSlicePanics(t *testing.T) {
	b, err := NewBatcher(iota32(20), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Next with short slices did not panic")
		}
	}()
	b.Next(make([]int32, 5), make([]int32, 6))
}

func TestEvalChunksExample(t *testing.T) {
	// 6 predictions over 4 streams: lengths 2, 2, 1, 1 starting at tokens 0, 2, 4, 5.
	inputs, targets := EvalChunks(iota32(7), 4, 2)
	if len(inputs) != 1 || len(targets) != 1 {
		t.Fatalf("got %d chunks, want 1", len(inputs))
	}
	if want := []int32{0, 2, 4, 5, 1, 3, 0, 0}; !slices.Equal(inputs[0], want) {
		t.Errorf("inputs = %v, want %v", inputs[0], want)
	}
	if want := []int32{1, 3, 5, 6, 2, 4, -1, -1}; !slices.Equal(targets[0], want) {
		t.Errorf("targets = %v, want %v", targets[0], want)
	}
}

// checkEvalCoverage checks that EvalChunks over n distinct tokens predicts each token after
// the first exactly once, from the token before it, in contiguous streams padded only at
// their ends.
func checkEvalCoverage(t *testing.T, n, B, T int) {
	t.Helper()
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(1000 + i) // never 0 or -1, so padding cannot pass for data
	}
	inputs, targets := EvalChunks(ids, B, T)
	if len(inputs) != len(targets) {
		t.Fatalf("n=%d B=%d T=%d: %d input chunks, %d target chunks", n, B, T, len(inputs), len(targets))
	}
	seen := make([]int, n)
	count := 0
	for s := range B {
		prev := -1 // position predicted by the previous step of stream s
		padded := false
		for c := range inputs {
			for step := range T {
				k := step*B + s
				in, tg := inputs[c][k], targets[c][k]
				if tg == -1 {
					if in != 0 {
						t.Fatalf("n=%d B=%d T=%d: padded input %d, want 0", n, B, T, in)
					}
					padded = true
					continue
				}
				if padded {
					t.Fatalf("n=%d B=%d T=%d: stream %d has data after padding", n, B, T, s)
				}
				pos := int(tg - 1000) // the position of the target token
				if pos < 1 || pos >= n || in != ids[pos-1] {
					t.Fatalf("n=%d B=%d T=%d: pair (%d, %d) is not two adjacent tokens", n, B, T, in, tg)
				}
				if prev >= 0 && pos != prev+1 {
					t.Fatalf("n=%d B=%d T=%d: stream %d jumps from position %d to %d", n, B, T, s, prev, pos)
				}
				prev = pos
				seen[pos]++
				count++
			}
		}
	}
	if want := max(n-1, 0); count != want {
		t.Errorf("n=%d B=%d T=%d: %d predictions, want %d", n, B, T, count, want)
	}
	for pos := 1; pos < n; pos++ {
		if seen[pos] != 1 {
			t.Errorf("n=%d B=%d T=%d: position %d predicted %d times, want once", n, B, T, pos, seen[pos])
		}
	}
}

func TestEvalChunksCoverage(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 17, 100} {
		for _, B := range []int{1, 3, 4, 8, 40} {
			for _, T := range []int{1, 3, 7, 200} {
				checkEvalCoverage(t, n, B, T)
			}
		}
	}
}

func TestEvalChunksBatchLargerThanText(t *testing.T) {
	inputs, targets := EvalChunks([]int32{5, 6, 7}, 8, 4)
	if len(inputs) != 1 {
		t.Fatalf("got %d chunks, want 1", len(inputs))
	}
	if want := []int32{5, 6, 0, 0, 0, 0, 0, 0}; !slices.Equal(inputs[0][:8], want) {
		t.Errorf("first step inputs = %v, want %v", inputs[0][:8], want)
	}
	if want := []int32{6, 7, -1, -1, -1, -1, -1, -1}; !slices.Equal(targets[0][:8], want) {
		t.Errorf("first step targets = %v, want %v", targets[0][:8], want)
	}
	for _, tg := range targets[0][8:] {
		if tg != -1 {
			t.Fatalf("later steps hold target %d, want all -1", tg)
		}
	}
}

func TestEvalChunksTooShort(t *testing.T) {
	for _, n := range []int{0, 1} {
		if inputs, targets := EvalChunks(iota32(n), 2, 3); inputs != nil || targets != nil {
			t.Errorf("EvalChunks of %d ids = %v, %v, want no chunks", n, inputs, targets)
		}
	}
}
