package dataset

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recur-ml/recur/safetensors"
)

// FuzzReadMatrix checks that ReadMatrix never panics on arbitrary bytes, read as .npy, as
// .safetensors and by magic bytes, and that what it accepts is a finite array of 1 to 3
// dimensions whose shape matches its length.
func FuzzReadMatrix(f *testing.F) {
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
	f.Add(npyBytes(1, header, float32Bytes(1, 2, 3, 4)))
	f.Add(npyBytes(2, header, float32Bytes(1, 2, 3, 4)))
	f.Add(npyBytes(3, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", float64Bytes(0.5)))
	f.Add(npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", float32Bytes(1, 2)))
	f.Add(npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", float32Bytes(1, 2)))
	f.Add(npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }", nil))
	f.Add(npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", float32Bytes(float32(math.NaN()))))
	f.Add(npyBytes(1, header, float32Bytes(1, 2, 3))) // truncated data
	f.Add([]byte(npyMagic + "\x01\x00\xff\xff{"))     // header length past the end
	f.Add([]byte{})

	var st bytes.Buffer
	file := &safetensors.File{}
	file.AddFloat32("x", []int{2}, []float32{1, 2})
	file.AddFloat64("y", []int{1, 1}, []float64{3})
	if err := safetensors.Write(&st, file); err != nil {
		f.Fatal(err)
	}
	f.Add(st.Bytes())

	// One directory serves every input, because creating one per input slows fuzzing down.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		for _, name := range []string{"m.npy", "m.safetensors", "m.bin"} {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			data, shape, err := ReadMatrix(path)
			if err != nil {
				if !strings.Contains(err.Error(), path) {
					t.Errorf("%s: error %q does not name the file", name, err)
				}
				continue
			}
			if len(shape) < 1 || len(shape) > 3 {
				t.Fatalf("%s: accepted shape %v", name, shape)
			}
			count := 1
			for _, d := range shape {
				count *= d
			}
			if count != len(data) {
				t.Fatalf("%s: shape %v has %d elements, data has %d", name, shape, count, len(data))
			}
			if 4*len(data) > len(content) {
				t.Fatalf("%s: %d values from a %d-byte file", name, len(data), len(content))
			}
			for i, x := range data {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("%s: accepted non-finite element %d = %v", name, i, x)
				}
			}
		}
	})
}

// FuzzReadLabeled checks that ReadLabeled never panics, that every error names the file,
// and that every example it returns has a non-blank label and text of valid UTF-8 without
// tabs or line breaks.
func FuzzReadLabeled(f *testing.F) {
	for _, seed := range []string{
		"pos\tgood\nneg\tbad\n",
		"pos\tgood\r\n\r\nneg\tbad",
		"\uFEFFlabel\ttext",
		"no tab\n",
		"a\tb\tc\n",
		"\tempty label\n",
		"label\t\n",
		"",
		"\n\n  \n",
		"pos\tba\xffd\n",
		"日本\t東京 😀\n",
		"x\t" + strings.Repeat("y", 70000) + "\n",
	} {
		f.Add([]byte(seed))
	}
	path := filepath.Join(f.TempDir(), "labels.tsv")
	f.Fuzz(func(t *testing.T, content []byte) {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		examples, err := ReadLabeled(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if len(examples) == 0 {
			t.Fatalf("no error and no examples")
		}
		if lines := bytes.Count(content, []byte("\n")) + 1; len(examples) > lines {
			t.Fatalf("%d examples from %d lines", len(examples), lines)
		}
		for i, e := range examples {
			for _, field := range []string{e.Label, e.Text} {
				if strings.Trim(field, " ") == "" {
					t.Errorf("example %d has a blank field: %+v", i, e)
				}
				if !utf8.ValidString(field) || strings.ContainsAny(field, "\t\n") {
					t.Errorf("example %d has a field with invalid UTF-8, a tab or a newline: %+v", i, e)
				}
			}
		}
	})
}
