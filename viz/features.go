package viz

import (
	"math"
	"sort"
	"unicode"
)

// Feature is a property of every character of a text, such as the bracket depth at it.
type Feature struct {
	Name   string
	Values []float64 // one per character
}

// Feature names, in the order Features returns them.
const (
	FeatureQuote   = "in_quotes"
	FeatureColumn  = "line_position"
	FeatureBracket = "bracket_depth"
	FeatureIndent  = "indent_depth"
	FeatureComment = "in_comment"
	FeatureIfBlock = "in_if_block"
	FeatureWord    = "word_start"
)

// Features computes the text features that --find correlates units with. Each is 0 or 1
// unless stated:
//
//   - in_quotes: inside a "…" or '…' string or a `…` raw string, the quotes included. In
//     "…" and '…' a backslash escapes the next character, and the string ends at the end of
//     its line even without a closing quote. A `…` string has no escapes and may span lines,
//     as in Go. A ' right after a letter or a digit is an apostrophe and opens no string.
//   - line_position: the column of the character in its line, counting from 0.
//   - bracket_depth: how many (), [] and {} pairs enclose the character. A bracket belongs
//     to the pair it opens or closes, so "a(b)c" gives 0 1 1 1 0.
//   - indent_depth: the number of spaces and tabs that begin the character's line.
//   - in_comment: inside a // comment (up to, not including, the newline) or a /* */
//     comment (both delimiters included).
//   - in_if_block: inside the {} block of an if (or else if) statement, the braces
//     included. The block is the first { after the word if at the bracket depth of the if,
//     so the condition may span lines, as in "if a &&\n b {". The block of a plain else is
//     not counted.
//   - word_start: a letter, digit or underscore that does not follow one.
//
// Brackets, quotes, comment markers and the word if inside a string or a comment are
// ordinary text.
//
// NOTE: the rules are lexical and C-like, so they are heuristics. The apostrophe rule
// misreads a ' after a letter that should open a string ('like this' closes fine). An if
// without braces waits for its { only until a line ends at its depth with a letter, digit,
// closing bracket or quote, ';' or ':' (Go's semicolon rule, roughly), so a C if whose { is
// alone on the next line is missed. An unclosed ` runs to the end of the text.
func Features(text []rune) []Feature {
	n := len(text)
	quote := make([]float64, n)
	column := make([]float64, n)
	bracket := make([]float64, n)
	indent := make([]float64, n)
	comment := make([]float64, n)
	ifBlock := make([]float64, n)
	word := make([]float64, n)

	var (
		col, depth    int
		lineIndent    int
		inIndent      = true
		quoteChar     rune // the open quote, 0 outside a string
		escaped       bool
		lineComment   bool
		blockComment  bool
		blockEnd      int // index of the '/' closing the current block comment
		braces        []bool
		ifBraceOpened int  // braces on the stack that opened an if block
		pendingIf     bool // an if was read and its { has not come yet
		pendingDepth  int  // the bracket depth of that if
		lastCode      rune // the last character outside comments that is not white space
	)
	for i, r := range text {
		if inIndent && (r == ' ' || r == '\t') {
			lineIndent++
		} else {
			inIndent = false
		}
		column[i] = float64(col)
		word[i] = boolValue(isWordRune(r) && (i == 0 || !isWordRune(text[i-1])))

		closer := false
		switch {
		case blockComment:
			comment[i] = 1
			if i == blockEnd {
				blockComment = false
			}
		case lineComment:
			if r == '\n' {
				lineComment = false
			} else {
				comment[i] = 1
			}
		case quoteChar == '`':
			quote[i] = 1
			if r == '`' {
				quoteChar = 0
			}
		case quoteChar != 0:
			quote[i] = 1
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == quoteChar || r == '\n':
				quoteChar = 0
				quote[i] = boolValue(r != '\n')
			}
		case r == '\'' && i > 0 && (unicode.IsLetter(text[i-1]) || unicode.IsDigit(text[i-1])):
			// An apostrophe, as in "don't" or "the 90's": a quote that opens a string
			// follows a space, an operator or a bracket.
		case r == '"' || r == '\'' || r == '`':
			quoteChar = r
			quote[i] = 1
		case r == '/' && i+1 < n && text[i+1] == '/':
			lineComment = true
			comment[i] = 1
		case r == '/' && i+1 < n && text[i+1] == '*':
			blockComment = true
			comment[i] = 1
			blockEnd = blockCommentEnd(text, i)
		case r == 'i' && isIfKeyword(text, i):
			pendingIf, pendingDepth = true, depth
		case r == '(' || r == '[' || r == '{':
			if r == '{' {
				opensIf := pendingIf && depth == pendingDepth
				braces = append(braces, opensIf)
				if opensIf {
					ifBraceOpened++
					pendingIf = false
				}
			}
			depth++
		case r == ')' || r == ']' || r == '}':
			// A closing bracket is still inside its pair, so record before leaving it.
			closer = true
			bracket[i] = float64(depth)
			ifBlock[i] = boolValue(ifBraceOpened > 0)
			depth = max(depth-1, 0)
			if r == '}' && len(braces) > 0 {
				if braces[len(braces)-1] {
					ifBraceOpened--
				}
				braces = braces[:len(braces)-1]
			}
			if depth < pendingDepth {
				// The bracket that enclosed the if closed first: it had no block.
				pendingIf = false
			}
		}
		if !closer {
			bracket[i] = float64(depth)
			ifBlock[i] = boolValue(ifBraceOpened > 0)
		}
		if r == '\n' && !blockComment && quoteChar == 0 {
			if pendingIf && depth == pendingDepth && endsStatement(lastCode) {
				pendingIf = false
			}
		}
		if comment[i] == 0 && !unicode.IsSpace(r) {
			lastCode = r
		}
		if r == '\n' {
			col, inIndent = 0, true
			// The newline belongs to the line it ends, so fill that line's indent first.
			fillIndent(indent, text, i, lineIndent)
			lineIndent = 0
		} else {
			col++
		}
	}
	if n > 0 && text[n-1] != '\n' {
		fillIndent(indent, text, n-1, lineIndent)
	}

	return []Feature{
		{FeatureQuote, quote},
		{FeatureColumn, column},
		{FeatureBracket, bracket},
		{FeatureIndent, indent},
		{FeatureComment, comment},
		{FeatureIfBlock, ifBlock},
		{FeatureWord, word},
	}
}

