package dataset

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestConfusionMatrixCounts(t *testing.T) {
	m := NewConfusionMatrix([]string{"pos", "neg", "neu"})
	pairs := [][2]int{{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1}, {1, 1}, {2, 0}, {2, 2}}
	for _, p := range pairs {
		m.Add(p[0], p[1])
	}
	if m.Counts[0][0] != 2 || m.Counts[0][1] != 1 || m.Counts[2][0] != 1 {
		t.Errorf("Counts = %v", m.Counts)
	}
	if m.Total() != 8 {
		t.Errorf("Total() = %d, want 8", m.Total())
	}
	if got, want := m.Accuracy(), 6.0/8; got != want {
		t.Errorf("Accuracy() = %v, want %v", got, want)
	}
	if got, want := m.Recall(0), 2.0/3; got != want {
		t.Errorf("Recall(0) = %v, want %v", got, want)
	}
	if got := m.Recall(1); got != 1 {
		t.Errorf("Recall(1) = %v, want 1", got)
	}
}

func TestConfusionMatrixEmpty(t *testing.T) {
	m := NewConfusionMatrix([]string{"a", "b"})
	if !math.IsNaN(m.Accuracy()) {
		t.Errorf("Accuracy() of an empty matrix = %v, want NaN", m.Accuracy())
	}
	if !math.IsNaN(m.Recall(1)) {
		t.Errorf("Recall(1) without examples = %v, want NaN", m.Recall(1))
	}
	if s := m.String(); !strings.Contains(s, "accuracy - over 0 predictions") {
		t.Errorf("String() = %q, want a dash for the accuracy", s)
	}
}

func TestConfusionMatrixString(t *testing.T) {
	m := NewConfusionMatrix([]string{"positive", "a-very-long-class-name", "日本語"})
	for range 12 {
		m.Add(0, 0)
	}
	m.Add(0, 1)
	m.Add(1, 1)
	m.Add(1, 2)
	want := strings.Join([]string{
		`true\pred     positive  a-very-lon         日本語  recall`,
		`positive            12           1           0   92.3%`,
		`a-very-lon           0           1           1   50.0%`,
		`日本語                  0           0           0       -`,
		`accuracy 86.7% over 15 predictions`,
		``,
	}, "\n")
	if got := m.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestConfusionMatrixColumnsAligned(t *testing.T) {
	m := NewConfusionMatrix([]string{"x", "y"})
	for range 123456 {
		m.Add(1, 0)
	}
	lines := strings.Split(strings.TrimSuffix(m.String(), "\n"), "\n")
	table := lines[:len(lines)-1] // the last line is the accuracy
	for _, line := range table[1:] {
		if len(line) != len(table[0]) {
			t.Errorf("row %q is %d bytes wide, the header %d", line, len(line), len(table[0]))
		}
	}
	if !strings.Contains(lines[2], "123456") {
		t.Errorf("row y = %q, want the count 123456", lines[2])
	}
}

func TestConfusionMatrixWriteError(t *testing.T) {
	m := NewConfusionMatrix([]string{"a"})
	if err := m.Write(failingWriter{}); err == nil {
		t.Errorf("Write to a failing writer returned no error")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWriteFailed }

var errWriteFailed = errors.New("write failed")

func TestConfusionMatrixAddOutOfRange(t *testing.T) {
	m := NewConfusionMatrix([]string{"a", "b"})
	for _, p := range [][2]int{{2, 0}, {0, -1}} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "class indices must be in [0, 2)") {
					t.Errorf("Add(%d, %d) panic = %q, want a range message", p[0], p[1], msg)
				}
			}()
			m.Add(p[0], p[1])
		}()
	}
}
