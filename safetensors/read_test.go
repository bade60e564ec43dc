package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// encode returns a safetensors file with the given header text and data buffer, and a
// header length prefix that matches the header.
func encode(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// withLength returns a file whose length prefix claims n header bytes, followed by rest.
func withLength(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

// hostileCases are malformed files with a fragment that Read's error must contain.
var hostileCases = []struct {
	name string
	file []byte
	want string
}{
	{"empty file", nil, "file is 0 bytes, shorter than the 8-byte header length"},
	{"short prefix", []byte{1, 0, 0}, "file is 3 bytes"},
	{"length past end",
		withLength(1<<40, `{}`),
		"header length 1099511627776 exceeds the 2 bytes that follow it"},
	{"length max uint64",
		withLength(math.MaxUint64, `{}`),
		"header length 18446744073709551615 exceeds"},
	{"empty header", withLength(0, ""), "not valid JSON"},
	{"not JSON", encode("hello, world", nil), "header is not valid JSON"},
	{"JSON array", encode(`[1, 2]`, nil), "header is not a JSON object"},
	{"JSON string", encode(`"a"`, nil), "header is not a JSON object"},
	{"unterminated",
		encode(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, nil),
		"ends before its closing brace"},
	{"missing comma", encode(`{"__metadata__":{} "b":{}}`, nil), "not valid JSON"},
	{"trailing data", encode(`{} {}`, nil), "data after its closing brace"},
	{"invalid UTF-8", encode("{\"\xff\":{}}", nil), "header is not valid UTF-8"},
	{"empty name",
		encode(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}),
		"tensor with an empty name"},
	{"duplicate name", encode(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},`+
		`"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}), `duplicate entry "a"`},
	{"unknown dtype",
		encode(`{"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "w": unknown dtype "F12"`},
	{"no dtype",
		encode(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "w": header entry has no dtype`},
	{"no shape",
		encode(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "w": header entry has no shape`},
	{"no offsets",
		encode(`{"w":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)),
		`tensor "w": header entry has no data_offsets`},
	{"null entry", encode(`{"w":null}`, nil), `tensor "w": header entry has no dtype`},
	{"entry not object", encode(`{"w":[1]}`, nil), `tensor "w": invalid header entry`},
	{"unknown field",
		encode(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}`, []byte{1}),
		`tensor "w": invalid header entry`},
	{"fractional dim",
		encode(`{"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, []byte{1}),
		`tensor "w": invalid header entry`},
	{"negative dim",
		encode(`{"w":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}`, make([]byte, 16)),
		`tensor "w": shape [-1 -4] has a negative dimension`},
	{"overflowing shape",
		encode(`{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil),
		`tensor "w": shape [4294967296 4294967296] has more elements than fit in an int`},
	{"shape bytes overflow",
		encode(`{"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}`, nil),
		`tensor "w": shape [4611686018427387904] of F64 needs 4611686018427387904×8 bytes`},
	{"size mismatch",
		encode(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)),
		`tensor "w": shape [3] of F32 needs 3×4 bytes, but data_offsets [0, 8] span 8 bytes`},
	{"three offsets",
		encode(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, []byte{1}),
		`tensor "w": data_offsets [0 1 2] must have 2 elements`},
	{"negative offset",
		encode(`{"w":{"dtype":"U8","shape":[4],"data_offsets":[-4,0]}}`, nil),
		`tensor "w": data_offsets [-4, 0] are not a valid byte range`},
	{"reversed offsets",
		encode(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)),
		`tensor "w": data_offsets [4, 0] are not a valid byte range`},
	{"offsets past end",
		encode(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8)),
		`tensor "w": data_offsets [0, 16] run past the end of the 8-byte data buffer`},
	{"truncated data", encode(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},`+
		`"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, []byte{1, 2, 3}), `tensor "b": data_offsets [2, 4] run past the end of the 3-byte data buffer`},
	{"overlap", encode(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},`+
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), `tensors "a" [0, 8] and "b" [4, 12] overlap`},
	{"same range", encode(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},`+
		`"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 2)), `overlap`},
	{"empty inside other", encode(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},`+
		`"e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}`, make([]byte, 4)), `tensors "a" [0, 4] and "e" [2, 2] overlap`},
	{"gap", encode(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},`+
		`"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), "bytes [4, 8) of the data buffer belong to no tensor"},
	{"leading gap",
		encode(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)),
		"bytes [0, 1) of the data buffer belong to no tensor"},
	{"trailing bytes",
		encode(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 8)),
		"bytes [4, 8) at the end of the data buffer belong to no tensor"},
	{"metadata not strings",
		encode(`{"__metadata__":{"epoch":3}}`, nil),
		"__metadata__ must map strings to strings"},
	{"metadata not object",
		encode(`{"__metadata__":"x"}`, nil),
		"__metadata__ must map strings to strings"},
}

func TestReadHostile(t *testing.T) {
	for _, c := range hostileCases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			if err == nil {
				t.Fatalf("Read returned %v and no error, want an error containing %q", f.Names(), c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Read error = %q, want it to contain %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Errorf("Read error = %q, want the package prefix", err)
			}
		})
	}
}

