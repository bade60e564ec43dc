package main

import (
	"fmt"
	"io"
	"strings"
)

// library runs one --compare library next to the recur backends it can match.
type library struct {
	name    string
	cpu     *externalRunner // nil where the library has no CPU run
	cuda    *externalRunner // nil where the library has no CUDA run
	models  []string        // cells the library's program builds
	version libraryVersion  // the version line of the program's --version output
}

// compareOn measures the library on sh on the device that matches backend. It returns false
// where the library has no run for that backend or model.
func (l library) compareOn(backend string, sh shape, o runOptions, recur result) (comparison, bool) {
	modelOK := false
	for _, m := range l.models {
		modelOK = modelOK || m == o.Model
	}
	if !modelOK {
		return comparison{}, false
	}
	switch {
	case backend == "cpu" && l.cpu != nil:
		return l.cpu.compare(sh, o, "cpu", "fp32", recur.Train, recur.Infer), true
	case strings.HasPrefix(backend, "cuda") && l.cuda != nil:
		device := backend
		if backend == "cuda" {
			device = "cuda:0"
		}
		return l.cuda.compare(sh, o, device, o.Precision, recur.Train, recur.Infer), true
	}
	return comparison{}, false
}

// prepareComparisons finds the programs of the --compare libraries and checks that they
// start. A library that cannot run is reported on errOut and left out, so recur's figures
// still print.
func prepareComparisons(cfg config, errOut io.Writer) map[string]library {
	libs := map[string]library{}
	for _, name := range cfg.compare {
		var lib library
		var err error
		switch name {
		case "pytorch":
			lib, err = pytorchLibrary(cfg)
		case "gorgonia":
			lib, err = gorgoniaLibrary(cfg)
		}
		if err != nil {
			fmt.Fprintf(errOut, "bench: --compare %s skipped: %v\n", name, err)
			continue
		}
		libs[name] = lib
	}
	return libs
}

func pytorchLibrary(cfg config) (library, error) {
	script, err := findRepoFile(cfg.torchScript)
	if err != nil {
		return library{}, err
	}
	python := pythonPath()
	cpu := &externalRunner{library: "pytorch", command: []string{python, script, "--threads", "1"},
		env: cpuTorchEnv(cfg.torchBLAS), timeout: cfg.compareTimeout}
	cuda := &externalRunner{library: "pytorch", command: []string{python, script}, timeout: cfg.compareTimeout}
	version, err := checkProgram(cpu.command, cpu.env, cfg)
	if err != nil {
		return library{}, fmt.Errorf("%w; install PyTorch for %s (Debian: apt-get install python3-torch) or set RECUR_PYTHON to an interpreter that has it", err, python)
	}
	return library{name: "pytorch", cpu: cpu, cuda: cuda, models: []string{"lstm", "gru", "rnn"},
		version: version}, nil
}

func gorgoniaLibrary(cfg config) (library, error) {
	bin, err := findRepoFile(cfg.gorgoniaBinary)
	if err != nil {
		return library{}, fmt.Errorf("%w; build it with: cd cmd/bench/gorgonia && go build -o ../../../bin/bench-gorgonia .", err)
	}
	cpu := &externalRunner{library: "gorgonia", command: []string{bin}, timeout: cfg.compareTimeout}
	version, err := checkProgram(cpu.command, nil, cfg)
	if err != nil {
		return library{}, err
	}
	return library{name: "gorgonia", cpu: cpu, models: []string{"lstm"}, version: version}, nil
}

// checkProgram runs the program's --version check in the environment env (nil inherits
// bench's) and returns what it reported. It fails when the library cannot be loaded.
func checkProgram(command, env []string, cfg config) (libraryVersion, error) {
	r := externalRunner{library: command[0], command: command, env: env, timeout: cfg.compareTimeout}
	return r.version()
}
