package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/recur-ml/recur/corpus"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
	"github.com/recur-ml/recur/tasks"
)

// trainFlags are the flags of "recur train".
type trainFlags struct {
	lstm.TrainConfig
	arch      lstm.Config
	device    string
	precision string
	cudaGraph bool
	wavefront bool
	out       string
	resume    string
}

func newTrainFlagSet(f *trainFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("recur train", flag.ContinueOnError)
	fs.StringVar(&f.Data, "data", "", "training text: a UTF-8 file or a directory tree")
	fs.StringVar(&f.Filter, "filter", "", "with a directory, read only files whose name matches this glob, such as '*.go'")
	fs.Float64Var(&f.ValFrac, "val-frac", 0.05, "fraction of the text, taken from its end, held out for validation")
	fs.StringVar(&f.arch.Model, "model", lstm.CellLSTM, "recurrent cell: lstm, gru or rnn (tanh)")
	fs.IntVar(&f.arch.Layers, "layers", 2, "stacked recurrent layers")
	fs.IntVar(&f.arch.Hidden, "hidden", 256, "hidden units per layer")
	fs.IntVar(&f.arch.Embed, "embed", 64, "embedding width")
	fs.Float64Var(&f.Dropout, "dropout", 0, "dropout probability between recurrent layers")
	fs.Func("forget-bias", "LSTM forget-gate bias at initialisation (default: PyTorch's uniform initialisation)", func(v string) error {
		x, err := strconv.ParseFloat(v, 64)
		f.ForgetBias = &x
		return err
	})
	fs.IntVar(&f.Seq, "seq", 64, "steps per chunk of truncated backpropagation through time (T)")
	fs.IntVar(&f.Batch, "batch", 32, "parallel streams of the text per step (B)")
	fs.IntVar(&f.Steps, "steps", 2000, "total optimizer steps, counted from the start also when resuming")
	fs.Float64Var(&f.LR, "lr", 2e-3, "learning rate")
	fs.StringVar(&f.Optim, "optim", lstm.OptimAdam, "optimizer: adam, sgd (momentum 0.9) or rmsprop")
	fs.Float64Var(&f.Clip, "clip", 5, "max global gradient norm; 0 disables clipping")
	fs.IntVar(&f.MaxSkipped, "max-skipped", lstm.MaxSkippedSteps, "non-finite steps in a row after which training reloads the last checkpoint at half the learning rate")
	fs.StringVar(&f.device, "device", "auto", "backend: auto (CUDA GPU 0 when one is found, else the CPU), cpu, cuda or cuda:N")
	fs.StringVar(&f.precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16 (both with float32 accumulation)")
	fs.BoolVar(&f.cudaGraph, "cuda-graph", false, "CUDA only: capture the training step as a CUDA graph and replay it (not yet measured on a GPU)")
	fs.BoolVar(&f.wavefront, "wavefront", false, "CUDA only: run the recurrent layers as a wavefront, layer l on stream l (not yet measured on a GPU)")
	fs.Uint64Var(&f.Seed, "seed", 1, "seed of the initialisation and of dropout")
	fs.StringVar(&f.out, "out", "", "checkpoint directory, replaced at each evaluation and at the end (default: checkpoint, or the --resume directory)")
	fs.StringVar(&f.resume, "resume", "", "checkpoint directory to continue from")
	fs.IntVar(&f.EvalEvery, "eval-every", 200, "steps between validation runs and checkpoints; 0 means only at the end")
	fs.IntVar(&f.LogEvery, "log-every", 10, "steps between progress lines and metrics records")
	fs.StringVar(&f.Metrics, "metrics", "", "append one JSON object per log interval and evaluation to this file")
	return fs
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	var f trainFlags
	set, err := parseFlags(newTrainFlagSet(&f), args, stdout, stderr)
	if err != nil {
		return err
	}
	var ck *lstm.Checkpoint
	if f.resume != "" {
		if ck, err = lstm.LoadCheckpoint(f.resume); err != nil {
			return err
		}
		noteOldCheckpoint(stderr, f.resume, ck)
		if err := mergeResume(&f, set, ck); err != nil {
			return err
		}
	}
	// These run after the merge, so they check the values a resumed run continues with.
	if f.LogEvery < 1 {
		return fmt.Errorf("invalid --log-every %d: use 1 or more steps", f.LogEvery)
	}
	if f.EvalEvery < 0 {
		return fmt.Errorf("invalid --eval-every %d: use 0 (only at the end) or more steps", f.EvalEvery)
	}
	if f.MaxSkipped < 1 {
		return fmt.Errorf("invalid --max-skipped %d: use 1 or more steps", f.MaxSkipped)
	}
	if f.out == "" {
		f.out = "checkpoint"
		if f.resume != "" {
			f.out = f.resume
		}
	}
	if f.Data == "" {
		return fmt.Errorf("missing --data: name a UTF-8 text file or a directory of text files")
	}
	if ck == nil && f.Steps < 1 {
		return fmt.Errorf("invalid --steps %d: use 1 or more", f.Steps)
	}
	if err := f.TrainConfig.Validate(); err != nil {
		return err
	}
	if ck != nil {
		// A resumed run's workspace is checked before the text is read. A fresh run's
		// vocabulary comes from the text, so NewTrainer checks its workspace.
		if err := f.TrainConfig.ValidateWorkspace(f.arch); err != nil {
			return err
		}
	}
	if f.ForgetBias != nil && f.arch.Model != lstm.CellLSTM {
		return fmt.Errorf("--forget-bias applies to LSTM gates only: drop it or use --model lstm")
	}
	if err := checkOutputs(&f, ck != nil); err != nil {
		return err
	}
	// The checkpoint stores these paths, so a resumed run finds them from any directory.
	if abs, err := filepath.Abs(f.Data); err == nil {
		f.Data = abs
	}
	if abs, err := filepath.Abs(f.Metrics); err == nil && f.Metrics != "" {
		f.Metrics = abs
	}

	text, err := corpus.Load(f.Data, f.Filter)
	if err != nil {
		return err
	}
	if f.DataFiles, err = hashDataFiles(f.Data, text.Files); err != nil {
		return err
	}
	if ck != nil && ck.Train != nil {
		if ck.Train.DataFiles == nil {
			fmt.Fprintf(stderr, "warning: %s does not record the files it was trained on (an older recur wrote it), so --resume cannot check that --data %s is the same text\n", ck.Dir, f.Data)
		} else if err := checkDataFiles(f.Data, ck.Dir, ck.Train.DataFiles, f.DataFiles); err != nil {
			return err
		}
	}
	var vocab *corpus.Vocab
	if ck != nil {
		vocab = vocabOf(ck.Config)
	} else {
		vocab = corpus.BuildVocab(text.Text)
		f.arch.Vocab = vocabStrings(vocab)
	}
	ids, err := vocab.Encode(text.Text)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Data, err)
	}
	train, val, err := corpus.Split(ids, f.ValFrac)
	if err != nil {
		return err
	}

	be, picked, err := engine.Open(f.device, f.precision)
	if err != nil {
		return err
	}
	defer be.Close()
	if !engine.SetCUDAFeatures(be, f.cudaGraph, f.wavefront) && (f.cudaGraph || f.wavefront) {
		picked += "; --cuda-graph and --wavefront apply to CUDA only, so they are off"
	}
	m, err := lstm.NewModel(f.arch, be)
	if err != nil {
		return err
	}
	if ck != nil {
		be.Upload(m.Params, ck.Params)
	} else {
		fb := math.NaN()
		if f.ForgetBias != nil {
			fb = *f.ForgetBias
		}
		rng := rand.New(rand.NewPCG(f.Seed, 0x9E3779B97F4A7C15))
		be.Upload(m.Params, lstm.InitParams(f.arch, rng, fb))
	}
	tr, err := lstm.NewTrainer(m, f.TrainConfig, train)
	if err != nil {
		return err
	}
	if ck != nil && ck.State != nil {
		if err := tr.RestoreState(ck.State); err != nil {
			return err
		}
	}
	if ck != nil && ck.State == nil {
		fmt.Fprintf(stdout, "note: %s has no %s, so training starts at step 0 with a fresh optimizer\n", f.resume, lstm.TrainStateFile)
	}
	if tr.Opt.Step >= f.Steps {
		fmt.Fprintf(stdout, "checkpoint %s is at step %d, which reaches --steps %d: nothing to train; raise --steps to continue\n", f.resume, tr.Opt.Step, f.Steps)
		return nil
	}

	printConfig(stdout, &f, m, be, picked, text, vocab, len(train), len(val), tr.Opt.Step)
	savedStep := -1
	if ck != nil && filepath.Clean(f.resume) == f.out {
		savedStep = tr.Opt.Step
	}
	return trainLoop(&f, tr, val, savedStep, stdout, stderr)
}

