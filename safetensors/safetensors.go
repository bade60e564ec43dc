// Package safetensors reads and writes the safetensors format, which recur uses for model
// weights and test fixtures.
//
// A file is an 8-byte little-endian uint64 N, then N bytes of a UTF-8 JSON header, then the
// data buffer. The header maps each tensor name to its dtype, shape and data_offsets, a
// [begin, end) byte range relative to the start of the buffer. An optional "__metadata__"
// entry maps strings to strings. Tensor data is little-endian and row-major.
//
// Write emits tensors sorted by name, contiguous, with the header padded with spaces so that
// the buffer starts at a multiple of 8 bytes. Read accepts any header order but, as the format
// requires, rejects buffers with holes, overlapping tensors or bytes outside every tensor.
package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Dtype names as they appear in the header.
const (
	BOOL    = "BOOL"
	U8      = "U8"
	I8      = "I8"
	F8E5M2  = "F8_E5M2"
	F8E4M3  = "F8_E4M3"
	I16     = "I16"
	U16     = "U16"
	F16     = "F16"
	BF16    = "BF16"
	I32     = "I32"
	U32     = "U32"
	F32     = "F32"
	I64     = "I64"
	U64     = "U64"
	F64     = "F64"
	metaKey = "__metadata__"
)

// dtypeSizes maps every dtype that Read accepts to its element size in bytes.
var dtypeSizes = map[string]int{
	BOOL: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	I64: 8, U64: 8, F64: 8,
}

// DTypeSize returns the element size in bytes of dtype, or false for an unknown dtype.
func DTypeSize(dtype string) (int, bool) {
	size, ok := dtypeSizes[dtype]
	return size, ok
}

// Tensor is one named array: its dtype, its shape (an empty shape is a scalar) and its
// little-endian, row-major bytes.
type Tensor struct {
	DType string
	Shape []int
	Data  []byte
}

// File is the content of one safetensors file. Tensors read from a file share one buffer.
type File struct {
	Tensors  map[string]Tensor
	Metadata map[string]string

	// source is the path that accessor errors name, set by ReadFile.
	source string
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for name := range f.Tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// numElements returns the product of shape, or an error for a negative dimension or a
// product that overflows int.
func numElements(shape []int) (int, error) {
	count := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && count > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v has more elements than fit in an int", shape)
		}
		count *= d
	}
	return count, nil
}

