package dataset

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxClassNameRunes is the width, in characters, to which String and Write cut class names.
const maxClassNameRunes = 10

// ConfusionMatrix counts a classifier's predictions by true class and predicted class.
type ConfusionMatrix struct {
	// Classes names the classes, indexed like the rows and columns of Counts.
	Classes []string
	// Counts[i][j] is the number of examples of true class i predicted as class j.
	Counts [][]int
}

// NewConfusionMatrix returns an empty matrix over the named classes.
func NewConfusionMatrix(classes []string) *ConfusionMatrix {
	counts := make([][]int, len(classes))
	for i := range counts {
		counts[i] = make([]int, len(classes))
	}
	return &ConfusionMatrix{Classes: slices.Clone(classes), Counts: counts}
}

// Add counts one example of class trueClass predicted as class predicted. It panics when
// either index is outside the classes, which is a caller mistake.
func (m *ConfusionMatrix) Add(trueClass, predicted int) {
	n := len(m.Classes)
	if trueClass < 0 || trueClass >= n || predicted < 0 || predicted >= n {
		panic(fmt.Sprintf("dataset: ConfusionMatrix.Add(%d, %d): class indices must be in "+
			"[0, %d)", trueClass, predicted, n))
	}
	m.Counts[trueClass][predicted]++
}

// Total returns the number of examples counted.
func (m *ConfusionMatrix) Total() int {
	total := 0
	for _, row := range m.Counts {
		for _, c := range row {
			total += c
		}
	}
	return total
}

// Accuracy returns the fraction of examples whose prediction is their true class, or NaN
// when no example has been counted.
func (m *ConfusionMatrix) Accuracy() float64 {
	total := m.Total()
	if total == 0 {
		return math.NaN()
	}
	correct := 0
	for i := range m.Counts {
		correct += m.Counts[i][i]
	}
	return float64(correct) / float64(total)
}

// Recall returns the fraction of the examples of class that were predicted as class, or NaN
// when the class has no examples. It panics when class is out of range.
func (m *ConfusionMatrix) Recall(class int) float64 {
	row := m.Counts[class]
	total := 0
	for _, c := range row {
		total += c
	}
	if total == 0 {
		return math.NaN()
	}
	return float64(row[class]) / float64(total)
}

// String returns the table that Write prints.
func (m *ConfusionMatrix) String() string {
	var b strings.Builder
	m.Write(&b) // the Write methods of strings.Builder always return a nil error
	return b.String()
}

// Write prints the matrix as an aligned table. Rows are true classes and columns predicted
// classes, both headed by class names cut to 10 characters, and the last column is each
// class's recall. A final line gives the accuracy and the number of examples. A recall or
// accuracy without examples prints as "-". Alignment counts characters, so names with
// double-width characters, such as CJK ideographs, misalign their row and column.
func (m *ConfusionMatrix) Write(w io.Writer) error {
	const corner = "true\\pred"
	names := make([]string, len(m.Classes))
	rowHeader := utf8.RuneCountInString(corner)
	cell := 1
	const recallWidth = len("recall") // as wide as "100.0%"
	for i, class := range m.Classes {
		names[i] = truncateRunes(class, maxClassNameRunes)
		rowHeader = max(rowHeader, utf8.RuneCountInString(names[i]))
		cell = max(cell, utf8.RuneCountInString(names[i]))
		for _, c := range m.Counts[i] {
			cell = max(cell, len(fmt.Sprint(c)))
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%-*s", rowHeader, corner)
	for _, name := range names {
		fmt.Fprintf(&b, "  %*s", cell, name)
	}
	fmt.Fprintf(&b, "  %*s\n", recallWidth, "recall")
	for i, name := range names {
		fmt.Fprintf(&b, "%-*s", rowHeader, name)
		for _, c := range m.Counts[i] {
			fmt.Fprintf(&b, "  %*d", cell, c)
		}
		fmt.Fprintf(&b, "  %*s\n", recallWidth, formatPercent(m.Recall(i)))
	}
	fmt.Fprintf(&b, "accuracy %s over %d predictions\n", formatPercent(m.Accuracy()), m.Total())
	_, err := io.WriteString(w, b.String())
	return err
}

// formatPercent formats a fraction as a percentage with one decimal, or NaN as "-".
func formatPercent(fraction float64) string {
	if math.IsNaN(fraction) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*fraction)
}

// truncateRunes returns the first n characters of s.
func truncateRunes(s string, n int) string {
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}
