package lstm

import (
	"errors"
	"fmt"
	"math"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/engine"
)

// TrainConfig holds the training settings stored beside the architecture in a checkpoint's
// config.json, so that --resume continues with them.
type TrainConfig struct {
	Data       string   `json:"data"`
	Filter     string   `json:"filter"`
	ValFrac    float64  `json:"val_frac"`
	Seq        int      `json:"seq"`
	Batch      int      `json:"batch"`
	Steps      int      `json:"steps"`
	LR         float64  `json:"lr"`
	Optim      string   `json:"optim"`
	Clip       float64  `json:"clip"` // max global gradient norm; 0 disables clipping
	Dropout    float64  `json:"dropout"`
	ForgetBias *float64 `json:"forget_bias"` // nil keeps PyTorch's initialisation
	Seed       uint64   `json:"seed"`

	// MaxSkipped is the number of non-finite steps in a row after which TrainStep returns
	// ErrDiverged. 0, as in a checkpoint written before the setting existed, means
	// MaxSkippedSteps.
	MaxSkipped int `json:"max_skipped"`

	// Settings of the command line's loop, kept so that --resume continues with them.
	EvalEvery int    `json:"eval_every"` // steps between evaluations; 0 evaluates only at the end
	LogEvery  int    `json:"log_every"`
	Metrics   string `json:"metrics,omitempty"` // metrics file, absolute

	// DataFiles lists the files read from Data, in order, so that --resume can tell changed
	// data from the text the checkpoint was trained on. A checkpoint written before the field
	// existed has none.
	DataFiles []DataFile `json:"data_files,omitempty"`
}

// Validate returns an error naming the first invalid setting and what to use instead.
func (tc TrainConfig) Validate() error {
	switch {
	case tc.Seq < 1 || tc.Seq > MaxTensorElements:
		return fmt.Errorf("invalid --seq %d: use 1 to %d steps per chunk", tc.Seq, MaxTensorElements)
	case tc.Batch < 1 || tc.Batch > MaxTensorElements:
		return fmt.Errorf("invalid --batch %d: use 1 to %d streams", tc.Batch, MaxTensorElements)
	case tc.Seq > MaxTensorElements/tc.Batch:
		return fmt.Errorf("invalid --batch %d and --seq %d: a chunk of %d tokens exceeds the %d a tensor can hold; lower --batch or --seq",
			tc.Batch, tc.Seq, int64(tc.Batch)*int64(tc.Seq), MaxTensorElements)
	case tc.Steps < 0:
		return fmt.Errorf("invalid --steps %d: use 0 or more", tc.Steps)
	case !(tc.Dropout >= 0 && float32(tc.Dropout) < 1):
		return fmt.Errorf("invalid --dropout %g: use a probability in [0, 1)", tc.Dropout)
	case !(float32(tc.LR) > 0) || math.IsInf(float64(float32(tc.LR)), 0):
		return fmt.Errorf("invalid --lr %g: use a positive float32 number such as 0.002", tc.LR)
	case tc.ForgetBias != nil && (math.IsNaN(*tc.ForgetBias) || math.Abs(*tc.ForgetBias) > maxForgetBias):
		return fmt.Errorf("invalid --forget-bias %g: use a number between %g and %g, such as 1", *tc.ForgetBias, -maxForgetBias, maxForgetBias)
	case !(tc.Clip >= 0) || math.IsInf(tc.Clip, 0):
		return fmt.Errorf("invalid --clip %g: use a positive max norm, or 0 to disable clipping", tc.Clip)
	case !(tc.ValFrac >= 0 && tc.ValFrac < 1):
		return fmt.Errorf("invalid --val-frac %g: use a fraction in [0, 1)", tc.ValFrac)
	case tc.MaxSkipped < 0:
		return fmt.Errorf("invalid --max-skipped %d: use 1 or more steps", tc.MaxSkipped)
	case tc.EvalEvery < 0:
		return fmt.Errorf("invalid --eval-every %d: use 0 (only at the end) or more steps", tc.EvalEvery)
	case tc.LogEvery < 0:
		// 0 passes because a checkpoint written before the setting existed stores it.
		return fmt.Errorf("invalid --log-every %d: use 1 or more steps", tc.LogEvery)
	}
	return nil
}

