package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/recur-ml/recur/dataset"
	"github.com/recur-ml/recur/engine"
	"github.com/recur-ml/recur/lstm"
	"github.com/recur-ml/recur/tasks"
)

// taskInfo describes the files and defaults of one task command.
type taskInfo struct {
	name     string // command name
	lines    string // the line format of its data files
	images   string // the content of --images, or "" when the task reads none
	tokens   string // default --tokens
	outTok   string // default --output-tokens, or "" when there is no decoder
	decoder  bool   // the model has a decoder
	imageReq bool   // --images is required
}

var taskInfos = map[string]taskInfo{
	tasks.TaskClassify: {
		name:   "classify",
		lines:  "label<TAB>text (or label<TAB>image_index with --images)",
		images: "pixels [images, rows, values per row], one row per step (optional)",
		tokens: tasks.TokensChars,
	},
	tasks.TaskTag: {
		name:   "tag",
		lines:  "tokens<TAB>tags, space-separated, one tag per token",
		tokens: tasks.TokensWords,
	},
	tasks.TaskSeq2Seq: {
		name:    "seq2seq",
		lines:   "source<TAB>target",
		tokens:  tasks.TokensChars,
		outTok:  tasks.TokensChars,
		decoder: true,
	},
	tasks.TaskCaption: {
		name:     "caption",
		lines:    "image_index<TAB>caption",
		images:   "feature vectors [images, features] (.safetensors or .npy)",
		outTok:   tasks.TokensWords,
		decoder:  true,
		imageReq: true,
	},
}

// taskCommand returns the handler of "recur TASK train|predict".
func taskCommand(task string) func([]string, io.Writer, io.Writer) error {
	return func(args []string, stdout, stderr io.Writer) error {
		info := taskInfos[task]
		if len(args) == 0 || (args[0] != "train" && args[0] != "predict") {
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
				fmt.Fprintf(stdout, "usage: recur %s train|predict [flags]\n"+
					"Run \"recur %s train -h\" or \"recur %s predict -h\" for the flags.\n",
					task, task, task)
				return flag.ErrHelp
			}
			fmt.Fprintf(stderr, "usage: recur %s train|predict [flags]\n", task)
			return errUsage
		}
		if args[0] == "train" {
			return runTaskTrain(info, task, args[1:], stdout, stderr)
		}
		return runTaskPredict(info, task, args[1:], stdout, stderr)
	}
}

type taskTrainFlags struct {
	data, images, val, valImages string
	dataName, valName            string // --data and --val as given, before a pipe is copied
	cfg                          tasks.Config
	opt                          tasks.TrainOptions
	beam, logEvery               int
	device, precision, out       string
}

