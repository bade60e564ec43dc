package engine

import (
	"math"
	"slices"
	"testing"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/kernels"
)

func TestElementLaunch(t *testing.T) {
	tests := []struct {
		n    int
		grid uint32
	}{{0, 0}, {1, 1}, {255, 1}, {256, 1}, {257, 2}, {70001, 274}, {math.MaxInt32, 1 << 23}}
	for _, tc := range tests {
		got := elementLaunch(tc.n)
		if want := cuda.Linear(tc.grid, 256); got != want {
			t.Errorf("elementLaunch(%d) = %+v, want %+v", tc.n, got, want)
		}
		// Every element has a thread, and no block is wholly idle.
		if threads := int64(got.Grid.X) * int64(got.Block.X); threads < int64(tc.n) ||
			threads-int64(tc.n) >= 256 {
			t.Errorf("elementLaunch(%d) runs %d threads", tc.n, threads)
		}
	}
}

func TestShapedLaunches(t *testing.T) {
	tests := []struct {
		name string
		got  cuda.LaunchConfig
		want cuda.LaunchConfig
	}{
		{"unitLaunch(3, 100)", unitLaunch(3, 100), cuda.Linear(2, 256)},
		{"columnLaunch(257)", columnLaunch(257), cuda.Linear(2, 256)},
		{"rowLaunch(600)", rowLaunch(600), cuda.Linear(600, 256)},
		{"normPartialLaunch()", normPartialLaunch(), cuda.Linear(256, 256)},
		{"normFinalLaunch()", normFinalLaunch(), cuda.Linear(1, 256)},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
	// The reductions' shared memory has kernels.BlockThreads entries, so no block may be
	// larger.
	if blockThreads != kernels.BlockThreads || normPartialLaunch().Grid.X != kernels.NormPartials {
		t.Errorf("launch shapes %d threads, %d partials; the kernels expect %d and %d",
			blockThreads, normPartialLaunch().Grid.X, kernels.BlockThreads, kernels.NormPartials)
	}
}

func TestKernelNamesInFatbin(t *testing.T) {
	seen := map[string]bool{}
	for k, name := range kernelNames {
		if name == "" {
			t.Errorf("kernel %d has no name", k)
		}
		if seen[name] {
			t.Errorf("kernel %s is listed twice", name)
		}
		seen[name] = true
		if !slices.Contains(kernels.KernelNames, name) {
			t.Errorf("kernel %s is not in kernels.KernelNames %q", name, kernels.KernelNames)
		}
	}
}
