package dataset

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// npyMagic starts every .npy file. The NumPy format, described in numpy/lib/format.py,
// continues with a major and a minor version byte and the header length, a little-endian
// uint16 in version 1.0 and a uint32 in versions 2.0 and 3.0. The header follows: a Python
// dict literal with the keys 'descr', 'fortran_order' and 'shape', padded with spaces and
// ended by '\n'. Then comes the data. Version 3.0 differs from 2.0 only in encoding the
// header as UTF-8 instead of Latin-1.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header length. NumPy's own reader rejects headers over 10,000
// bytes unless its max_header_size argument allows more, and numpy.save writes about 128
// bytes for 3 dimensions.
const maxNPYHeader = 1 << 16

// npyHeader is the parsed header of a .npy file.
type npyHeader struct {
	descr        string
	fortranOrder bool
	shape        []int
}

// readNPYFile reads the .npy file at path.
func readNPYFile(path string) ([]float32, []int, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("dataset: %s is not a regular file", path)
	}
	data, shape, err := readNPY(bufio.NewReaderSize(in, 1<<20), info.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return data, shape, nil
}

// readNPY decodes a .npy file of size bytes from r. It allocates no more than size bytes
// for the data, whatever the header claims.
func readNPY(r io.Reader, size int64) ([]float32, []int, error) {
	var preamble [8]byte
	if _, err := io.ReadFull(r, preamble[:]); err != nil {
		return nil, nil, fmt.Errorf("reading the .npy preamble: %w", truncated(err))
	}
	if string(preamble[:6]) != npyMagic {
		return nil, nil, errors.New("the file does not start with the .npy magic string " +
			"\\x93NUMPY; save the array with numpy.save")
	}
	major, minor := preamble[6], preamble[7]
	var lengthBytes int
	switch {
	case major == 1 && minor == 0:
		lengthBytes = 2
	case (major == 2 || major == 3) && minor == 0:
		lengthBytes = 4
	default:
		return nil, nil, fmt.Errorf(".npy format version %d.%d is not supported; "+
			"recur reads versions 1.0, 2.0 and 3.0", major, minor)
	}
	var lengthField [4]byte
	if _, err := io.ReadFull(r, lengthField[:lengthBytes]); err != nil {
		return nil, nil, fmt.Errorf("reading the .npy header length: %w", truncated(err))
	}
	headerLen := int64(binary.LittleEndian.Uint32(lengthField[:]))
	dataStart := int64(len(preamble)+lengthBytes) + headerLen
	if dataStart > size {
		return nil, nil, fmt.Errorf("the .npy header length %d runs past the end of the "+
			"%d-byte file; the file is truncated or corrupt", headerLen, size)
	}
	if headerLen > maxNPYHeader {
		return nil, nil, fmt.Errorf("the .npy header length %d exceeds the limit of %d bytes; "+
			"the file is corrupt", headerLen, maxNPYHeader)
	}
	headerBytes := make([]byte, headerLen)
	if _, err := io.ReadFull(r, headerBytes); err != nil {
		return nil, nil, fmt.Errorf("reading the %d-byte .npy header: %w", headerLen, truncated(err))
	}
	if major == 3 && !utf8.Valid(headerBytes) {
		return nil, nil, errors.New("the .npy header of version 3.0 is not valid UTF-8")
	}
	header, err := parseNPYHeader(string(headerBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("invalid .npy header %s: %w", quoteHeader(headerBytes), err)
	}

	itemSize, err := checkNPYHeader(header)
	if err != nil {
		return nil, nil, err
	}
	count, ok := numElements(header.shape)
	if !ok || count > math.MaxInt64/int64(itemSize) {
		return nil, nil, fmt.Errorf("the .npy header claims shape %v, whose size overflows "+
			"int64; the file is corrupt", header.shape)
	}
	dataLen := count * int64(itemSize)
	if available := size - dataStart; dataLen != available {
		return nil, nil, fmt.Errorf("the .npy header claims shape %v of %s, which needs %d "+
			"bytes of data, but %d bytes follow the header; the file is truncated or corrupt",
			header.shape, header.descr, dataLen, available)
	}
	raw := make([]byte, dataLen)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fmt.Errorf("reading the %d bytes of .npy data: %w", dataLen, truncated(err))
	}

	if itemSize == 4 {
		data := make([]float32, count)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		if err := checkFinite(data, header.shape); err != nil {
			return nil, nil, err
		}
		return data, header.shape, nil
	}
	wide := make([]float64, count)
	for i := range wide {
		wide[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	data, err := narrow(wide, header.shape)
	if err != nil {
		return nil, nil, err
	}
	return data, header.shape, nil
}

// checkNPYHeader checks that header describes a C-order array of '<f4' or '<f8' with 1 to
// maxMatrixDims dimensions, and returns the element size in bytes.
func checkNPYHeader(header npyHeader) (int, error) {
	var itemSize int
	switch header.descr {
	case "<f4":
		itemSize = 4
	case "<f8":
		itemSize = 8
	default:
		return 0, fmt.Errorf("the .npy dtype is %q, but recur reads '<f4' and '<f8'; "+
			"save array.astype('<f4') instead", header.descr)
	}
	if header.fortranOrder {
		return 0, errors.New("the .npy array is stored in Fortran order, but recur reads " +
			"C order only; save numpy.ascontiguousarray(array) instead")
	}
	if err := checkMatrixShape(header.shape); err != nil {
		return 0, fmt.Errorf("the .npy %w", err)
	}
	return itemSize, nil
}

// numElements returns the product of shape, or false when a dimension is negative or the
// product overflows int64.
func numElements(shape []int) (int64, bool) {
	count := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && count > math.MaxInt64/int64(d) {
			return 0, false
		}
		count *= int64(d)
	}
	return count, true
}

// quoteHeader quotes a header for a message, cut to its first 200 bytes.
func quoteHeader(header []byte) string {
	const maxBytes = 200
	if len(header) > maxBytes {
		return strconv.Quote(string(header[:maxBytes])) + "…"
	}
	return strconv.Quote(string(header))
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the file is truncated")
	}
	return err
}

