// Package kernels holds the CUDA C sources of recur's device kernels and the fatbin built
// from them. The CUDA backend is not built yet, so this package holds no kernels.
package kernels
