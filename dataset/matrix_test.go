package dataset

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/recur-ml/recur/safetensors"
)

// npyBytes returns a .npy file of format version major.0 with the given header, to which
// it appends '\n', followed by data.
func npyBytes(major byte, header string, data []byte) []byte {
	header += "\n"
	out := []byte(npyMagic)
	out = append(out, major, 0)
	if major == 1 {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(header)))
	}
	out = append(out, header...)
	return append(out, data...)
}

func float32Bytes(values ...float32) []byte {
	var out []byte
	for _, x := range values {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
	}
	return out
}

func float64Bytes(values ...float64) []byte {
	var out []byte
	for _, x := range values {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
	}
	return out
}

func writeBytes(t testing.TB, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readMatrixError calls ReadMatrix on path and fails the test unless it returns an error
// containing want.
func readMatrixError(t *testing.T, path, want string, name ...string) {
	t.Helper()
	data, shape, err := ReadMatrix(path, name...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ReadMatrix(%s) = %d values, shape %v, error %v; want an error containing %q",
			filepath.Base(path), len(data), shape, err, want)
	}
}

func TestWriteNPYRoundTrip(t *testing.T) {
	cases := []struct {
		shape []int
		data  []float32
	}{
		{[]int{3}, []float32{1, -2.5, 3e-8}},
		{[]int{2, 3}, []float32{0, 1, 2, 3, 4, 5}},
		{[]int{2, 1, 3}, []float32{-1, -2, -3, 4, 5, 6}},
		{[]int{0, 4}, []float32{}},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "m.npy")
		if err := WriteNPY(path, c.data, c.shape); err != nil {
			t.Fatal(err)
		}
		data, shape, err := ReadMatrix(path)
		if err != nil {
			t.Errorf("shape %v: %v", c.shape, err)
			continue
		}
		if !slices.Equal(shape, c.shape) || !slices.Equal(data, c.data) {
			t.Errorf("round trip of shape %v gave %v, shape %v", c.shape, data, shape)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if start := len(raw) - 4*len(c.data); start%64 != 0 {
			t.Errorf("shape %v: data starts at byte %d, not a multiple of 64", c.shape, start)
		}
		if raw[6] != 1 || raw[7] != 0 {
			t.Errorf("shape %v: version %d.%d, want 1.0", c.shape, raw[6], raw[7])
		}
	}
}

func TestWriteNPYHeaderText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.npy")
	if err := WriteNPY(path, []float32{1, 2, 3}, []int{3}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header := string(raw[10 : len(raw)-12])
	if !strings.HasPrefix(header, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") {
		t.Errorf("header = %q, want the dict that numpy.save writes", header)
	}
	if !strings.HasSuffix(header, " \n") {
		t.Errorf("header = %q, want space padding and a final newline", header)
	}
}

func TestWriteNPYShapeMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.npy")
	err := WriteNPY(path, []float32{1, 2, 3}, []int{2, 2})
	if err == nil || !strings.Contains(err.Error(), "shape [2 2] does not hold the 3 values") {
		t.Errorf("WriteNPY error = %v, want a shape mismatch", err)
	}
}

func TestReadMatrixF8Conversion(t *testing.T) {
	values := []float64{1.5, -2.25, 1e-3, 0.1, 3e38}
	path := writeBytes(t, "m.npy", npyBytes(1,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
		float64Bytes(values...)))
	data, shape, err := ReadMatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{5}) {
		t.Errorf("shape = %v, want [5]", shape)
	}
	for i, x := range values {
		if data[i] != float32(x) {
			t.Errorf("element %d = %v, want %v", i, data[i], float32(x))
		}
	}
}

func TestReadMatrixF8BeyondFloat32(t *testing.T) {
	path := writeBytes(t, "m.npy", npyBytes(1,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3), }",
		float64Bytes(1, -1e300, 2)))
	readMatrixError(t, path, "element 1 (index [0 1] of shape [1 3]) is -1e+300, beyond the float32 range")
}

func TestReadMatrixVersions(t *testing.T) {
	for _, major := range []byte{2, 3} {
		path := writeBytes(t, "m.npy", npyBytes(major,
			"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
			float32Bytes(1, 2, 3, 4)))
		data, shape, err := ReadMatrix(path)
		if err != nil {
			t.Errorf("version %d.0: %v", major, err)
			continue
		}
		if !slices.Equal(shape, []int{2, 2}) || !slices.Equal(data, []float32{1, 2, 3, 4}) {
			t.Errorf("version %d.0: got %v, shape %v", major, data, shape)
		}
	}
}

func TestReadMatrixVersion3InvalidUTF8(t *testing.T) {
	path := writeBytes(t, "m.npy", npyBytes(3,
		"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } \xff",
		float32Bytes(1)))
	readMatrixError(t, path, "not valid UTF-8")
}

func TestReadMatrixPython2Header(t *testing.T) {
	// NumPy under Python 2 wrote long integers with an 'L' suffix.
	path := writeBytes(t, "m.npy", npyBytes(1,
		`{"descr": "<f4", "shape": (2L, 1L), "fortran_order": False}`,
		float32Bytes(7, 8)))
	data, shape, err := ReadMatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{2, 1}) || !slices.Equal(data, []float32{7, 8}) {
		t.Errorf("got %v, shape %v, want [7 8], shape [2 1]", data, shape)
	}
}