// checkTensor validates the dtype and shape of t against the length of its data.
func checkTensor(name string, t Tensor) error {
	if name == "" {
		return fmt.Errorf("tensor with an empty name")
	}
	if name == metaKey {
		return fmt.Errorf("tensor name %q is reserved for metadata", name)
	}
	size, ok := dtypeSizes[t.DType]
	if !ok {
		return fmt.Errorf("tensor %q: unknown dtype %q (known: %s)", name, t.DType, knownDTypes())
	}
	count, err := numElements(t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	if count > math.MaxInt/size || count*size != len(t.Data) {
		return fmt.Errorf("tensor %q: shape %v of %s needs %d×%d bytes, but its data has %d bytes",
			name, t.Shape, t.DType, count, size, len(t.Data))
	}
	return nil
}

func knownDTypes() string {
	names := make([]string, 0, len(dtypeSizes))
	for name := range dtypeSizes {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// add stores a tensor of n elements, each encoded by put into its size-byte slot.
// It panics when the shape does not hold n elements, which is a caller mistake.
func (f *File) add(name, dtype string, shape []int, n int, put func(dst []byte, i int)) {
	count, err := numElements(shape)
	if err != nil || count != n {
		panic(fmt.Sprintf("safetensors: tensor %q: shape %v does not hold %d values", name, shape, n))
	}
	size := dtypeSizes[dtype]
	data := make([]byte, n*size)
	for i := range n {
		put(data[i*size:], i)
	}
	if f.Tensors == nil {
		f.Tensors = make(map[string]Tensor)
	}
	f.Tensors[name] = Tensor{DType: dtype, Shape: slices.Clone(shape), Data: data}
}

// AddFloat32 stores v as an F32 tensor, replacing any tensor of that name. It panics when
// shape does not hold len(v) elements.
func (f *File) AddFloat32(name string, shape []int, v []float32) {
	f.add(name, F32, shape, len(v), func(dst []byte, i int) {
		binary.LittleEndian.PutUint32(dst, math.Float32bits(v[i]))
	})
}

// AddFloat64 stores v as an F64 tensor, replacing any tensor of that name. It panics when
// shape does not hold len(v) elements.
func (f *File) AddFloat64(name string, shape []int, v []float64) {
	f.add(name, F64, shape, len(v), func(dst []byte, i int) {
		binary.LittleEndian.PutUint64(dst, math.Float64bits(v[i]))
	})
}

// AddInt32 stores v as an I32 tensor, replacing any tensor of that name. It panics when
// shape does not hold len(v) elements.
func (f *File) AddInt32(name string, shape []int, v []int32) {
	f.add(name, I32, shape, len(v), func(dst []byte, i int) {
		binary.LittleEndian.PutUint32(dst, uint32(v[i]))
	})
}

// AddInt64 stores v as an I64 tensor, replacing any tensor of that name. It panics when
// shape does not hold len(v) elements.
func (f *File) AddInt64(name string, shape []int, v []int64) {
	f.add(name, I64, shape, len(v), func(dst []byte, i int) {
		binary.LittleEndian.PutUint64(dst, uint64(v[i]))
	})
}

// AddUint8 stores v as a U8 tensor, replacing any tensor of that name. It panics when shape
// does not hold len(v) elements.
func (f *File) AddUint8(name string, shape []int, v []uint8) {
	f.add(name, U8, shape, len(v), func(dst []byte, i int) {
		dst[0] = v[i]
	})
}

// lookup returns the tensor called name after checking that it exists, has the dtype want
// and holds as many bytes as its shape needs.
func (f *File) lookup(name, want string) (Tensor, error) {
	prefix := "safetensors: "
	if f.source != "" {
		prefix += f.source + ": "
	}
	t, ok := f.Tensors[name]
	if !ok {
		return Tensor{}, fmt.Errorf("%stensor %q not found (the file has %d tensors: %s)",
			prefix, name, len(f.Tensors), strings.Join(f.Names(), ", "))
	}
	if err := checkTensor(name, t); err != nil {
		return Tensor{}, fmt.Errorf("%s%w", prefix, err)
	}
	if t.DType != want {
		return Tensor{}, fmt.Errorf("%stensor %q has dtype %s and shape %v, expected dtype %s",
			prefix, name, t.DType, t.Shape, want)
	}
	return t, nil
}

// decode looks up the tensor called name with dtype want and converts each of its
// size-byte elements with get.
func decode[E any](f *File, name, want string, get func(src []byte) E) ([]E, []int, error) {
	t, err := f.lookup(name, want)
	if err != nil {
		return nil, nil, err
	}
	size := dtypeSizes[want]
	v := make([]E, len(t.Data)/size)
	for i := range v {
		v[i] = get(t.Data[i*size:])
	}
	return v, slices.Clone(t.Shape), nil
}

// Float32 returns the values and shape of the F32 tensor called name. The error names the
// tensor, and the dtype and shape found when they do not match.
func (f *File) Float32(name string) ([]float32, []int, error) {
	return decode(f, name, F32, func(src []byte) float32 {
		return math.Float32frombits(binary.LittleEndian.Uint32(src))
	})
}

// Float64 returns the values and shape of the F64 tensor called name.
func (f *File) Float64(name string) ([]float64, []int, error) {
	return decode(f, name, F64, func(src []byte) float64 {
		return math.Float64frombits(binary.LittleEndian.Uint64(src))
	})
}

// Int32 returns the values and shape of the I32 tensor called name.
func (f *File) Int32(name string) ([]int32, []int, error) {
	return decode(f, name, I32, func(src []byte) int32 {
		return int32(binary.LittleEndian.Uint32(src))
	})
}

// Int64 returns the values and shape of the I64 tensor called name.
func (f *File) Int64(name string) ([]int64, []int, error) {
	return decode(f, name, I64, func(src []byte) int64 {
		return int64(binary.LittleEndian.Uint64(src))
	})
}

// Uint8 returns the values and shape of the U8 tensor called name.
func (f *File) Uint8(name string) ([]uint8, []int, error) {
	return decode(f, name, U8, func(src []byte) uint8 {
		return src[0]
	})
}