// WriteNPY writes data with the given shape to path as a .npy file of format version 1.0
// and dtype '<f4' in C order. The header is padded so that the data starts at a multiple of
// 64 bytes, as numpy.save does. WriteNPY accepts any number of dimensions and any values,
// including NaN, although ReadMatrix reads only 1 to 3 dimensions of finite values.
func WriteNPY(path string, data []float32, shape []int) error {
	count, ok := numElements(shape)
	if !ok || count != int64(len(data)) {
		return fmt.Errorf("dataset: WriteNPY(%s): shape %v does not hold the %d values of data",
			path, shape, len(data))
	}
	header := encodeNPYHeader(shape)
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("dataset: WriteNPY(%s): the header for shape %v takes %d bytes, more "+
			"than format version 1.0 allows", path, shape, len(header))
	}

	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	w := bufio.NewWriterSize(out, 1<<20)
	w.WriteString(npyMagic)
	w.Write([]byte{1, 0})
	binary.Write(w, binary.LittleEndian, uint16(len(header)))
	w.WriteString(header)
	var buf [4]byte
	for _, x := range data {
		binary.LittleEndian.PutUint32(buf[:], math.Float32bits(x))
		w.Write(buf[:])
	}
	// bufio.Writer keeps its first error and returns it from Flush.
	if err := w.Flush(); err != nil {
		out.Close()
		return fmt.Errorf("dataset: write %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("dataset: close %s: %w", path, err)
	}
	return nil
}

// encodeNPYHeader returns the version 1.0 header for a C-order '<f4' array of shape, padded
// with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes.
func encodeNPYHeader(shape []int) string {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }"
	const prefix = len(npyMagic) + 2 + 2 // magic, version, uint16 header length
	used := prefix + len(header) + 1     // + the final '\n'
	padding := (64 - used%64) % 64
	return header + strings.Repeat(" ", padding) + "\n"
}
