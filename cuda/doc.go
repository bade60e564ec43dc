// Package cuda binds the parts of the CUDA driver API and cuBLAS that recur's CUDA backend
// uses. It loads libcuda.so.1 and cuBLAS at run time with dlopen, so every recur binary builds
// without a CUDA installation, runs on machines without a GPU, and works with the cuBLAS of
// CUDA 11, 12 or 13.
//
// Load finds the libraries and the GPUs; its error matches ErrUnavailable when this machine
// cannot run CUDA. OpenDevice retains a GPU's primary context, in which streams, device and
// page-locked memory, modules loaded from a fatbin, kernel launches, events, CUDA graphs and
// cuBLAS handles are created. Every call makes the context current on the calling OS thread
// before its work, so goroutines need not be locked to threads. The objects are not safe for
// concurrent use.
//
// A failed driver or cuBLAS call returns an *Error that names the call and the status and,
// where the machine rather than recur is at fault, suggests a fix. A build without cgo keeps
// the API, and every call returns an error saying that CUDA needs cgo.
package cuda
