package tasks

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/recur-ml/recur/dataset"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
)

// TrainOptions are the settings of a training run.
type TrainOptions struct {
	Batch      int     `json:"batch"`       // examples per step
	Steps      int     `json:"steps"`       // optimizer updates
	LR         float64 `json:"lr"`          // learning rate
	Optim      string  `json:"optim"`       // adam, sgd or rmsprop
	Clip       float64 `json:"clip"`        // max global gradient norm, where 0 disables clipping
	Dropout    float64 `json:"dropout"`     // dropout probability between stacked layers
	Seed       uint64  `json:"seed"`        // seed of shuffling, dropout and Model.Init
	EvalEvery  int     `json:"eval_every"`  // steps between validation runs, 0 for the end only
	ForgetBias float64 `json:"forget_bias"` // initial LSTM forget-gate bias, for Model.Init
	// WordDropout is the probability that a decoder input token after Start is replaced by
	// <unk> in training, so that a decoder reads the image or the source instead of leaning
	// on the tokens it has emitted.
	// Validation and prediction feed real tokens (the targets, or the tokens emitted) unless
	// Config.BlindDecoder is set, which recur TASK train does at rate 1.
	WordDropout float64 `json:"word_dropout"`
	// WeightDecay multiplies every parameter by 1 − lr·WeightDecay before each update. As in
	// AdamW, the decay is decoupled from the gradient.
	WeightDecay float64 `json:"weight_decay,omitempty"`
}

// Validate returns an error naming the first invalid option by its command-line flag.
func (o TrainOptions) Validate() error {
	return o.validate(func(flag, _ string) string { return flag })
}

// ValidateStored returns an error naming the first invalid option by its key in file, the
// config.json of a checkpoint that stores o.
func (o TrainOptions) ValidateStored(file string) error {
	return o.validate(func(_, key string) string { return fmt.Sprintf("%q in %s", key, file) })
}

// validate returns an error naming the first invalid option, with source(flag, key) in
// brackets to say where the value came from.
func (o TrainOptions) validate(source func(flag, key string) string) error {
	switch {
	case o.Batch < 1:
		return fmt.Errorf("invalid batch size %d (%s): use 1 or more",
			o.Batch, source("--batch", "batch"))
	case o.Steps < 1:
		return fmt.Errorf("invalid step count %d (%s): use 1 or more",
			o.Steps, source("--steps", "steps"))
	case !(float32(o.LR) > 0) || math.IsInf(float64(float32(o.LR)), 0):
		return fmt.Errorf("invalid learning rate %g (%s): use a positive float32 number such "+
			"as 0.003", o.LR, source("--lr", "lr"))
	case !(o.Clip >= 0) || math.IsInf(o.Clip, 0):
		return fmt.Errorf("invalid clipping threshold %g (%s): use 0 (off) or a positive "+
			"number such as 5", o.Clip, source("--clip", "clip"))
	case !(math.Abs(o.ForgetBias) <= maxForgetBias):
		return fmt.Errorf("invalid forget-gate bias %g (%s): use a number between %g and %g, "+
			"such as 1", o.ForgetBias, source("--forget-bias", "forget_bias"),
			-maxForgetBias, maxForgetBias)
	case !(o.Dropout >= 0 && o.Dropout < 1):
		return fmt.Errorf("invalid dropout %g (%s): use a probability in [0, 1)",
			o.Dropout, source("--dropout", "dropout"))
	case !(o.WeightDecay >= 0 && o.WeightDecay*o.LR < 1):
		return fmt.Errorf("invalid weight decay %g (%s): use 0 (off) or a small "+
			"positive number such as 0.01", o.WeightDecay, source("--weight-decay", "weight_decay"))
	case !(o.WordDropout >= 0 && o.WordDropout <= 1):
		return fmt.Errorf("invalid word dropout %g (%s): use a probability in [0, 1]",
			o.WordDropout, source("--word-dropout", "word_dropout"))
	case o.EvalEvery < 0:
		return fmt.Errorf("invalid evaluation interval %d (%s): use 0 (at the end "+
			"only) or more", o.EvalEvery, source("--eval-every", "eval_every"))
	}
	return nil
}

// Progress is the outcome of one training step, with the validation metrics when the step
// ran an evaluation.
type Progress struct {
	Step    int
	Loss    float64 // mean loss of the step's batch, in nats
	Skipped bool    // the step's loss or gradient was not finite, so no update was applied
	Val     *Metrics
}

// Trainer trains a task model on a data set.
type Trainer struct {
	Model *Model
	Opt   *lstm.Optimizer
	Data  *Data
	Val   *Data
	O     TrainOptions

	ws      *Workspace
	norm    engine.Tensor
	epoch   int
	pos     int
	order   []int
	Skipped int
	skipRun int // skipped steps in a row so far

	hostNorm [1]float32 // the gradient norm of the last step, read back from the backend
}

