package cuda

import (
	"errors"
	"slices"
	"testing"
)

func TestCUBLASCandidatesExplicit(t *testing.T) {
	glob := func(string) ([]string, error) {
		t.Error("glob called although an explicit path was given")
		return nil, nil
	}
	got := cublasCandidates("/opt/cublas/libcublas.so.12", glob)
	if want := []string{"/opt/cublas/libcublas.so.12"}; !slices.Equal(got, want) {
		t.Errorf("candidates %q, want %q", got, want)
	}
}

func TestCUBLASCandidatesSearchOrder(t *testing.T) {
	var pattern string
	glob := func(p string) ([]string, error) {
		pattern = p
		return []string{
			"/usr/local/cuda/lib64/libcublas.so",
			"/usr/local/cuda/lib64/libcublas.so.12",
			"/usr/local/cuda/lib64/libcublas.so.12.4.5.8",
			"/usr/local/cuda/lib64/libcublas.so.11.11.3.6",
		}, nil
	}
	got := cublasCandidates("", glob)
	want := []string{
		"libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11",
		"/usr/local/cuda/lib64/libcublas.so.12.4.5.8",
		"/usr/local/cuda/lib64/libcublas.so.12",
		"/usr/local/cuda/lib64/libcublas.so.11.11.3.6",
		"/usr/local/cuda/lib64/libcublas.so",
	}
	if !slices.Equal(got, want) {
		t.Errorf("candidates\n%q\nwant\n%q", got, want)
	}
	if pattern != "/usr/local/cuda/lib64/libcublas.so*" {
		t.Errorf("glob pattern %q, want /usr/local/cuda/lib64/libcublas.so*", pattern)
	}
}

func TestCUBLASCandidatesGlobError(t *testing.T) {
	glob := func(string) ([]string, error) { return nil, errors.New("bad pattern") }
	got := cublasCandidates("", glob)
	if !slices.Equal(got, cublasLoaderNames) {
		t.Errorf("candidates %q, want the loader names %q", got, cublasLoaderNames)
	}
}
