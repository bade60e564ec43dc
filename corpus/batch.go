package corpus

import (
	"fmt"
	"math"
	"math/big"
)

// Split returns train = ids[:n-nVal] and val = ids[n-nVal:], where n = len(ids) and
// nVal = round(valFrac·n). valFrac must be in [0, 1). Both results share memory with ids,
// and train's capacity ends where val begins, so appending to train never overwrites val.
func Split(ids []int32, valFrac float64) (train, val []int32, err error) {
	if !(valFrac >= 0 && valFrac < 1) { // also rejects NaN
		return nil, nil, fmt.Errorf("corpus: validation fraction %v is outside [0, 1); "+
			"use for example 0.05 to hold out 5%% of the text", valFrac)
	}
	n := len(ids)
	cut := n - int(math.Round(valFrac*float64(n)))
	return ids[:cut:cut], ids[cut:], nil
}

// Batcher cuts a token stream into B parallel streams for truncated backpropagation
// through time. Stream b is ids[b·L : (b+1)·L] with L = len(ids)/B, so the last
// len(ids) mod B tokens are never used. Each chunk holds T inputs and the T targets that
// follow them in every stream, and the next chunk continues where it ended, so the hidden
// state of stream b carries over from one chunk to the next.
//
// Pos and Epoch are the whole position. Saving them after a call to Next and restoring
// them into a new Batcher over the same ids continues with the same chunks.
type Batcher struct {
	// B is the number of streams and T the number of steps per chunk. Do not change them.
	B, T int
	// Pos is the offset, within each stream, of the next chunk's first input.
	Pos int
	// Epoch counts the passes over the streams that have ended, which is the number of
	// times Next has wrapped.
	Epoch int

	ids       []int32
	streamLen int // L
}

// NewBatcher returns a Batcher at the start of ids. Every stream must hold at least one
// chunk, so ids needs B·(T+1) tokens.
func NewBatcher(ids []int32, B, T int) (*Batcher, error) {
	if B < 1 || T < 1 {
		return nil, fmt.Errorf("corpus: batch size %d and sequence length %d must both be at least 1", B, T)
	}
	// len(ids)/B ≥ T+1, written so that T+1 and B·(T+1) cannot overflow.
	if len(ids)/B <= T {
		return nil, fmt.Errorf("corpus: the training split has %d characters, too few for "+
			"--batch %d and --seq %d, which need at least B·(T+1) = %s; lower --batch, --seq or "+
			"--val-frac, or give more text", len(ids), B, T, chunkNeed(B, T))
	}
	return &Batcher{B: B, T: T, ids: ids, streamLen: len(ids) / B}, nil
}

// chunkNeed returns B·(T+1) in decimal, exact for any positive B and T.
func chunkNeed(B, T int) string {
	need := new(big.Int).Mul(big.NewInt(int64(B)), big.NewInt(int64(T)))
	return need.Add(need, big.NewInt(int64(B))).String()
}

// StreamLen returns L, the number of tokens in each stream.
func (b *Batcher) StreamLen() int { return b.streamLen }

// ChunksPerEpoch returns the number of chunks Next yields between two wraps.
func (b *Batcher) ChunksPerEpoch() int { return (b.streamLen - 1) / b.T }

// Next fills inputs and targets, each of length T·B and time-major (index t·B+s for step t
// of stream s), with the chunk at Pos, and advances Pos by T. When that chunk would run
// past the end of the streams, or Pos is negative, Next first wraps Pos to 0, increments
// Epoch and returns true. The caller must then zero the hidden state. Next panics when a
// slice has the wrong length.
func (b *Batcher) Next(inputs, targets []int32) (reset bool) {
	B, T, L := b.B, b.T, b.streamLen
	if len(inputs) != T*B || len(targets) != T*B {
		panic(fmt.Sprintf("corpus: Batcher.Next needs slices of T·B = %d, got %d inputs and %d targets",
			T*B, len(inputs), len(targets)))
	}
	if b.Pos < 0 || b.Pos+T+1 > L {
		b.Pos = 0
		b.Epoch++
		reset = true
	}
	for s := range B {
		stream := b.ids[s*L+b.Pos : (s+1)*L]
		for t := range T {
			inputs[t*B+s] = stream[t]
			targets[t*B+s] = stream[t+1]
		}
	}
	b.Pos += T
	return reset
}

// EvalChunks returns chunks that predict every token of ids after the first exactly once,
// for evaluation. The len(ids)-1 predictions are cut into B contiguous streams whose
// lengths differ by at most one. The caller starts every stream from a zero hidden state
// and carries the state from one chunk to the next.
// Every chunk holds T·B inputs and T·B targets, time-major; positions past the end of a
// stream are padding, with input 0 and target -1. ids shorter than 2 give no chunks.
// EvalChunks panics when B or T is below 1.
func EvalChunks(ids []int32, B, T int) (inputs, targets [][]int32) {
	if B < 1 || T < 1 {
		panic(fmt.Sprintf("corpus: EvalChunks needs B and T of at least 1, got B=%d and T=%d", B, T))
	}
	predictions := len(ids) - 1
	if predictions < 1 {
		return nil, nil
	}
	base, extra := predictions/B, predictions%B
	longest := base
	if extra > 0 {
		longest++
	}
	numChunks := (longest + T - 1) / T

	for c := range numChunks {
		in := make([]int32, T*B)
		tg := make([]int32, T*B)
		for s := range B {
			// Stream s predicts ids[start+1 : start+length+1] from the token before each.
			start := s*base + min(s, extra)
			length := base
			if s < extra {
				length++
			}
			for t := range T {
				k := c*T + t
				if k < length {
					in[t*B+s] = ids[start+k]
					tg[t*B+s] = ids[start+k+1]
				} else {
					tg[t*B+s] = -1
				}
			}
		}
		inputs = append(inputs, in)
		targets = append(targets, tg)
	}
	return inputs, targets
}
