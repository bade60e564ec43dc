package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseShapes(t *testing.T) {
	got, err := parseShapes("128x1x32x64, 512x2x64x100x99", 65)
	if err != nil {
		t.Fatal(err)
	}
	want := []shape{{128, 1, 32, 64, 65}, {512, 2, 64, 100, 99}}
	if len(got) != len(want) {
		t.Fatalf("got %d shapes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("shape %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseShapesInvalid(t *testing.T) {
	for _, s := range []string{"", "128x1x32", "128x1x32x64x65x1", "0x1x32x64", "128x-1x32x64",
		"128x1x32x64x1", "axbxcxd", "128x1x32x64junk", "128x1x32x99999999"} {
		if _, err := parseShapes(s, 65); err == nil {
			t.Errorf("parseShapes(%q) returned no error", s)
		}
	}
}

func TestStandardShapes(t *testing.T) {
	if n := len(standardShapes(65, false)); n != 4 {
		t.Errorf("without a GPU: %d shapes, want 4", n)
	}
	gpu := standardShapes(65, true)
	if len(gpu) != 6 {
		t.Fatalf("with a GPU: %d shapes, want 6", len(gpu))
	}
	if gpu[4] != (shape{512, 2, 8, 100, 65}) || gpu[5] != (shape{512, 2, 256, 100, 65}) {
		t.Errorf("GPU batch shapes = %+v, %+v", gpu[4], gpu[5])
	}
}

func TestParseBackends(t *testing.T) {
	got, err := parseBackends("cpuref,cpu,cuda:1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "cpuref,cpu,cuda:1" {
		t.Errorf("got %v", got)
	}
	for _, s := range []string{"gpu", "cpu,cpu", "cuda:", "cuda:x", ""} {
		if _, err := parseBackends(s); err == nil {
			t.Errorf("parseBackends(%q) returned no error", s)
		}
	}
}

// The expected counts are worked by hand from the formula in flops.go.
func TestFLOPCounts(t *testing.T) {
	cases := []struct {
		model          string
		sh             shape
		table          bool
		forward, train float64
	}{
		// per token: G·H·(H+H) = 4·2·4 = 32, head H·V = 6; 2 FLOPs · 1 token · 38.
		{"lstm", shape{2, 1, 1, 1, 3}, false, 76, 228},
		// per token: 1·2·4 = 8, head 6; 2 · 1 · 14.
		{"rnn", shape{2, 1, 1, 1, 3}, false, 28, 84},
		// per token: 3·2·4 = 24, head 6; 2 · 1 · 30.
		{"gru", shape{2, 1, 1, 1, 3}, false, 60, 180},
		// per token: 2 layers · 32 + 6 = 70; 2 FLOPs · B·T = 6 tokens · 70.
		{"lstm", shape{2, 2, 2, 3, 3}, false, 840, 2520},
		// The table of V = 3 rows replaces layer 0's 6 input rows: 2·3·G·H·H = 96 for the
		// projection, then 2·6·(G·H·H + G·H·2H + H·V) = 2·6·(16 + 32 + 6) = 648.
		{"lstm", shape{2, 2, 2, 3, 3}, true, 744, 2232},
	}
	for _, c := range cases {
		if got := forwardFLOPs(c.model, c.sh, c.table); got != c.forward {
			t.Errorf("forwardFLOPs(%s, %v, table %v) = %g, want %g", c.model, c.sh, c.table, got,
				c.forward)
		}
		if got := trainFLOPs(c.model, c.sh, c.table); got != c.train {
			t.Errorf("trainFLOPs(%s, %v, table %v) = %g, want %g", c.model, c.sh, c.table, got,
				c.train)
		}
	}
}

// collectKeys adds every object key of a decoded JSON value to keys.
func collectKeys(v any, keys map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			keys[k] = true
			collectKeys(x, keys)
		}
	case []any:
		for _, x := range v {
			collectKeys(x, keys)
		}
	}
}

func TestReportJSONKeysDocumented(t *testing.T) {
	lib := &externalResult{Library: "pytorch", Version: "1", Python: "3", BLAS: "b", Device: "cpu",
		Precision: "fp32", Mode: "train", Threads: 1, Steps: 1, Seconds: 1, TokensPerS: 1,
		MsPerStep: 1, Loss: 1, Error: "e"}
	rep := report{
		Schema: reportSchema, GPU: &gpuInfo{Name: "g"},
		Versions: versions{Backends: map[string]string{"cpu": "cpu (gonum BLAS, 1 threads)"},
			Modules: map[string]string{"gonum.org/v1/gonum": "v0.17.0"},
			Compare: map[string]libraryVersion{"pytorch": {Version: "1", Python: "3", BLAS: "b"}}},
		GemmPeaks: []gemmPeak{{Backend: "cpu"}},
		Results: []result{{Train: phase{Loss: 1}, NormalRatio: 1, Comparisons: []comparison{{
			Library: "pytorch", Version: "1", Device: "cpu", Train: lib, Infer: lib,
			TrainRatio: 1, InferRatio: 1, Error: "e"}}}},
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var decoded any
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	collectKeys(decoded, keys)
	// Backend, module and library names inside versions, not keys of the schema.
	for _, name := range []string{"cpu", "gonum.org/v1/gonum", "pytorch"} {
		delete(keys, name)
	}
	for _, k := range []string{"schema", "date", "machine", "gpu", "versions", "settings",
		"gemm_peaks", "results", "tokens_per_s", "ms_per_step", "peak_share",
		"host_peak_rss_bytes", "host_start_rss_bytes", "device_peak_bytes", "train_ratio",
		"cpu_model", "cores", "modules", "python", "blas"} {
		if !keys[k] {
			t.Errorf("JSON output has no key %q", k)
		}
	}
	for k := range keys {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(k) + `\b`).MatchString(jsonKeysHelp) {
			t.Errorf("JSON key %q is not documented in jsonKeysHelp", k)
		}
	}
}

func TestHelpListsFlags(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(--help) error = %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"-shapes", "-standard", "-backends", "-model", "-precision", "-steps",
		"-warmup", "-cpuref-steps", "-denormal", "-compare", "-json", "-peak-size", "-cpuprofile",
		"JSON keys"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("help output does not mention %s", name)
		}
	}
}

func TestParseFlagsInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--model", "lstmx"}, {"--precision", "fp16"}, {"--steps", "0"}, {"--backends", "tpu"},
		{"--compare", "jax"}, {"--shapes", "1x1"}, {"extra"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) returned no error", args)
		}
	}
}

func checkPhase(t *testing.T, name string, p phase) {
	t.Helper()
	for label, v := range map[string]float64{"tokens/s": p.TokensPerS, "ms/step": p.MsPerStep,
		"seconds": p.Seconds, "flops/step": p.FLOPsPerStep, "GFLOP/s": p.GFLOPS, "peak share": p.PeakShare} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s: %s = %g, want positive and finite", name, label, v)
		}
	}
}

func TestRunTinyCPUAndCPURef(t *testing.T) {
	cfg, err := parseFlags([]string{"--shapes", "8x2x2x4x11", "--backends", "cpuref,cpu", "--steps", "2",
		"--warmup", "1", "--cpuref-steps", "1", "--peak-size", "32", "--denormal", "--threads", "1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := run(cfg, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.GemmPeaks) != 2 {
		t.Fatalf("%d GEMM peaks, want 2", len(rep.GemmPeaks))
	}
	for _, p := range rep.GemmPeaks {
		if !(p.GFLOPS > 0) || math.IsInf(p.GFLOPS, 0) {
			t.Errorf("%s GEMM peak = %g GFLOP/s", p.Backend, p.GFLOPS)
		}
	}
	// cpuref runs the normal case only, because it computes in float64.
	wantRows := []string{"cpuref/normal", "cpu/normal", "cpu/denormal"}
	if len(rep.Results) != len(wantRows) {
		t.Fatalf("%d results, want %d:\n%s", len(rep.Results), len(wantRows), out.String())
	}
	for i, r := range rep.Results {
		name := r.Backend + "/" + r.Case
		if name != wantRows[i] {
			t.Errorf("result %d is %s, want %s", i, name, wantRows[i])
		}
		checkPhase(t, name+" train", r.Train)
		checkPhase(t, name+" infer", r.Infer)
		if !(r.Train.Loss > 0) || math.IsInf(r.Train.Loss, 0) {
			t.Errorf("%s: train loss = %g, want positive and finite", name, r.Train.Loss)
		}
		if r.Memory.HostPeakRSSBytes <= 0 {
			t.Errorf("%s: host peak RSS = %d bytes", name, r.Memory.HostPeakRSSBytes)
		}
	}
	// Every share divides by the highest peak of the run, which gemm_peaks reports.
	peaks := map[string]float64{}
	for _, p := range rep.GemmPeaks {
		peaks[p.Backend] = p.GFLOPS
	}
	for _, r := range rep.Results {
		want := r.Train.GFLOPS / peaks[r.Backend]
		if math.Abs(r.Train.PeakShare-want) > 1e-12*want {
			t.Errorf("%s/%s: train peak share = %g, want gflops ÷ gemm_peaks = %g", r.Backend,
				r.Case, r.Train.PeakShare, want)
		}
	}
	if d := rep.Results[2]; !(d.NormalRatio > 0) {
		t.Errorf("denormal normal_ratio = %g, want positive", d.NormalRatio)
	}
	if rep.Results[0].Train.Steps != 1 || rep.Results[1].Train.Steps != 2 {
		t.Errorf("timed steps = %d (cpuref), %d (cpu); want 1 and 2", rep.Results[0].Train.Steps, rep.Results[1].Train.Steps)
	}
	if !strings.Contains(out.String(), "train tok/s") {
		t.Errorf("no table header in output:\n%s", out.String())
	}
}

// TestRunMemoryAfterLargerShape checks that a small shape run after a large one reports its
// own peak RSS, not the large shape's.
func TestRunMemoryAfterLargerShape(t *testing.T) {
	cfg, err := parseFlags([]string{"--shapes", "384x1x32x64,8x1x2x4", "--steps", "1",
		"--warmup", "0", "--peak-size", "32"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := run(cfg, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2:\n%s", len(rep.Results), out.String())
	}
	large, small := rep.Results[0].Memory, rep.Results[1].Memory
	if !large.HostPeakRSSReset || !small.HostPeakRSSReset {
		t.Skip("this system cannot reset the peak RSS (/proc/self/clear_refs)")
	}
	// The large shape's parameters, Adam moments and activations take about 60 MiB.
	const minGap = 20 << 20
	if small.HostPeakRSSBytes+minGap > large.HostPeakRSSBytes {
		t.Errorf("peak RSS %d MiB after the large shape's %d MiB, want at least %d MiB less",
			small.HostPeakRSSBytes>>20, large.HostPeakRSSBytes>>20, minGap>>20)
	}
	if small.HostStartRSSBytes <= 0 || small.HostStartRSSBytes > small.HostPeakRSSBytes {
		t.Errorf("start RSS %d bytes, want positive and at most the peak %d",
			small.HostStartRSSBytes, small.HostPeakRSSBytes)
	}
}

// writeProgram writes an executable shell script that replaces a compared library in tests.
func writeProgram(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-library")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompareMissingLibrarySkipped(t *testing.T) {
	fake := writeProgram(t, `echo '{"error": "PyTorch is not installed"}'; exit 3`+"\n")
	t.Setenv("RECUR_PYTHON", fake)
	cfg, err := parseFlags([]string{"--compare", "pytorch", "--torch-script", fake}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	libs := prepareComparisons(cfg, &errOut)
	if len(libs) != 0 {
		t.Errorf("prepareComparisons kept %d libraries, want none", len(libs))
	}
	if !strings.Contains(errOut.String(), "PyTorch is not installed") || !strings.Contains(errOut.String(), "RECUR_PYTHON") {
		t.Errorf("message does not explain the missing library: %q", errOut.String())
	}
}

func TestCompareRatio(t *testing.T) {
	fake := writeProgram(t, `echo "some log line"
echo '{"library": "fake", "version": "9", "tokens_per_s": 50, "ms_per_step": 2, "steps": 3}'
`)
	r := externalRunner{library: "fake", command: []string{fake}, timeout: time.Minute}
	c := r.compare(shape{8, 1, 2, 4, 11}, runOptions{Model: "lstm", Steps: 3}, "cpu", "fp32",
		phase{TokensPerS: 100}, phase{TokensPerS: 25})
	if c.Error != "" {
		t.Fatal(c.Error)
	}
	if c.TrainRatio != 2 || c.InferRatio != 0.5 {
		t.Errorf("ratios = %g (train), %g (infer); want 2 and 0.5", c.TrainRatio, c.InferRatio)
	}
	if c.Version != "9" {
		t.Errorf("version = %q, want 9", c.Version)
	}
}

// TestCompareVersionsReported checks that the versions a compared library's program reports
// reach the report.
func TestCompareVersionsReported(t *testing.T) {
	fake := writeProgram(t, `echo '{"library": "pytorch", "version": "1.13", "python": "3.11.2", "blas": "OpenBLAS 0.3.21"}'`+"\n")
	t.Setenv("RECUR_PYTHON", fake)
	cfg, err := parseFlags([]string{"--compare", "pytorch", "--torch-script", fake}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	libs := prepareComparisons(cfg, &bytes.Buffer{})
	got := libs["pytorch"].version
	want := libraryVersion{Version: "1.13", Python: "3.11.2", BLAS: "OpenBLAS 0.3.21"}
	if got != want {
		t.Errorf("version = %+v, want %+v", got, want)
	}
}

func TestModuleVersions(t *testing.T) {
	mods := moduleVersions()
	if _, ok := mods["github.com/recur-ml/recur"]; !ok {
		t.Errorf("module versions %v have no entry for recur itself", mods)
	}
}

func TestCPUTorchEnv(t *testing.T) {
	t.Setenv("OPENBLAS_CORETYPE", "Haswell")
	t.Setenv("OPENBLAS_L2_SIZE", "1")
	t.Setenv("OPENBLAS_NUM_THREADS", "7")
	env := strings.Join(cpuTorchEnv(2), "\n")
	if strings.Contains(env, "OPENBLAS_CORETYPE") || strings.Contains(env, "OPENBLAS_L2_SIZE") {
		t.Errorf("environment keeps an OpenBLAS preset:\n%s", env)
	}
	if !strings.Contains(env, "OPENBLAS_NUM_THREADS=2") || strings.Contains(env, "OPENBLAS_NUM_THREADS=7") {
		t.Errorf("OPENBLAS_NUM_THREADS is not 2 alone")
	}
}
