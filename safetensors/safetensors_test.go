package safetensors

import (
	"bytes"
	"encoding/hex"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sampleFile returns a file with one tensor of each dtype that has an accessor, a scalar,
// an empty tensor and metadata.
func sampleFile() *File {
	f := &File{Metadata: map[string]string{"format": "pt", "note": "<ü & 日>"}}
	f.AddFloat32("lstm.weight_ih_l0", []int{2, 3}, []float32{1, -2.5, 3e-8, float32(math.Inf(1)), 0, 1e30})
	f.AddFloat64("loss", []int{2}, []float64{math.Pi, -1e300})
	f.AddInt32("step", []int{}, []int32{-7})
	f.AddInt64("positions", []int{3}, []int64{0, math.MaxInt64, math.MinInt64})
	f.AddUint8("rng", []int{4}, []uint8{0, 1, 254, 255})
	f.AddUint8("empty", []int{0, 5}, nil)
	return f
}

func checkSample(t *testing.T, f *File) {
	t.Helper()
	if want := []string{"empty", "loss", "lstm.weight_ih_l0", "positions", "rng", "step"}; !slices.Equal(f.Names(), want) {
		t.Fatalf("Names() = %v, want %v", f.Names(), want)
	}
	want := map[string]string{"format": "pt", "note": "<ü & 日>"}
	if !maps.Equal(f.Metadata, want) {
		t.Errorf("Metadata = %v, want %v", f.Metadata, want)
	}

	w, shape, err := f.Float32("lstm.weight_ih_l0")
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, -2.5, 3e-8, float32(math.Inf(1)), 0, 1e30}; !slices.Equal(w, want) {
		t.Errorf("Float32 values = %v, want %v", w, want)
	}
	if !slices.Equal(shape, []int{2, 3}) {
		t.Errorf("Float32 shape = %v, want [2 3]", shape)
	}

	loss, shape, err := f.Float64("loss")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loss, []float64{math.Pi, -1e300}) {
		t.Errorf("Float64 values = %v, want [π -1e300]", loss)
	}
	if !slices.Equal(shape, []int{2}) {
		t.Errorf("Float64 shape = %v, want [2]", shape)
	}

	step, shape, err := f.Int32("step")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(step, []int32{-7}) {
		t.Errorf("Int32 values = %v, want [-7]", step)
	}
	if len(shape) != 0 {
		t.Errorf("Int32 shape = %v, want [] (a scalar)", shape)
	}

	pos, shape, err := f.Int64("positions")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []int64{0, math.MaxInt64, math.MinInt64}) {
		t.Errorf("Int64 values = %v, want [0 MaxInt64 MinInt64]", pos)
	}
	if !slices.Equal(shape, []int{3}) {
		t.Errorf("Int64 shape = %v, want [3]", shape)
	}

	rng, _, err := f.Uint8("rng")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rng, []uint8{0, 1, 254, 255}) {
		t.Errorf("Uint8 values = %v, want [0 1 254 255]", rng)
	}

	empty, shape, err := f.Uint8("empty")
	if err != nil {
		t.Fatal(err)
	}
	if len(empty) != 0 {
		t.Errorf("empty tensor values = %v, want none", empty)
	}
	if !slices.Equal(shape, []int{0, 5}) {
		t.Errorf("empty tensor shape = %v, want [0 5]", shape)
	}
}

func TestRoundTripFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteFile(path, sampleFile()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, f)

	// WriteFile replaces an existing file.
	small := &File{}
	small.AddInt32("x", []int{1}, []int32{5})
	if err := WriteFile(path, small); err != nil {
		t.Fatal(err)
	}
	f, err = ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Names(), []string{"x"}) {
		t.Errorf("after overwrite Names() = %v, want [x]", f.Names())
	}
}

func TestRoundTripStable(t *testing.T) {
	var first bytes.Buffer
	if err := Write(&first, sampleFile()); err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(first.Bytes()), int64(first.Len()))
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, f)
	var second bytes.Buffer
	if err := Write(&second, f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("rewriting a read file changed its bytes:\n%q\n%q", first.Bytes(), second.Bytes())
	}
}

