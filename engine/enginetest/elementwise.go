package enginetest

import (
	"fmt"

	"github.com/recur-ml/recur/cpuref"
	"github.com/recur-ml/recur/engine"
)

// vectorSizes are the lengths of the element-wise checks. 70001 is odd and larger than the
// 2¹⁶ elements above which a threaded backend splits even memory-bound loops.
var vectorSizes = []int{1, 13, 70001}

func testUploadDownload(e *env) {
	for _, n := range vectorSizes {
		zeros := e.download(e.be.Alloc(n))
		e.exact(fmt.Sprintf("Alloc(%d)", n), zeros, make([]float32, n))

		x := e.uniform(n, -1e3, 1e3)
		e.exact(fmt.Sprintf("round trip of %d", n), e.download(e.upload(x)), x)

		// Upload into a view and download from it. The rest of the tensor must not change.
		whole, view := e.padded(make([]float32, n), 4, 3)
		e.be.Upload(view, x)
		name := fmt.Sprintf("view of %d at offset 4", n)
		e.exact(name, e.download(view), x)
		e.checkGuard(name, whole, 4, n)

		// A view of a view adds the offsets.
		inner := whole.Slice(2, n+4).Slice(2, n)
		e.exact(name+" through a nested view", e.download(inner), x)
	}
}

func testFillCopy(e *env) {
	for _, n := range vectorSizes {
		name := fmt.Sprintf("Fill of %d", n)
		whole, view := e.padded(e.uniform(n, -1, 1), 1, 2)
		e.be.Fill(view, 3.5)
		want := make([]float32, n)
		for i := range want {
			want[i] = 3.5
		}
		e.exact(name, e.download(view), want)
		e.checkGuard(name, whole, 1, n)

		name = fmt.Sprintf("Copy of %d", n)
		src := e.uniform(n, -1, 1)
		_, srcView := e.padded(src, 3, 0)
		dstWhole, dstView := e.padded(e.uniform(n, -1, 1), 2, 5)
		e.be.Copy(dstView, srcView)
		e.exact(name, e.download(dstView), src)
		e.checkGuard(name, dstWhole, 2, n)
	}
}

func testAxpy(e *env) {
	for _, n := range vectorSizes {
		for _, alpha := range []float32{1, -0.75} {
			name := fmt.Sprintf("y of %d alpha=%g", n, alpha)
			x := e.uniform(n, -1, 1)
			y := e.uniform(n, -1, 1)
			_, xView := e.padded(x, 1, 0)
			yWhole, yView := e.padded(y, 2, 1)

			e.be.Axpy(alpha, xView, yView)

			want := make([]float64, n)
			for i := range want {
				want[i] = float64(y[i]) + float64(alpha)*float64(x[i])
			}
			e.compare(kindElementwise, name, e.download(yView), want)
			e.checkGuard(name, yWhole, 2, n)
		}
	}
}

func testMul(e *env) {
	for _, n := range vectorSizes {
		name := fmt.Sprintf("dst of %d", n)
		x := e.uniform(n, -2, 2)
		dst := e.uniform(n, -2, 2)
		_, xView := e.padded(x, 3, 1)
		dstWhole, dstView := e.padded(dst, 1, 1)

		e.be.Mul(dstView, xView)

		want := make([]float64, n)
		for i := range want {
			want[i] = float64(dst[i]) * float64(x[i])
		}
		e.compare(kindElementwise, name, e.download(dstView), want)
		e.checkGuard(name, dstWhole, 1, n)
	}
}

// embeddingCase is one shape of the embedding checks.
type embeddingCase struct {
	V, dim int
	ids    []int32
}

// embeddingCases returns a small case whose ids repeat up to 4 times, and a case of 600 ids
// and 128 columns, large enough that a threaded backend splits it, where each id occurs 4
// times at positions 150 apart so that different threads add into the same row.
func embeddingCases(e *env) []embeddingCase {
	small := []int32{3, 0, 10, 3, 7, 7, 1, 3, 9, 2, 7, 4, 3, 5, 10}
	large := make([]int32, 600)
	for i := range large {
		large[i] = int32(i % 150)
	}
	return []embeddingCase{
		{V: 11, dim: 5, ids: small},
		{V: 11, dim: 1, ids: e.ids(9, 11)},
		{V: 150, dim: 128, ids: large},
	}
}

