package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write encodes f: tensors sorted by name and stored back to back, metadata first in the
// header, and the header padded with spaces to a multiple of 8 bytes. It validates every
// tensor before writing anything.
func Write(w io.Writer, f *File) error {
	names := f.Names()
	for _, name := range names {
		if err := checkTensor(name, f.Tensors[name]); err != nil {
			return fmt.Errorf("safetensors: write: %w", err)
		}
	}
	header, err := encodeHeader(f, names)
	if err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}

	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(header)))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	for _, name := range names {
		if _, err := w.Write(f.Tensors[name].Data); err != nil {
			return fmt.Errorf("safetensors: write tensor %q: %w", name, err)
		}
	}
	return nil
}

// encodeHeader returns the padded JSON header for the tensors called names, in that order.
func encodeHeader(f *File, names []string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(f.Metadata) > 0 {
		buf.WriteString(`"__metadata__":`)
		// json sorts map keys, so the header is deterministic.
		if err := appendJSON(&buf, f.Metadata); err != nil {
			return nil, err
		}
	}
	offset := 0
	for i, name := range names {
		if i > 0 || len(f.Metadata) > 0 {
			buf.WriteByte(',')
		}
		t := f.Tensors[name]
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar, written as [] and not null
		}
		entry := struct {
			DType       string `json:"dtype"`
			Shape       []int  `json:"shape"`
			DataOffsets [2]int `json:"data_offsets"`
		}{t.DType, shape, [2]int{offset, offset + len(t.Data)}}
		offset += len(t.Data)
		if err := appendJSON(&buf, name); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := appendJSON(&buf, entry); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')

	// The 8-byte length prefix is itself a multiple of 8, so padding the header aligns the
	// data buffer.
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

// appendJSON appends the JSON encoding of v without HTML escaping or a trailing newline.
func appendJSON(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode ends with '\n'
	return nil
}

// WriteFile writes f to path+".tmp", syncs it, renames it over path and syncs the directory,
// so path holds either the old file or the complete new one after a crash.
func WriteFile(path string, f *File) (err error) {
	tmp := path + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(out, 1<<20)
	if err := Write(bw, f); err != nil {
		return fmt.Errorf("%w (writing %s)", err, tmp)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", tmp, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("safetensors: sync %s: %w", tmp, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("safetensors: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir flushes a directory entry, which makes a rename inside it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("safetensors: sync directory %s: %w", dir, err)
	}
	return nil
}
