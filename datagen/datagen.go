// Package datagen writes synthetic data sets for tasks whose correct output is known and
// that a model without memory cannot learn:
//
//	classify  many-to-one: a label decided by the first of several key characters in a line
//	tag       many-to-many: each token tagged with the bracket nesting depth after it
//	dates     sequence-to-sequence: a date in one of 12 formats rewritten as YYYY-MM-DD
//	scenes    captioning and classification of small images of coloured shapes
//
// Every generator writes train, val and test splits into one directory and is deterministic:
// the same Options give the same bytes. Text files are UTF-8 with one example per line and
// no header.
package datagen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Options selects the random stream and the size of each split.
type Options struct {
	// Seed selects the random stream. The same seed and counts give the same files.
	// NOTE: the scene features come from rand.NormFloat64, which calls math.Exp and
	// math.Log. Those use assembly on amd64, so features may differ in the last bit on
	// other architectures. The tests compare files from two runs on one machine only.
	Seed uint64
	// Train, Val and Test are the numbers of examples in each split. Zero selects the
	// task's default, and a negative count is an error.
	Train, Val, Test int
}

// OutputFile is one file a generator wrote and the number of examples it contains.
type OutputFile struct {
	Path     string
	Examples int
}

// Task is one generator and its default split sizes.
type Task struct {
	Name    string
	Summary string
	// Defaults are the split sizes that a zero count in Options selects.
	Defaults Options
	Generate func(dir string, opt Options) ([]OutputFile, error)
}

// Tasks returns the generators in a fixed order.
func Tasks() []Task {
	return []Task{
		{
			Name:     "classify",
			Summary:  "label<TAB>text, where the first of the key characters decides the label",
			Defaults: classifyDefaults,
			Generate: Classify,
		},
		{
			Name:     "tag",
			Summary:  "tokens<TAB>tags, each tag the bracket nesting depth after its token",
			Defaults: tagDefaults,
			Generate: Tag,
		},
		{
			Name:     "dates",
			Summary:  "source<TAB>target, a date in one of 12 formats and as YYYY-MM-DD",
			Defaults: datesDefaults,
			Generate: Dates,
		},
		{
			Name:     "scenes",
			Summary:  "24×24 images of 1–3 coloured shapes: captions, shape labels, features",
			Defaults: scenesDefaults,
			Generate: Scenes,
		},
	}
}

// TaskNames returns the names of the tasks that Tasks returns, in the same order.
func TaskNames() []string {
	var names []string
	for _, t := range Tasks() {
		names = append(names, t.Name)
	}
	return names
}

// Lookup returns the task called name. The error lists the known names.
func Lookup(name string) (Task, error) {
	for _, t := range Tasks() {
		if t.Name == name {
			return t, nil
		}
	}
	return Task{}, fmt.Errorf("datagen: unknown task %q: use one of %s",
		name, strings.Join(TaskNames(), ", "))
}

// splitNames are the file name prefixes of the three splits, in the order of Options'
// counts.
var splitNames = [3]string{"train", "val", "test"}

// MaxLines bounds each split of the text tasks, and MaxScenes each split of scenes, whose
// examples carry an image each. The limits turn a typo such as --train 9999999999999 into
// an error instead of an allocation of terabytes.
const (
	MaxLines  = 10_000_000
	MaxScenes = 1_000_000
)

// resolve returns the split sizes of opt in splitNames order, with every zero count
// replaced by the one in defaults. A negative count, or one above limit, is an error.
func (opt Options) resolve(task string, defaults Options, limit int) ([3]int, error) {
	counts := [3]int{opt.Train, opt.Val, opt.Test}
	fallback := [3]int{defaults.Train, defaults.Val, defaults.Test}
	fields := [3]string{"Train", "Val", "Test"}
	for i := range counts {
		if counts[i] < 0 {
			return counts, fmt.Errorf("datagen: %s: invalid %s count %d: use a positive count, "+
				"or 0 for the default of %d", task, fields[i], counts[i], fallback[i])
		}
		if counts[i] > limit {
			return counts, fmt.Errorf("datagen: %s: invalid %s count %d: use at most %d "+
				"examples per split", task, fields[i], counts[i], limit)
		}
		if counts[i] == 0 {
			counts[i] = fallback[i]
		}
	}
	return counts, nil
}

// newRand returns the random source of one task. Each task has its own stream, so two
// tasks given the same seed do not share random numbers.
func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// makeDir creates dir and its parents when they are missing.
func makeDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("datagen: missing output directory: name a directory to write into")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("datagen: create output directory: %w", err)
	}
	return nil
}

// distinctSplits draws examples from next until every split has its count, skipping any
// line already drawn, so no line appears twice in one split or in two splits. It fails
// when next returns no new line in 10000 draws in a row, which means the task cannot
// produce that many distinct lines.
func distinctSplits(task string, counts [3]int, next func() string) ([3][]string, error) {
	const maxRepeats = 10000
	var splits [3][]string
	seen := map[string]bool{}
	for s, count := range counts {
		lines := make([]string, 0, count)
		repeats := 0
		for len(lines) < count {
			line := next()
			if seen[line] {
				repeats++
				if repeats == maxRepeats {
					return splits, fmt.Errorf("datagen: %s: found only %d distinct lines for "+
						"the %s split after %d repeats in a row: request fewer examples",
						task, len(seen), splitNames[s], maxRepeats)
				}
				continue
			}
			repeats = 0
			seen[line] = true
			lines = append(lines, line)
		}
		splits[s] = lines
	}
	return splits, nil
}

// writeSplits writes each split's lines to dir/NAME.tsv.
func writeSplits(dir string, splits [3][]string) ([]OutputFile, error) {
	var files []OutputFile
	for s, lines := range splits {
		path := filepath.Join(dir, splitNames[s]+".tsv")
		if err := writeLines(path, lines); err != nil {
			return files, err
		}
		files = append(files, OutputFile{Path: path, Examples: len(lines)})
	}
	return files, nil
}

// writeLines writes each line followed by '\n' to path.
func writeLines(path string, lines []string) error {
	return writeFileAtomic(path, func(w io.Writer) error {
		for _, line := range lines {
			if _, err := io.WriteString(w, line+"\n"); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeFileAtomic writes the output of write to a temporary file beside path and renames it
// over path, so a failure never leaves path truncated.
func writeFileAtomic(path string, write func(w io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		return fmt.Errorf("datagen: write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("datagen: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("datagen: close %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	return nil
}
