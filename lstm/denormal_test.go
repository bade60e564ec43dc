package lstm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/recur-ml/recur/engine"
)

// TestTrainStepFlushesSubnormalWeights trains from weights scaled into float32's subnormal
// range, as bench --denormal does, and checks that the CPU backend leaves no subnormal number
// in the parameters, the activations or the logits.
func TestTrainStepFlushesSubnormalWeights(t *testing.T) {
	for _, gemm := range []string{"blas", "gonum"} {
		t.Run(gemm, func(t *testing.T) {
			be, err := engine.NewCPU(engine.CPUOptions{GEMM: gemm})
			if err != nil {
				t.Skipf("GEMM %q is not available: %v", gemm, err)
			}
			t.Cleanup(func() { be.Close() })
			cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 16, Embed: 16, Vocab: testVocab(9)}
			m, err := NewModel(cfg, be)
			if err != nil {
				t.Fatal(err)
			}
			params := InitParams(cfg, rand.New(rand.NewPCG(3, 4)), math.NaN())
			for i := range params {
				params[i] *= 0x1p-130
			}
			be.Upload(m.Params, params)
			tc := TrainConfig{Seq: 8, Batch: 4, LR: 1e-30, Optim: OptimAdam, Clip: 5, Seed: 1}
			tr, err := NewTrainer(m, tc, cyclicText(400, 9))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.TrainStep(); err != nil {
				t.Fatal(err)
			}
			ws := tr.Workspace()
			for name, x := range map[string]engine.Tensor{
				"parameters": m.Params, "gradients": m.Grads, "output": ws.Output(),
				"logits": ws.Logits(),
			} {
				for i, v := range engine.Float32s(x) {
					if v != 0 && math.Abs(float64(v)) < 0x1p-126 {
						t.Errorf("%s[%d] = %g is subnormal, want it flushed to zero", name, i, v)
						break
					}
				}
			}
		})
	}
}