// mergeResume takes the architecture and training settings from a checkpoint. A flag that
// was set and conflicts with the checkpoint's architecture or data layout is an error. Other
// flags, such as the step count, learning rate, clipping and logging, may change.
func mergeResume(f *trainFlags, set map[string]bool, ck *lstm.Checkpoint) error {
	type conflict struct {
		flag      string
		got, want any
	}
	arch := ck.Config
	conflicts := []conflict{
		{"model", f.arch.Model, arch.Model},
		{"layers", f.arch.Layers, arch.Layers},
		{"hidden", f.arch.Hidden, arch.Hidden},
		{"embed", f.arch.Embed, arch.Embed},
	}
	if ck.Train != nil {
		conflicts = append(conflicts,
			conflict{"batch", f.Batch, ck.Train.Batch},
			conflict{"seq", f.Seq, ck.Train.Seq},
			conflict{"optim", f.Optim, ck.Train.Optim})
	}
	for _, c := range conflicts {
		if set[c.flag] && c.got != c.want {
			return fmt.Errorf("--%s %v conflicts with the checkpoint in %s, which has %v: drop the flag or start a new run with --out", c.flag, c.got, ck.Dir, c.want)
		}
	}
	f.arch = arch
	if ck.Train == nil {
		return nil
	}

	// Settings not given on the command line continue as saved.
	saved := *ck.Train
	if !set["data"] {
		f.Data = saved.Data
	}
	if !set["filter"] {
		f.Filter = saved.Filter
	}
	if !set["val-frac"] {
		f.ValFrac = saved.ValFrac
	}
	if !set["seq"] {
		f.Seq = saved.Seq
	}
	if !set["batch"] {
		f.Batch = saved.Batch
	}
	if !set["optim"] {
		f.Optim = saved.Optim
	}
	if !set["steps"] {
		f.Steps = saved.Steps
	}
	if !set["lr"] {
		f.LR = saved.LR
	}
	if !set["clip"] {
		f.Clip = saved.Clip
	}
	if !set["dropout"] {
		f.Dropout = saved.Dropout
	}
	if !set["seed"] {
		f.Seed = saved.Seed
	}
	if !set["forget-bias"] {
		f.ForgetBias = saved.ForgetBias
	}
	if !set["max-skipped"] {
		// A checkpoint written before the setting existed stores 0.
		f.MaxSkipped = saved.SkipLimit()
	}
	if !set["eval-every"] && saved.LogEvery > 0 {
		f.EvalEvery = saved.EvalEvery
	}
	if !set["log-every"] && saved.LogEvery > 0 {
		f.LogEvery = saved.LogEvery
	}
	if !set["metrics"] {
		f.Metrics = saved.Metrics
	}
	return nil
}