func TestReadMatrixThreeDims(t *testing.T) {
	data := make([]float32, 2*3*4)
	for i := range data {
		data[i] = float32(i) / 4
	}
	path := filepath.Join(t.TempDir(), "features.npy")
	if err := WriteNPY(path, data, []int{2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	got, shape, err := ReadMatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{2, 3, 4}) || !slices.Equal(got, data) {
		t.Errorf("got shape %v, want [2 3 4] with the values written", shape)
	}
}

func TestReadMatrixNaN(t *testing.T) {
	nan := float32(math.NaN())
	path := filepath.Join(t.TempDir(), "m.npy")
	if err := WriteNPY(path, []float32{0, 1, 2, 3, nan, 5}, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	readMatrixError(t, path, "element 4 (index [1 1] of shape [2 3]) is NaN")

	inf := float32(math.Inf(-1))
	if err := WriteNPY(path, []float32{inf}, []int{1}); err != nil {
		t.Fatal(err)
	}
	readMatrixError(t, path, "element 0 (index [0] of shape [1]) is -Inf")

	f8 := writeBytes(t, "m8.npy", npyBytes(1,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
		float64Bytes(0, math.NaN())))
	readMatrixError(t, f8, "element 1 (index [1] of shape [2]) is NaN")
}

func TestReadMatrixFortranOrder(t *testing.T) {
	path := writeBytes(t, "m.npy", npyBytes(1,
		"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
		float32Bytes(1, 2, 3, 4)))
	readMatrixError(t, path, "save numpy.ascontiguousarray(array) instead")
}

func TestReadMatrixTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.npy")
	if err := WriteNPY(path, []float32{1, 2, 3, 4}, []int{4}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		length int
		want   string
	}{
		{len(raw) - 3, "needs 16 bytes of data, but 13 bytes follow the header"},
		{128, "needs 16 bytes of data, but 0 bytes follow the header"},
		{40, "runs past the end of the 40-byte file"},
		{9, "reading the .npy header length: the file is truncated"},
		{5, "reading the .npy preamble: the file is truncated"},
	}
	for _, c := range cases {
		cut := writeBytes(t, "cut.npy", raw[:c.length])
		readMatrixError(t, cut, c.want)
	}
	empty := writeBytes(t, "empty.npy", nil)
	readMatrixError(t, empty, "the file is truncated")

	extra := writeBytes(t, "extra.npy", append(raw, 0, 0, 0, 0))
	readMatrixError(t, extra, "needs 16 bytes of data, but 20 bytes follow the header")
}

func TestReadMatrixHugeShapeDoesNotAllocate(t *testing.T) {
	// The header claims 2^40 float32 values (4 TiB), but the file contains 8 bytes of data.
	path := writeBytes(t, "huge.npy", npyBytes(1,
		"{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }",
		float32Bytes(1, 2)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	readMatrixError(t, path, "which needs 4398046511104 bytes of data, but 8 bytes follow the header")
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 8<<20 {
		t.Errorf("ReadMatrix allocated %d bytes for a 2^40-element header", allocated)
	}

	overflow := writeBytes(t, "overflow.npy", npyBytes(1,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", nil))
	readMatrixError(t, overflow, "whose size overflows int64")
}

func TestReadMatrixHeaderErrors(t *testing.T) {
	cases := []struct {
		header string
		want   string
	}{
		{"{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", `dtype is ">f4", but recur reads '<f4' and '<f8'`},
		{"{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", `dtype is "<i4"`},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "shape [] has 0 dimensions, but recur reads arrays of 1 to 3"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1), }", "shape [1 1 1 1] has 4 dimensions"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "shape [-1] has a negative dimension"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", "a one-dimensional shape is written (n,)"},
		{"{'descr': '<f4', 'fortran_order': False}", `missing key "shape"`},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", `unexpected key "extra"`},
		{"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", `key "descr" appears twice`},
		{"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "expected True or False"},
		{"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", `value of "descr": expected a quoted string`},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "unexpected text after the dict"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,", "expected an integer at byte 54, but the header ends"},
		{"['descr']", "expected '{' at byte 0"},
		{"{'descr': '<f4, 'fortran_order': False}", "expected ',' or '}' at byte 17, found 'f'"},
	}
	for _, c := range cases {
		path := writeBytes(t, "m.npy", npyBytes(1, c.header, float32Bytes(1)))
		readMatrixError(t, path, c.want)
	}
}

func TestReadMatrixUnsupportedVersion(t *testing.T) {
	raw := npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", float32Bytes(1))
	for _, version := range [][2]byte{{4, 0}, {1, 1}, {0, 0}} {
		raw[6], raw[7] = version[0], version[1]
		path := writeBytes(t, "m.npy", raw)
		readMatrixError(t, path, "is not supported; recur reads versions 1.0, 2.0 and 3.0")
	}
}

func TestReadMatrixNPYRejectsName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.npy")
	if err := WriteNPY(path, []float32{1}, []int{1}); err != nil {
		t.Fatal(err)
	}
	readMatrixError(t, path, `tensor "features" was requested; omit the name`, "features")
	readMatrixError(t, path, "got 2 tensor names", "a", "b")
}

func TestReadMatrixFormatByMagic(t *testing.T) {
	npy := filepath.Join(t.TempDir(), "features.bin")
	if err := WriteNPY(npy, []float32{1, 2}, []int{2}); err != nil {
		t.Fatal(err)
	}
	if data, _, err := ReadMatrix(npy); err != nil || !slices.Equal(data, []float32{1, 2}) {
		t.Errorf("ReadMatrix(.npy content in features.bin) = %v, %v", data, err)
	}

	st := filepath.Join(t.TempDir(), "weights")
	writeSafetensors(t, st, func(f *safetensors.File) {
		f.AddFloat32("w", []int{2}, []float32{3, 4})
	})
	if data, _, err := ReadMatrix(st); err != nil || !slices.Equal(data, []float32{3, 4}) {
		t.Errorf("ReadMatrix(safetensors content without extension) = %v, %v", data, err)
	}

	upper := filepath.Join(t.TempDir(), "M.NPY")
	if err := WriteNPY(upper, []float32{5}, []int{1}); err != nil {
		t.Fatal(err)
	}
	if data, _, err := ReadMatrix(upper); err != nil || !slices.Equal(data, []float32{5}) {
		t.Errorf("ReadMatrix(M.NPY) = %v, %v", data, err)
	}

	text := writeBytes(t, "features.csv", []byte("1,2,3\n4,5,6\n"))
	readMatrixError(t, text, "is neither a .npy file")
	short := writeBytes(t, "x.dat", []byte("ab"))
	readMatrixError(t, short, "is neither a .npy file")
	readMatrixError(t, filepath.Join(t.TempDir(), "absent.dat"), "no such file")
	readMatrixError(t, filepath.Join(t.TempDir(), "absent.npy"), "no such file")
}

// writeSafetensors writes the tensors that add stores to path.
func writeSafetensors(t *testing.T, path string, add func(f *safetensors.File)) {
	t.Helper()
	f := &safetensors.File{}
	add(f)
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
}

func TestReadMatrixSafetensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	writeSafetensors(t, path, func(f *safetensors.File) {
		f.AddFloat32("features", []int{2, 2}, []float32{1, 2, 3, 4})
	})
	data, shape, err := ReadMatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{2, 2}) || !slices.Equal(data, []float32{1, 2, 3, 4}) {
		t.Errorf("got %v, shape %v", data, shape)
	}
}

