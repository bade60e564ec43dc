package corpus

import (
	"math"
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

// FuzzNewBatcher checks that any batch size and sequence length, however large, gives an error
// or a Batcher whose chunks lie inside the text, never a panic or an overflowed size.
func FuzzNewBatcher(f *testing.F) {
	f.Add(uint16(100), int64(4), int64(8))
	f.Add(uint16(9), int64(2), int64(3))
	f.Add(uint16(100), int64(1), int64(math.MaxInt64))
	f.Add(uint16(100), int64(math.MaxInt64), int64(1))
	f.Add(uint16(100), int64(1)<<32, int64(1)<<32)
	f.Add(uint16(100), int64(-1), int64(8))
	f.Fuzz(func(t *testing.T, n uint16, B, T int64) {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(i)
		}
		b, err := NewBatcher(ids, int(B), int(T))
		if err != nil {
			return
		}
		if B < 1 || T < 1 || B > int64(n) || T >= int64(n)/B { // needs B·(T+1) ≤ n
			t.Fatalf("NewBatcher(%d ids, B=%d, T=%d) succeeded, want an error", n, B, T)
		}
		in, tg := make([]int32, B*T), make([]int32, B*T)
		for range 3 {
			b.Next(in, tg)
			for i := range in {
				if tg[i] != in[i]+1 {
					t.Fatalf("B=%d, T=%d: element %d has input %d and target %d, want consecutive ids", B, T, i, in[i], tg[i])
				}
			}
		}
	})
}
