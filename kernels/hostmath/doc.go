// Package hostmath runs the per-thread functions of kernels/recur_math.cuh on the host, compiled
// by the C compiler through cgo, so that the CUDA kernels' formulas and indexing are tested
// against cpuref on machines without a GPU.
//
// Each exported function runs one kernel of kernels/recur_kernels.cu on the host. It has the
// kernel's name in Go's casing and the kernel's arguments, with slices in place of device
// pointers, and it loops over every thread index of the launch in place of the grid. For the reductions (SoftmaxXent,
// SumSquaresPartial, SumSquaresFinal) it repeats the kernels' shared-memory trees in the same
// order for a given number of threads per block. The functions panic, before any C code runs,
// when a slice is shorter than the sizes require or an id is out of range.
//
// The functions need cgo. In a build without cgo the package is empty and its tests skip.
package hostmath
