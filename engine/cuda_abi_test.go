package engine

import (
	"encoding/binary"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/recur-ml/recur/cuda"
	"github.com/recur-ml/recur/kernels"
)

// kernelParam is one parameter of a kernel in recur_kernels.cu.
type kernelParam struct {
	name  string // for example "c_prev"
	ctype string // for example "const float *"
}

// kernelSignatures parses the parameter lists of the extern "C" kernels of
// kernels/recur_kernels.cu.
func kernelSignatures(t *testing.T) map[string][]kernelParam {
	t.Helper()
	sigs := map[string][]kernelParam{}
	re := regexp.MustCompile(`extern "C" __global__ void (\w+)\(([^)]*)\)`)
	for _, m := range re.FindAllStringSubmatch(kernels.Source, -1) {
		var params []kernelParam
		for _, p := range strings.Split(m[2], ",") {
			p = strings.Join(strings.Fields(p), " ")
			i := strings.LastIndexAny(p, " *")
			name, ctype := p[i+1:], strings.TrimSpace(p[:i+1])
			if strings.HasSuffix(ctype, "*") {
				ctype = strings.TrimSpace(strings.TrimSuffix(ctype, "*")) + " *"
			}
			params = append(params, kernelParam{name: name, ctype: ctype})
		}
		sigs[m[1]] = params
	}
	return sigs
}

// decodeArg reads one packed argument as the C type ctype declares it, into the Go type that
// the expectations of TestCUDAKernelArguments use.
func decodeArg(t *testing.T, ctype string, slot []byte) any {
	t.Helper()
	switch {
	case strings.HasSuffix(ctype, "*"):
		return cuda.DevicePtr(binary.NativeEndian.Uint64(slot))
	case ctype == "int":
		return int(int32(binary.NativeEndian.Uint32(slot)))
	case ctype == "float":
		return math.Float32frombits(binary.NativeEndian.Uint32(slot))
	case ctype == "double":
		return math.Float64frombits(binary.NativeEndian.Uint64(slot))
	case ctype == "unsigned long long":
		return binary.NativeEndian.Uint64(slot)
	}
	t.Fatalf("kernel parameter type %q is not handled by the test", ctype)
	return nil
}

// wantLaunch is a kernel launch that an operation must queue: the kernel's name, the grid
// and the argument values by parameter name.
type wantLaunch struct {
	kernel string
	grid   uint32
	args   map[string]any
}

// ptrOf returns the device address of a tensor of the fake backend.
func ptrOf(t Tensor) cuda.DevicePtr { return t.(*cudaTensor).ptr }