// NewTrainer prepares training of m on train, evaluated on val (which may be nil).
func NewTrainer(m *Model, train, val *Data, o TrainOptions) (*Trainer, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(train.Examples) == 0 {
		return nil, fmt.Errorf("the training set has no examples")
	}
	if err := train.ValidateLengths(m.Cfg, o.Batch, 0); err != nil {
		return nil, err
	}
	if val != nil {
		if err := val.ValidateLengths(m.Cfg, o.Batch, 0); err != nil {
			return nil, err
		}
	}
	opt, err := lstm.NewOptimizer(o.Optim, o.LR, m.Params.Len(), m.be)
	if err != nil {
		return nil, err
	}
	// A training set smaller than a batch trains on batches of all of it.
	o.Batch = min(o.Batch, len(train.Examples))
	T, decT := train.MaxLens(m.Cfg)
	tr := &Trainer{Model: m, Opt: opt, Data: train, Val: val, O: o, norm: m.be.Alloc(1)}
	tr.ws = m.NewWorkspace(o.Batch, max(T, 1), decT, true)
	tr.order = dataset.Shuffle(len(train.Examples), o.Seed, 0)
	return tr, nil
}

// next returns the indices of the next batch, reshuffling at the end of an epoch.
func (tr *Trainer) next() []int {
	B := tr.O.Batch
	if tr.pos+B > len(tr.order) {
		tr.epoch++
		tr.pos = 0
		tr.order = dataset.Shuffle(len(tr.Data.Examples), tr.O.Seed, tr.epoch)
	}
	idx := tr.order[tr.pos : tr.pos+B]
	tr.pos += B
	return idx
}

// Step runs one optimizer update on the next batch and returns its progress, including the
// batch's mean loss. A non-finite loss or gradient skips the update but still counts the step.
func (tr *Trainer) Step() Progress {
	m := tr.Model
	b := tr.Data.Batch(m.Cfg, tr.next(), tr.O.Batch)
	drop := lstm.Dropout{
		P: float32(tr.O.Dropout), Seed: tr.O.Seed, Offset: uint64(tr.Opt.Step) << 32,
	}
	if tr.O.WordDropout > 0 && b.DecIDs != nil {
		// A counter-based draw, so a resumed or repeated run drops the same tokens.
		// The loop starts at b.B to keep Start, the first step of every row.
		rate := float32(tr.O.WordDropout)
		for i := b.B; i < len(b.DecIDs); i++ {
			if !engine.DropoutKeep(tr.O.Seed^0x776f7264, uint64(tr.Opt.Step)<<32|uint64(i), rate) {
				b.DecIDs[i] = 1 // <unk>
			}
		}
	}

	m.ZeroGrads()
	n := m.Forward(tr.ws, b, true, drop)
	m.Backward(tr.ws, b)
	m.be.ClipGradNorm(m.Grads, float32(tr.O.Clip), tr.norm)
	norm := tr.hostNorm[:]
	m.be.Download(norm, tr.norm)
	loss := m.Loss(tr.ws) / float64(max(n, 1))
	p := Progress{Step: tr.Opt.Step + 1, Loss: loss}
	if !isFinite(loss) || !isFinite(float64(norm[0])) {
		p.Skipped = true
		tr.Skipped++
		tr.Opt.Step++ // the step is consumed, so a run's length does not depend on skips
		return p
	}
	if tr.O.WeightDecay > 0 {
		m.be.Axpy(float32(-tr.O.LR*tr.O.WeightDecay), m.Params, m.Params)
	}
	tr.Opt.Update(m.Params, m.Grads)
	return p
}

// maxForgetBias bounds ForgetBias: σ(±100) is already 0 or 1 in float32.
const maxForgetBias = 100.0

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// maxSkipsInARow is the number of consecutive steps with a non-finite loss or gradient after
// which Run gives up.
const maxSkipsInARow = 10

// ErrDiverged is the error that Run wraps when the loss or gradient stays non-finite for
// maxSkipsInARow steps in a row.
var ErrDiverged = errors.New("training diverged")

// Run trains until Steps updates are done or ctx is cancelled, calling report after every
// step. It evaluates on the validation set every EvalEvery steps and after the last. After
// maxSkipsInARow skipped steps in a row it returns ErrDiverged, with the weights of the last
// good step.
func (tr *Trainer) Run(ctx context.Context, report func(Progress)) error {
	for tr.Opt.Step < tr.O.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := tr.Step()
		if err := tr.Model.be.Sync(); err != nil {
			return err
		}
		if p.Skipped {
			tr.skipRun++
		} else {
			tr.skipRun = 0
		}
		if tr.skipRun >= maxSkipsInARow {
			report(p)
			advice := fmt.Sprintf("lower --lr (now %g) or --clip (now %g)", tr.O.LR, tr.O.Clip)
			if tr.O.Clip == 0 {
				advice = fmt.Sprintf("lower --lr (now %g) or clip the gradient with --clip 5", tr.O.LR)
			}
			return fmt.Errorf("%w: the loss or gradient was not finite for %d steps in a row "+
				"up to step %d, so %s", ErrDiverged, tr.skipRun, p.Step, advice)
		}
		last := tr.Opt.Step >= tr.O.Steps
		if tr.Val != nil && (last || (tr.O.EvalEvery > 0 && tr.Opt.Step%tr.O.EvalEvery == 0)) {
			mt := Evaluate(tr.Model, tr.Val, tr.O.Batch, DecodeOptions{})
			p.Val = &mt
		}
		report(p)
	}
	return nil
}