func TestReadMatrixSafetensorsByName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	writeSafetensors(t, path, func(f *safetensors.File) {
		f.AddFloat32("train", []int{1, 2}, []float32{1, 2})
		f.AddFloat64("test", []int{3}, []float64{0.5, -0.25, 1e-10})
		f.AddInt32("labels", []int{2}, []int32{0, 1})
	})
	data, shape, err := ReadMatrix(path, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{3}) || !slices.Equal(data, []float32{0.5, -0.25, float32(1e-10)}) {
		t.Errorf("F64 tensor: got %v, shape %v", data, shape)
	}
	readMatrixError(t, path, `contains 3 tensors, "labels", "test", "train"; pass the name of the one to read`)
	readMatrixError(t, path, `has no tensor "val"; its 3 tensors are "labels", "test", "train"`, "val")
	readMatrixError(t, path, `tensor "labels" has dtype I32; recur reads F32 and F64`, "labels")
}

func TestReadMatrixSafetensorsRejects(t *testing.T) {
	cases := []struct {
		name string
		add  func(f *safetensors.File)
		want string
	}{
		{"NaN", func(f *safetensors.File) {
			f.AddFloat32("x", []int{3}, []float32{1, float32(math.NaN()), 3})
		}, `tensor "x": element 1 (index [1] of shape [3]) is NaN`},
		{"F64 infinity", func(f *safetensors.File) {
			f.AddFloat64("x", []int{1, 2}, []float64{math.Inf(1), 1})
		}, "element 0 (index [0 0] of shape [1 2]) is +Inf"},
		{"F64 beyond float32", func(f *safetensors.File) {
			f.AddFloat64("x", []int{2}, []float64{1, 1e39})
		}, "is 1e+39, beyond the float32 range"},
		{"scalar", func(f *safetensors.File) {
			f.AddFloat32("x", []int{}, []float32{1})
		}, "shape [] has 0 dimensions"},
		{"4-D", func(f *safetensors.File) {
			f.AddFloat32("x", []int{1, 1, 1, 1}, []float32{1})
		}, "shape [1 1 1 1] has 4 dimensions"},
		{"no tensors", func(f *safetensors.File) {}, "contains no tensors"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "m.safetensors")
		writeSafetensors(t, path, c.add)
		readMatrixError(t, path, c.want)
	}

	corrupt := writeBytes(t, "bad.safetensors", []byte("\x05\x00\x00\x00\x00\x00\x00\x00{}"))
	readMatrixError(t, corrupt, "bad.safetensors")
}