// MaxTensorElements bounds the length of every tensor: the CUDA kernels and the BLAS calls
// take lengths and dimensions as 32-bit ints.
const MaxTensorElements = math.MaxInt32

// ValidateWorkspace returns an error when Validate does, or when a tensor of the training
// workspace of model c would hold more than MaxTensorElements elements.
func (tc TrainConfig) ValidateWorkspace(c Config) error {
	if err := tc.Validate(); err != nil {
		return err
	}
	// The widest per-token tensors: the gate pre-activations (G·H), the layer input (E or H)
	// and the logits (V). The hidden and cell states hold Seq+1 steps.
	width := max(c.gatesPerUnit()*c.Hidden, c.Embed, len(c.Vocab))
	tokens := int64(tc.Batch) * int64(tc.Seq+1)
	// Config.Validate bounds width by 4·2²⁰ and Validate bounds tokens by 2³², so the product
	// cannot overflow.
	if n := tokens * int64(width); n > MaxTensorElements {
		return fmt.Errorf("invalid --batch %d and --seq %d for this model: a workspace tensor of %d×%d = %d elements exceeds the %d a tensor can hold; lower --batch or --seq",
			tc.Batch, tc.Seq, tokens, width, n, MaxTensorElements)
	}
	return nil
}

// SkipLimit returns the number of non-finite steps in a row after which TrainStep returns
// ErrDiverged: MaxSkipped, or MaxSkippedSteps where MaxSkipped is 0.
func (tc TrainConfig) SkipLimit() int {
	if tc.MaxSkipped == 0 {
		return MaxSkippedSteps
	}
	return tc.MaxSkipped
}

// maxForgetBias bounds --forget-bias: σ(±100) is already 0 or 1 in float32.
const maxForgetBias = 100.0

// ErrDiverged is wrapped by the error TrainStep returns after TrainConfig.SkipLimit()
// non-finite steps in a row.
var ErrDiverged = errors.New("training diverged")

// MaxSkippedSteps is the default of TrainConfig.MaxSkipped: how many non-finite steps in a
// row the trainer skips before it stops with an error.
const MaxSkippedSteps = 10

// StepResult reports one optimizer step.
type StepResult struct {
	Loss     float64 // mean loss of the chunk in nats
	GradNorm float64 // global gradient norm before clipping
	Skipped  bool    // the loss or gradient was not finite, so no update was applied
	Reset    bool    // the data wrapped around, so the hidden state was zeroed first
}

// Trainer runs truncated BPTT over B parallel streams of a training text.
type Trainer struct {
	Model   *Model
	Config  TrainConfig
	Opt     *Optimizer
	Batcher *corpus.Batcher
	Skipped int // non-finite steps in a row

	ws       *Workspace
	in, tg   []int32
	norm     engine.Tensor
	normHost []float32
}

// NewTrainer prepares training of m on the token ids of train. The optimizer starts fresh;
// a resumed run restores its state with RestoreTrainState.
func NewTrainer(m *Model, tc TrainConfig, train []int32) (*Trainer, error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	if err := tc.ValidateWorkspace(m.Cfg); err != nil {
		return nil, err
	}
	b, err := corpus.NewBatcher(train, tc.Batch, tc.Seq)
	if err != nil {
		return nil, err
	}
	opt, err := NewOptimizer(tc.Optim, tc.LR, m.Params.Len(), m.Backend)
	if err != nil {
		return nil, err
	}
	ws := m.NewWorkspace(tc.Batch, tc.Seq)
	m.PrepareBackward(ws)
	n := tc.Batch * tc.Seq
	return &Trainer{
		Model: m, Config: tc, Opt: opt, Batcher: b, ws: ws,
		in: make([]int32, n), tg: make([]int32, n),
		norm: m.Backend.Alloc(1), normHost: make([]float32, 1),
	}, nil
}