func TestWriteGolden(t *testing.T) {
	f := &File{Metadata: map[string]string{"format": "pt"}}
	f.AddInt64("b", nil, []int64{-2})
	f.AddFloat32("a", []int{2}, []float32{1, 2})
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}

	header := `{"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}` +
		"      " // 138 bytes padded to 144
	want := slices.Concat(
		[]byte{0x90, 0, 0, 0, 0, 0, 0, 0}, // 144
		[]byte(header),
		[]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40},                // float32 1 and 2
		[]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // int64 -2
	)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Write output differs from golden bytes\ngot:\n%s\nwant:\n%s",
			hex.Dump(buf.Bytes()), hex.Dump(want))
	}
}

func TestWriteAlignsData(t *testing.T) {
	for n := 1; n <= 16; n++ {
		f := &File{}
		f.AddUint8(strings.Repeat("x", n), []int{1}, []uint8{9})
		var buf bytes.Buffer
		if err := Write(&buf, f); err != nil {
			t.Fatal(err)
		}
		if buf.Len()%8 != 1 {
			t.Errorf("name length %d: file is %d bytes, want 8k+1 (data starts at a multiple of 8)", n, buf.Len())
		}
		if buf.Bytes()[buf.Len()-1] != 9 {
			t.Errorf("name length %d: last byte = %d, want 9", n, buf.Bytes()[buf.Len()-1])
		}
	}
}

func TestWriteRejectsInvalid(t *testing.T) {
	cases := []struct {
		name   string
		tensor Tensor
		key    string
		want   string
	}{
		{"unknown dtype", Tensor{DType: "F12", Shape: []int{1}, Data: []byte{0}}, "w", `tensor "w": unknown dtype "F12"`},
		{"short data", Tensor{DType: F32, Shape: []int{2}, Data: []byte{0, 0, 0, 0}}, "w", `tensor "w": shape [2] of F32 needs 2×4 bytes, but its data has 4`},
		{"negative dim", Tensor{DType: U8, Shape: []int{-1}}, "w", `tensor "w": shape [-1] has a negative dimension`},
		{"empty name", Tensor{DType: U8, Shape: []int{0}}, "", "empty name"},
		{"reserved name", Tensor{DType: U8, Shape: []int{0}}, "__metadata__", "reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &File{Tensors: map[string]Tensor{c.key: c.tensor}}
			var buf bytes.Buffer
			err := Write(&buf, f)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Write error = %v, want it to contain %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestAccessorErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := WriteFile(path, sampleFile()); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	_, _, err = f.Float32("loss")
	for _, want := range []string{path, `"loss"`, "dtype F64", "shape [2]", "expected dtype F32"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Float32(loss) error = %v, want it to contain %q", err, want)
		}
	}

	_, _, err = f.Int64("missing")
	for _, want := range []string{`"missing" not found`, "lstm.weight_ih_l0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Int64(missing) error = %v, want it to contain %q", err, want)
		}
	}

	// A tensor set by hand whose data does not match its shape is reported, not decoded.
	f.Tensors["bad"] = Tensor{DType: F32, Shape: []int{3}, Data: make([]byte, 8)}
	if _, _, err := f.Float32("bad"); err == nil || !strings.Contains(err.Error(), "needs 3×4 bytes") {
		t.Errorf("Float32(bad) error = %v, want a size mismatch", err)
	}
}

func TestAddPanicsOnShapeMismatch(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, `tensor "w": shape [2 2] does not hold 3 values`) {
			t.Errorf("panic = %q, want a shape mismatch message", msg)
		}
	}()
	f := &File{}
	f.AddFloat32("w", []int{2, 2}, []float32{1, 2, 3})
}

func TestDTypeSize(t *testing.T) {
	for dtype, want := range map[string]int{F32: 4, F64: 8, I32: 4, I64: 8, U8: 1, BF16: 2, BOOL: 1} {
		if got, ok := DTypeSize(dtype); !ok || got != want {
			t.Errorf("DTypeSize(%s) = %d, %v, want %d, true", dtype, got, ok, want)
		}
	}
	if _, ok := DTypeSize("f32"); ok {
		t.Errorf("DTypeSize(f32) = true, want false (dtype names are upper case)")
	}
}
