package tasks

import (
	"math"
	"strings"
	"testing"

	"github.com/recur-ml/recur/lstm"
)

// wideConfig is a classifier whose gate tensors are 4·16384 wide per row and step, so a few
// thousand steps in a batch of two already exceed lstm.MaxTensorElements. Nothing allocates it.
func wideConfig() Config {
	return Config{Task: TaskClassify, Cell: lstm.CellLSTM, Layers: 1, Hidden: 16384, Embed: 4,
		Vocab: []string{Pad, Unk, "a"}, Outputs: []string{"neg", "pos"}, Pool: PoolLast}
}

func TestValidateLengthsNamesLongLine(t *testing.T) {
	d := &Data{Path: "train.tsv", Examples: []Example{
		{In: make([]int32, 3), Line: 1},
		{In: make([]int32, 20000), Line: 2},
	}}
	err := d.ValidateLengths(wideConfig(), 64, 0)
	if err == nil {
		t.Fatal("ValidateLengths accepted a 20000-step input that overflows a tensor")
	}
	for _, want := range []string{"train.tsv:2:", "20000 tokens", "--batch", "split"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestValidateLengthsAcceptsLimit(t *testing.T) {
	// With 2 rows of width 65536, T+1 = 2³¹/2¹⁷ − ε steps fit: T = 16382 is the last.
	const limitSteps = 16382
	d := &Data{Path: "train.tsv", Examples: []Example{
		{In: make([]int32, limitSteps), Line: 1},
		{In: make([]int32, 1), Line: 2},
	}}
	if err := d.ValidateLengths(wideConfig(), 64, 0); err != nil {
		t.Errorf("ValidateLengths rejected %d steps: %v", limitSteps, err)
	}
	d.Examples[0].In = make([]int32, limitSteps+1)
	if err := d.ValidateLengths(wideConfig(), 64, 0); err == nil {
		t.Errorf("ValidateLengths accepted %d steps", limitSteps+1)
	}
}

func TestValidateLengthsDecoderTarget(t *testing.T) {
	cfg := Config{Task: TaskCaption, Cell: lstm.CellLSTM, Layers: 1, Hidden: 16384, Embed: 4,
		Outputs: []string{Pad, Unk, Start, End, "a"}, Features: 2}
	d := &Data{Path: "captions.tsv", Examples: []Example{{Out: make([]int32, 40000), Line: 7}}}
	err := d.ValidateLengths(cfg, 2, 0)
	if err == nil {
		t.Fatal("ValidateLengths accepted a 40000-token target that overflows a tensor")
	}
	if !strings.Contains(err.Error(), "captions.tsv:7:") {
		t.Errorf("error %q does not name the line", err)
	}
}

func TestWorkspaceBytesGrowsWithLength(t *testing.T) {
	cfg := wideConfig()
	cfg.Hidden = 8
	short := &Data{Examples: []Example{{In: make([]int32, 10), Line: 1}}}
	long := &Data{Examples: []Example{{In: make([]int32, 10), Line: 1}, {In: make([]int32, 1000), Line: 2}}}
	a, _ := short.WorkspaceBytes(cfg, 1, 0, true)
	b, e := long.WorkspaceBytes(cfg, 1, 0, true)
	if e == nil || e.Line != 2 {
		t.Errorf("longest example = %+v, want line 2", e)
	}
	// Both have one row per batch, so the bytes scale with steps + 1: 11 versus 1001.
	if got, want := float64(b)/float64(a), 1001.0/11; got != want {
		t.Errorf("workspace ratio = %g, want %g", got, want)
	}
	forward, _ := long.WorkspaceBytes(cfg, 1, 0, false)
	if forward >= b {
		t.Errorf("forward-only workspace %d bytes is not smaller than training's %d", forward, b)
	}
}

func TestTrainOptionsRejectNonFinite(t *testing.T) {
	base := TrainOptions{Batch: 4, Steps: 10, LR: 0.01, Optim: lstm.OptimAdam}
	for _, tc := range []struct {
		name string
		edit func(*TrainOptions)
		flag string
	}{
		{"forget bias NaN", func(o *TrainOptions) { o.ForgetBias = nan() }, "--forget-bias"},
		{"forget bias 1e300", func(o *TrainOptions) { o.ForgetBias = 1e300 }, "--forget-bias"},
		{"forget bias -101", func(o *TrainOptions) { o.ForgetBias = -101 }, "--forget-bias"},
		{"lr NaN", func(o *TrainOptions) { o.LR = nan() }, "--lr"},
		{"lr 0", func(o *TrainOptions) { o.LR = 0 }, "--lr"},
		{"clip Inf", func(o *TrainOptions) { o.Clip = inf() }, "--clip"},
	} {
		o := base
		tc.edit(&o)
		err := o.Validate()
		if err == nil {
			t.Errorf("%s: Validate accepted it", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.flag)
		}
	}
	o := base
	o.ForgetBias = 100
	if err := o.Validate(); err != nil {
		t.Errorf("Validate rejected --forget-bias 100: %v", err)
	}
}

func TestValidateStoredNamesConfigKey(t *testing.T) {
	o := TrainOptions{Batch: 0, Steps: 10, LR: 0.01, Optim: lstm.OptimAdam}
	err := o.ValidateStored("ck/config.json")
	if err == nil {
		t.Fatal("ValidateStored accepted batch 0")
	}
	if !strings.Contains(err.Error(), `"batch" in ck/config.json`) {
		t.Errorf("error %q does not name the key in config.json", err)
	}
	if strings.Contains(err.Error(), "--batch") {
		t.Errorf("error %q names the flag --batch, which the user did not pass", err)
	}
}

func TestConfigRejectsDuplicateOutputs(t *testing.T) {
	cfg := Config{Task: TaskClassify, Cell: lstm.CellLSTM, Layers: 1, Hidden: 4, Embed: 2,
		Vocab: []string{Pad, Unk, "a"}, Outputs: []string{"alpha", "alpha"}, Pool: PoolLast}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted the classes alpha, alpha")
	}
	if !strings.Contains(err.Error(), `"alpha"`) {
		t.Errorf("error %q does not name the repeated class", err)
	}
	cfg.Outputs = []string{"alpha", "beta"}
	cfg.Vocab = []string{Pad, Unk, "a", "a"}
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted a vocabulary with a repeated token")
	}
}

func TestConfigRejectsHugeMaxTarget(t *testing.T) {
	cfg := Config{Task: TaskCaption, Cell: lstm.CellLSTM, Layers: 1, Hidden: 4, Embed: 2,
		Outputs: []string{Pad, Unk, Start, End, "a"}, Features: 2, MaxTarget: 1e15}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "max_target") {
		t.Errorf("Validate(max_target 1e15) = %v, want an error naming max_target", err)
	}
	cfg.MaxTarget = MaxDecodeLen
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate(max_target %d) = %v", MaxDecodeLen, err)
	}
}

func nan() float64 { return math.NaN() }

func inf() float64 { return math.Inf(1) }
