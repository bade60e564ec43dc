package main

// Matrix-product FLOPs of the model, counted analytically. A multiply-add counts as 2 FLOPs,
// and element-wise work (gate activations, softmax, Adam, clipping) is left out, because the
// GEMM peak that these counts are divided by measures matrix products only.
//
// One forward pass over a chunk of B·T tokens runs, with G = 4 gates for the LSTM, 3 for the
// GRU and 1 for the tanh RNN, in_0 = E = H and in_l = H above:
//
//	per layer l:  input projection   [R_l × in_l] · [in_l × G·H]    2·R_l·G·H·in_l
//	              recurrent products T × [B × H] · [H × G·H]        2·B·T·G·H·H
//	head:         [B·T × H] · [H × V]                               2·B·T·H·V
//
// where R_l = B·T, except that recur's layer 0 projects the V rows of the embedding table
// once, R_0 = V, when lstm.ProjectsTable returns true (V at most B·T/2), and gathers the
// projected rows. Backward runs two products of the same size per forward product, one for
// the input (or table) gradient and one for the weight gradient, so a training step costs
// 3 × forward. The embedding lookup and the gather are copies and cost no FLOPs.

// forwardFLOPs returns the matrix-product FLOPs of one forward pass of sh. table is true when
// layer 0 projects the embedding table (R_0 = V) rather than every token (R_0 = B·T).
func forwardFLOPs(model string, sh shape, table bool) float64 {
	G := map[string]float64{"lstm": 4, "gru": 3}[model]
	if G == 0 {
		G = 1 // the tanh RNN
	}
	H, tokens := float64(sh.Hidden), float64(sh.tokens())
	total := 0.0
	for l := 0; l < sh.Layers; l++ {
		rows := tokens
		if l == 0 && table {
			rows = float64(sh.Vocab)
		}
		// The embedding width equals H, so every layer's input is H wide.
		total += 2*rows*G*H*H + 2*tokens*G*H*H
	}
	return total + 2*tokens*H*float64(sh.Vocab)
}

// trainFLOPs returns the matrix-product FLOPs of one training step of sh: forward and backward.
func trainFLOPs(model string, sh shape, table bool) float64 {
	return 3 * forwardFLOPs(model, sh, table)
}
