package safetensors

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"unicode/utf8"
)

// maxHeaderSize bounds the JSON header, so that a corrupt length prefix in a large file
// cannot make Read allocate gigabytes before parsing. An entry takes roughly 60 bytes plus
// its name, so the limit allows about a million tensors.
const maxHeaderSize = 100 << 20

// Read decodes a safetensors file of size bytes from r. An error describes the problem and
// names the tensor involved. When size overstates the input, Read allocates memory in
// proportion to the bytes that arrive (plus at most 16 MiB), not to size.
func Read(r io.Reader, size int64) (*File, error) {
	f, err := read(r, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// ReadFile reads the safetensors file at path. Errors name path, and so do the errors of the
// returned File's accessors.
func ReadFile(path string) (*File, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	f, err := read(bufio.NewReaderSize(in, 1<<20), info.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f.source = path
	return f, nil
}

// entry is one tensor's header entry after parsing, before its data is attached.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end int64
}

func read(r io.Reader, size int64) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length; "+
			"it is truncated or not a safetensors file", size)
	}
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, fmt.Errorf("reading the header length: %w", truncated(err))
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > uint64(size-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes that follow it; "+
			"the file is truncated or not a safetensors file", n, size-8)
	}
	if n > maxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, maxHeaderSize)
	}
	header, err := readBytes(r, int64(n))
	if err != nil {
		return nil, fmt.Errorf("reading the %d-byte header: %w", n, err)
	}

	bufLen := size - 8 - int64(n)
	entries, metadata, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if err := checkEntries(entries, bufLen); err != nil {
		return nil, err
	}

	buf, err := readBytes(r, bufLen)
	if err != nil {
		return nil, fmt.Errorf("reading the %d-byte data buffer: %w", bufLen, err)
	}
	f := &File{Tensors: make(map[string]Tensor, len(entries)), Metadata: metadata}
	for _, e := range entries {
		f.Tensors[e.name] = Tensor{DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
	}
	return f, nil
}

// readBytes reads exactly n bytes. Its buffer starts at no more than 16 MiB and grows as
// data arrives, so a wrong n cannot force a large allocation.
func readBytes(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(n, 16<<20)))
	got, err := io.CopyN(&buf, r, n)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file is truncated: got %d of %d bytes", got, n)
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file is truncated")
	}
	return err
}

// parseHeader decodes the JSON header into tensor entries, in header order, and the metadata.
// It walks the top-level object token by token, because encoding/json would silently keep
// the last of two entries with the same name.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("header is not a JSON object (it starts with %v)", tok)
	}

	var entries []entry
	var metadata map[string]string
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok { // the decoder only returns strings as object keys
			return nil, nil, fmt.Errorf("header has a non-string key %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON after %q: %w", name, err)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("header has a duplicate entry %q", name)
		}
		seen[name] = true

		if name == metaKey {
			if err := json.Unmarshal(raw, &metadata); err != nil {
				return nil, nil, fmt.Errorf("%s must map strings to strings: %w", metaKey, err)
			}
			continue
		}
		e, err := parseEntry(name, raw)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		if err == io.EOF {
			return nil, nil, errors.New("header is not valid JSON: it ends before its closing brace")
		}
		return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("header has data after its closing brace; only spaces may pad it")
	}
	return entries, metadata, nil
}

// parseEntry decodes one tensor entry and checks it on its own: the name, the dtype, the
// shape and whether the shape's byte count equals the length of its data_offsets range.
func parseEntry(name string, raw json.RawMessage) (entry, error) {
	if name == "" {
		return entry{}, errors.New("header has a tensor with an empty name")
	}
	var fields struct {
		DType       *string  `json:"dtype"`
		Shape       *[]int   `json:"shape"`
		DataOffsets *[]int64 `json:"data_offsets"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fields); err != nil {
		return entry{}, fmt.Errorf("tensor %q: invalid header entry %s: %w", name, raw, err)
	}
	switch {
	case fields.DType == nil:
		return entry{}, fmt.Errorf("tensor %q: header entry has no dtype", name)
	case fields.Shape == nil:
		return entry{}, fmt.Errorf("tensor %q: header entry has no shape", name)
	case fields.DataOffsets == nil:
		return entry{}, fmt.Errorf("tensor %q: header entry has no data_offsets", name)
	}
	e := entry{name: name, dtype: *fields.DType, shape: *fields.Shape}
	if e.shape == nil {
		e.shape = []int{}
	}
	offsets := *fields.DataOffsets
	if len(offsets) != 2 {
		return entry{}, fmt.Errorf("tensor %q: data_offsets %v must have 2 elements, begin and end",
			name, offsets)
	}
	e.begin, e.end = offsets[0], offsets[1]

	size, ok := dtypeSizes[e.dtype]
	if !ok {
		return entry{}, fmt.Errorf("tensor %q: unknown dtype %q (known: %s)", name, e.dtype, knownDTypes())
	}
	count, err := numElements(e.shape)
	if err != nil {
		return entry{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if e.begin < 0 || e.end < e.begin {
		return entry{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] are not a valid byte range",
			name, e.begin, e.end)
	}
	if count > math.MaxInt/size || int64(count*size) != e.end-e.begin {
		return entry{}, fmt.Errorf("tensor %q: shape %v of %s needs %d×%d bytes, "+
			"but data_offsets [%d, %d] span %d bytes", name, e.shape, e.dtype, count, size,
			e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

// checkEntries checks that the tensors tile the data buffer of bufLen bytes exactly: every
// range inside the buffer, no two overlapping and no byte left over, as the format requires.
func checkEntries(entries []entry, bufLen int64) error {
	for _, e := range entries {
		if e.end > bufLen {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the end of the "+
				"%d-byte data buffer; the file is truncated or corrupt", e.name, e.begin, e.end, bufLen)
		}
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var next int64
	for i, e := range sorted {
		if e.begin < next {
			prev := sorted[i-1]
			return fmt.Errorf("tensors %q [%d, %d] and %q [%d, %d] overlap",
				prev.name, prev.begin, prev.end, e.name, e.begin, e.end)
		}
		if e.begin > next {
			return fmt.Errorf("bytes [%d, %d) of the data buffer belong to no tensor", next, e.begin)
		}
		next = e.end
	}
	if next != bufLen {
		return fmt.Errorf("bytes [%d, %d) at the end of the data buffer belong to no tensor",
			next, bufLen)
	}
	return nil
}
