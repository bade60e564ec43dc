package lstm

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/recur-ml/recur/engine"
)

func newCPU(t *testing.T) engine.Backend {
	t.Helper()
	be, err := engine.NewCPU(engine.CPUOptions{GEMM: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// testVocab returns a vocabulary of n code points starting at 'a'.
func testVocab(n int) []string {
	v := make([]string, n)
	for i := range v {
		v[i] = string(rune('a' + i))
	}
	return v
}

func newTestModel(t *testing.T, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := NewModel(cfg, newCPU(t))
	if err != nil {
		t.Fatal(err)
	}
	m.Backend.Upload(m.Params, InitParams(cfg, rand.New(rand.NewPCG(seed, 7)), math.NaN()))
	return m
}

func params(m *Model) []float32 {
	v := make([]float32, m.Params.Len())
	m.Backend.Download(v, m.Params)
	return v
}

// cyclicText returns n ids cycling through 0..period-1.
func cyclicText(n, period int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i % period)
	}
	return ids
}

func TestParamSpecsNamesAndShapes(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 3, Embed: 5, Vocab: testVocab(7)}
	want := []struct {
		name  string
		shape []int
	}{
		{"embedding.weight", []int{7, 5}},
		{"lstm.weight_ih_l0", []int{12, 5}},
		{"lstm.weight_hh_l0", []int{12, 3}},
		{"lstm.bias_ih_l0", []int{12}},
		{"lstm.bias_hh_l0", []int{12}},
		{"lstm.weight_ih_l1", []int{12, 3}},
		{"lstm.weight_hh_l1", []int{12, 3}},
		{"lstm.bias_ih_l1", []int{12}},
		{"lstm.bias_hh_l1", []int{12}},
		{"head.weight", []int{7, 3}},
		{"head.bias", []int{7}},
	}
	specs := cfg.ParamSpecs()
	if len(specs) != len(want) {
		t.Fatalf("got %d specs, want %d", len(specs), len(want))
	}
	off := 0
	for i, w := range want {
		if specs[i].Name != w.name || !equalShape(specs[i].Shape, w.shape) {
			t.Errorf("spec %d = %s %v, want %s %v", i, specs[i].Name, specs[i].Shape, w.name, w.shape)
		}
		if specs[i].Offset != off {
			t.Errorf("spec %s offset %d, want %d", w.name, specs[i].Offset, off)
		}
		off += specs[i].Len()
	}
	rnn := Config{Model: CellRNN, Layers: 1, Hidden: 3, Embed: 5, Vocab: testVocab(7)}
	if got := rnn.ParamSpecs()[1]; got.Name != "rnn.weight_ih_l0" || got.Shape[0] != 3 {
		t.Errorf("rnn spec = %s %v, want rnn.weight_ih_l0 [3 5]", got.Name, got.Shape)
	}
}

