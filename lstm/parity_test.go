package lstm

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/safetensors"
)

// The fixtures under testdata/torch come from scripts/make_torch_fixtures.py: PyTorch's
// nn.Embedding, nn.LSTM/nn.GRU/nn.RNN and nn.Linear on one random chunk, computed in float64
// from float32 weights. They hold the logits, the mean loss, every gradient and the weights
// after clip_grad_norm_(0.5) and one Adam step with learning rate 0.01.
const (
	parityLR      = 0.01
	parityMaxNorm = 0.5
)

// parityTol bounds |got−want| by atol + rtol·|want|.
type parityTol struct{ atol, rtol float64 }

// The recur side runs in float32, so these leave room for float32 rounding through a
// 2-layer, 5-step chunk (observed errors are below 1e-7). The Adam step divides each gradient
// by its own magnitude, which magnifies the rounding of the smallest gradients, so its bound
// is set relative to lr rather than to the gradients.
var parityTols = map[string]parityTol{
	"logits": {atol: 1e-5, rtol: 1e-4},
	"loss":   {atol: 1e-6, rtol: 1e-5},
	"grad":   {atol: 1e-6, rtol: 1e-3},
	"after":  {atol: 1e-5, rtol: 1e-5},
}

func TestTorchParity(t *testing.T) {
	for _, cell := range []string{CellLSTM, CellGRU, CellRNN} {
		path := filepath.Join("testdata", "torch", cell+".safetensors")
		t.Run(cell, func(t *testing.T) {
			f, err := safetensors.ReadFile(path)
			if err != nil {
				t.Fatalf("reading the PyTorch fixture (regenerate with "+
					"/usr/bin/python3 scripts/make_torch_fixtures.py): %v", err)
			}
			for _, gemm := range []string{"gonum", "blas"} {
				t.Run(gemm, func(t *testing.T) {
					be, err := engine.NewCPU(engine.CPUOptions{GEMM: gemm})
					if err != nil {
						if gemm == "blas" {
							skipNoBLAS(t, err)
						}
						t.Fatal(err)
					}
					defer be.Close()
					checkTorchFixture(t, f, be)
				})
			}
			t.Run("cuda", func(t *testing.T) {
				be, err := engine.NewCUDA(engine.CUDAOptions{Precision: "fp32"})
				if err != nil {
					// CI machines have no GPU; RECUR_REQUIRE_CUDA makes the GPU check fail here.
					if os.Getenv("RECUR_REQUIRE_CUDA") == "1" {
						t.Fatalf("RECUR_REQUIRE_CUDA=1 but the CUDA backend did not start: %v", err)
					}
					t.Skipf("skipping CUDA: %v", err)
				}
				defer be.Close()
				checkTorchFixture(t, f, be)
			})
		})
	}
}

// skipNoBLAS skips when the system BLAS cannot be loaded. Under CI=true that fails instead,
// except in a build without cgo, which can never load it.
func skipNoBLAS(t *testing.T, err error) {
	t.Helper()
	switch {
	case !cgoBuild():
		t.Skipf("skipping the blas GEMM in a build without cgo: %v", err)
	case os.Getenv("CI") == "true":
		t.Fatalf("system BLAS not found, and CI=true requires it: %v", err)
	default:
		t.Skipf("skipping: system BLAS not found: %v", err)
	}
}

// cgoBuild reports whether the test binary was built with cgo, from its CGO_ENABLED build setting.
func cgoBuild() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return true
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "1"
		}
	}
	return true
}

// fixtureConfig builds the model configuration that the fixture's metadata describes.
func fixtureConfig(t *testing.T, f *safetensors.File) Config {
	t.Helper()
	num := func(key string) int {
		n, err := strconv.Atoi(f.Metadata[key])
		if err != nil {
			t.Fatalf("fixture metadata %q: %v", key, err)
		}
		return n
	}
	cfg := Config{Model: f.Metadata["model"], Layers: num("layers"), Hidden: num("hidden"), Embed: num("embed")}
	for i := 0; i < num("vocab_size"); i++ {
		cfg.Vocab = append(cfg.Vocab, string(rune('a'+i)))
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("fixture metadata: %v", err)
	}
	return cfg
}

