package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Labeled is one example of a classification task.
type Labeled struct {
	Label, Text string
	Line        int // line number in the file, from 1
}

// Tagged is one example of a sequence tagging task: one tag per token.
type Tagged struct {
	Tokens, Tags []string
	Line         int // line number in the file, from 1
}

// Pair is one example of a sequence-to-sequence task.
type Pair struct {
	Source, Target string
	Line           int // line number in the file, from 1
}

// Caption is one example of an image captioning task. Image is the row of the image's
// features in the feature matrix.
type Caption struct {
	Image int
	Text  string
	Line  int // line number in the file, from 1
}

// ReadLabeled reads the example file at path, whose lines have the form label<TAB>text.
// Spaces around the label are dropped, and the text is kept as it is.
func ReadLabeled(path string) ([]Labeled, error) {
	return readExamples(path, "label", "text", func(label, text string) (Labeled, error) {
		return Labeled{Label: strings.Trim(label, " "), Text: text}, nil
	})
}

// ReadTagged reads the example file at path, whose lines have the form tokens<TAB>tags,
// where both fields are lists separated by runs of spaces and have equally many items.
func ReadTagged(path string) ([]Tagged, error) {
	return readExamples(path, "tokens", "tags", func(tokenField, tagField string) (Tagged, error) {
		tokens := strings.FieldsFunc(tokenField, isSpace)
		tags := strings.FieldsFunc(tagField, isSpace)
		if len(tokens) != len(tags) {
			return Tagged{}, fmt.Errorf("%d tokens but %d tags; give exactly one tag per "+
				"token, separated by spaces", len(tokens), len(tags))
		}
		return Tagged{Tokens: tokens, Tags: tags}, nil
	})
}

// ReadPairs reads the example file at path, whose lines have the form source<TAB>target.
func ReadPairs(path string) ([]Pair, error) {
	return readExamples(path, "source", "target", func(source, target string) (Pair, error) {
		return Pair{Source: source, Target: target}, nil
	})
}

// ReadCaptions reads the example file at path, whose lines have the form
// image_index<TAB>caption, where image_index is a non-negative decimal integer, optionally
// surrounded by spaces. ReadCaptions does not know how many images there are, so the caller
// checks the indices against its feature matrix.
func ReadCaptions(path string) ([]Caption, error) {
	parse := func(index, caption string) (Caption, error) {
		image, err := strconv.Atoi(strings.Trim(index, " "))
		if err != nil || image < 0 {
			return Caption{}, fmt.Errorf("image index %q is not a non-negative integer: the "+
				"first field must be the row of the image in the feature matrix, such as 0 or 17",
				index)
		}
		return Caption{Image: image, Text: caption}, nil
	}
	return readExamples(path, "image_index", "caption", parse)
}

func isSpace(r rune) bool { return r == ' ' }

// readExamples reads the two-field lines of path and turns each into an example with parse.
// first and second name the fields in messages. An error from parse is prefixed with the
// file and line.
func readExamples[E any](
	path, first, second string, parse func(a, b string) (E, error),
) ([]E, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer in.Close()

	layout := first + "<TAB>" + second
	var examples []E
	r := bufio.NewReaderSize(in, 64<<10)
	var offset int64 // byte offset of the current line in the file
	for number := 1; ; number++ {
		raw, readErr := r.ReadString('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return nil, fmt.Errorf("dataset: %s:%d: %w", path, number, readErr)
		}
		lineOffset := offset
		offset += int64(len(raw))
		if raw == "" && readErr != nil {
			break
		}

		line := strings.TrimSuffix(raw, "\n")
		line = strings.TrimSuffix(line, "\r")
		if number == 1 && strings.HasPrefix(line, "\uFEFF") {
			line = line[len("\uFEFF"):]
			lineOffset += int64(len("\uFEFF"))
		}
		if bad := invalidUTF8Offset(line); bad >= 0 {
			return nil, fmt.Errorf("dataset: %s:%d: invalid UTF-8 at byte offset %d of the line "+
				"(byte %d of the file); convert the file to UTF-8",
				path, number, bad, lineOffset+int64(bad))
		}
		if strings.Trim(line, " \t") != "" {
			example, err := parseLine(line, first, second, parse)
			if err != nil {
				return nil, fmt.Errorf("dataset: %s:%d: %w", path, number, err)
			}
			setLine(&example, number)
			examples = append(examples, example)
		}
		if readErr != nil {
			break
		}
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("dataset: %s contains no examples; expected lines of the form %s",
			path, layout)
	}
	return examples, nil
}

