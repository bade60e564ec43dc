//go:build !amd64 || purego

package vecmath

// Available is false where the assembly is not built: on other architectures and with the
// purego build tag.
const Available = false

// Sigmoid is not built for this target and panics.
func Sigmoid(x []float32) { panic("vecmath: Sigmoid is not built for this target") }

// Tanh is not built for this target and panics.
func Tanh(dst, src []float32) { panic("vecmath: Tanh is not built for this target") }

// AddTo is not built for this target and panics.
func AddTo(dst, src []float32) { panic("vecmath: AddTo is not built for this target") }

// LSTMBackward is not built for this target and panics.
func LSTMBackward(a *LSTMBackwardArgs) {
	panic("vecmath: LSTMBackward is not built for this target")
}