// hashDataFiles returns the names of files relative to data, the --data path, with the
// SHA-256 of each file.
func hashDataFiles(data string, files []string) ([]lstm.DataFile, error) {
	out := make([]lstm.DataFile, len(files))
	for i, path := range files {
		name, err := filepath.Rel(data, path)
		if err != nil {
			return nil, err
		}
		sum, err := tasks.FileSHA256(path)
		if err != nil {
			return nil, err
		}
		out[i] = lstm.DataFile{Name: name, SHA256: sum}
	}
	return out, nil
}

// checkDataFiles returns an error naming the first file that differs between saved, the data
// files recorded in the checkpoint in dir, and got, those that --data and --filter select now.
func checkDataFiles(data, dir string, saved, got []lstm.DataFile) error {
	const fix = "pass the --data and --filter the checkpoint was trained on, or start a new run with --out"
	savedSums := make(map[string]string, len(saved))
	for _, s := range saved {
		savedSums[s.Name] = s.SHA256
	}
	gotNames := make(map[string]bool, len(got))
	for _, g := range got {
		gotNames[g.Name] = true
		sum, ok := savedSums[g.Name]
		if !ok {
			return fmt.Errorf("--data selects %s, which is not among the files the checkpoint in %s was trained on: %s", filepath.Join(data, g.Name), dir, fix)
		}
		if sum != g.SHA256 {
			return fmt.Errorf("%s changed since the checkpoint in %s was trained on it (its SHA-256 differs): %s", filepath.Join(data, g.Name), dir, fix)
		}
	}
	for _, s := range saved {
		if !gotNames[s.Name] {
			return fmt.Errorf("%s, which the checkpoint in %s was trained on, is not among the files --data selects: %s", filepath.Join(data, s.Name), dir, fix)
		}
	}
	for i := range got {
		if got[i].Name != saved[i].Name {
			return fmt.Errorf("--data reads %s in a different order than the run that wrote the checkpoint in %s: %s", data, dir, fix)
		}
	}
	return nil
}