func TestInitForgetBias(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 4, Embed: 3, Vocab: testVocab(5)}
	p := InitParams(cfg, rand.New(rand.NewPCG(1, 2)), 1.5)
	specs := cfg.ParamSpecs()
	bound := float32(1 / math.Sqrt(4))
	for k := 0; k < 2; k++ {
		bih, bhh := specs[1+4*k+2], specs[1+4*k+3]
		for j := 0; j < 16; j++ {
			sum := p[bih.Offset+j] + p[bhh.Offset+j]
			if j >= 4 && j < 8 && sum != 1.5 {
				t.Errorf("layer %d forget bias %d: bias_ih+bias_hh = %g, want 1.5", k, j, sum)
			}
			if (j < 4 || j >= 8) && (p[bih.Offset+j] < -bound || p[bih.Offset+j] > bound) {
				t.Errorf("layer %d bias_ih[%d] = %g outside ±%g", k, j, p[bih.Offset+j], bound)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Model: CellLSTM, Layers: 1, Hidden: 2, Embed: 2, Vocab: []string{"a", "é"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := map[string]func(*Config){
		"mlp":            func(c *Config) { c.Model = "mlp" },
		"layers":         func(c *Config) { c.Layers = 0 },
		"hidden":         func(c *Config) { c.Hidden = -1 },
		"embedding size": func(c *Config) { c.Embed = 0 },
		"empty":          func(c *Config) { c.Vocab = nil },
		"one Unicode":    func(c *Config) { c.Vocab = []string{"ab"} },
		"twice":          func(c *Config) { c.Vocab = []string{"a", "a"} },
	}
	for want, mutate := range cases {
		c := good
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %+v: error %v, want one mentioning %q", c, err, want)
		}
	}
}

func trainConfig(steps int) TrainConfig {
	return TrainConfig{Seq: 8, Batch: 4, Steps: steps, LR: 1e-2, Optim: OptimAdam, Clip: 5, Seed: 3}
}

func TestTrainLearnsCycle(t *testing.T) {
	for _, cell := range []string{CellLSTM, CellRNN} {
		t.Run(cell, func(t *testing.T) {
			cfg := Config{Model: cell, Layers: 2, Hidden: 16, Embed: 8, Vocab: testVocab(5)}
			m := newTestModel(t, cfg, 1)
			tr, err := NewTrainer(m, trainConfig(150), cyclicText(2000, 5))
			if err != nil {
				t.Fatal(err)
			}
			first, _ := tr.TrainStep()
			var last StepResult
			for i := 1; i < 150; i++ {
				if last, err = tr.TrainStep(); err != nil {
					t.Fatal(err)
				}
			}
			// A period-5 cycle is fully predictable: the loss must fall from about log 5.
			if first.Loss < 1.3 {
				t.Errorf("first loss %.3f, want about log 5 = 1.61", first.Loss)
			}
			const maxFinalLoss = 0.05
			if last.Loss > maxFinalLoss {
				t.Errorf("loss after 150 steps %.4f, want ≤ %g", last.Loss, maxFinalLoss)
			}
			val, n := Evaluate(m, cyclicText(301, 5), 3, 16)
			if n != 300 {
				t.Errorf("evaluated %d predictions, want 300", n)
			}
			// Each stream starts from a zero state, so its first predictions can miss.
			if val > 0.2 {
				t.Errorf("validation loss %.4f, want ≤ 0.2", val)
			}
		})
	}
}

func TestTrainDropoutDeterministic(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 3, Hidden: 8, Embed: 4, Vocab: testVocab(6)}
	run := func() []float32 {
		m := newTestModel(t, cfg, 2)
		tc := trainConfig(5)
		tc.Dropout = 0.3
		tr, err := NewTrainer(m, tc, cyclicText(500, 6))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if _, err := tr.TrainStep(); err != nil {
				t.Fatal(err)
			}
		}
		return params(m)
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("parameter %d differs between identical runs: %g vs %g", i, a[i], b[i])
		}
	}
}

func TestResumeBitIdentical(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 8, Embed: 4, Vocab: testVocab(6)}
	text := cyclicText(700, 6)
	tc := trainConfig(12)
	tc.Dropout = 0.2

	straight := newTestModel(t, cfg, 5)
	tr, err := NewTrainer(straight, tc, text)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}

	first := newTestModel(t, cfg, 5)
	tr1, err := NewTrainer(first, tc, text)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := tr1.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "ck")
	if err := SaveCheckpoint(dir, first, &tc, tr1); err != nil {
		t.Fatal(err)
	}

	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewModel(ck.Config, newCPU(t))
	if err != nil {
		t.Fatal(err)
	}
	second.Backend.Upload(second.Params, ck.Params)
	tr2, err := NewTrainer(second, *ck.Train, text)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr2.RestoreState(ck.State); err != nil {
		t.Fatal(err)
	}
	if tr2.Opt.Step != 6 {
		t.Fatalf("restored step %d, want 6", tr2.Opt.Step)
	}
	for i := 0; i < 6; i++ {
		if _, err := tr2.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	want, got := params(straight), params(second)
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("parameter %d: resumed run %g, uninterrupted run %g", i, got[i], want[i])
		}
	}
}

