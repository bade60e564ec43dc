package safetensors

import (
	"bytes"
	"maps"
	"slices"
	"testing"
)

// FuzzRead checks that Read never panics, and that whatever it accepts survives a Write and
// a second Read unchanged.
func FuzzRead(f *testing.F) {
	var valid bytes.Buffer
	if err := Write(&valid, sampleFile()); err != nil {
		f.Fatal(err)
	}
	f.Add(valid.Bytes())
	f.Add(encode(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}  `, []byte{7, 8}))
	for _, c := range hostileCases {
		f.Add(c.file)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, first); err != nil {
			t.Fatalf("Write of a file that Read accepted failed: %v", err)
		}
		second, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("Read of a rewritten file failed: %v", err)
		}
		if !maps.Equal(first.Metadata, second.Metadata) {
			t.Errorf("metadata changed: %v, then %v", first.Metadata, second.Metadata)
		}
		if !slices.Equal(first.Names(), second.Names()) {
			t.Fatalf("names changed: %v, then %v", first.Names(), second.Names())
		}
		for _, name := range first.Names() {
			a, b := first.Tensors[name], second.Tensors[name]
			if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || !bytes.Equal(a.Data, b.Data) {
				t.Errorf("tensor %q changed: %s %v %x, then %s %v %x",
					name, a.DType, a.Shape, a.Data, b.DType, b.Shape, b.Data)
			}
		}
	})
}