// vocabOf returns the vocabulary of a validated model configuration.
func vocabOf(cfg lstm.Config) *corpus.Vocab {
	runes := make([]rune, len(cfg.Vocab))
	for i, s := range cfg.Vocab {
		runes[i] = []rune(s)[0]
	}
	v, err := corpus.NewVocab(runes)
	if err != nil {
		panic(err) // Config.Validate has rejected duplicates and multi-rune entries.
	}
	return v
}

func vocabStrings(v *corpus.Vocab) []string {
	out := make([]string, v.Size())
	for i := range out {
		out[i] = string(v.Rune(i))
	}
	return out
}

func printConfig(w io.Writer, f *trainFlags, m *lstm.Model, be engine.Backend, picked string, text *corpus.Corpus, vocab *corpus.Vocab, nTrain, nVal, step int) {
	row := func(k string, v any) { fmt.Fprintf(w, "  %-14s %v\n", k, v) }
	fmt.Fprintln(w, "recur train")
	row("data", fmt.Sprintf("%s (%s, %s)", f.Data, plural(len(text.Files), "file"), plural(len(text.Text), "character")))
	if nVal < 2 {
		row("split", fmt.Sprintf("%d train characters, no validation (--val-frac %g leaves %d)", nTrain, f.ValFrac, nVal))
	} else {
		row("split", fmt.Sprintf("%d train, %d validation characters", nTrain, nVal))
	}
	row("vocabulary", fmt.Sprintf("%d code points", vocab.Size()))
	row("model", fmt.Sprintf("%s, %s, hidden %d, embedding %d", f.arch.Model, plural(f.arch.Layers, "layer"), f.arch.Hidden, f.arch.Embed))
	row("parameters", m.Params.Len())
	if f.Dropout > 0 && f.arch.Layers == 1 {
		row("dropout", fmt.Sprintf("%g, unused: dropout acts between layers and there is one", f.Dropout))
	} else {
		row("dropout", f.Dropout)
	}
	row("chunk", fmt.Sprintf("batch %d × seq %d = %d tokens per step", f.Batch, f.Seq, f.Batch*f.Seq))
	row("steps", fmt.Sprintf("%d (starting at %d)", f.Steps, step))
	row("optimizer", fmt.Sprintf("%s, lr %g, clip %g, max %d skipped steps in a row", f.Optim, f.LR, f.Clip, f.MaxSkipped))
	row("backend", be.Name())
	row("device", picked)
	row("seed", f.Seed)
	row("checkpoint", f.out)
	if f.Metrics != "" {
		row("metrics", f.Metrics)
	}
}