func testEmbeddingForward(e *env) {
	for _, c := range embeddingCases(e) {
		name := fmt.Sprintf("out of %d ids, V=%d dim=%d", len(c.ids), c.V, c.dim)
		table := e.uniform(c.V*c.dim, -1, 1)
		_, tableView := e.padded(table, 2, 1)
		outWhole, outView := e.padded(make([]float32, len(c.ids)*c.dim), 1, 3)

		e.be.EmbeddingForward(outView, tableView, c.ids, c.dim)

		want := cpuref.EmbeddingForward(float64s(table), ints(c.ids), c.dim)
		e.compare(kindExact, name, e.download(outView), want)
		e.checkGuard(name, outWhole, 1, len(c.ids)*c.dim)
	}
}

func testEmbeddingBackward(e *env) {
	for _, c := range embeddingCases(e) {
		name := fmt.Sprintf("dtable of %d ids, V=%d dim=%d", len(c.ids), c.V, c.dim)
		dtable := e.uniform(c.V*c.dim, -1, 1) // EmbeddingBackward accumulates into dtable
		dout := e.uniform(len(c.ids)*c.dim, -1, 1)
		dtableWhole, dtableView := e.padded(dtable, 3, 2)
		_, doutView := e.padded(dout, 1, 1)

		e.be.EmbeddingBackward(dtableView, doutView, c.ids, c.dim)

		want := float64s(dtable)
		cpuref.EmbeddingBackward(want, float64s(dout), ints(c.ids), c.dim)
		e.compare(kindElementwise, name, e.download(dtableView), want)
		e.checkGuard(name, dtableWhole, 3, len(dtable))
	}
}

// dropoutOffset is a counter offset above 2³², which catches a backend that keeps the
// element counter in 32 bits.
const dropoutOffset = 1<<33 + 12345

func testDropout(e *env) {
	const seed = 0x5EED
	for _, n := range []int{13, 20001} {
		for _, p := range []float32{0.3, 0.9} {
			checkDropout(e, n, p, seed, dropoutOffset)
		}
		checkDropout(e, n, 0.3, seed+1, 0)
	}

	// p = 0 keeps every element, so x is unchanged bit for bit and the mask is all ones.
	x := e.uniform(1001, -1, 1)
	xTensor := e.upload(x)
	mask := e.upload(e.uniform(len(x), -1, 1))
	e.be.Dropout(xTensor, mask, 0, seed, dropoutOffset)
	e.exact("x after p=0", e.download(xTensor), x)
	ones := make([]float32, len(x))
	for i := range ones {
		ones[i] = 1
	}
	e.exact("mask after p=0", e.download(mask), ones)
}

// checkDropout runs Dropout on views and checks that element i is kept exactly when
// engine.DropoutKeep(seed, offset+i, p) returns true, and that the mask and the result match
// inverted dropout's 1/(1−p) scaling.
func checkDropout(e *env, n int, p float32, seed, offset uint64) {
	e.t.Helper()
	name := fmt.Sprintf("n=%d p=%g seed=%d offset=%d", n, p, seed, offset)
	x := e.uniform(n, -1, 1)
	xWhole, xView := e.padded(x, 2, 1)
	maskWhole, maskView := e.padded(e.uniform(n, -1, 1), 1, 2)

	e.be.Dropout(xView, maskView, p, seed, offset)

	gotX, gotMask := e.download(xView), e.download(maskView)
	wantX, wantMask := make([]float64, n), make([]float64, n)
	scale := 1 / (1 - float64(p))
	mismatches := 0
	for i := range wantMask {
		keep := engine.DropoutKeep(seed, offset+uint64(i), p)
		if keep {
			wantMask[i] = scale
			wantX[i] = float64(x[i]) * scale
		}
		if keep != (gotMask[i] != 0) {
			if mismatches < maxFailuresShown {
				e.t.Errorf("mask %s [%d]: got %g, want %s by DropoutKeep", name, i, gotMask[i],
					keptOrDropped(keep))
			}
			mismatches++
		}
	}
	if mismatches > 0 {
		e.t.Errorf("mask %s: %d of %d elements disagree with DropoutKeep", name, mismatches, n)
	}
	e.compare(kindElementwise, "mask "+name, gotMask, wantMask)
	e.compare(kindElementwise, "x "+name, gotX, wantX)
	e.checkGuard("x "+name, xWhole, 2, n)
	e.checkGuard("mask "+name, maskWhole, 1, n)
}

func keptOrDropped(keep bool) string {
	if keep {
		return "kept (nonzero)"
	}
	return "dropped (0)"
}
