package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// externalResult is the one JSON line that scripts/torch_bench.py and the gorgonia program
// print for one run.
type externalResult struct {
	Library    string  `json:"library"`
	Version    string  `json:"version"`
	Python     string  `json:"python,omitempty"`
	BLAS       string  `json:"blas,omitempty"`
	Device     string  `json:"device"`
	Precision  string  `json:"precision"`
	Mode       string  `json:"mode"`
	Threads    int     `json:"threads"`
	Steps      int     `json:"steps"`
	Seconds    float64 `json:"seconds"`
	TokensPerS float64 `json:"tokens_per_s"`
	MsPerStep  float64 `json:"ms_per_step"`
	Loss       float64 `json:"loss"`
	Error      string  `json:"error"`
}

// comparison is a library's throughput on one shape, measured right after recur's.
type comparison struct {
	Library    string          `json:"library"`
	Version    string          `json:"version,omitempty"`
	Device     string          `json:"device,omitempty"`
	Train      *externalResult `json:"train,omitempty"`
	Infer      *externalResult `json:"infer,omitempty"`
	TrainRatio float64         `json:"train_ratio,omitempty"`
	InferRatio float64         `json:"infer_ratio,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// externalRunner starts one benchmark program of another library.
type externalRunner struct {
	library string
	command []string // program and leading arguments
	env     []string // the environment of every run; nil inherits bench's
	timeout time.Duration
}

// pythonPath returns the interpreter for the PyTorch script: RECUR_PYTHON, else
// /usr/bin/python3, where Debian's python3-torch is installed.
func pythonPath() string {
	if p := os.Getenv("RECUR_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// findRepoFile returns rel resolved against the working directory or, failing that, against
// the directory above bench's executable (bin/bench in a checkout).
func findRepoFile(rel string) (string, error) {
	if filepath.IsAbs(rel) {
		if _, err := os.Stat(rel); err != nil {
			return "", err
		}
		return rel, nil
	}
	candidates := []string{rel}
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "..", rel))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s not found in the working directory or beside the executable; run bench from the repository root or pass the path by flag", rel)
}

// cpuTorchEnv returns bench's environment set up for PyTorch's fastest setting on a small
// CPU: OpenBLAS on blasThreads threads, and OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed,
// because a preset core type can force an older, slower kernel.
func cpuTorchEnv(blasThreads int) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "OPENBLAS_CORETYPE" || k == "OPENBLAS_L2_SIZE" || k == "OPENBLAS_NUM_THREADS" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "OPENBLAS_NUM_THREADS="+strconv.Itoa(blasThreads))
}

// run runs one measurement and parses the program's last JSON line.
func (r externalRunner) run(sh shape, o runOptions, device, precision string, infer bool) (*externalResult, error) {
	args := append([]string{}, r.command[1:]...)
	args = append(args,
		"--model", o.Model,
		"--hidden", strconv.Itoa(sh.Hidden), "--layers", strconv.Itoa(sh.Layers),
		"--batch", strconv.Itoa(sh.Batch), "--seq", strconv.Itoa(sh.Seq),
		"--vocab", strconv.Itoa(sh.Vocab),
		"--steps", strconv.Itoa(o.Steps), "--warmup", strconv.Itoa(o.Warmup),
		"--seed", strconv.FormatUint(o.Seed, 10),
		"--device", device, "--precision", precision)
	if infer {
		args = append(args, "--infer")
	}
	res, err := r.exec(args)
	if err != nil {
		return nil, err
	}
	if !(res.TokensPerS > 0) {
		return nil, fmt.Errorf("%s reported an invalid throughput of %g tokens/s", r.library, res.TokensPerS)
	}
	return res, nil
}

// version runs the program with --version, which loads the library and prints its version
// in a JSON line, so that a missing library shows before any measurement.
func (r externalRunner) version() (libraryVersion, error) {
	res, err := r.exec(append(append([]string{}, r.command[1:]...), "--version"))
	if err != nil {
		return libraryVersion{}, err
	}
	return libraryVersion{Version: res.Version, Python: res.Python, BLAS: res.BLAS}, nil
}

// exec runs the program with args and returns its last JSON line.
func (r externalRunner) exec(args []string) (*externalResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.command[0], args...)
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s timed out after %s; raise --compare-timeout or use fewer --steps", r.library, r.timeout)
	}

	var res *externalResult
	for _, line := range strings.Split(stdout.String(), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var v externalResult
		if json.Unmarshal([]byte(line), &v) == nil {
			res = &v
		}
	}
	switch {
	case res != nil && res.Error != "":
		return nil, errors.New(res.Error)
	case runErr != nil:
		return nil, fmt.Errorf("%s failed: %v: %s", strings.Join(r.command, " "), runErr, lastLine(stderr.String()))
	case res == nil:
		return nil, fmt.Errorf("%s printed no JSON result line", strings.Join(r.command, " "))
	}
	return res, nil
}

// compare measures training and inference with the library and divides recur's tokens/s by
// the library's. Failures are stored in the comparison, so the recur figures still print.
func (r externalRunner) compare(sh shape, o runOptions, device, precision string, train, infer phase) comparison {
	c := comparison{Library: r.library, Device: device}
	t, err := r.run(sh, o, device, precision, false)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Train, c.Version = t, t.Version
	c.TrainRatio = train.TokensPerS / t.TokensPerS
	i, err := r.run(sh, o, device, precision, true)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Infer = i
	c.InferRatio = infer.TokensPerS / i.TokensPerS
	return c
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