// Workspace returns the training workspace, whose slot 0 holds the carried state.
func (tr *Trainer) Workspace() *Workspace { return tr.ws }

// TrainStep runs one optimizer update on the next B×T chunk. A step whose loss or gradient
// norm is not finite applies no update. After Config.SkipLimit() such steps in a row it
// returns an error wrapping ErrDiverged, and the parameters keep their last finite values.
func (tr *Trainer) TrainStep() (StepResult, error) {
	m, be := tr.Model, tr.Model.Backend
	var res StepResult
	res.Reset = tr.Batcher.Next(tr.in, tr.tg)
	if res.Reset {
		m.ResetState(tr.ws)
	}
	drop := Dropout{P: float32(tr.Config.Dropout), Seed: tr.Config.Seed}
	drop.Offset = uint64(tr.Opt.Step) * uint64(m.Cfg.Layers*tr.ws.T*tr.ws.B*m.Cfg.Hidden)
	runner, onDevice := be.(engine.StepRunner)
	var count int
	if onDevice {
		var err error
		if count, err = tr.queueDeviceStep(runner, drop); err != nil {
			return res, err
		}
	} else {
		be.Fill(m.Grads, 0)
		count = m.Forward(tr.ws, tr.in, tr.tg, drop)
		m.Backward(tr.ws)
		be.ClipGradNorm(m.Grads, float32(tr.Config.Clip), tr.norm)
	}
	// The step's only reads from the backend: its loss and gradient norm, after all its work
	// is queued.
	sum := m.LossSum(tr.ws)
	be.Download(tr.normHost, tr.norm)
	if err := be.Sync(); err != nil {
		return res, err
	}
	res.Loss = sum / float64(max(count, 1))
	res.GradNorm = float64(tr.normHost[0])
	if !isFinite(res.Loss) || !isFinite(res.GradNorm) {
		res.Skipped = true
		tr.Skipped++
		// The carried state may hold non-finite values too; start the streams afresh.
		m.ResetState(tr.ws)
		if tr.Skipped >= tr.Config.SkipLimit() {
			hint := "lower --lr"
			if tr.Config.Clip == 0 {
				hint = "lower --lr or set --clip, for example --clip 5"
			}
			return res, fmt.Errorf("%w: %d steps in a row had a non-finite loss or gradient (last loss %g, gradient norm %g); %s", ErrDiverged, tr.Skipped, res.Loss, res.GradNorm, hint)
		}
		tr.Opt.Step++ // keep the dropout counters of later steps distinct
		return res, nil
	}
	tr.Skipped = 0
	if onDevice {
		tr.Opt.Step++ // the device has applied the update already
	} else {
		tr.Opt.Update(m.Params, m.Grads)
	}
	m.CarryState(tr.ws)
	return res, nil
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Evaluate returns the mean loss in nats over every prediction of ids (len(ids)−1 of them),
// reading ids as B contiguous streams, each from a zero state, in chunks of T steps.
func Evaluate(m *Model, ids []int32, B, T int) (loss float64, count int) {
	if len(ids) < 2 {
		return math.NaN(), 0
	}
	inputs, targets := corpus.EvalChunks(ids, B, T)
	ws := m.NewWorkspace(B, T)
	var sum float64
	for i := range inputs {
		count += m.Forward(ws, inputs[i], targets[i], Dropout{})
		sum += m.LossSum(ws)
		m.CarryState(ws)
	}
	return sum / float64(max(count, 1)), count
}

// EvaluateSequence returns the mean loss in nats over every prediction of ids, read as one
// sequence from a zero state (one stream, so the result does not depend on a batch size).
func EvaluateSequence(m *Model, ids []int32) (loss float64, count int) {
	const chunk = 256
	return Evaluate(m, ids, 1, min(chunk, max(len(ids)-1, 1)))
}