func checkTorchFixture(t *testing.T, f *safetensors.File, be engine.Backend) {
	cfg := fixtureConfig(t, f)
	m, err := NewModel(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	specs := cfg.ParamSpecs()
	n := cfg.NumParams()

	read := func(name string, shape []int) []float32 {
		t.Helper()
		v, got, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(shape) {
			t.Fatalf("fixture tensor %s has shape %v, want %v", name, got, shape)
		}
		return v
	}
	gather := func(prefix string) []float32 {
		t.Helper()
		flat := make([]float32, n)
		for _, s := range specs {
			copy(flat[s.Offset:s.Offset+s.Len()], read(prefix+s.Name, s.Shape))
		}
		return flat
	}

	ids64, idShape, err := f.Int64("ids")
	if err != nil {
		t.Fatal(err)
	}
	tg64, tgShape, err := f.Int64("targets")
	if err != nil {
		t.Fatal(err)
	}
	if len(idShape) != 2 || fmt.Sprint(idShape) != fmt.Sprint(tgShape) {
		t.Fatalf("fixture ids %v and targets %v: want equal [T B] shapes", idShape, tgShape)
	}
	T, B, V := idShape[0], idShape[1], len(cfg.Vocab)
	ids, targets := make([]int32, len(ids64)), make([]int32, len(tg64))
	for i := range ids64 {
		ids[i], targets[i] = int32(ids64[i]), int32(tg64[i])
	}

	be.Upload(m.Params, gather(""))
	ws := m.NewWorkspace(B, T)
	m.PrepareBackward(ws)
	count := m.Forward(ws, ids, targets, Dropout{})
	if count != T*B {
		t.Fatalf("Forward scored %d targets, want %d", count, T*B)
	}
	logits := make([]float32, T*B*V)
	be.Download(logits, ws.Logits())
	loss := m.LossSum(ws) / float64(count)
	m.Backward(ws)
	grads := make([]float32, n)
	be.Download(grads, m.Grads)

	norm := be.Alloc(1)
	be.ClipGradNorm(m.Grads, parityMaxNorm, norm)
	opt, err := NewOptimizer(OptimAdam, parityLR, n, be)
	if err != nil {
		t.Fatal(err)
	}
	opt.Update(m.Params, m.Grads)
	after := make([]float32, n)
	be.Download(after, m.Params)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}

	worst := map[string]float64{}
	check := func(kind, name string, got, want []float32) {
		worst[kind] = math.Max(worst[kind], compareParity(t, kind, name, got, want))
	}
	check("logits", "logits", logits, read("logits", []int{T * B, V}))
	check("loss", "loss", []float32{float32(loss)}, read("loss", []int{}))
	wantGrads, wantAfter := gather("grad."), gather("after.")
	for _, s := range specs {
		lo, hi := s.Offset, s.Offset+s.Len()
		check("grad", "grad."+s.Name, grads[lo:hi], wantGrads[lo:hi])
		check("after", "after."+s.Name, after[lo:hi], wantAfter[lo:hi])
	}
	t.Logf("largest |diff|: logits %.3g, loss %.3g, gradients %.3g, weights after Adam %.3g",
		worst["logits"], worst["loss"], worst["grad"], worst["after"])
}

// compareParity checks got against want under the tolerance of kind, reporting up to a few
// failing elements by tensor name and index. It returns the largest error.
func compareParity(t *testing.T, kind, name string, got, want []float32) float64 {
	t.Helper()
	tol := parityTols[kind]
	if len(got) != len(want) {
		t.Fatalf("%s: got %d elements, want %d", name, len(got), len(want))
		return 0
	}
	var worst float64
	var bad []string
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		d := math.Abs(g - w)
		if !(d <= tol.atol+tol.rtol*math.Abs(w)) {
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("%s[%d]: got %.9g, want %.9g (|diff| %.3g)", name, i, g, w, d))
			} else if len(bad) == 5 {
				bad = append(bad, "...")
			}
		}
		if d > worst || math.IsNaN(d) {
			worst = d
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s differs from PyTorch beyond atol %g, rtol %g:\n%s", name, tol.atol, tol.rtol, strings.Join(bad, "\n"))
	}
	return worst
}
