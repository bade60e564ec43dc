package dataset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// parseNPYHeader parses the header of a .npy file: a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } followed by spaces and '\n'.
// It accepts the subset of Python literals that NumPy writes. Strings are quoted with ' or "
// and contain no backslash, and integers may carry the 'L' suffix of Python 2. Like NumPy,
// it requires exactly the three keys.
func parseNPYHeader(text string) (npyHeader, error) {
	p := &literalParser{text: text}
	var header npyHeader
	seen := make(map[string]bool)
	if err := p.expect('{'); err != nil {
		return header, err
	}
	for !p.consume('}') {
		key, err := p.parseString()
		if err != nil {
			return header, fmt.Errorf("expected a quoted key: %w", err)
		}
		if seen[key] {
			return header, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		if err := p.expect(':'); err != nil {
			return header, err
		}
		switch key {
		case "descr":
			header.descr, err = p.parseString()
		case "fortran_order":
			header.fortranOrder, err = p.parseBool()
		case "shape":
			header.shape, err = p.parseTuple()
		default:
			return header, fmt.Errorf("unexpected key %q; a .npy header has only 'descr', "+
				"'fortran_order' and 'shape'", key)
		}
		if err != nil {
			return header, fmt.Errorf("value of %q: %w", key, err)
		}
		if p.consume(',') {
			continue
		}
		if !p.consume('}') {
			return header, p.unexpected("',' or '}'")
		}
		break
	}
	p.skipSpace()
	if p.pos != len(p.text) {
		return header, fmt.Errorf("unexpected text after the dict at byte %d", p.pos)
	}
	for _, key := range []string{"descr", "fortran_order", "shape"} {
		if !seen[key] {
			return header, fmt.Errorf("missing key %q", key)
		}
	}
	return header, nil
}

// literalParser reads Python literals from text, starting at byte pos.
type literalParser struct {
	text string
	pos  int
}

// skipSpace advances past spaces, tabs and line breaks.
func (p *literalParser) skipSpace() {
	for p.pos < len(p.text) && strings.IndexByte(" \t\r\n", p.text[p.pos]) >= 0 {
		p.pos++
	}
}

// consume skips space and then c, if c comes next, and reports whether it did.
func (p *literalParser) consume(c byte) bool {
	p.skipSpace()
	if p.pos < len(p.text) && p.text[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// expect skips space and then c, or returns an error when something else comes next.
func (p *literalParser) expect(c byte) error {
	if p.consume(c) {
		return nil
	}
	return p.unexpected(fmt.Sprintf("%q", c))
}

// unexpected returns the error for a byte at the current position that is not expected.
func (p *literalParser) unexpected(expected string) error {
	if p.pos >= len(p.text) {
		return fmt.Errorf("expected %s at byte %d, but the header ends", expected, p.pos)
	}
	return fmt.Errorf("expected %s at byte %d, found %q", expected, p.pos, p.text[p.pos])
}

func (p *literalParser) parseString() (string, error) {
	p.skipSpace()
	if p.pos == len(p.text) || (p.text[p.pos] != '\'' && p.text[p.pos] != '"') {
		return "", p.unexpected("a quoted string")
	}
	quote := p.text[p.pos]
	end := strings.IndexByte(p.text[p.pos+1:], quote)
	if end < 0 {
		return "", fmt.Errorf("string at byte %d has no closing quote", p.pos)
	}
	s := p.text[p.pos+1 : p.pos+1+end]
	if strings.ContainsAny(s, "\\\n") {
		return "", fmt.Errorf("string at byte %d contains a backslash or line break, which "+
			"a .npy header never needs", p.pos)
	}
	p.pos += end + 2
	return s, nil
}

func (p *literalParser) parseBool() (bool, error) {
	p.skipSpace()
	rest := p.text[p.pos:]
	switch {
	case strings.HasPrefix(rest, "True"):
		p.pos += len("True")
		return true, nil
	case strings.HasPrefix(rest, "False"):
		p.pos += len("False")
		return false, nil
	}
	return false, p.unexpected("True or False")
}

// parseTuple parses a tuple of integers, such as (), (3,) or (3, 4). As in Python, (3)
// without a comma is an integer, not a tuple, and is rejected.
func (p *literalParser) parseTuple() ([]int, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	values := []int{}
	commas := 0
	for !p.consume(')') {
		value, err := p.parseInt()
		if err != nil {
			return nil, err
		}
		values = append(values, value)
		if p.consume(',') {
			commas++
			continue
		}
		if !p.consume(')') {
			return nil, p.unexpected("',' or ')'")
		}
		break
	}
	if len(values) == 1 && commas == 0 {
		return nil, errors.New("(n) is an integer, not a tuple; a one-dimensional shape is written (n,)")
	}
	return values, nil
}

// parseInt parses a decimal integer with an optional sign and an optional 'L' suffix.
func (p *literalParser) parseInt() (int, error) {
	p.skipSpace()
	start := p.pos
	if p.pos < len(p.text) && (p.text[p.pos] == '-' || p.text[p.pos] == '+') {
		p.pos++
	}
	for p.pos < len(p.text) && p.text[p.pos] >= '0' && p.text[p.pos] <= '9' {
		p.pos++
	}
	digits := p.text[start:p.pos]
	if digits == "" {
		return 0, p.unexpected("an integer")
	}
	if p.pos < len(p.text) && p.text[p.pos] == 'L' {
		p.pos++
	}
	value, err := strconv.Atoi(digits)
	if err != nil {
		return 0, fmt.Errorf("invalid integer %q at byte %d", digits, start)
	}
	return value, nil
}
