package main

import (
	"fmt"
	"strconv"
	"strings"
)

// shape is one benchmark workload: the model's size and the chunk that one step trains on.
type shape struct {
	Hidden int `json:"hidden"` // H, units per layer; the embedding width equals H
	Layers int `json:"layers"` // L, stacked recurrent layers
	Batch  int `json:"batch"`  // B, parallel streams
	Seq    int `json:"seq"`    // T, time steps per chunk (the truncated BPTT length)
	Vocab  int `json:"vocab"`  // V, vocabulary size
}

func (s shape) String() string {
	return fmt.Sprintf("%dx%dx%dx%dx%d", s.Hidden, s.Layers, s.Batch, s.Seq, s.Vocab)
}

// tokens returns the number of tokens that one step processes, B·T.
func (s shape) tokens() int { return s.Batch * s.Seq }

// maxShapeDim bounds every dimension of a shape, so that B·T·4H and the parameter count stay
// far from int overflow.
const maxShapeDim = 1 << 16

// parseShapes parses a comma-separated list of HxLxBxT or HxLxBxTxV shapes. Shapes without a
// V use vocab.
func parseShapes(list string, vocab int) ([]shape, error) {
	var shapes []shape
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		fields := strings.Split(part, "x")
		if len(fields) != 4 && len(fields) != 5 {
			return nil, fmt.Errorf("invalid shape %q: write HxLxBxT or HxLxBxTxV, such as 512x2x64x100", part)
		}
		dims := make([]int, 5)
		dims[4] = vocab
		for i, f := range fields {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > maxShapeDim {
				return nil, fmt.Errorf("invalid shape %q: %q is not an integer from 1 to %d", part, f, maxShapeDim)
			}
			dims[i] = n
		}
		if dims[4] < 2 {
			return nil, fmt.Errorf("invalid shape %q: the vocabulary needs at least 2 symbols", part)
		}
		shapes = append(shapes, shape{Hidden: dims[0], Layers: dims[1], Batch: dims[2], Seq: dims[3], Vocab: dims[4]})
	}
	return shapes, nil
}

// standardShapes returns the shapes that --standard runs. withGPU adds B=8 and B=256 at
// H=512, L=2, T=100, where a GPU's throughput depends most on the batch.
func standardShapes(vocab int, withGPU bool) []shape {
	shapes := []shape{
		{Hidden: 128, Layers: 1, Batch: 32, Seq: 64},
		{Hidden: 256, Layers: 2, Batch: 32, Seq: 64},
		{Hidden: 512, Layers: 2, Batch: 64, Seq: 100},
		{Hidden: 1024, Layers: 1, Batch: 64, Seq: 100},
	}
	if withGPU {
		shapes = append(shapes,
			shape{Hidden: 512, Layers: 2, Batch: 8, Seq: 100},
			shape{Hidden: 512, Layers: 2, Batch: 256, Seq: 100})
	}
	for i := range shapes {
		shapes[i].Vocab = vocab
	}
	return shapes
}

// parseBackends parses --backends: a comma-separated list of cpuref, cpu, cuda and cuda:N.
func parseBackends(list string) ([]string, error) {
	var backends []string
	seen := map[string]bool{}
	for _, b := range strings.Split(list, ",") {
		b = strings.TrimSpace(b)
		valid := b == "cpuref" || b == "cpu" || b == "cuda"
		if n, ok := strings.CutPrefix(b, "cuda:"); ok {
			_, err := strconv.Atoi(n)
			valid = err == nil && strings.Trim(n, "0123456789") == ""
		}
		if !valid {
			return nil, fmt.Errorf("invalid backend %q: use cpuref, cpu, cuda or cuda:N", b)
		}
		if seen[b] {
			return nil, fmt.Errorf("backend %q is listed twice", b)
		}
		seen[b] = true
		backends = append(backends, b)
	}
	return backends, nil
}
