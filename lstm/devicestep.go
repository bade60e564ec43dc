package lstm

import "github.com/recur-ml/recur/engine"

// queueDeviceStep queues the forward pass, backward pass, clipping and optimizer update of
// one training step on a backend that runs them without waiting in between, and returns the
// number of scored targets. The update is guarded on the device: it is skipped unless the
// gradient norm and every loss are finite, the condition on which TrainStep, reading them
// afterwards, reports the step as skipped. tr.Opt.Step is left as it was, for TrainStep to
// advance.
func (tr *Trainer) queueDeviceStep(runner engine.StepRunner, drop Dropout) (int, error) {
	m := tr.Model
	step := tr.Opt.Step
	var count int
	err := runner.RunStep(func() {
		// RunStep may call this more than once, so the optimizer's step starts from the same
		// value each time.
		tr.Opt.Step = step
		runner.Fill(m.Grads, 0)
		count = m.Forward(tr.ws, tr.in, tr.tg, drop)
		m.Backward(tr.ws)
		runner.ClipGradNorm(m.Grads, float32(tr.Config.Clip), tr.norm)
		runner.GuardUpdates(tr.norm, tr.ws.losses)
		tr.Opt.Update(m.Params, m.Grads)
	})
	tr.Opt.Step = step
	return count, err
}
