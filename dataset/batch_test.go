package dataset

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestPadLeft(t *testing.T) {
	seqs := [][]int32{{1, 2, 3}, {4}, {}, {5, 6}}
	ids, reset, T := PadLeft(seqs, 0)
	if T != 3 {
		t.Fatalf("T = %d, want 3", T)
	}
	// Time-major: row t lists step t of each of the 4 sequences.
	wantIDs := []int32{
		1, 0, 0, 0,
		2, 0, 0, 5,
		3, 4, 0, 6,
	}
	wantReset := []float32{
		1, 0, 0, 0,
		1, 0, 0, 1,
		1, 1, 0, 1,
	}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("ids = %v, want %v", ids, wantIDs)
	}
	if !slices.Equal(reset, wantReset) {
		t.Errorf("reset = %v, want %v", reset, wantReset)
	}
}

func TestPadLeftCustomPad(t *testing.T) {
	ids, reset, T := PadLeft([][]int32{{7}, {8, 9}}, 99)
	if T != 2 {
		t.Fatalf("T = %d, want 2", T)
	}
	if want := []int32{99, 8, 7, 9}; !slices.Equal(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	if want := []float32{0, 1, 1, 1}; !slices.Equal(reset, want) {
		t.Errorf("reset = %v, want %v", reset, want)
	}
}

func TestPadLeftEmpty(t *testing.T) {
	for _, seqs := range [][][]int32{nil, {{}, {}}} {
		ids, reset, T := PadLeft(seqs, 0)
		if T != 0 || len(ids) != 0 || len(reset) != 0 {
			t.Errorf("PadLeft(%v) = %v, %v, %d, want empty slices and T = 0", seqs, ids, reset, T)
		}
	}
}

func TestPadRight(t *testing.T) {
	ids := PadRight([][]int32{{1, 2}, {3}, {4, 5, 6}}, -1, 4)
	want := []int32{
		1, 3, 4,
		2, -1, 5,
		-1, -1, 6,
		-1, -1, -1,
	}
	if !slices.Equal(ids, want) {
		t.Errorf("PadRight = %v, want %v", ids, want)
	}
	if got := PadRight(nil, 0, 5); len(got) != 0 {
		t.Errorf("PadRight(nil) = %v, want empty", got)
	}
}

func TestPadRightPanics(t *testing.T) {
	cases := []struct {
		seqs [][]int32
		T    int
		want string
	}{
		{[][]int32{{1}, {1, 2, 3}}, 2, "sequence 1 has 3 tokens, more than T = 2"},
		{nil, -1, "T = -1 is negative"},
	}
	for _, c := range cases {
		func() {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, c.want) {
					t.Errorf("PadRight(%v, T=%d) panic = %v, want one containing %q", c.seqs, c.T, r, c.want)
				}
			}()
			PadRight(c.seqs, 0, c.T)
		}()
	}
}

func TestShufflePermutation(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10, 1000} {
		perm := Shuffle(n, 42, 3)
		if len(perm) != n {
			t.Fatalf("Shuffle(%d) has %d elements", n, len(perm))
		}
		sorted := slices.Sorted(slices.Values(perm))
		for i, v := range sorted {
			if v != i {
				t.Fatalf("Shuffle(%d) = %v is not a permutation of 0..%d", n, perm, n-1)
			}
		}
	}
}

func TestShuffleDeterministic(t *testing.T) {
	a := Shuffle(100, 7, 2)
	if b := Shuffle(100, 7, 2); !slices.Equal(a, b) {
		t.Errorf("two calls with seed 7, epoch 2 differ")
	}
	if b := Shuffle(100, 7, 3); slices.Equal(a, b) {
		t.Errorf("epochs 2 and 3 give the same order")
	}
	if b := Shuffle(100, 8, 2); slices.Equal(a, b) {
		t.Errorf("seeds 7 and 8 give the same order")
	}
}

func TestShuffleGolden(t *testing.T) {
	// The order must not change between releases, so that a resumed run repeats it.
	got := Shuffle(10, 1, 0)
	want := []int{7, 9, 4, 2, 0, 8, 6, 3, 1, 5}
	if !slices.Equal(got, want) {
		t.Errorf("Shuffle(10, 1, 0) = %#v, want %#v", got, want)
	}
}

func TestShuffleUniform(t *testing.T) {
	// Over many epochs each of 4 elements lands at each position about equally often.
	const n, epochs = 4, 40000
	var counts [n][n]int
	for epoch := range epochs {
		for position, v := range Shuffle(n, 99, epoch) {
			counts[v][position]++
		}
	}
	for v := range n {
		for position := range n {
			// Expected 10000, with a standard deviation of about 87.
			if c := counts[v][position]; c < 9500 || c > 10500 {
				t.Errorf("element %d at position %d %d times in %d epochs, want about %d",
					v, position, c, epochs, epochs/n)
			}
		}
	}
}

func TestShuffleNegativePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Errorf("Shuffle(-1) did not panic")
		}
	}()
	Shuffle(-1, 0, 0)
}

func TestBoundedUint64(t *testing.T) {
	for _, bound := range []uint64{1, 2, 3, 7, 1 << 63, 1<<63 + 1, ^uint64(0)} {
		rng := newTestPCG()
		for range 100 {
			if x := boundedUint64(rng, bound); x >= bound {
				t.Fatalf("boundedUint64(%d) = %d", bound, x)
			}
		}
	}
}

func newTestPCG() *rand.PCG { return rand.NewPCG(1, 2) }
