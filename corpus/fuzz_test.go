package corpus

import (
	"testing"
	"unicode/utf8"
)

// FuzzDecodeUTF8 checks the reader's UTF-8 decoding against the standard library: valid
// input decodes to the same text, and invalid input reports the offset of the first byte
// that does not start a valid sequence.
func FuzzDecodeUTF8(f *testing.F) {
	for _, seed := range []string{
		"", "plain ASCII\n", "é日😀", "\xff", "h\xc3", "héllo\xffworld",
		"\xed\xa0\x80",     // an encoded surrogate
		"\xef\xbf\xbd",     // U+FFFD itself, which is valid
		"\xc0\xaf",         // an overlong '/'
		"\xf4\x90\x80\x80", // beyond U+10FFFF
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runes, bad := appendRunes(nil, data)
		if utf8.Valid(data) {
			if bad != -1 {
				t.Fatalf("valid input %q: bad offset %d, want -1", data, bad)
			}
			if string(runes) != string(data) {
				t.Fatalf("valid input %q decoded to %q", data, string(runes))
			}
			return
		}
		if bad < 0 || bad >= len(data) {
			t.Fatalf("invalid input %q: bad offset %d", data, bad)
		}
		if !utf8.Valid(data[:bad]) {
			t.Fatalf("input %q: bytes before offset %d are invalid too", data, bad)
		}
		if r, size := utf8.DecodeRune(data[bad:]); r != utf8.RuneError || size != 1 {
			t.Fatalf("input %q: offset %d starts a valid sequence", data, bad)
		}
		if string(runes) != string(data[:bad]) {
			t.Fatalf("input %q: decoded prefix %q, want %q", data, string(runes), data[:bad])
		}
	})
}

// FuzzEvalChunks checks that evaluation chunks cover every prediction exactly once for any
// text length, stream count and chunk length.
func FuzzEvalChunks(f *testing.F) {
	f.Add(uint16(7), uint8(4), uint8(2))
	f.Add(uint16(3), uint8(8), uint8(4))
	f.Add(uint16(1), uint8(1), uint8(1))
	f.Add(uint16(1000), uint8(7), uint8(13))
	f.Fuzz(func(t *testing.T, n uint16, B, T uint8) {
		checkEvalCoverage(t, int(n)%2000, int(B)%64+1, int(T)%64+1)
	})
}
