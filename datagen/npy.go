package datagen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// npyMagic starts every NumPy .npy file, followed by the format version.
const npyMagic = "\x93NUMPY"

// writeNPY writes data as a little-endian float32 array of the given shape in C order, in
// NumPy format version 1.0. The file starts with the magic string, the version bytes 1 and
// 0, and a little-endian uint16 header length. The header is a Python dict literal padded
// with spaces and ended by '\n', so that the data starts at a multiple of 64 bytes.
func writeNPY(w io.Writer, shape []int, data []float32) error {
	count := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		count *= d
		dims[i] = strconv.Itoa(d)
	}
	if count != len(data) {
		return fmt.Errorf("npy: shape %v has %d elements, but data has %d values", shape, count, len(data))
	}
	// A one-element tuple needs a trailing comma in Python, as in (5,).
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }"

	// The preamble is the magic, 2 version bytes and 2 length bytes.
	preamble := len(npyMagic) + 4
	padding := (64 - (preamble+len(dict)+1)%64) % 64
	header := dict + strings.Repeat(" ", padding) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("npy: header of %d bytes is too long for format version 1.0", len(header))
	}

	buf := make([]byte, 0, preamble+len(header))
	buf = append(buf, npyMagic...)
	buf = append(buf, 1, 0)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	if _, err := w.Write(buf); err != nil {
		return err
	}

	values := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(values[4*i:], math.Float32bits(v))
	}
	_, err := w.Write(values)
	return err
}
