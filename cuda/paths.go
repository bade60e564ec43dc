package cuda

import (
	"slices"
	"strconv"
	"strings"
)

// DriverLibrary is the driver library that Load opens. The unversioned libcuda.so belongs to
// the development package, and on toolkit installs it can be a stub that fails at cuInit.
const DriverLibrary = "libcuda.so.1"

// CUBLASEnv names the environment variable that gives the path of the cuBLAS library to use.
const CUBLASEnv = "RECUR_CUBLAS"

// cublasLoaderNames are the cuBLAS names that dlopen resolves through the loader's search
// path, newest major version first after the unversioned development link.
var cublasLoaderNames = []string{"libcublas.so", "libcublas.so.13", "libcublas.so.12",
	"libcublas.so.11"}

// cublasToolkitPattern matches the cuBLAS of a CUDA toolkit installed under /usr/local/cuda,
// which the loader does not search unless configured to.
const cublasToolkitPattern = "/usr/local/cuda/lib64/libcublas.so*"

// cublasCandidates returns the cuBLAS libraries to try, in order. An explicit path (the value
// of RECUR_CUBLAS) is the only candidate when set. Otherwise the loader's names come first,
// then the files that glob finds for cublasToolkitPattern, the newest version first.
func cublasCandidates(explicit string, glob func(pattern string) ([]string, error)) []string {
	if explicit != "" {
		return []string{explicit}
	}
	candidates := slices.Clone(cublasLoaderNames)
	found, err := glob(cublasToolkitPattern)
	if err != nil {
		return candidates
	}
	slices.SortFunc(found, func(a, b string) int {
		return slices.Compare(librarySuffix(b), librarySuffix(a))
	})
	return append(candidates, found...)
}

// librarySuffix returns the version numbers after ".so." in a library path: [12 4 5] for
// libcublas.so.12.4.5, none for libcublas.so. A part that is not a number counts as 0.
func librarySuffix(path string) []int {
	_, suffix, ok := strings.Cut(path, ".so.")
	if !ok {
		return nil
	}
	var version []int
	for _, part := range strings.Split(suffix, ".") {
		n, _ := strconv.Atoi(part)
		version = append(version, n)
	}
	return version
}
