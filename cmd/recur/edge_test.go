package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// longLine returns n bytes of words joined by spaces, with no newline.
func longLine(n int) string {
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	rng := rand.New(rand.NewPCG(3, 5))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

// TestEdgeCaseTexts runs train, sample and eval through the CLI on texts and settings at the
// edges of what recur accepts, checking the exit status and each command's output.
func TestEdgeCaseTexts(t *testing.T) {
	// Loss tolerance for a one-character vocabulary, whose softmax is exactly 1.
	const singleCharLossTol = 1e-6
	cases := []struct {
		name  string
		text  string
		train []string // flags after smallModel, so they replace its values
		prime string
		// evalPrefix, where not 0, is the number of bytes of text that eval scores, to keep
		// the one-stream evaluation of a long text short.
		evalPrefix int
		// wantLoss, where not NaN, is the exact eval loss in nats per character.
		wantLoss float64
	}{
		{
			name: "1 MiB line", text: longLine(1 << 20), train: []string{"--eval-every", "0"},
			prime: "alpha beta", evalPrefix: 128 << 10, wantLoss: math.NaN(),
		},
		{name: "one-character vocabulary", text: strings.Repeat("a", 5000), prime: "aaa", wantLoss: 0},
		{name: "no spaces or newlines", text: strings.Repeat("abcdefghij", 500), prime: "abc", wantLoss: math.NaN()},
		{name: "seq 1", text: strings.Repeat("hello world\n", 100), train: []string{"--seq", "1"}, prime: "hel", wantLoss: math.NaN()},
		{
			name: "prime longer than seq", text: strings.Repeat("hello world\n", 100),
			prime: strings.Repeat("hello world\n", 10), wantLoss: math.NaN(),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			data := writeText(t, dir, "in.txt", c.text)
			ck := filepath.Join(dir, "ck")
			args := append([]string{"train", "--data", data, "--steps", "12", "--eval-every", "6", "--log-every", "6", "--out", ck}, smallModel...)
			code, out, errOut := recur(t, append(args, c.train...)...)
			if code != 0 {
				t.Fatalf("train exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !strings.Contains(out, "done: 12 steps") {
				t.Errorf("train output lacks \"done: 12 steps\":\n%s", out)
			}

			const length = 40
			code, out, errOut = recur(t, "sample", "--checkpoint", ck, "--prime", c.prime, "--length", "40")
			if code != 0 {
				t.Fatalf("sample exit %d: %s", code, errOut)
			}
			sample := strings.TrimSuffix(out, "\n")
			if !strings.HasPrefix(sample, c.prime) {
				t.Errorf("sample %q does not start with the prime %q", sample, c.prime)
			}
			if got, want := utf8.RuneCountInString(sample), utf8.RuneCountInString(c.prime)+length; got != want {
				t.Errorf("sample has %d characters, want the prime's %d and %d more", got, want-length, length)
			}
			for i, r := range sample {
				if !strings.ContainsRune(c.text, r) {
					t.Errorf("sample byte %d is %q, which the training text lacks", i, r)
					break
				}
			}

			scored := c.text
			if c.evalPrefix > 0 {
				scored = c.text[:c.evalPrefix]
			}
			code, out, errOut = recur(t, "eval", "--checkpoint", ck, "--data", writeText(t, dir, "eval.txt", scored), "--json")
			if code != 0 {
				t.Fatalf("eval exit %d: %s", code, errOut)
			}
			var res evalResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("eval --json printed %q: %v", out, err)
			}
			if want := utf8.RuneCountInString(scored) - 1; res.Chars != want {
				t.Errorf("eval scored %d characters, want %d", res.Chars, want)
			}
			if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) || res.Loss < 0 {
				t.Errorf("eval loss %g, want a finite number of at least 0", res.Loss)
			}
			if !math.IsNaN(c.wantLoss) && math.Abs(res.Loss-c.wantLoss) > singleCharLossTol {
				t.Errorf("eval loss %g, want %g within %g", res.Loss, c.wantLoss, singleCharLossTol)
			}
		})
	}
}
