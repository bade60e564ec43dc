package corpus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Corpus is a loaded text.
type Corpus struct {
	// Text is the whole corpus as code points.
	Text []rune
	// Files lists the paths read, in the order their text appears in Text.
	Files []string
}

// Load reads the corpus at path: one text file, or every selected file of a directory tree.
//
// A tree is walked in lexical order. Directories and files whose names begin with '.' (such
// as .git) are skipped, and symbolic links to directories are not followed. A non-empty
// filter is a filepath.Match pattern on base names, such as "*.go", and selects the files
// to read. Directories never match it and are always walked. The filter does not apply
// when path is a file.
//
// Files are joined in order. When a file's text does not end with '\n', a '\n' is inserted
// before the next non-empty file, so lines of different files never merge.
//
// Every file must be valid UTF-8: the error names the file and the byte offset of the first
// invalid byte. A missing path, an empty file and a tree without text are errors too.
func Load(path, filter string) (*Corpus, error) {
	if _, err := filepath.Match(filter, ""); err != nil {
		return nil, fmt.Errorf("corpus: invalid filter %q: %w; use a pattern such as *.txt", filter, err)
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("corpus: %s does not exist; pass a text file or a directory of text files", path)
	}
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}

	if !info.IsDir() {
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("corpus: %s is not a regular file or a directory", path)
		}
		c, err := readFiles([]string{path}, info.Size(), "convert it to UTF-8")
		if err != nil {
			return nil, err
		}
		if len(c.Text) == 0 {
			return nil, fmt.Errorf("corpus: %s is empty; pass a file that contains text", path)
		}
		return c, nil
	}

	files, total, err := listFiles(path, filter)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if filter == "" {
			return nil, fmt.Errorf("corpus: %s contains no files (names beginning with '.' are skipped); "+
				"pass a directory with text files", path)
		}
		return nil, fmt.Errorf("corpus: no file under %s matches the filter %q; the filter matches "+
			"base names, for example *.txt", path, filter)
	}
	c, err := readFiles(files, total, "convert it to UTF-8 or exclude it with --filter")
	if err != nil {
		return nil, err
	}
	if len(c.Text) == 0 {
		return nil, fmt.Errorf("corpus: all %d files selected under %s are empty; "+
			"pass a directory with text", len(files), path)
	}
	return c, nil
}

// listFiles returns the selected files under root in lexical order and their total size in
// bytes.
func listFiles(root, filter string) ([]string, int64, error) {
	var files []string
	var total int64
	// A trailing separator makes WalkDir follow root itself when it is a symbolic link to a
	// directory; the paths it passes on are cleaned, so they do not show the separator.
	walkRoot := root
	if !strings.HasSuffix(walkRoot, string(filepath.Separator)) {
		walkRoot += string(filepath.Separator)
	}
	err := filepath.WalkDir(walkRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := path != walkRoot && strings.HasPrefix(d.Name(), ".")
		if d.IsDir() {
			if hidden {
				return filepath.SkipDir
			}
			return nil
		}
		if hidden {
			return nil
		}
		if filter != "" {
			if ok, _ := filepath.Match(filter, d.Name()); !ok { // Load validated the pattern
				return nil
			}
		}
		// Stat follows a symbolic link, so a link to a file is read and anything else that
		// is not a regular file (a link to a directory, a dangling link, a link loop, a
		// socket) is skipped.
		info, err := os.Stat(path)
		if err != nil && d.Type()&fs.ModeSymlink != 0 {
			return nil // a dangling link or a loop of links
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		files = append(files, path)
		total += info.Size()
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("corpus: reading directory %s: %w", root, err)
	}
	return files, total, nil
}

// readFiles decodes and joins the files. sizeHint is their total size in bytes, an upper
// bound on the number of characters. fix is the advice that ends an invalid-UTF-8 error.
func readFiles(files []string, sizeHint int64, fix string) (*Corpus, error) {
	c := &Corpus{Text: make([]rune, 0, sizeHint+int64(len(files))), Files: files}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		if len(data) == 0 {
			continue
		}
		if n := len(c.Text); n > 0 && c.Text[n-1] != '\n' {
			c.Text = append(c.Text, '\n')
		}
		var bad int
		c.Text, bad = appendRunes(c.Text, data)
		if bad >= 0 {
			return nil, fmt.Errorf("corpus: %s: invalid UTF-8 at byte offset %d; %s", path, bad, fix)
		}
	}
	return c, nil
}

// appendRunes appends the code points of the UTF-8 text data to dst. It returns the byte
// offset of the first invalid byte, or -1 when data is valid UTF-8. A correctly encoded
// U+FFFD is valid.
func appendRunes(dst []rune, data []byte) ([]rune, int) {
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			dst = append(dst, rune(data[i]))
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return dst, i
		}
		dst = append(dst, r)
		i += size
	}
	return dst, -1
}
