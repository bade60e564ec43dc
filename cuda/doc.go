// Package cuda binds the CUDA driver and cuBLAS, loaded at run time with dlopen so that
// every recur binary builds and runs without a CUDA installation. The binding is not
// built yet, so this package holds no code.
package cuda
