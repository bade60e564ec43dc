package corpus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTree creates files under root from a map of slash-separated relative paths to
// contents.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		path := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sourceTree returns a directory with Go files, a text file, hidden entries, a directory
// named like a Go file, an empty file and symbolic links.
func sourceTree(t *testing.T) string {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"a.go":           "package a", // no final newline
		"b.txt":          "skip",
		".git/config.go": "hidden directory",
		".hidden.go":     "hidden file",
		"sub/c.go":       "package c\n",
		"x.go/d.go":      "package d\n",
		"z.go":           "",
	})
	for link, target := range map[string]string{
		"link.go":     "sub/c.go",
		"dirlink.go":  "x.go",
		"dangling.go": "nowhere",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLoadTreeFilter(t *testing.T) {
	root := sourceTree(t)
	c, err := Load(root, "*.go")
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, path := range c.Files {
		r, _ := filepath.Rel(root, path)
		rel = append(rel, filepath.ToSlash(r))
	}
	if want := []string{"a.go", "link.go", "sub/c.go", "x.go/d.go", "z.go"}; !slices.Equal(rel, want) {
		t.Errorf("Files = %v, want %v", rel, want)
	}
	if want := "package a\npackage c\npackage c\npackage d\n"; string(c.Text) != want {
		t.Errorf("Text = %q, want %q", string(c.Text), want)
	}
}

func TestLoadTreeAllFiles(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"1.txt":      "one",
		"2/a.md":     "two\n",
		"2/b.txt":    "",
		"3.txt":      "thrée",
		".gitignore": "*.o",
	})
	c, err := Load(root, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "one\ntwo\nthrée"; string(c.Text) != want {
		t.Errorf("Text = %q, want %q", string(c.Text), want)
	}
	if len(c.Files) != 4 {
		t.Errorf("Files = %v, want 4 files", c.Files)
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "input.txt")
	writeTree(t, filepath.Dir(path), map[string]string{"input.txt": "héllo 日本\r\n😀"})
	c, err := Load(path, "*.go") // the filter applies to trees only
	if err != nil {
		t.Fatal(err)
	}
	if want := []rune("héllo 日本\r\n😀"); !slices.Equal(c.Text, want) {
		t.Errorf("Text = %q, want %q", string(c.Text), string(want))
	}
	if !slices.Equal(c.Files, []string{path}) {
		t.Errorf("Files = %v, want [%s]", c.Files, path)
	}
}

func TestLoadInvalidUTF8(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"a.txt":   "fine\n",
		"bad.txt": "héllo\xffworld", // 'h' is 1 byte and 'é' 2, so 0xff is at offset 6
	})
	bad := filepath.Join(root, "bad.txt")

	_, err := Load(root, "")
	for _, want := range []string{bad, "invalid UTF-8 at byte offset 6", "convert it to UTF-8", "--filter"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(tree) error = %v, want it to contain %q", err, want)
		}
	}

	_, err = Load(bad, "")
	for _, want := range []string{bad, "byte offset 6", "convert it to UTF-8"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(file) error = %v, want it to contain %q", err, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"empty.txt":     "",
		"only/notes.md": "text",
		"blank/a.txt":   "",
		"blank/b/c.txt": "",
		"hidden/.x.txt": "text",
		"hidden/.git/y": "text",
	})
	cases := []struct {
		name, path, filter string
		want               []string
	}{
		{"missing path", filepath.Join(root, "nope"), "", []string{filepath.Join(root, "nope"), "does not exist"}},
		{"empty file", filepath.Join(root, "empty.txt"), "", []string{filepath.Join(root, "empty.txt"), "is empty"}},
		{"no match", filepath.Join(root, "only"), "*.go", []string{filepath.Join(root, "only"), `matches the filter "*.go"`}},
		{"empty tree", filepath.Join(root, "blank"), "", []string{filepath.Join(root, "blank"), "all 2 files", "are empty"}},
		{"only hidden", filepath.Join(root, "hidden"), "", []string{filepath.Join(root, "hidden"), "contains no files"}},
		{"bad pattern", root, "[", []string{`invalid filter "["`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.path, c.filter)
			for _, want := range c.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Load(%s, %q) error = %v, want it to contain %q", c.path, c.filter, err, want)
				}
			}
		})
	}
}

func TestLoadSymlinkRootAndLoop(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A link that points at itself makes Stat fail with ELOOP; Load skips it.
	if err := os.Symlink("loop", filepath.Join(data, "loop")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	c, err := Load(link, "")
	if err != nil {
		t.Fatalf("Load through a linked directory: %v", err)
	}
	if string(c.Text) != "abc" {
		t.Errorf("text = %q, want abc", string(c.Text))
	}
	if len(c.Files) != 1 || c.Files[0] != filepath.Join(link, "a.txt") {
		t.Errorf("files = %v, want [%s]", c.Files, filepath.Join(link, "a.txt"))
	}
}
