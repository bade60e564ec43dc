package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/recur-ml/recur/safetensors"
)

// maxMatrixDims is the largest number of dimensions that ReadMatrix accepts.
const maxMatrixDims = 3

// ReadMatrix reads a float array of 1 to 3 dimensions from a .npy or .safetensors file and
// returns its values in row-major order with its shape. The extension picks the format, and
// for any other extension the first bytes do.
//
// A .npy file may be of format version 1.0, 2.0 or 3.0, with dtype '<f4' or '<f8' in C
// order. A .safetensors file may contain F32 or F64 tensors. The optional name selects a
// tensor of a safetensors file, and without it the file must contain exactly one tensor.
//
// Float64 values are rounded to float32, and a value that is NaN or infinite, before or
// after rounding, is an error that names its index. The shape's byte count is checked
// against the file size before anything of that size is allocated, so a corrupt header
// cannot cause a huge allocation.
func ReadMatrix(path string, name ...string) (data []float32, shape []int, err error) {
	if len(name) > 1 {
		return nil, nil, fmt.Errorf("dataset: ReadMatrix(%s) got %d tensor names %q; "+
			"pass at most one", path, len(name), name)
	}
	format, err := matrixFormat(path)
	if err != nil {
		return nil, nil, err
	}
	if format == "npy" {
		if len(name) == 1 {
			return nil, nil, fmt.Errorf("dataset: %s is a .npy file, which contains one unnamed "+
				"array, but tensor %q was requested; omit the name", path, name[0])
		}
		return readNPYFile(path)
	}
	return readSafetensorsMatrix(path, name)
}

// matrixFormat returns "npy" or "safetensors" for path, by extension or else by the magic
// bytes that start the file.
func matrixFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return "npy", nil
	case ".safetensors":
		return "safetensors", nil
	}

	in, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("dataset: %w", err)
	}
	defer in.Close()
	var start [9]byte
	n, err := io.ReadFull(in, start[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("dataset: %s: %w", path, err)
	}
	head := start[:n]
	switch {
	case bytes.HasPrefix(head, []byte(npyMagic)):
		return "npy", nil
	// A safetensors file starts with the 8-byte length of its JSON header, which opens
	// with '{'.
	case len(head) == 9 && head[8] == '{' && binary.LittleEndian.Uint64(head) >= 2:
		return "safetensors", nil
	}
	return "", fmt.Errorf("dataset: %s is neither a .npy file (which starts with \\x93NUMPY) nor "+
		"a .safetensors file; save the array with numpy.save or safetensors and name the file "+
		"*.npy or *.safetensors", path)
}

// readSafetensorsMatrix reads the F32 or F64 tensor called name[0], or the only tensor when
// name is empty.
func readSafetensorsMatrix(path string, name []string) ([]float32, []int, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	names := f.Names()
	var tensorName string
	switch {
	case len(name) == 1:
		tensorName = name[0]
		if _, ok := f.Tensors[tensorName]; !ok {
			return nil, nil, fmt.Errorf("dataset: %s has no tensor %q; its %d tensors are %s",
				path, tensorName, len(names), quoteList(names))
		}
	case len(names) == 1:
		tensorName = names[0]
	case len(names) == 0:
		return nil, nil, fmt.Errorf("dataset: %s contains no tensors; save the array into it", path)
	default:
		return nil, nil, fmt.Errorf("dataset: %s contains %d tensors, %s; "+
			"pass the name of the one to read", path, len(names), quoteList(names))
	}

	dtype := f.Tensors[tensorName].DType
	shape := f.Tensors[tensorName].Shape
	if err := checkMatrixShape(shape); err != nil {
		return nil, nil, fmt.Errorf("dataset: %s: tensor %q: %w", path, tensorName, err)
	}
	switch dtype {
	case safetensors.F32:
		data, _, err := f.Float32(tensorName)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset: %w", err)
		}
		if err := checkFinite(data, shape); err != nil {
			return nil, nil, fmt.Errorf("dataset: %s: tensor %q: %w", path, tensorName, err)
		}
		return data, shape, nil
	case safetensors.F64:
		wide, _, err := f.Float64(tensorName)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset: %w", err)
		}
		data, err := narrow(wide, shape)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset: %s: tensor %q: %w", path, tensorName, err)
		}
		return data, shape, nil
	}
	return nil, nil, fmt.Errorf("dataset: %s: tensor %q has dtype %s; recur reads %s and "+
		"%s, so convert the array to float32 before saving it", path, tensorName, dtype,
		safetensors.F32, safetensors.F64)
}

// checkMatrixShape checks that shape has 1 to maxMatrixDims dimensions, none negative.
func checkMatrixShape(shape []int) error {
	if len(shape) < 1 || len(shape) > maxMatrixDims {
		return fmt.Errorf("shape %v has %d dimensions, but recur reads arrays of 1 to %d; "+
			"reshape the array before saving it", shape, len(shape), maxMatrixDims)
	}
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v has a negative dimension", shape)
		}
	}
	return nil
}

// narrow rounds each value to float32. It returns an error naming the first value that is
// NaN or infinite, or whose magnitude rounds to infinity in float32.
func narrow(wide []float64, shape []int) ([]float32, error) {
	data := make([]float32, len(wide))
	for i, x := range wide {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, nonFiniteError(i, shape, x)
		}
		data[i] = float32(x)
		if math.IsInf(float64(data[i]), 0) {
			return nil, fmt.Errorf("element %d (index %v of shape %v) is %g, beyond the float32 "+
				"range of ±%g; scale the values before saving them", i, unravel(i, shape), shape,
				x, math.MaxFloat32)
		}
	}
	return data, nil
}

// checkFinite returns an error naming the first NaN or infinite value of data.
func checkFinite(data []float32, shape []int) error {
	for i, x := range data {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nonFiniteError(i, shape, float64(x))
		}
	}
	return nil
}

// nonFiniteError describes the NaN or infinite value x at the row-major offset i of shape.
func nonFiniteError(i int, shape []int, x float64) error {
	return fmt.Errorf("element %d (index %v of shape %v) is %v, but the data must be finite; "+
		"replace or drop it before saving the array", i, unravel(i, shape), shape, x)
}

// unravel converts the row-major offset i into an index of shape.
func unravel(i int, shape []int) []int {
	index := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			index[k] = i % shape[k]
			i /= shape[k]
		}
	}
	return index
}

// quoteList formats names for a message as "a", "b", "c".
func quoteList(names []string) string {
	quoted := make([]string, len(names))
	for i, name := range names {
		quoted[i] = fmt.Sprintf("%q", name)
	}
	return strings.Join(quoted, ", ")
}