func TestReadValidEdgeCases(t *testing.T) {
	cases := []struct {
		name   string
		file   []byte
		tensor string
		want   Tensor
	}{
		{"no tensors", encode(`{}`, nil), "", Tensor{}},
		{"padded header", encode(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}     `, []byte{7, 8}),
			"a", Tensor{DType: U8, Shape: []int{2}, Data: []byte{7, 8}}},
		{"entries out of order", encode(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},`+
			`"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7, 8}),
			"b", Tensor{DType: U8, Shape: []int{1}, Data: []byte{8}}},
		{"empty tensors share an offset", encode(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,1]},`+
			`"b":{"dtype":"F32","shape":[0,3],"data_offsets":[1,1]},`+
			`"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}),
			"b", Tensor{DType: F32, Shape: []int{0, 3}, Data: []byte{}}},
		{"null metadata", encode(`{"__metadata__":null,"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8)),
			"s", Tensor{DType: I64, Shape: []int{}, Data: make([]byte, 8)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if c.tensor == "" {
				if len(f.Tensors) != 0 {
					t.Errorf("Tensors = %v, want none", f.Names())
				}
				return
			}
			got := f.Tensors[c.tensor]
			if got.DType != c.want.DType {
				t.Errorf("DType = %q, want %q", got.DType, c.want.DType)
			}
			if !slices.Equal(got.Shape, c.want.Shape) {
				t.Errorf("Shape = %v, want %v", got.Shape, c.want.Shape)
			}
			if !bytes.Equal(got.Data, c.want.Data) {
				t.Errorf("Data = %v, want %v", got.Data, c.want.Data)
			}
		})
	}
}

// A size argument larger than the input must end in a truncation error, without
// allocating the claimed size first.
func TestReadOverstatedSize(t *testing.T) {
	file := encode(`{"a":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}`, []byte{1, 2})
	_, err := Read(bytes.NewReader(file), int64(len(file))+1<<40-2)
	if err == nil || !strings.Contains(err.Error(), "file is truncated: got 2 of 1099511627776 bytes") {
		t.Errorf("Read error = %v, want a truncation error", err)
	}

	// The header length passes the size check but not the header limit.
	_, err = Read(bytes.NewReader(withLength(1<<40, "{}")), 1<<41)
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("Read error = %v, want the header limit", err)
	}
}

func TestReadFileErrorNamesPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cut.safetensors")
	var buf bytes.Buffer
	if err := Write(&buf, sampleFile()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes()[:buf.Len()-3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	for _, want := range []string{path, "run past the end"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile error = %v, want it to contain %q", err, want)
		}
	}

	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := ReadFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadFile(missing) error = %v, want it to name the path", err)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("ReadFile(dir) error = %v, want 'is not a regular file'", err)
	}
}