// blockCommentEnd returns the index of the '/' that closes the block comment opened at
// start, or the last index when the comment is never closed.
func blockCommentEnd(text []rune, start int) int {
	for j := start + 2; j+1 < len(text); j++ {
		if text[j] == '*' && text[j+1] == '/' {
			return j + 1
		}
	}
	return len(text) - 1
}

// fillIndent sets indent for the line that ends at index last (inclusive).
func fillIndent(indent []float64, text []rune, last, value int) {
	for j := last; j >= 0; j-- {
		if text[j] == '\n' && j != last {
			break
		}
		indent[j] = float64(value)
	}
}

// isIfKeyword reports whether text[i:] starts with the word if, standing alone.
func isIfKeyword(text []rune, i int) bool {
	if i+2 > len(text) || text[i] != 'i' || text[i+1] != 'f' {
		return false
	}
	if i > 0 && isWordRune(text[i-1]) {
		return false
	}
	return i+2 == len(text) || !isWordRune(text[i+2])
}

// endsStatement reports whether a line whose last code character is last ends a statement,
// as Go's semicolon insertion decides it (plus ';' and ':'), so that an if on it that has not
// opened a block never will. A line ending in an operator, '(' or ',' continues.
func endsStatement(last rune) bool {
	switch last {
	case ')', ']', '}', '"', '\'', '`', ';', ':':
		return true
	}
	return isWordRune(last)
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Pearson returns the Pearson correlation coefficient of x and y, which must have the same
// length. It returns 0 when either series is constant (or shorter than 2), where the
// coefficient is undefined.
func Pearson(x []float32, y []float64) float64 {
	n := len(x)
	if n != len(y) {
		panic("viz: Pearson needs series of equal length")
	}
	if n < 2 {
		return 0
	}
	var mx, my float64
	for i := range x {
		mx += float64(x[i])
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := float64(x[i])-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return sxy / math.Sqrt(sxx*syy)
}

// UnitScore is the correlation of one unit with one feature.
type UnitScore struct {
	Layer int     `json:"layer"`
	State string  `json:"state"`
	Unit  int     `json:"unit"`
	R     float64 `json:"r"`
}

// FeatureRanking lists the units that correlate most strongly with one feature.
type FeatureRanking struct {
	Feature string `json:"feature"`
	// Constant is true when the feature has one value over the whole text, so that no
	// correlation is defined and Units is empty.
	Constant bool        `json:"constant"`
	Units    []UnitScore `json:"units"`
}

// RankUnits scores every recorded unit of tr (h, and c for an LSTM, of every layer) against
// every feature and keeps the top units per feature by |r|, strongest first. A constant
// feature gets an empty, non-nil Units, so that JSON shows it as [].
func RankUnits(tr *Trace, features []Feature, top int) []FeatureRanking {
	var states []string
	for _, s := range []string{StateH, StateC} {
		if tr.Cell == "lstm" || s == StateH {
			states = append(states, s)
		}
	}
	out := make([]FeatureRanking, 0, len(features))
	for _, f := range features {
		if isConstant(f.Values) {
			out = append(out, FeatureRanking{Feature: f.Name, Constant: true, Units: []UnitScore{}})
			continue
		}
		var scores []UnitScore
		for l := 0; l < tr.Layers; l++ {
			for _, s := range states {
				if _, ok := tr.values[stateKey{s, l}]; !ok {
					continue
				}
				for u := 0; u < tr.Hidden; u++ {
					scores = append(scores, UnitScore{Layer: l, State: s, Unit: u, R: Pearson(tr.Unit(s, l, u), f.Values)})
				}
			}
		}
		sort.SliceStable(scores, func(a, b int) bool { return math.Abs(scores[a].R) > math.Abs(scores[b].R) })
		out = append(out, FeatureRanking{Feature: f.Name, Units: scores[:min(top, len(scores))]})
	}
	return out
}

func isConstant(values []float64) bool {
	for _, v := range values {
		if v != values[0] {
			return false
		}
	}
	return true
}

// ExcerptStart returns the start of the window of n characters, stepped by n/4, in which
// values varies most, so that an excerpt shows the feature changing. Windows start at 0 when
// the text is no longer than n.
func ExcerptStart(values []float64, n int) int {
	if len(values) <= n {
		return 0
	}
	// Prefix sums of v and v² give each window's variance in constant time.
	sum := make([]float64, len(values)+1)
	sq := make([]float64, len(values)+1)
	for i, v := range values {
		sum[i+1] = sum[i] + v
		sq[i+1] = sq[i] + v*v
	}
	step := max(n/4, 1)
	best, bestVar := 0, -1.0
	for s := 0; s+n <= len(values); s += step {
		mean := (sum[s+n] - sum[s]) / float64(n)
		variance := (sq[s+n]-sq[s])/float64(n) - mean*mean
		if variance > bestVar+1e-12 {
			best, bestVar = s, variance
		}
	}
	return best
}