// trainLoop runs the steps, logging, evaluating and checkpointing. SIGINT or SIGTERM ends the
// loop after the current step and writes a final checkpoint.
//
// savedStep is the step of the checkpoint already in f.out, or −1.
func trainLoop(f *trainFlags, tr *lstm.Trainer, val []int32, savedStep int, stdout, stderr io.Writer) error {
	mw, err := openMetrics(f.Metrics)
	if err != nil {
		return err
	}
	defer mw.Close()

	// The signal handler below reads the step of the checkpoint on disk, and that of a save
	// in progress (−1 when none is), while the loop writes them.
	var saved, saving atomic.Int64
	saved.Store(int64(savedStep))
	saving.Store(-1)
	stop := watchSignals(stderr, func() string {
		where := savedWhereAt(f.out, int(saved.Load()))
		if step := saving.Load(); step >= 0 {
			return fmt.Sprintf("%s, or those of step %d if the save in progress finished; each save replaces the directory in one rename, so it is complete", where, step)
		}
		if saved.Load() < 0 {
			return where
		}
		return where + ", and it is complete because each save replaces it in one rename"
	})
	defer stop.close()

	p := newProgress(stdout, stderr, tr.Opt.Step, f.Steps)
	tokensPerStep := f.Batch * f.Seq
	var intervalLoss float64
	intervalSteps := 0
	var intervalTime time.Duration // time inside TrainStep, so evaluations do not count
	lastVal := math.NaN()

	savedWhere := func() string { return savedWhereAt(f.out, savedStep) }

	evaluatedStep := -1
	evaluate := func() error {
		step := tr.Opt.Step
		if step == evaluatedStep {
			return nil
		}
		evaluatedStep = step
		if len(val) >= 2 {
			loss, _ := lstm.Evaluate(tr.Model, val, f.Batch, f.Seq)
			// A failed backend returns NaN losses; its error, such as running out of device
			// memory, is the one to report.
			if err := tr.Model.Backend.Sync(); err != nil {
				return fmt.Errorf("step %d: validation failed: %w; %s", step, err, savedWhere())
			}
			lastVal = loss
			if err := mw.write(metricsRecord{Kind: "eval", Step: step, ValLoss: &loss, ValBPC: ptr(loss / math.Ln2)}); err != nil {
				return err
			}
			p.logf("step %d  validation loss %.4g nats  %.4g bits per character", step, loss, loss/math.Ln2)
		}
		// A non-finite validation loss, one worse than twice that of uniform guessing, or a
		// run of skipped steps means the weights are not worth keeping, so the previous
		// checkpoint stays.
		guessing := math.Log(float64(len(tr.Model.Cfg.Vocab)))
		if math.IsInf(lastVal, 0) || (len(val) >= 2 && math.IsNaN(lastVal)) || lastVal > 2*guessing || tr.Skipped > 0 {
			skipped := ""
			if tr.Skipped > 0 {
				skipped = fmt.Sprintf(" and %d steps in a row were skipped", tr.Skipped)
			}
			p.logf("step %d  checkpoint not written: the validation loss is %g (uniform guessing scores %.4g)%s",
				step, lastVal, guessing, skipped)
			return nil
		}
		saving.Store(int64(step))
		err := lstm.SaveCheckpoint(f.out, tr.Model, &f.TrainConfig, tr)
		if err == nil {
			savedStep = step
			saved.Store(int64(step))
		}
		saving.Store(-1)
		if err != nil {
			return err
		}
		p.logf("step %d  checkpoint written to %s", step, f.out)
		return nil
	}

	// After --max-skipped non-finite steps in a row, training goes back to the last
	// checkpoint with half the learning rate, at most maxRestores times.
	const maxRestores = 3
	restores := 0
	var interrupted os.Signal
	for tr.Opt.Step < f.Steps && interrupted == nil {
		start := time.Now()
		res, err := tr.TrainStep()
		intervalTime += time.Since(start)
		if errors.Is(err, lstm.ErrDiverged) && savedStep >= 0 && restores < maxRestores {
			// Go back to the last checkpoint and continue at half the learning rate.
			restores++
			failedStep := tr.Opt.Step
			if err := restoreCheckpoint(tr, f.out); err != nil {
				p.abort()
				return fmt.Errorf("step %d: training diverged, and restoring %s failed: %w", tr.Opt.Step, f.out, err)
			}
			tr.Opt.LR /= 2
			f.LR = float64(tr.Opt.LR) // later checkpoints record the lowered rate
			p.logf("step %d  training diverged: restored the checkpoint of step %d and lowered the learning rate to %g (restore %d of %d)",
				failedStep, savedStep, tr.Opt.LR, restores, maxRestores)
			continue
		}
		if err != nil {
			p.abort()
			return fmt.Errorf("step %d: %w; %s", tr.Opt.Step, err, savedWhere())
		}
		step := tr.Opt.Step
		if res.Skipped {
			p.logf("step %d  skipped: the loss (%g) or the gradient norm (%g) is not finite", step, res.Loss, res.GradNorm)
		} else {
			intervalLoss += res.Loss
			intervalSteps++
		}
		if step%f.LogEvery == 0 || step == f.Steps {
			tps := float64(intervalSteps*tokensPerStep) / math.Max(intervalTime.Seconds(), 1e-9)
			if intervalSteps > 0 {
				mean := intervalLoss / float64(intervalSteps)
				if err := mw.write(metricsRecord{Kind: "train", Step: step, TrainLoss: &mean, TokensPerS: &tps}); err != nil {
					return err
				}
				p.update(step, mean, lastVal, tps)
			}
			intervalLoss, intervalSteps, intervalTime = 0, 0, 0
		}
		if f.EvalEvery > 0 && step%f.EvalEvery == 0 && step < f.Steps {
			if err := evaluate(); err != nil {
				p.abort()
				return err
			}
		}
		select {
		case interrupted = <-stop.first:
			p.logf("step %d  %s received: writing a final checkpoint (send it again to exit at once)", step, signalName(interrupted))
		default:
		}
	}
	if err := evaluate(); err != nil {
		p.abort()
		return err
	}
	if savedStep != tr.Opt.Step {
		p.abort()
		return fmt.Errorf("step %d: the final weights were not saved because their validation loss is %.4g; %s; lower --lr", tr.Opt.Step, lastVal, savedWhere())
	}
	if interrupted != nil {
		p.abort()
		fmt.Fprintf(stdout, "stopped at step %d of %d; continue with: %s train --resume %s\n", tr.Opt.Step, f.Steps, commandName(), f.out)
		return errInterrupted{interrupted}
	}
	p.finish()
	if len(val) < 2 {
		fmt.Fprintf(stdout, "done: %d steps, no validation split, checkpoint in %s\n", tr.Opt.Step, f.out)
		return nil
	}
	fmt.Fprintf(stdout, "done: %d steps, final validation loss %.4f nats (%.4f bits per character), checkpoint in %s\n", tr.Opt.Step, lastVal, lastVal/math.Ln2, f.out)
	return nil
}