// TestCUDAKernelArguments runs every operation of the CUDA backend on a fake device and
// checks each launch against the kernel's signature in recur_kernels.cu: one argument per
// parameter, of the parameter's size, with the value that belongs to the parameter's name.
// A swapped, missing or mistyped argument fails here, on the host.
func TestCUDAKernelArguments(t *testing.T) {
	sigs := kernelSignatures(t)
	c, dev, _, _ := newFakeCUDA(t)
	const n = 300 // two blocks of 256 threads
	const B, H = 3, 5
	alloc := func(n int) Tensor { return c.Alloc(n).Slice(0, n) }
	view := func(n int) Tensor { return c.Alloc(n+3).Slice(3, n) } // at a 12-byte offset

	x, y := alloc(n), view(n)
	gates, cPrev, cNext, h := view(B*4*H), alloc(B*H), view(B*H), alloc(B*H)
	dhOut, dhRec, dc, dgates := alloc(B*H), view(B*H), alloc(B*H), view(B*4*H)
	xg, hg, dxg, dhg := alloc(B*3*H), view(B*3*H), view(B*3*H), alloc(B*3*H)
	bhh := view(3 * H)
	table, out := alloc(6*4), view(5*4)
	ids := []int32{5, 0, 3, 3, 1}
	logits, losses, dlogits := alloc(4*7), view(4), alloc(4*7)
	targets := []int32{6, -1, 0, 2}
	norm := view(1)
	m, v := alloc(n), alloc(n)
	idsPtr := func(ids []int32) cuda.DevicePtr {
		p, err := c.ids.stage(ids) // the staged copy, found again by value
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	seenKernels := map[string]bool{}

	tests := []struct {
		name string
		run  func()
		want []wantLaunch
	}{
		{"Axpy", func() { c.Axpy(0.5, x, y) }, []wantLaunch{{"axpy", 2,
			map[string]any{"alpha": float32(0.5), "x": ptrOf(x), "y": ptrOf(y), "n": n}}}},
		{"Mul", func() { c.Mul(y, x) }, []wantLaunch{{"mul", 2,
			map[string]any{"dst": ptrOf(y), "x": ptrOf(x), "n": n}}}},
		{"AddBias", func() { c.AddBias(x, y.Slice(0, 100), 3, 100) }, []wantLaunch{{"add_bias", 2,
			map[string]any{"y": ptrOf(x), "bias": ptrOf(y), "rows": 3, "cols": 100}}}},
		{"SumRows", func() { c.SumRows(y.Slice(0, 100), x, 3, 100) }, []wantLaunch{{"sum_rows", 1,
			map[string]any{"dst": ptrOf(y), "x": ptrOf(x), "rows": 3, "cols": 100}}}},
		{"EmbeddingForward", func() { c.EmbeddingForward(out, table, ids, 4) },
			[]wantLaunch{{"embedding_forward", 1, map[string]any{"out": ptrOf(out),
				"table": ptrOf(table), "ids": idsPtr(ids), "n": 5, "dim": 4}}}},
		{"EmbeddingBackward", func() { c.EmbeddingBackward(table, out, ids, 4) },
			[]wantLaunch{{"embedding_backward", 1, map[string]any{"dtable": ptrOf(table),
				"dout": ptrOf(out), "ids": idsPtr(ids), "n": 5, "dim": 4}}}},
		{"LSTMForward", func() { c.LSTMForward(gates, cPrev, cNext, h, B, H) },
			[]wantLaunch{{"lstm_gates_forward", 1, map[string]any{"gates": ptrOf(gates),
				"c_prev": ptrOf(cPrev), "c": ptrOf(cNext), "h": ptrOf(h), "B": B, "H": H}}}},
		{"LSTMBackward", func() { c.LSTMBackward(gates, cPrev, cNext, dhOut, dhRec, dc, dgates, B, H) },
			[]wantLaunch{{"lstm_gates_backward", 1, map[string]any{"gates": ptrOf(gates),
				"c_prev": ptrOf(cPrev), "c": ptrOf(cNext), "dh_out": ptrOf(dhOut),
				"dh_rec": ptrOf(dhRec), "dc": ptrOf(dc), "dgates": ptrOf(dgates), "B": B,
				"H": H}}}},
		{"LSTMBackward without dhRec", func() {
			c.LSTMBackward(gates, cPrev, cNext, dhOut, nil, dc, dgates, B, H)
		}, []wantLaunch{{"lstm_gates_backward", 1, map[string]any{"gates": ptrOf(gates),
			"c_prev": ptrOf(cPrev), "c": ptrOf(cNext), "dh_out": ptrOf(dhOut),
			"dh_rec": cuda.DevicePtr(0), "dc": ptrOf(dc), "dgates": ptrOf(dgates), "B": B,
			"H": H}}}},
		{"GRUForward", func() { c.GRUForward(xg, hg, bhh, cPrev, h, B, H) },
			[]wantLaunch{{"gru_gates_forward", 1, map[string]any{"xg": ptrOf(xg), "hg": ptrOf(hg),
				"bhh": ptrOf(bhh), "h_prev": ptrOf(cPrev), "h": ptrOf(h), "B": B, "H": H}}}},
		{"GRUForward without bhh", func() { c.GRUForward(xg, hg, nil, cPrev, h, B, H) },
			[]wantLaunch{{"gru_gates_forward", 1, map[string]any{"xg": ptrOf(xg), "hg": ptrOf(hg),
				"bhh": cuda.DevicePtr(0), "h_prev": ptrOf(cPrev), "h": ptrOf(h), "B": B,
				"H": H}}}},
		{"GRUBackward", func() { c.GRUBackward(xg, hg, cPrev, dhOut, dhRec, dxg, dhg, dc, B, H) },
			[]wantLaunch{{"gru_gates_backward", 1, map[string]any{"xg": ptrOf(xg), "hg": ptrOf(hg),
				"h_prev": ptrOf(cPrev), "dh_out": ptrOf(dhOut), "dh_rec": ptrOf(dhRec),
				"dxg": ptrOf(dxg), "dhg": ptrOf(dhg), "dh_prev": ptrOf(dc), "B": B, "H": H}}}},
		{"GRUBackward without dhRec", func() {
			c.GRUBackward(xg, hg, cPrev, dhOut, nil, dxg, dhg, dc, B, H)
		}, []wantLaunch{{"gru_gates_backward", 1, map[string]any{"xg": ptrOf(xg), "hg": ptrOf(hg),
			"h_prev": ptrOf(cPrev), "dh_out": ptrOf(dhOut), "dh_rec": cuda.DevicePtr(0),
			"dxg": ptrOf(dxg), "dhg": ptrOf(dhg), "dh_prev": ptrOf(dc), "B": B, "H": H}}}},
		{"RNNForward", func() { c.RNNForward(x, y) }, []wantLaunch{{"rnn_forward", 2,
			map[string]any{"pre": ptrOf(x), "h": ptrOf(y), "n": n}}}},
		{"RNNBackward", func() { c.RNNBackward(x, y, m, v) }, []wantLaunch{{"rnn_backward", 2,
			map[string]any{"h": ptrOf(x), "dh_out": ptrOf(y), "dh_rec": ptrOf(m),
				"dpre": ptrOf(v), "n": n}}}},
		{"RNNBackward without dhRec", func() { c.RNNBackward(x, y, nil, v) },
			[]wantLaunch{{"rnn_backward", 2, map[string]any{"h": ptrOf(x), "dh_out": ptrOf(y),
				"dh_rec": cuda.DevicePtr(0), "dpre": ptrOf(v), "n": n}}}},
		{"SoftmaxCrossEntropy", func() {
			c.SoftmaxCrossEntropy(logits, targets, losses, dlogits, 4, 7, 0.25)
		}, []wantLaunch{{"softmax_xent", 4, map[string]any{"logits": ptrOf(logits),
			"targets": idsPtr(targets), "losses": ptrOf(losses), "dlogits": ptrOf(dlogits),
			"rows": 4, "V": 7, "scale": float32(0.25)}}}},
		{"SoftmaxCrossEntropy without dlogits", func() {
			c.SoftmaxCrossEntropy(logits, targets, losses, nil, 4, 7, 0)
		}, []wantLaunch{{"softmax_xent", 4, map[string]any{"logits": ptrOf(logits),
			"targets": idsPtr(targets), "losses": ptrOf(losses), "dlogits": cuda.DevicePtr(0),
			"rows": 4, "V": 7, "scale": float32(0)}}}},
		{"Dropout", func() { c.Dropout(x, y, 0.25, 1<<40+7, 1<<33) }, []wantLaunch{{"dropout", 2,
			map[string]any{"x": ptrOf(x), "mask": ptrOf(y), "n": n, "p": float32(0.25),
				"seed": uint64(1<<40 + 7), "offset": uint64(1 << 33),
				"offset_dev": cuda.DevicePtr(0)}}}},
		{"ClipGradNorm", func() { c.ClipGradNorm(x, 1.5, norm) }, []wantLaunch{
			{"sum_squares_partial", kernels.NormPartials, map[string]any{"x": ptrOf(x), "n": n,
				"partials": c.partials.ptr}},
			{"sum_squares_final", 1, map[string]any{"partials": c.partials.ptr,
				"P": kernels.NormPartials, "norm": ptrOf(norm)}},
			{"clip_scale", 2, map[string]any{"g": ptrOf(x), "n": n, "norm": ptrOf(norm),
				"max_norm": float32(1.5)}},
		}},
		{"ClipGradNorm without clipping", func() { c.ClipGradNorm(x, 0, norm) }, []wantLaunch{
			{"sum_squares_partial", kernels.NormPartials, map[string]any{"x": ptrOf(x), "n": n,
				"partials": c.partials.ptr}},
			{"sum_squares_final", 1, map[string]any{"partials": c.partials.ptr,
				"P": kernels.NormPartials, "norm": ptrOf(norm)}},
		}},
		{"AdamStep", func() { c.AdamStep(x, y, m, v, 0.01, 0.9, 0.999, 1e-8, 3) },
			[]wantLaunch{{"adam_step", 2, map[string]any{"p": ptrOf(x), "g": ptrOf(y),
				"m": ptrOf(m), "v": ptrOf(v), "n": n, "lr": float32(0.01),
				"beta1": float32(0.9), "beta2": float32(0.999), "eps": float32(1e-8),
				"bias_correction1": float32(1 - math.Pow(float64(float32(0.9)), 3)),
				"bias_correction2": float32(1 - math.Pow(float64(float32(0.999)), 3)),
				"bias_corrections": cuda.DevicePtr(0), "guard": cuda.DevicePtr(0)}}}},
		{"SGDStep", func() { c.SGDStep(x, y, m, 0.05, 0.9) }, []wantLaunch{{"sgd_step", 2,
			map[string]any{"p": ptrOf(x), "g": ptrOf(y), "buf": ptrOf(m), "n": n,
				"lr": float32(0.05), "momentum": float32(0.9), "guard": cuda.DevicePtr(0)}}}},
		{"RMSpropStep", func() { c.RMSpropStep(x, y, m, 0.01, 0.99, 1e-8) },
			[]wantLaunch{{"rmsprop_step", 2, map[string]any{"p": ptrOf(x), "g": ptrOf(y),
				"sq": ptrOf(m), "n": n, "lr": float32(0.01), "alpha": float32(0.99),
				"eps": float32(1e-8), "guard": cuda.DevicePtr(0)}}}},
		{"GuardUpdates and guarded optimizer steps", func() {
			c.RunStep(func() {
				c.GuardUpdates(norm, losses)
				c.AdamStep(x, y, m, v, 0.01, 0.9, 0.999, 1e-8, 1)
				c.SGDStep(x, y, m, 0.05, 0.9)
				c.RMSpropStep(x, y, m, 0.01, 0.99, 1e-8)
			})
		}, []wantLaunch{
			{"finite_guard", 1, map[string]any{"norm": ptrOf(norm), "x": ptrOf(losses), "n": 4,
				"guard": c.guard.ptr}},
			{"adam_step", 2, map[string]any{"p": ptrOf(x), "g": ptrOf(y),
				"m": ptrOf(m), "v": ptrOf(v), "n": n, "lr": float32(0.01),
				"beta1": float32(0.9), "beta2": float32(0.999), "eps": float32(1e-8),
				"bias_correction1": float32(1 - math.Pow(float64(float32(0.9)), 1)),
				"bias_correction2": float32(1 - math.Pow(float64(float32(0.999)), 1)),
				"bias_corrections": cuda.DevicePtr(0), "guard": c.guard.ptr}},
			{"sgd_step", 2, map[string]any{"p": ptrOf(x), "g": ptrOf(y), "buf": ptrOf(m), "n": n,
				"lr": float32(0.05), "momentum": float32(0.9), "guard": c.guard.ptr}},
			{"rmsprop_step", 2, map[string]any{"p": ptrOf(x), "g": ptrOf(y),
				"sq": ptrOf(m), "n": n, "lr": float32(0.01), "alpha": float32(0.99),
				"eps": float32(1e-8), "guard": c.guard.ptr}},
		}},
		{"Gemm with alpha 0 scales C", func() {
			c.Gemm(false, false, 10, 30, 4, 0, alloc(40), alloc(120), 0.5, x.Slice(0, 300))
		}, []wantLaunch{{"scale", 2, map[string]any{"x": ptrOf(x), "n": n,
			"s": float32(0.5)}}}},
	}
	for _, tc := range tests {
		dev.launches = nil
		tc.run()
		if len(dev.launches) != len(tc.want) {
			t.Errorf("%s queued %d launches, want %d", tc.name, len(dev.launches), len(tc.want))
			continue
		}
		for i, want := range tc.want {
			got := dev.launches[i]
			seenKernels[want.kernel] = true
			if name := kernelNames[got.kernel]; name != want.kernel {
				t.Errorf("%s launch %d: kernel %s, want %s", tc.name, i, name, want.kernel)
				continue
			}
			if got.cfg != cuda.Linear(want.grid, blockThreads) {
				t.Errorf("%s: %s launched as %+v, want %d blocks of %d threads", tc.name,
					want.kernel, got.cfg, want.grid, blockThreads)
			}
			checkKernelArgs(t, tc.name, want, sigs[want.kernel], got.args)
		}
	}
	if err := c.Sync(); err != nil {
		t.Errorf("Sync after the operations: %v", err)
	}
	for _, name := range kernelNames {
		if !seenKernels[name] {
			t.Errorf("no operation in this test launches kernel %s", name)
		}
	}
}

// checkKernelArgs compares packed arguments with a kernel's parameters and the expected
// values by parameter name.
func checkKernelArgs(t *testing.T, op string, want wantLaunch, params []kernelParam,
	packed []byte) {
	t.Helper()
	if params == nil {
		t.Errorf("%s: recur_kernels.cu defines no kernel %s", op, want.kernel)
		return
	}
	if got := len(packed) / 8; got != len(params) {
		t.Errorf("%s: %s got %d arguments, and its signature has %d", op, want.kernel, got,
			len(params))
		return
	}
	for i, p := range params {
		wantValue, ok := want.args[p.name]
		if !ok {
			t.Errorf("%s: the test gives no value for parameter %s of %s", op, p.name,
				want.kernel)
			continue
		}
		if got := decodeArg(t, p.ctype, packed[8*i:8*i+8]); got != wantValue {
			t.Errorf("%s: %s argument %d (%s %s) = %v, want %v", op, want.kernel, i, p.ctype,
				p.name, got, wantValue)
		}
	}
	if len(want.args) != len(params) {
		t.Errorf("%s: the test gives %d values for the %d parameters of %s", op,
			len(want.args), len(params), want.kernel)
	}
}
