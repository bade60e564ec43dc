// Package kernels holds the CUDA C sources of recur's device kernels and the fatbin built from
// them, embedded as Fatbin for the CUDA backend to load.
//
// recur_math.cuh contains each kernel's per-thread indexing and math as functions that both nvcc
// and a C99 compiler accept. recur_kernels.cu contains the extern "C" __global__ kernels that
// call them, and the shared-memory reductions. `make kernels` rebuilds recur_kernels.fatbin and
// `make check-kernels` fails when the committed fatbin no longer matches the sources. Package
// kernels/hostmath runs the header's functions on the host and tests them against cpuref, so the
// kernels' formulas and indexing are checked on machines without a GPU.
package kernels
