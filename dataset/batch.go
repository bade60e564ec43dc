package dataset

import (
	"fmt"
	"math/rand/v2"
)

// PadLeft lays out the B = len(seqs) sequences time-major, right-aligned to the length T
// of the longest one, so that all sequences end at step T-1. Element t·B+b of ids is step t
// of sequence b, and the steps before a shorter sequence starts contain pad. reset has the
// same layout, with 0 at padded steps and 1 at real ones, so a trainer that multiplies the
// carried hidden state by it keeps each sequence's state at zero until the sequence starts.
// With no sequences, or only empty ones, T is 0 and both slices are empty.
func PadLeft(seqs [][]int32, pad int32) (ids []int32, reset []float32, T int) {
	B := len(seqs)
	for _, seq := range seqs {
		T = max(T, len(seq))
	}
	ids = make([]int32, T*B)
	reset = make([]float32, T*B)
	for b, seq := range seqs {
		start := T - len(seq)
		for t := range T {
			if t < start {
				ids[t*B+b] = pad
				continue
			}
			ids[t*B+b] = seq[t-start]
			reset[t*B+b] = 1
		}
	}
	return ids, reset, T
}

// PadRight lays out the B = len(seqs) sequences time-major over T steps, left-aligned, so
// that all sequences start at step 0. Element t·B+b is step t of sequence b, and the steps
// after a sequence ends contain pad. Targets can pass -1 as pad to mark steps that the loss
// skips. PadRight panics when T is negative or a sequence is longer than T, because
// cutting it would silently drop tokens.
func PadRight(seqs [][]int32, pad int32, T int) []int32 {
	if T < 0 {
		panic(fmt.Sprintf("dataset: PadRight: T = %d is negative", T))
	}
	B := len(seqs)
	ids := make([]int32, T*B)
	for b, seq := range seqs {
		if len(seq) > T {
			panic(fmt.Sprintf("dataset: PadRight: sequence %d has %d tokens, more than T = %d",
				b, len(seq), T))
		}
		for t := range T {
			if t < len(seq) {
				ids[t*B+b] = seq[t]
			} else {
				ids[t*B+b] = pad
			}
		}
	}
	return ids
}

// Shuffle returns a permutation of 0..n-1 that depends only on seed and epoch, so a run
// resumed at an epoch visits the examples in the same order as an uninterrupted one.
// It draws from a PCG generator seeded with (seed, epoch) and permutes with its own
// Fisher–Yates shuffle, so the order does not depend on how math/rand/v2 implements Perm.
// Shuffle panics when n is negative.
func Shuffle(n int, seed uint64, epoch int) []int {
	if n < 0 {
		panic(fmt.Sprintf("dataset: Shuffle: n = %d is negative", n))
	}
	rng := rand.NewPCG(seed, mix64(uint64(epoch)))
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(boundedUint64(rng, uint64(i)+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

// boundedUint64 returns a uniform value in [0, bound) from rng, rejecting the draws that
// would make the remainder biased. bound must be positive.
func boundedUint64(rng *rand.PCG, bound uint64) uint64 {
	// limit+1 is the largest multiple of bound that is at most 2^64. A draw above limit
	// falls in an incomplete last block of bound values, so it is redrawn.
	limit := ^uint64(0) - (^uint64(0)%bound+1)%bound
	for {
		x := rng.Uint64()
		if x <= limit {
			return x % bound
		}
	}
}

// mix64 returns the first SplitMix64 output from state x, so that consecutive epochs seed
// the generator with unrelated states.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
