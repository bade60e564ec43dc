package main

// Matrix-product FLOPs of the model, counted analytically. A multiply-add counts as 2 FLOPs,
// and element-wise work (gate activations, softmax, Adam, clipping) is left out, because the
// GEMM peak that these counts are divided by measures matrix products only.
//
// One forward pass over a chunk of B·T tokens runs, with G = 4 gates for the LSTM, 3 for the
// GRU and 1 for the tanh RNN, in_0 = E = H and in_l = H above:
//
//	per layer l:  input projection   [B·T × in_l] · [in_l × G·H]   2·B·T·G·H·in_l
//	              recurrent products T × [B × H] · [H × G·H]        2·B·T·G·H·H
//	head:         [B·T × H] · [H × V]                               2·B·T·H·V
//
// so forward = 2·B·T·(Σ_l G·H·(in_l + H) + H·V). Backward runs two products of the same size
// per forward product, one for the input gradient and one for the weight gradient, so a
// training step costs 3 × forward. The embedding lookup is a copy and costs no FLOPs.

// forwardFLOPs returns the matrix-product FLOPs of one forward pass of sh.
func forwardFLOPs(model string, sh shape) float64 {
	G := map[string]float64{"lstm": 4, "gru": 3}[model]
	if G == 0 {
		G = 1 // the tanh RNN
	}
	H := float64(sh.Hidden)
	perToken := 0.0
	for l := 0; l < sh.Layers; l++ {
		in := H // the embedding width equals H, so every layer's input is H wide
		perToken += G * H * (in + H)
	}
	perToken += H * float64(sh.Vocab)
	return 2 * float64(sh.tokens()) * perToken
}

// trainFLOPs returns the matrix-product FLOPs of one training step of sh: forward and backward.
func trainFLOPs(model string, sh shape) float64 { return 3 * forwardFLOPs(model, sh) }
