package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// outputMagic maps the extensions of the files that recur viz, recur viz --grad-flow and
// recur plot write to the prefixes those files start with.
var outputMagic = map[string][]string{
	"html": {"<!DOCTYPE html>"},
	"png":  {"\x89PNG\r\n\x1a\n"},
	"svg":  {"<?xml", "<svg"},
	"pdf":  {"%PDF-"},
	"jpg":  {"\xff\xd8\xff"},
	"jpeg": {"\xff\xd8\xff"},
	"eps":  {"%!PS"},
	"tif":  {"II*\x00", "MM\x00*"},
	"tiff": {"II*\x00", "MM\x00*"},
}

// looksLikeOutput reports whether the file at path has an extension of outputMagic and
// starts with the matching prefix, so replacing it loses no one's work but a former run's.
func looksLikeOutput(path string) bool {
	prefixes := outputMagic[strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")]
	if prefixes == nil {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	for _, p := range prefixes {
		if bytes.HasPrefix(head[:n], []byte(p)) {
			return true
		}
	}
	return false
}

// checkOutputFile returns an error unless the output file path, given by flagName, may be
// written. It rejects a directory, a symbolic link or other non-regular file, a file that
// is one of inputs (compared with os.SameFile), a path inside one of the checkpoints, and,
// without overwrite, an existing file that looksLikeOutput does not recognize.
func checkOutputFile(flagName, path string, overwrite bool, inputs, checkpoints []string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s %s: the directory %s does not exist: create it first", flagName, path, dir)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	for _, ck := range checkpoints {
		realCk, err := filepath.EvalSymlinks(ck)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(realCk, filepath.Join(realDir, filepath.Base(path)))
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("%s %s is inside the checkpoint %s: write it elsewhere", flagName, path, ck)
		}
	}

	st, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	switch {
	case st.IsDir():
		return fmt.Errorf("%s %s is a directory: name a file in it", flagName, path)
	case st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s %s is a symbolic link: name the file itself, or remove the link", flagName, path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s %s is not a regular file: name a file to write", flagName, path)
	}
	for _, in := range inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
			return fmt.Errorf("%s %s is the input file %s: write the output to another file", flagName, path, in)
		}
	}
	if !overwrite && !looksLikeOutput(path) {
		return fmt.Errorf("%s %s already exists and does not look like a file recur wrote: "+
			"choose another file, or pass --overwrite to replace it", flagName, path)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and renames it over
// path, so a failure leaves the old file whole and a link at path is replaced, not followed.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".recur-out-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file private (0600), but a page or an image is an output to share.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