func TestCheckpointReplaceKeepsOneDir(t *testing.T) {
	cfg := Config{Model: CellRNN, Layers: 1, Hidden: 4, Embed: 3, Vocab: []string{"a", "b", "\n", "日"}}
	m := newTestModel(t, cfg, 1)
	root := t.TempDir()
	dir := filepath.Join(root, "ck")
	for i := 0; i < 3; i++ {
		if err := SaveCheckpoint(dir, m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "ck" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v after three saves, want only ck", names)
	}
	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.State != nil || ck.Train != nil {
		t.Errorf("checkpoint saved without a trainer has train state %v, config %v", ck.State != nil, ck.Train)
	}
	want := params(m)
	for i := range want {
		if ck.Params[i] != want[i] {
			t.Fatalf("parameter %d reloaded as %g, want %g", i, ck.Params[i], want[i])
		}
	}
	if strings.Join(ck.Config.Vocab, "") != "ab\n日" {
		t.Errorf("vocabulary reloaded as %q", ck.Config.Vocab)
	}
}

func TestCheckpointRejectsNaN(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 2, Embed: 2, Vocab: testVocab(3)}
	m := newTestModel(t, cfg, 1)
	dir := filepath.Join(t.TempDir(), "ck")
	if err := SaveCheckpoint(dir, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	p := params(m)
	p[3] = float32(math.NaN())
	m.Backend.Upload(m.Params, p)
	err = SaveCheckpoint(dir, m, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "parameter 3 is NaN") {
		t.Fatalf("saving NaN weights: error %v, want one naming parameter 3", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the previous checkpoint changed after a rejected save")
	}
}

func TestLoadCheckpointErrors(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 2, Embed: 2, Vocab: testVocab(3)}
	m := newTestModel(t, cfg, 1)
	good := filepath.Join(t.TempDir(), "ck")
	if err := SaveCheckpoint(good, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	model, err := os.ReadFile(filepath.Join(good, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(good, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name          string
		model, config []byte
		want          string
	}{
		{"truncated model", model[:len(model)-5], config, ModelFile},
		{"empty model", nil, config, ModelFile},
		{"bad json", model, []byte("{"), "invalid config.json"},
		{"wrong hidden", model, bytes.Replace(config, []byte(`"hidden": 2`), []byte(`"hidden": 3`), 1), "shape"},
		{"unknown cell", model, bytes.Replace(config, []byte(`"lstm"`), []byte(`"mlp"`), 1), "invalid model"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, ModelFile), c.model, 0o644)
			os.WriteFile(filepath.Join(dir, ConfigFile), c.config, 0o644)
			_, err := LoadCheckpoint(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := LoadCheckpoint(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing directory loaded without error")
	}
}

func TestSampleArgmaxAndErrors(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 16, Embed: 8, Vocab: testVocab(5)}
	m := newTestModel(t, cfg, 1)
	tr, err := NewTrainer(m, trainConfig(150), cyclicText(2000, 5))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 150; i++ {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	// A prime longer than one feeding chunk exercises the chunked prime path.
	prime := strings.Repeat("abcde", 30) + "ab"
	if err := Sample(m, SampleOptions{Prime: prime, Length: 10}, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), prime+"cdeabcdeab"; got != want {
		t.Errorf("argmax sample continues %q, want %q", got[len(prime):], want[len(prime):])
	}

	out.Reset()
	if err := Sample(m, SampleOptions{Length: 4, Temperature: 1, TopK: 1}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "abcde" {
		t.Errorf("top-k 1 sample without prime = %q, want abcde", out.String())
	}

	out.Reset()
	if err := Sample(m, SampleOptions{Length: 50, Temperature: 1.0, Seed: 9}, &out); err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(out.String())); n != 51 {
		t.Errorf("sample has %d characters, want 1 + 50", n)
	}

	err = Sample(m, SampleOptions{Prime: "abz", Length: 1}, &out)
	if err == nil || !strings.Contains(err.Error(), "U+007A") {
		t.Errorf("unknown prime character: error %v, want one naming U+007A", err)
	}
	err = Sample(m, SampleOptions{Length: 1, Temperature: -1}, &out)
	if err == nil || !strings.Contains(err.Error(), "--temperature -1") {
		t.Errorf("negative temperature: error %v", err)
	}
}

func TestEvaluateSequenceOneStream(t *testing.T) {
	cfg := Config{Model: CellRNN, Layers: 1, Hidden: 4, Embed: 3, Vocab: testVocab(4)}
	m := newTestModel(t, cfg, 4)
	ids := cyclicText(601, 4)
	loss, n := EvaluateSequence(m, ids)
	if n != 600 {
		t.Fatalf("scored %d characters, want 600", n)
	}
	// The same text in chunks of another length must give the same loss.
	other, _ := Evaluate(m, ids, 1, 7)
	const tol = 1e-5
	if math.Abs(loss-other) > tol*math.Abs(loss) {
		t.Errorf("loss %.7f with chunks of 256, %.7f with chunks of 7", loss, other)
	}
	if l, n := EvaluateSequence(m, ids[:1]); n != 0 || !math.IsNaN(l) {
		t.Errorf("one character: loss %g over %d, want NaN over 0", l, n)
	}
}

func TestTrainSkipsNonFiniteSteps(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 1, Hidden: 4, Embed: 3, Vocab: testVocab(4)}
	m := newTestModel(t, cfg, 1)
	p := params(m)
	specs := cfg.ParamSpecs()
	p[specs[len(specs)-1].Offset] = float32(math.Inf(1)) // head.bias[0]
	m.Backend.Upload(m.Params, p)
	tr, err := NewTrainer(m, trainConfig(100), cyclicText(400, 4))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < MaxSkippedSteps; i++ {
		res, err := tr.TrainStep()
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !res.Skipped {
			t.Fatalf("step %d with an infinite bias was applied (loss %g)", i, res.Loss)
		}
	}
	_, err = tr.TrainStep()
	if err == nil || !strings.Contains(err.Error(), "10 steps in a row") {
		t.Fatalf("after %d non-finite steps: error %v, want one naming the count", MaxSkippedSteps, err)
	}
	after := params(m)
	for i := range p {
		if after[i] != p[i] && !(math.IsNaN(float64(after[i])) && math.IsNaN(float64(p[i]))) {
			t.Fatalf("parameter %d changed from %g to %g although every step was skipped", i, p[i], after[i])
		}
	}
	err = SaveCheckpoint(filepath.Join(t.TempDir(), "ck"), m, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "is +Inf") {
		t.Errorf("saving an infinite weight: error %v, want a rejection", err)
	}
}

func TestTrainHeapStaysFlat(t *testing.T) {
	cfg := Config{Model: CellLSTM, Layers: 2, Hidden: 16, Embed: 8, Vocab: testVocab(6)}
	m := newTestModel(t, cfg, 1)
	tc := trainConfig(300)
	tc.Dropout = 0.1
	tr, err := NewTrainer(m, tc, cyclicText(5000, 6))
	if err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	if _, err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	after1 := heap()
	for i := 0; i < 200; i++ {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	after201 := heap()
	// A step allocates nothing that lives on, so the heap may only wobble by the runtime's
	// own bookkeeping.
	const maxGrowthBytes = 64 << 10
	if after201 > after1+maxGrowthBytes {
		t.Errorf("heap grew from %d to %d bytes over 200 chunks, more than %d", after1, after201, maxGrowthBytes)
	}
}