func ptr[T any](v T) *T { return &v }

// savedWhereAt returns which weights the checkpoint in out contains, for messages: those of
// savedStep, or none when savedStep is −1.
func savedWhereAt(out string, savedStep int) string {
	if savedStep < 0 {
		return "this run wrote no checkpoint"
	}
	return fmt.Sprintf("the checkpoint in %s contains the weights of step %d", out, savedStep)
}

// exitProcess ends the process; tests replace it.
var exitProcess = os.Exit

// signalWatch delivers the first SIGINT or SIGTERM on first, so training can stop after the
// current step and write a final checkpoint. A second signal ends the process at once.
type signalWatch struct {
	first <-chan os.Signal
	done  chan struct{}
	sigs  chan os.Signal
}

// watchSignals starts a signalWatch. On the second signal it writes a line to stderr that
// ends with saved(), which describes the checkpoint on disk, and exits with 130 for SIGINT
// or 143 for SIGTERM. Exiting during a save is safe because the save writes into DIR.tmp and
// replaces DIR in one rename. DIR then contains a complete checkpoint, or, after an exit
// inside the fallback for file systems without renameat2, DIR.old does and LoadCheckpoint
// reads it. The next save deletes the leftover DIR.tmp.
func watchSignals(stderr io.Writer, saved func() string) *signalWatch {
	first := make(chan os.Signal, 1)
	w := &signalWatch{first: first, done: make(chan struct{}), sigs: make(chan os.Signal, 2)}
	signal.Notify(w.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-w.sigs:
			first <- sig
		case <-w.done:
			return
		}
		select {
		case sig := <-w.sigs:
			fmt.Fprintf(stderr, "\n%s received again: exiting without the final checkpoint; %s\n", signalName(sig), saved())
			exitProcess(errInterrupted{sig}.exitCode())
		case <-w.done:
		}
	}()
	return w
}