func runTaskTrain(info taskInfo, task string, args []string, stdout, stderr io.Writer) error {
	var f taskTrainFlags
	f.cfg.Task = task
	fs := flag.NewFlagSet("recur "+task+" train", flag.ContinueOnError)
	fs.StringVar(&f.data, "data", "", "training examples, one per line: "+info.lines)
	fs.StringVar(&f.val, "val", "", "validation examples in the same format (default: none)")
	if info.images != "" {
		fs.StringVar(&f.images, "images", "", "images of the training examples: "+info.images)
		fs.StringVar(&f.valImages, "val-images", "",
			"images of the validation examples (default: --images)")
	}
	fs.StringVar(&f.cfg.Cell, "model", lstm.CellLSTM, "recurrent cell: lstm, gru or rnn")
	fs.IntVar(&f.cfg.Layers, "layers", 1, "stacked recurrent layers")
	fs.IntVar(&f.cfg.Hidden, "hidden", 128, "hidden units per layer")
	fs.IntVar(&f.cfg.Embed, "embed", 32, "embedding width")
	if task != tasks.TaskTag && task != tasks.TaskCaption {
		fs.StringVar(&f.cfg.Tokens, "tokens", info.tokens,
			"how input text splits into tokens: chars or words")
	}
	if info.decoder {
		fs.StringVar(&f.cfg.OutputTokens, "output-tokens", info.outTok,
			"how targets split into tokens: chars or words")
		fs.IntVar(&f.beam, "beam", 0, "beam width when decoding the validation set (0: greedy)")
		fs.Float64Var(&f.opt.WordDropout, "word-dropout", 0,
			"probability of replacing a decoder input token by <unk> in training; at 1 the decoder also reads <unk> in validation and prediction")
	}
	if task == tasks.TaskClassify {
		fs.StringVar(&f.cfg.Pool, "pool", tasks.PoolLast,
			"readout: last (the last step's output) or mean (the mean over the unpadded steps)")
	}
	if task == tasks.TaskCaption {
		fs.BoolVar(&f.cfg.InitState, "init-state", false,
			"also set the initial hidden state from the image")
	}
	fs.Float64Var(&f.opt.Dropout, "dropout", 0, "dropout probability between layers")
	fs.Float64Var(&f.opt.ForgetBias, "forget-bias", 1, "LSTM forget-gate bias at initialisation")
	fs.IntVar(&f.opt.Batch, "batch", 64, "examples per step")
	fs.IntVar(&f.opt.Steps, "steps", 2000, "optimizer updates")
	fs.Float64Var(&f.opt.LR, "lr", 0.003, "learning rate")
	fs.StringVar(&f.opt.Optim, "optim", lstm.OptimAdam, "optimizer: adam, sgd or rmsprop")
	fs.Float64Var(&f.opt.WeightDecay, "weight-decay", 0,
		"decoupled weight decay, as in AdamW (0: off)")
	fs.Float64Var(&f.opt.Clip, "clip", 5, "clip the global gradient norm at this value (0: off)")
	seed := fs.Uint64("seed", 1, "seed of the initial weights, the example order and dropout")
	fs.IntVar(&f.opt.EvalEvery, "eval-every", 500,
		"steps between validation runs (0: only at the end)")
	fs.IntVar(&f.logEvery, "log-every", 100,
		"steps between log lines when stderr is not a terminal")
	fs.StringVar(&f.device, "device", "auto", "backend: auto, cpu, cuda or cuda:N")
	fs.StringVar(&f.precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	fs.StringVar(&f.out, "out", "", "checkpoint directory to write")
	resume := fs.String("resume", "", "checkpoint directory of a run to continue up to --steps; "+
		"the run keeps its model, data and settings, except --steps, --eval-every, --log-every and --device")
	set, err := parseFlags(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	f.opt.Seed = *seed
	var resumed *tasks.Resumable
	var be engine.Backend
	var picked string
	if *resume != "" {
		if f.out != "" && filepath.Clean(f.out) != filepath.Clean(*resume) {
			return fmt.Errorf("--out %s differs from --resume %s: a resumed run writes into its own checkpoint, so drop --out", f.out, *resume)
		}
		if be, picked, err = engine.Open(f.device, f.precision); err != nil {
			return err
		}
		defer be.Close()
		if resumed, err = tasks.LoadResumable(*resume, be); err != nil {
			return err
		}
		if resumed.Config.Task != task {
			return fmt.Errorf("checkpoint %s contains a %s model: use recur %s train --resume", *resume, resumed.Config.Task, resumed.Config.Task)
		}
		for name := range set {
			switch name {
			case "resume", "steps", "eval-every", "log-every", "device", "precision", "out", "beam":
			case "data", "val", "images", "val-images":
				// A moved copy of the same data is accepted, and the SHA-256 check below
				// rejects different content.
			default:
				return fmt.Errorf("--%s cannot change when resuming: the run keeps the settings in %s/config.json (start a new run to change them)", name, *resume)
			}
		}
		steps, evalEvery := f.opt.Steps, f.opt.EvalEvery
		f.cfg, f.opt, f.out = resumed.Config, resumed.Train, *resume
		if set["steps"] {
			f.opt.Steps = steps
		}
		if set["eval-every"] {
			f.opt.EvalEvery = evalEvery
		}
		stored := map[string]string{"data": resumed.Data.Train, "val": resumed.Data.Val,
			"images": resumed.Data.Images, "val-images": resumed.Data.ValImages}
		for flagName, p := range map[string]*string{"data": &f.data, "val": &f.val, "images": &f.images, "val-images": &f.valImages} {
			if !set[flagName] {
				*p = stored[flagName]
			}
		}
		if done := stateStep(resumed); done >= f.opt.Steps {
			fmt.Fprintf(stdout, "checkpoint %s is at step %d, and --steps is %d: nothing to do\n", *resume, done, f.opt.Steps)
			return nil
		}
	} else if info.decoder {
		// At rate 1 training never shows the decoder a real token, so validation and
		// prediction must not either. A resumed run keeps its checkpoint's setting.
		f.cfg.BlindDecoder = f.opt.WordDropout >= 1
	}
	if f.data == "" {
		return fmt.Errorf("missing --data: pass a file with lines %s "+
			"(recur generate %s writes an example set)", info.lines, generatorFor(task))
	}
	if f.out == "" {
		return fmt.Errorf("missing --out: pass the checkpoint directory to write")
	}
	if info.imageReq && f.images == "" {
		return fmt.Errorf("missing --images: pass a file of image %s", info.images)
	}
	if f.logEvery < 1 {
		return fmt.Errorf("invalid log interval %d (--log-every): use 1 or more", f.logEvery)
	}
	if err := f.opt.Validate(); err != nil {
		return err
	}
	if entries, err := os.ReadDir(f.out); err == nil && len(entries) > 0 && resumed == nil {
		return fmt.Errorf("%s already exists and is not empty: continue its run with "+
			"--resume %s, choose another --out, or delete it to train again", f.out, f.out)
	}
	if err := lstm.CheckCheckpointDir(f.out, resumed != nil); err != nil {
		return err
	}
	if f.beam < 0 {
		return fmt.Errorf("invalid beam width %d (--beam): use 0 (greedy) or more", f.beam)
	}
	for _, mode := range []string{f.cfg.Tokens, f.cfg.OutputTokens} {
		if mode != "" && mode != tasks.TokensChars && mode != tasks.TokensWords {
			return fmt.Errorf("invalid tokens %q (--tokens, --output-tokens): use chars or words",
				mode)
		}
	}

	// The training file is read twice (for the vocabularies, then the examples), so a pipe
	// such as <(zcat data.gz) is copied to a temporary file first, and so is a piped --val.
	// Messages name the file the user gave, not its copy.
	f.dataName, f.valName = f.data, f.val
	var copies []string
	for _, p := range []*string{&f.data, &f.val} {
		path, cleanup, err := regularFile(*p)
		if err != nil {
			return err
		}
		defer cleanup()
		if path != *p {
			copies = append(copies, path, *p)
		}
		*p = path
	}
	named := func(err error) error {
		if err == nil || len(copies) == 0 {
			return err
		}
		return errors.New(strings.NewReplacer(copies...).Replace(err.Error()))
	}
	src := tasks.Sources{Path: f.data, Images: f.images}
	var vocabs *tasks.Vocabs
	if resumed != nil {
		vocabs, err = tasks.VocabsFromConfig(f.cfg)
	} else {
		vocabs, err = tasks.BuildVocabs(&f.cfg, src)
	}
	if err != nil {
		return named(err)
	}
	if err := f.cfg.Validate(); err != nil {
		return err
	}
	train, err := tasks.Load(f.cfg, vocabs, src)
	if err != nil {
		return named(err)
	}
	var val *tasks.Data
	if f.val != "" {
		vi := f.valImages
		if vi == "" {
			vi = f.images
		}
		val, err = tasks.Load(f.cfg, vocabs, tasks.Sources{Path: f.val, Images: vi})
		if err != nil {
			return named(err)
		}
	}
	// The lengths are checked before the model and its workspace are allocated, so an
	// overlong line fails at once instead of exhausting the memory.
	if err := train.ValidateLengths(f.cfg, f.opt.Batch, 0); err != nil {
		return named(err)
	}
	if val != nil {
		if err := val.ValidateLengths(f.cfg, f.opt.Batch, f.beam); err != nil {
			return named(err)
		}
	}
	err = checkWorkspaceMemory(f.cfg, f.opt.Batch, workspaceSet{data: train, backward: true},
		workspaceSet{data: val, beam: f.beam})
	if err != nil {
		return named(err)
	}

	var m *tasks.Model
	if resumed != nil {
		m = resumed.Model
	} else {
		if be, picked, err = engine.Open(f.device, f.precision); err != nil {
			return err
		}
		defer be.Close()
		if m, err = tasks.NewModel(f.cfg, be); err != nil {
			return err
		}
		m.Init(f.opt.Seed, f.opt.ForgetBias)
	}
	tr, err := tasks.NewTrainer(m, train, val, f.opt)
	if err != nil {
		return err
	}
	files, err := dataFiles(f)
	if err != nil {
		return err
	}
	if resumed != nil {
		for _, pair := range [][2]string{{f.dataName, resumed.Data.Train}, {f.valName, resumed.Data.Val},
			{f.images, resumed.Data.Images}, {f.valImages, resumed.Data.ValImages}} {
			now, stored := pair[0], pair[1]
			want, ok := resumed.Data.SHA256[stored]
			if now == "" || !ok {
				continue
			}
			if got := files.SHA256[absPath(now)]; got != want {
				return fmt.Errorf("%s differs from the file the checkpoint was trained on (%s, SHA-256 %.12s…, now %.12s…): resume with the same data, or start a new run",
					now, stored, want, got)
			}
		}
	}
	var best tasks.Metrics
	bestStep := -1
	var bestParams []float32 // host copy of the best validation's weights
	if resumed != nil {
		// model.safetensors contains the best validation's weights, the state the latest.
		bestParams = download(m, be)
		if best, bestStep, err = tr.RestoreState(resumed.State); err != nil {
			return fmt.Errorf("checkpoint %s: %w", f.out, err)
		}
		if bestStep < 0 {
			bestParams = nil
		}
		fmt.Fprintf(stdout, "resuming %s at step %d of %d\n", f.out, tr.Opt.Step, f.opt.Steps)
	}
	// save writes the checkpoint: the best validation's weights (or the latest, without
	// one) and the training state of this moment.
	save := func() error {
		snap := tasks.Snapshot{Params: download(m, be), Step: tr.Opt.Step, Data: files,
			State: tr.StateFile(best, bestStep)}
		if bestStep >= 0 {
			snap.Params, snap.Step = bestParams, bestStep
		}
		return tasks.SaveCheckpoint(f.out, m, &f.opt, snap)
	}
	fmt.Fprintln(stdout, picked)
	printTaskConfig(stdout, &f, m, train, val, be)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var interrupted os.Signal
	go func() {
		select {
		case interrupted = <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	p := newProgress(stdout, stderr, tr.Opt.Step, f.opt.Steps)
	var sum float64
	n := 0
	started := time.Now()
	firstStep := tr.Opt.Step
	decode := tasks.DecodeOptions{Beam: f.beam}
	tr.Val = nil // Run would decode greedily, so the callback evaluates with --beam instead
	var saveErr error
	runErr := tr.Run(ctx, func(pr tasks.Progress) {
		if pr.Skipped {
			p.logf("step %d: non-finite loss or gradient, update skipped", pr.Step)
		} else {
			sum += pr.Loss
			n++
		}
		last := pr.Step >= f.opt.Steps
		evalStep := last || (f.opt.EvalEvery > 0 && pr.Step%f.opt.EvalEvery == 0)
		if val != nil && !pr.Skipped && evalStep {
			mt := tasks.Evaluate(m, val, f.opt.Batch, decode)
			note := ""
			// The checkpoint keeps the weights with the best validation so far: the highest
			// accuracy, and among equal accuracies the lowest loss.
			better := bestStep < 0 || mt.Accuracy > best.Accuracy ||
				(mt.Accuracy == best.Accuracy && mt.Loss < best.Loss)
			if better && saveErr == nil {
				best, bestStep, bestParams = mt, pr.Step, download(m, be)
				if saveErr = save(); saveErr == nil {
					note = "  (best so far, saved)"
				}
			}
			p.logf("step %d  validation: %s%s", pr.Step, describeMetrics(task, mt), note)
		}
		if pr.Step%f.logEvery == 0 || last || p.bar != nil {
			loss := math.NaN()
			if n > 0 {
				loss = sum / float64(n)
			}
			rate := float64(pr.Step-firstStep) / time.Since(started).Seconds()
			if p.bar != nil {
				p.bar.Describe(fmt.Sprintf("loss %.4f  %.1f steps/s", loss, rate))
				p.bar.Set(pr.Step)
			} else {
				fmt.Fprintf(stdout, "step %6d  loss %.4f  %.1f steps/s\n", pr.Step, loss, rate)
			}
			if pr.Step%f.logEvery == 0 {
				sum, n = 0, 0
			}
		}
	})
	if saveErr != nil {
		p.abort()
		return saveErr
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		p.abort()
		if errors.Is(runErr, tasks.ErrDiverged) && bestStep < 0 {
			return fmt.Errorf("%w; no checkpoint was written", runErr)
		}
		if bestStep >= 0 {
			return fmt.Errorf("%w (%s contains the weights of step %d, the best validation so far)",
				runErr, f.out, bestStep)
		}
		return runErr
	}
	steps := tr.Opt.Step
	// The final save records the training state for --resume. Without a validation set (or
	// before the first validation), it also writes the last weights.
	if err := save(); err != nil {
		p.abort()
		return err
	}
	saved := fmt.Sprintf("the checkpoint in %s contains the weights of step %d", f.out, steps)
	if bestStep >= 0 {
		saved = fmt.Sprintf("the checkpoint in %s contains the weights of step %d, "+
			"the best validation", f.out, bestStep)
	}
	if interrupted != nil {
		p.abort()
		fmt.Fprintf(stdout, "stopped at step %d of %d; %s; continue with: %s %s train --resume %s\n",
			steps, f.opt.Steps, saved, commandName(), task, f.out)
		return errInterrupted{interrupted}
	}
	p.finish()
	fmt.Fprintf(stdout, "done: step %d, %d steps in %s; %s\n",
		steps, steps-firstStep, time.Since(started).Round(time.Second), saved)
	return nil
}

// dataFiles returns the absolute paths of the run's data files and their SHA-256, for the
// checkpoint. A pipe is hashed through its temporary copy.
func dataFiles(f taskTrainFlags) (tasks.DataFiles, error) {
	d := tasks.DataFiles{Train: absPath(f.dataName), Val: absPath(f.valName),
		Images: absPath(f.images), ValImages: absPath(f.valImages), SHA256: map[string]string{}}
	for _, pair := range [][2]string{{d.Train, f.data}, {d.Val, f.val}, {d.Images, f.images}, {d.ValImages, f.valImages}} {
		name, readable := pair[0], pair[1]
		if name == "" {
			continue
		}
		sum, err := tasks.FileSHA256(readable)
		if err != nil {
			return d, err
		}
		d.SHA256[name] = sum
	}
	return d, nil
}

// absPath returns path made absolute, or "" for "".
func absPath(path string) string {
	if path == "" {
		return ""
	}
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// download returns a host copy of m's parameters.
func download(m *tasks.Model, be engine.Backend) []float32 {
	v := make([]float32, m.Params.Len())
	be.Download(v, m.Params)
	return v
}

// stateStep returns the step recorded in a resumable checkpoint's training state.
func stateStep(r *tasks.Resumable) int {
	step, err := strconv.Atoi(r.State.Metadata["step"])
	if err != nil {
		return -1
	}
	return step
}

// generatorFor returns the name of the recur generate data set for a task.
func generatorFor(task string) string {
	switch task {
	case tasks.TaskSeq2Seq:
		return "dates"
	case tasks.TaskCaption:
		return "scenes"
	}
	return task
}

// printTaskConfig prints the table of data, model and training settings before training.
func printTaskConfig(
	w io.Writer, f *taskTrainFlags, m *tasks.Model, train, val *tasks.Data, be engine.Backend,
) {
	c := f.cfg
	nVal := 0
	if val != nil {
		nVal = len(val.Examples)
	}
	rows := [][2]string{
		{"task", c.Task},
		{"backend", be.Name()},
		{"data", fmt.Sprintf("%s (%d examples; validation %d)", f.dataName, len(train.Examples), nVal)},
		{"model", describeModel(c)},
		{"parameters", fmt.Sprint(m.Params.Len())},
	}

	if len(c.Vocab) > 0 {
		vocab := fmt.Sprintf("%d %s", len(c.Vocab), c.Tokens)
		rows = append(rows, [2]string{"input vocabulary", vocab})
	}
	outputs := fmt.Sprintf("%d: %s", len(c.Outputs), preview(c.Outputs))
	rows = append(rows, [2]string{"outputs", outputs})

	batch := min(f.opt.Batch, len(train.Examples))
	training := fmt.Sprintf("%d steps of %d examples, %s lr %g, clip %g, dropout %g, seed %d",
		f.opt.Steps, batch, f.opt.Optim, f.opt.LR, f.opt.Clip, f.opt.Dropout, f.opt.Seed)
	rows = append(rows, [2]string{"training", training})
	if batch < f.opt.Batch {
		note := fmt.Sprintf("--batch %d is more than the %d training examples, "+
			"so each step trains on all of them", f.opt.Batch, batch)
		rows = append(rows, [2]string{"note", note})
	}
	if f.opt.Dropout > 0 && c.Layers == 1 {
		note := "--dropout acts between stacked layers, so with --layers 1 it does nothing"
		rows = append(rows, [2]string{"note", note})
	}

	for _, r := range rows {
		fmt.Fprintf(w, "  %-17s %s\n", r[0], r[1])
	}
}

// describeModel summarises the architecture for the configuration table.
func describeModel(c tasks.Config) string {
	var input string
	switch {
	case c.Task == tasks.TaskClassify && c.InputWidth > 0:
		input = fmt.Sprintf("; reads %d pixel rows of %d values", c.Rows, c.InputWidth)
	case c.Task == tasks.TaskCaption:
		input = fmt.Sprintf(", embedding %d; image features %d", c.Embed, c.Features)
	default:
		input = fmt.Sprintf(", embedding %d", c.Embed)
	}
	stacks := ""
	if c.Task == tasks.TaskSeq2Seq {
		stacks = " in the encoder and in the decoder"
	}
	return fmt.Sprintf("%s, %d layer(s) of %d units%s%s", c.Cell, c.Layers, c.Hidden, stacks, input)
}

// preview joins the first 10 names with spaces, followed by " …" when there are more.
func preview(names []string) string {
	if len(names) <= 10 {
		return strings.Join(names, " ")
	}
	return strings.Join(names[:10], " ") + " …"
}

// describeMetrics formats the metrics of a validation or prediction run as one line.
func describeMetrics(task string, mt tasks.Metrics) string {
	if mt.Count == 0 {
		return "no expected outputs to score"
	}
	switch task {
	case tasks.TaskClassify:
		return fmt.Sprintf("accuracy %.2f%% of %d, loss %.4f", 100*mt.Accuracy, mt.Count, mt.Loss)
	case tasks.TaskTag:
		return fmt.Sprintf("token accuracy %.2f%% of %d tokens in %d lines, loss %.4f",
			100*mt.Accuracy, mt.Tokens, mt.Count, mt.Loss)
	}
	return fmt.Sprintf("exact match %.2f%% of %d, token accuracy %.2f%%, loss %.4f",
		100*mt.Accuracy, mt.Count, 100*mt.TokenAccuracy, mt.Loss)
}

func runTaskPredict(info taskInfo, task string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("recur "+task+" predict", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "", "checkpoint directory written by recur "+task+" train")
	data := fs.String("data", "",
		"examples in the training format ("+info.lines+"), "+
			"or inputs alone, one per line without a tab")
	var images string
	if info.images != "" {
		fs.StringVar(&images, "images", "", "images of the examples: "+info.images)
	}
	out := fs.String("out", "", "write the predictions to this new file (default: standard output)")
	overwrite := fs.Bool("overwrite", false, "let --out replace an existing file")
	batch := fs.Int("batch", 64, "examples per batch")
	show := fs.Int("show", 5, "print this many wrong predictions, and as many right ones")
	var dec tasks.DecodeOptions
	if info.decoder {
		fs.IntVar(&dec.Beam, "beam", 0, "beam width (0 or 1: greedy)")
		fs.IntVar(&dec.MaxLen, "max-len", 0,
			"max tokens per output, End included (0: twice the longest target, plus 4)")
		fs.Float64Var(&dec.Temperature, "temperature", 0,
			"sample at this temperature instead of taking the most likely token")
		fs.Uint64Var(&dec.Seed, "seed", 1, "seed for --temperature sampling")
	}
	device := fs.String("device", "auto", "backend: auto, cpu, cuda or cuda:N")
	precision := fs.String("precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	switch {
	case *ckpt == "" || *data == "":
		return fmt.Errorf("missing --checkpoint DIR or --data FILE: pass both")
	case *batch < 1:
		return fmt.Errorf("invalid --batch %d: use 1 or more", *batch)
	case *show < 0:
		return fmt.Errorf("invalid --show %d: use 0 or more", *show)
	case dec.Beam < 0:
		return fmt.Errorf("invalid --beam %d: use 0 (greedy) or more", dec.Beam)
	case dec.MaxLen < 0 || dec.MaxLen > tasks.MaxDecodeLen:
		return fmt.Errorf("invalid --max-len %d: use 0 (automatic) or up to %d tokens",
			dec.MaxLen, tasks.MaxDecodeLen)
	case !(dec.Temperature >= 0) || math.IsInf(dec.Temperature, 0):
		return fmt.Errorf("invalid --temperature %g: use 0 (most likely token) or a positive "+
			"number such as 0.8", dec.Temperature)
	case dec.Temperature > 0 && dec.Beam > 1:
		return fmt.Errorf("--temperature %g (sampling) and --beam %d (beam search) "+
			"cannot be combined: pass only one", dec.Temperature, dec.Beam)
	}
	if *out != "" {
		inputs := map[string]string{"--data": *data}
		if images != "" {
			inputs["--images"] = images
		}
		if err := checkPredictionsPath(*out, *overwrite, *ckpt, inputs); err != nil {
			return err
		}
	}
	be, _, err := engine.Open(*device, *precision)
	if err != nil {
		return err
	}
	defer be.Close()
	m, err := tasks.LoadModel(*ckpt, be)
	if err != nil {
		return err
	}
	if m.Cfg.Task != task {
		return fmt.Errorf("checkpoint %s contains a %s model: use recur %s predict",
			*ckpt, m.Cfg.Task, m.Cfg.Task)
	}
	vocabs, err := tasks.VocabsFromConfig(m.Cfg)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", *ckpt, err)
	}
	dataPath, cleanup, err := regularFile(*data)
	if err != nil {
		return err
	}
	defer cleanup()
	labeled, err := dataset.HasTabs(dataPath)
	if err != nil {
		return err
	}
	src := tasks.Sources{Path: dataPath, Images: images, Unlabeled: !labeled}
	d, err := tasks.Load(m.Cfg, vocabs, src)
	if err != nil {
		if dataPath != *data {
			err = errors.New(strings.ReplaceAll(err.Error(), dataPath, *data))
		}
		return err
	}
	err = d.ValidateLengths(m.Cfg, *batch, dec.Beam)
	if err == nil {
		err = checkWorkspaceMemory(m.Cfg, *batch, workspaceSet{data: d, beam: dec.Beam})
	}
	if err != nil {
		if dataPath != *data {
			err = errors.New(strings.ReplaceAll(err.Error(), dataPath, *data))
		}
		return err
	}
	mt, preds := tasks.Predict(m, d, *batch, dec)

	var lines strings.Builder
	for _, p := range preds {
		// Each line has the form of a training line, so predictions can be read back as data.
		if task == tasks.TaskClassify {
			fmt.Fprintf(&lines, "%s\t%s\n", p.Output, p.Example.Text)
		} else {
			fmt.Fprintf(&lines, "%s\t%s\n", p.Example.Text, p.Output)
		}
	}
	report := stderr
	if *out == "" {
		io.WriteString(stdout, lines.String())
	} else {
		if err := writePredictions(*out, []byte(lines.String())); err != nil {
			return err
		}
		report = stdout
		fmt.Fprintf(report, "wrote %d predictions to %s\n", len(preds), *out)
	}
	fmt.Fprintf(report, "%s: %s\n", *data, describeMetrics(task, mt))
	if mt.Count > 0 && mt.Confusion != nil && len(m.Cfg.Outputs) <= 20 {
		fmt.Fprintln(report, "confusion matrix (rows: expected, columns: predicted):")
		mt.Confusion.Write(report)
	}
	if mt.Count > 0 {
		printExamples(report, preds, *show)
	}
	return nil
}

// regularFile returns path unchanged when it is empty, missing or a regular file. Otherwise,
// for pipes and process substitutions, which can be read only once, it copies the content
// into a temporary file and returns that file's path. cleanup removes the copy.
func regularFile(path string) (string, func(), error) {
	none := func() {}
	st, err := os.Stat(path)
	if path == "" || err != nil || st.Mode().IsRegular() {
		return path, none, nil // a missing file gets its error from the reader
	}
	in, err := os.Open(path)
	if err != nil {
		return "", none, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp("", "recur-data-*")
	if err != nil {
		return "", none, err
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		cleanup()
		return "", none, fmt.Errorf("read %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return "", none, err
	}
	return tmp.Name(), cleanup, nil
}

// checkPredictionsPath returns an error unless predictions may be written to path. Links are
// followed, so the file must not be the data or images file (or a hard link to one) and must
// not lie inside the checkpoint. Its directory must exist, and the file must not exist
// unless overwrite is set.
func checkPredictionsPath(path string, overwrite bool, ckpt string, inputs map[string]string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--out %s is a directory: name a file in it", path)
	}
	dir := filepath.Dir(path)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("--out %s: the directory %s does not exist: create it first", path, dir)
	}

	target := filepath.Join(realDir, filepath.Base(path))
	_, lerr := os.Lstat(path)
	exists := lerr == nil
	if exists {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("--out %s is a link to a missing file: remove it or choose another file", path)
		}
		target = real
	}

	if tst, err := os.Stat(target); err == nil {
		for flagName, p := range inputs {
			if pst, err := os.Stat(p); err == nil && os.SameFile(tst, pst) {
				return fmt.Errorf("--out %s is the %s file: write the predictions to another file", path, flagName)
			}
		}
	}
	if realCk, err := filepath.EvalSymlinks(ckpt); err == nil {
		rel, err := filepath.Rel(realCk, target)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("--out %s is inside the checkpoint %s: write the predictions elsewhere", path, ckpt)
		}
	}

	if exists && !overwrite {
		return fmt.Errorf("--out %s already exists: choose another file, or pass --overwrite to replace it", path)
	}
	return nil
}

// writePredictions writes data to path, synced to the disk when path is a regular file (and
// plainly to a device such as /dev/stdout).
func writePredictions(path string, data []byte) error {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return os.WriteFile(path, data, 0o644)
	}
	return lstm.WriteFileSync(path, data)
}

// printExamples prints up to n wrong predictions and n right ones, side by side with what
// was expected.
func printExamples(w io.Writer, preds []tasks.Prediction, n int) {
	for _, right := range []bool{false, true} {
		printed := 0
		for _, p := range preds {
			if p.Correct != right || printed >= n {
				continue
			}
			if printed == 0 {
				fmt.Fprintf(w, "%s:\n", map[bool]string{false: "wrong", true: "right"}[right])
			}
			printed++
			fmt.Fprintf(w, "  input %q\n    expected  %s\n    predicted %s\n",
				clip(p.Example.Text, 70), p.Example.Want, p.Output)
		}
	}
}

// clip shortens s to its first n characters followed by "…" when it is longer.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
