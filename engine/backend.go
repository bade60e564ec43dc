// Package engine defines the Backend interface that recur's models are written against,
// and the CPU backend that implements it in float32.
//
// Conventions shared by every backend:
//   - A Tensor is a flat float32 vector in the backend's memory; shapes live with the caller.
//   - Matrices are row-major and contiguous: an m×k matrix has leading dimension k.
//   - Activations are time-major, [T][B][H], so step t of a sequence is the view
//     Slice(t*B*H, B*H).
//   - LSTM gate blocks are in PyTorch's order i, f, g, o: row b of a [B×4H] gate matrix holds
//     i in columns [0,H), f in [H,2H), g in [2H,3H) and o in [3H,4H).
//   - Token ids are host slices of int32; a target id of -1 is ignored by the loss.
//
// Methods panic on a caller mistake (mismatched lengths, a tensor of another backend), as
// gonum's BLAS does, and never return an error in the hot loop. Sync reports failures that a
// device backend detects asynchronously.
package engine

// Tensor is a contiguous float32 vector held by a Backend, or a view into one.
type Tensor interface {
	// Len returns the number of float32 elements.
	Len() int
	// Slice returns the view of elements [off, off+n), sharing memory with the receiver.
	Slice(off, n int) Tensor
}

// Backend runs the operations of recurrent-network training on one device.
type Backend interface {
	// Name returns a short description, for example "cpu (OpenBLAS 0.3.21, 2 threads)".
	Name() string

	// Alloc returns a zero-filled tensor of n elements.
	Alloc(n int) Tensor
	// Upload copies src from host memory into dst; the lengths must match.
	Upload(dst Tensor, src []float32)
	// Download copies src into host memory dst; the lengths must match.
	Download(dst []float32, src Tensor)
	// Fill sets every element of t to v.
	Fill(t Tensor, v float32)
	// Copy copies src into dst; the lengths must match.
	Copy(dst, src Tensor)
	// Axpy computes y += alpha·x.
	Axpy(alpha float32, x, y Tensor)
	// Mul computes dst[i] *= x[i].
	Mul(dst, x Tensor)

	// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major contiguous matrices, where
	// op(A) is m×k (A is k×m when transA), op(B) is k×n (B is n×k when transB) and C is m×n.
	// With beta = 0, C is overwritten without being read, so NaN in C does not propagate.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a, b Tensor, beta float32, c Tensor)
	// AddBias adds bias [cols] to every row of y [rows×cols].
	AddBias(y, bias Tensor, rows, cols int)
	// SumRows accumulates the column sums of x [rows×cols] into dst [cols]: dst[j] += Σ_r x[r,j].
	SumRows(dst, x Tensor, rows, cols int)

	// EmbeddingForward writes row ids[r] of table [V×dim] into row r of out [len(ids)×dim].
	EmbeddingForward(out, table Tensor, ids []int32, dim int)
	// EmbeddingBackward accumulates row r of dout [len(ids)×dim] into row ids[r] of dtable.
	EmbeddingBackward(dtable, dout Tensor, ids []int32, dim int)

	// LSTMForward applies one LSTM step to B rows of H units. gates [B×4H] holds the
	// pre-activations (input and recurrent projections plus both biases) on entry and the
	// activated gates σ(i), σ(f), tanh(g), σ(o) on return. It writes
	// c = f·cPrev + i·g and h = o·tanh(c), both [B×H].
	LSTMForward(gates, cPrev, c, h Tensor, B, H int)
	// LSTMBackward reverses LSTMForward. gates holds the activated gates saved by the forward
	// step, dhOut the loss gradient reaching h from the layer above and dhRec the gradient
	// reaching h from the next step (nil where there is none). dc holds dL/dc from the next
	// step on entry (zero at the last step) and dL/dcPrev on return. It writes the gradient
	// with respect to the gate pre-activations into dgates [B×4H].
	LSTMBackward(gates, cPrev, c, dhOut, dhRec, dc, dgates Tensor, B, H int)
	// GRUForward applies one GRU step to B rows of H units, with PyTorch's gate order r, z, n.
	// xg [B×3H] holds the input projections plus bias_ih on entry and the activated gates
	// r, z, n on return. hg [B×3H] holds the recurrent projections W_hh·hPrev on entry. When
	// bhh [3H] is not nil, bias_hh is added to every row of hg in float32, in place, as
	// AddBias would add it. hg is otherwise left unchanged, because backward reads its n
	// block. With r = σ(x_r + h_r), z = σ(x_z + h_z) and n = tanh(x_n + r·h_n), where h_* are
	// the blocks of hg with the bias, it writes h = (1 − z)·n + z·hPrev [B×H].
	GRUForward(xg, hg, bhh, hPrev, h Tensor, B, H int)
	// GRUBackward reverses GRUForward. xg holds the activated gates, hg the recurrent
	// projections, dhOut and dhRec (nil where there is none) the gradient reaching h. It
	// writes dxg [B×3H], the gradient with respect to the input pre-activations; dhg [B×3H],
	// with respect to the recurrent pre-activations (W_hh·hPrev + bias_hh); and dhPrev [B×H],
	// the part of dL/dhPrev that flows through z·hPrev (the caller adds dhg·W_hh).
	GRUBackward(xg, hg, hPrev, dhOut, dhRec, dxg, dhg, dhPrev Tensor, B, H int)
	// RNNForward applies h = tanh(pre) element-wise.
	RNNForward(pre, h Tensor)
	// RNNBackward writes dpre = (dhOut + dhRec)·(1 − h²); dhRec may be nil.
	RNNBackward(h, dhOut, dhRec, dpre Tensor)

	// SoftmaxCrossEntropy computes, for each row r of logits [rows×V], the loss
	// losses[r] = −log softmax(logits[r])[targets[r]] in nats, and, when dlogits is not nil,
	// dlogits[r] = scale·(softmax(logits[r]) − onehot(targets[r])). A target of −1 gives a
	// loss of 0 and a zero gradient row. A target outside [−1, V) panics.
	SoftmaxCrossEntropy(logits Tensor, targets []int32, losses, dlogits Tensor, rows, V int, scale float32)

	// Dropout writes the inverted-dropout mask of x into mask and multiplies x by it in place:
	// element i is kept with probability 1−p and scaled by 1/(1−p), else zeroed, as decided by
	// DropoutKeep(seed, offset+i, p), so every backend draws the same mask.
	Dropout(x, mask Tensor, p float32, seed, offset uint64)

	// ClipGradNorm computes the global L2 norm of g and, when maxNorm > 0, scales g by
	// min(1, maxNorm/(norm+1e-6)). It writes the norm before clipping into norm[0]. A
	// non-finite norm leaves g unscaled; the caller skips such a step.
	ClipGradNorm(g Tensor, maxNorm float32, norm Tensor)
	// AdamStep applies one Adam update (PyTorch's formulation, no weight decay) to param with
	// gradient grad and moments m, v; step counts from 1.
	AdamStep(param, grad, m, v Tensor, lr, beta1, beta2, eps float32, step int)
	// SGDStep applies SGD with momentum as PyTorch does: buf = momentum·buf + grad,
	// param −= lr·buf.
	SGDStep(param, grad, buf Tensor, lr, momentum float32)
	// RMSpropStep applies PyTorch's RMSprop: sq = alpha·sq + (1−alpha)·grad²,
	// param −= lr·grad/(√sq + eps).
	RMSpropStep(param, grad, sq Tensor, lr, alpha, eps float32)

	// Sync waits for queued work and returns the first failure a device detected.
	Sync() error
	// Close releases the backend's resources.
	Close() error
}

// DropoutKeep reports whether element index of a dropout draw with the given seed is kept at
// drop probability p. It is a counter-based hash (SplitMix64), so a mask depends only on the
// seed and the element's index, never on the order in which threads visit elements.
func DropoutKeep(seed, index uint64, p float32) bool {
	z := seed + (index+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	u := float32(z>>40) * (1.0 / (1 << 24))
	return u >= p
}