// close stops watching: later signals get their default action again.
func (w *signalWatch) close() {
	signal.Stop(w.sigs)
	close(w.done)
}

// restoreCheckpoint loads the weights and training state of the checkpoint in dir into tr.
func restoreCheckpoint(tr *lstm.Trainer, dir string) error {
	ck, err := lstm.LoadCheckpoint(dir)
	if err != nil {
		return err
	}
	if len(ck.Params) != tr.Model.Params.Len() || ck.State == nil {
		return fmt.Errorf("%s does not match the model being trained", dir)
	}
	tr.Model.Backend.Upload(tr.Model.Params, ck.Params)
	return tr.RestoreState(ck.State)
}

// errInterrupted reports a run stopped by a signal after its final checkpoint, so the process
// exits with the shell's status for that signal (130 for SIGINT, 143 for SIGTERM).
type errInterrupted struct{ sig os.Signal }

func (e errInterrupted) Error() string { return signalName(e.sig) + " received" }

func (e errInterrupted) exitCode() int {
	if e.sig == syscall.SIGTERM {
		return 128 + int(syscall.SIGTERM)
	}
	return 128 + int(syscall.SIGINT)
}

func signalName(sig os.Signal) string {
	if sig == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// checkOutputs fails before training starts when the checkpoint directory cannot take a
// checkpoint or the metrics file would sit inside it, where replacing the checkpoint would
// delete it.
func checkOutputs(f *trainFlags, resuming bool) error {
	f.out = filepath.Clean(f.out)
	replace := resuming && filepath.Clean(f.resume) == f.out
	if err := lstm.CheckCheckpointDir(f.out, replace); err != nil {
		return err
	}
	if f.Metrics == "" {
		return nil
	}
	out, errOut := filepath.Abs(f.out)
	metrics, errMetrics := filepath.Abs(f.Metrics)
	if errOut == nil && errMetrics == nil && filepath.Dir(metrics) == out {
		return fmt.Errorf("--metrics %s is inside the checkpoint directory %s, which each checkpoint replaces: write it beside the directory instead", f.Metrics, f.out)
	}
	return nil
}

// plural returns "1 file" or "n files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