// setLine records the line number of an example.
func setLine[E any](e *E, number int) {
	switch x := any(e).(type) {
	case *Labeled:
		x.Line = number
	case *Tagged:
		x.Line = number
	case *Pair:
		x.Line = number
	case *Caption:
		x.Line = number
	case *Input:
		x.Line = number
	}
}

// Input is one line of a file of inputs without expected outputs, for prediction.
type Input struct {
	Text string
	Line int // line number in the file, from 1
}

// HasTabs reports whether the first non-blank line of the file at path contains a tab. A file
// of examples with expected outputs has one, and a file of inputs alone has none.
func HasTabs(path string) (bool, error) {
	in, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("dataset: %w", err)
	}
	defer in.Close()
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if strings.Trim(line, " \r\n\uFEFF") != "" {
			return strings.Contains(line, "\t"), nil
		}
		if err != nil {
			return false, nil
		}
	}
}

// ReadInputs reads a file of inputs without expected outputs: each non-blank line is one
// input (a text, space-separated tokens, a source or an image index) and contains no tab.
func ReadInputs(path string) ([]Input, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer in.Close()
	var inputs []Input
	r := bufio.NewReaderSize(in, 64<<10)
	for number := 1; ; number++ {
		raw, readErr := r.ReadString('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return nil, fmt.Errorf("dataset: %s:%d: %w", path, number, readErr)
		}
		if raw == "" && readErr != nil {
			break
		}
		line := strings.TrimSuffix(strings.TrimSuffix(raw, "\n"), "\r")
		if number == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if bad := invalidUTF8Offset(line); bad >= 0 {
			return nil, fmt.Errorf("dataset: %s:%d: invalid UTF-8 at byte offset %d of the line; "+
				"convert the file to UTF-8", path, number, bad)
		}
		if strings.Contains(line, "\t") {
			return nil, fmt.Errorf("dataset: %s:%d: the line contains a tab, but the first "+
				"non-blank line has none, so the file was read as inputs without expected "+
				"outputs. Give every line the same form", path, number)
		}
		if strings.Trim(line, " ") != "" {
			inputs = append(inputs, Input{Text: line, Line: number})
		}
		if readErr != nil {
			break
		}
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("dataset: %s contains no inputs", path)
	}
	return inputs, nil
}

// parseLine splits line at its only tab, checks that neither field is blank and passes the
// fields to parse.
func parseLine[E any](line, first, second string, parse func(a, b string) (E, error)) (E, error) {
	var zero E
	layout := first + "<TAB>" + second
	a, b, found := strings.Cut(line, "\t")
	if !found {
		return zero, fmt.Errorf("missing tab: expected %s, but the line %s has no tab; "+
			"separate the fields with one tab character", layout, quoteStart(line))
	}
	if n := strings.Count(b, "\t"); n > 0 {
		return zero, fmt.Errorf("the line has %d tabs, but it must have exactly one, between "+
			"the %s and the %s; replace the other tabs with spaces", n+1, first, second)
	}
	if strings.Trim(a, " ") == "" {
		return zero, fmt.Errorf("empty %s before the tab; expected %s", first, layout)
	}
	if strings.Trim(b, " ") == "" {
		return zero, fmt.Errorf("empty %s after the tab; expected %s", second, layout)
	}
	return parse(a, b)
}

// quoteStart quotes line for a message, cut to its first 40 characters.
func quoteStart(line string) string {
	start := truncateRunes(line, 40)
	if len(start) < len(line) {
		return strconv.Quote(start) + "…"
	}
	return strconv.Quote(line)
}
