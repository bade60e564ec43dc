package lstm

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"unicode/utf8"

	"github.com/recur-ml/recur/corpus"
)

// SampleOptions controls text generation.
type SampleOptions struct {
	Prime       string  // text fed to the model first and printed; "" starts from the vocabulary's first character
	Length      int     // characters to generate after the prime
	Temperature float64 // divides the logits; 0 picks the most likely character
	TopK        int     // sample among the K most likely characters; 0 keeps all
	Seed        uint64
}

// Validate returns an error naming the first invalid option and what to use instead.
func (o SampleOptions) Validate() error {
	switch {
	case o.Length < 0:
		return fmt.Errorf("invalid --length %d: use 0 or more characters", o.Length)
	case !(o.Temperature >= 0) || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("invalid --temperature %g: use 0 (most likely character) or a positive number such as 0.8", o.Temperature)
	case !utf8.ValidString(o.Prime):
		return fmt.Errorf("invalid --prime: it is not valid UTF-8; pass the text in UTF-8")
	case o.TopK < 0:
		return fmt.Errorf("invalid --top-k %d: use 0 (no cut) or a positive count", o.TopK)
	}
	return nil
}

// primeChunk is the number of prime characters fed to the model per forward pass.
const primeChunk = 64

// Sample writes the prime and then opt.Length generated characters to out. Without a prime,
// the vocabulary's first character serves as one. A prime character outside the vocabulary
// is an error naming it and its offset.
func Sample(m *Model, opt SampleOptions, out io.Writer) error {
	if err := opt.Validate(); err != nil {
		return err
	}
	runes := make([]rune, len(m.Cfg.Vocab))
	for i, s := range m.Cfg.Vocab {
		runes[i] = []rune(s)[0]
	}
	vocab, err := corpus.NewVocab(runes)
	if err != nil {
		return err
	}
	prime := []rune(opt.Prime)
	if len(prime) == 0 {
		prime = runes[:1]
	}
	ids := make([]int32, len(prime))
	for i, r := range prime {
		id, ok := vocab.ID(r)
		if !ok {
			return fmt.Errorf("invalid --prime: character %q (%U) at offset %d is not in the model's vocabulary of %d characters; use only characters the model was trained on", r, r, i, len(runes))
		}
		ids[i] = int32(id)
	}

	w := bufio.NewWriter(out)
	defer w.Flush()
	if _, err := w.WriteString(string(prime)); err != nil {
		return err
	}

	step := m.NewWorkspace(1, 1)
	if len(ids) > 1 {
		// Feed all but the last prime character in chunks, then carry the state over.
		head := ids[:len(ids)-1]
		chunk := m.NewWorkspace(1, min(primeChunk, len(head)))
		for len(head) > 0 {
			n := min(chunk.T, len(head))
			if n < chunk.T {
				chunk = m.withState(m.NewWorkspace(1, n), chunk)
			}
			m.Forward(chunk, head[:n], nil, Dropout{})
			m.CarryState(chunk)
			head = head[n:]
		}
		m.withState(step, chunk)
	}

	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5851F42D4C957F2D))
	V := len(runes)
	logits := make([]float32, V)
	probs := make([]float64, V)
	order := make([]int, V)
	next := ids[len(ids)-1]
	for i := 0; i < opt.Length; i++ {
		m.Forward(step, []int32{next}, nil, Dropout{})
		m.CarryState(step)
		m.Backend.Download(logits, step.Logits())
		next = int32(pick(logits, probs, order, opt.Temperature, opt.TopK, rng))
		if _, err := w.WriteRune(runes[next]); err != nil {
			return err
		}
	}
	return m.Backend.Sync()
}

// withState copies the carried state of src into dst and returns dst.
func (m *Model) withState(dst, src *Workspace) *Workspace {
	for l := 0; l < m.Cfg.Layers; l++ {
		dh, dc := dst.State(l)
		sh, sc := src.State(l)
		m.Backend.Copy(dh, sh)
		if dc != nil {
			m.Backend.Copy(dc, sc)
		}
	}
	return dst
}

// pick draws an index from softmax(logits/temperature) restricted to the topK largest
// logits, or returns the argmax when temperature is 0. probs and order are scratch space.
func pick(logits []float32, probs []float64, order []int, temperature float64, topK int, rng *rand.Rand) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if temperature == 0 || topK == 1 {
		return best
	}
	for i := range order {
		order[i] = i
	}
	cand := order
	if topK > 0 && topK < len(logits) {
		sort.SliceStable(order, func(a, b int) bool { return logits[order[a]] > logits[order[b]] })
		cand = order[:topK]
	}
	maxLogit := float64(logits[best])
	var total float64
	for _, i := range cand {
		probs[i] = math.Exp((float64(logits[i]) - maxLogit) / temperature)
		total += probs[i]
	}
	u := rng.Float64() * total
	for _, i := range cand {
		u -= probs[i]
		if u < 0 {
			return i
		}
	}
	return cand[len(cand)-1]
}
