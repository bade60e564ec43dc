package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"unicode/utf8"
)

// report is the document that --json writes. jsonKeysHelp documents every key.
type report struct {
	Schema    string      `json:"schema"`
	Date      string      `json:"date"`
	Machine   machineInfo `json:"machine"`
	GPU       *gpuInfo    `json:"gpu"`
	Versions  versions    `json:"versions"`
	Settings  settings    `json:"settings"`
	GemmPeaks []gemmPeak  `json:"gemm_peaks"`
	Results   []result    `json:"results"`
}

const reportSchema = "recur-bench/1"

// gpuInfo describes the GPU of the CUDA backend.
type gpuInfo struct {
	Name              string `json:"name"`
	ComputeCapability string `json:"compute_capability"`
	Multiprocessors   int    `json:"multiprocessors"`
	MemoryBytes       int64  `json:"memory_bytes"`
	DriverCUDAVersion string `json:"driver_cuda_version"`
	CUBLASVersion     string `json:"cublas_version"`
}

type versions struct {
	Go       string                    `json:"go"`
	Modules  map[string]string         `json:"modules"`
	Backends map[string]string         `json:"backends"`
	Compare  map[string]libraryVersion `json:"compare"`
}

// libraryVersion is the version line of a --compare library's program.
type libraryVersion struct {
	Version string `json:"version"`
	Python  string `json:"python,omitempty"`
	BLAS    string `json:"blas,omitempty"`
}

// moduleVersions returns the version of every Go module built into bench, from
// debug.ReadBuildInfo, keyed by module path. The main module's entry also gives the VCS
// revision and "+dirty" for uncommitted changes where the build recorded them.
func moduleVersions() map[string]string {
	mods := map[string]string{}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return mods
	}
	main := info.Main.Version
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		main += " " + rev
		if settings["vcs.modified"] == "true" {
			main += "+dirty"
		}
	}
	mods[info.Main.Path] = main
	for _, d := range info.Deps {
		v := d.Version
		if d.Replace != nil {
			v += " => " + d.Replace.Path + " " + d.Replace.Version
		}
		mods[d.Path] = v
	}
	return mods
}

type settings struct {
	Model        string `json:"model"`
	Precision    string `json:"precision"`
	Steps        int    `json:"steps"`
	Warmup       int    `json:"warmup"`
	CPURefSteps  int    `json:"cpuref_steps"`
	CPURefWarmup int    `json:"cpuref_warmup"`
	Threads      int    `json:"threads"`
	GEMM         string `json:"gemm"`
	Seed         uint64 `json:"seed"`
	Denormal     bool   `json:"denormal"`
	Compare      string `json:"compare"`
}

// result is one backend's run of one shape in one case.
type result struct {
	Backend     string       `json:"backend"`
	Model       string       `json:"model"`
	Precision   string       `json:"precision"`
	Case        string       `json:"case"`
	Shape       shape        `json:"shape"`
	Train       phase        `json:"train"`
	Infer       phase        `json:"infer"`
	Memory      memoryUse    `json:"memory"`
	NormalRatio float64      `json:"normal_ratio,omitempty"`
	Comparisons []comparison `json:"comparisons,omitempty"`
}

// jsonKeysHelp documents the keys of --json's output; a test checks that it names every key.
const jsonKeysHelp = `JSON keys (--json FILE):
  schema               format name and version, "recur-bench/1"
  date                 start of the run, RFC 3339 in UTC
  machine              the host: cpu_model ("model name" in /proc/cpuinfo), cores (logical
                       CPUs this process may use), gomaxprocs, os, arch, memory_bytes (MemTotal)
  gpu                  null without a CUDA backend, else name, compute_capability,
                       multiprocessors, memory_bytes, driver_cuda_version (the newest CUDA the
                       driver supports) and cublas_version
  versions             go (the Go release that built bench); modules (module path: version of
                       every Go module built into bench, from debug.ReadBuildInfo, recur's own
                       with its VCS revision); backends: each backend's Name, which contains
                       the OpenBLAS configuration string (or "gonum BLAS") for cpu, and the
                       GPU, driver, cuBLAS and precision for cuda; compare: per --compare
                       library, the version, python and blas that its program reported (for
                       pytorch: torch's version, the Python release, and the BLAS library
                       loaded in the process with OpenBLAS's configuration string)
  settings             the flags of the run: model, precision, steps, warmup, cpuref_steps,
                       cpuref_warmup, threads, gemm, seed, denormal, compare
  gemm_peaks           per backend: backend, precision, n and gflops, the highest GFLOP/s of
                       n×n×n and 64×n×n matrix products (SGEMM; cpuref's float64 loop on
                       n×n×n for cpuref) over the measurements at the start and after every
                       shape
  results              one entry per backend, shape and case:
    backend            cpuref, cpu or cuda[:N]
    model              lstm, gru or rnn
    precision          fp64 (cpuref), fp32 (cpu) or the CUDA precision
    case               normal, or denormal (weights and activations below 2^-126)
    shape              hidden, layers, batch, seq, vocab
    train, infer       steps, seconds (timed, after warm-up), tokens_per_s (batch·seq·steps /
                       seconds), ms_per_step, flops_per_step (matrix products only, see FLOPs
                       above), gflops, peak_share (gflops ÷ the backend's gemm_peaks entry),
                       loss (train only: the last step's mean loss in nats)
    memory             host_start_rss_bytes (VmRSS once the earlier runs' memory went back
                       to the OS), host_peak_rss_bytes (VmHWM of /proc/self/status over the
                       run, baseline included; subtract host_start_rss_bytes for the run's
                       own peak), host_peak_rss_reset (false when the peak could not be
                       reset, so it covers the whole process), go_heap_inuse_bytes and go_sys_bytes
                       (runtime.MemStats at the end of the run), device_peak_bytes (device
                       memory the CUDA backend took from the driver; 0 on the host)
    normal_ratio       denormal case only: train tokens/s ÷ the normal case's train tokens/s
    comparisons        per --compare library: library, version, device, train and infer
                       (the library's own result line: library, version, python, blas,
                       device, precision, mode, threads, steps, seconds, tokens_per_s,
                       ms_per_step, loss, error),
                       train_ratio and infer_ratio (recur tokens/s ÷ the library's), error`

// table prints rows as they come, right-aligned in fixed columns as wide as each header
// (at least 5), so that a long run shows each result as soon as it is measured.
type table struct {
	out     io.Writer
	headers []string
}

func newTable(out io.Writer, compare []string) *table {
	headers := []string{"backend", "model", "H", "L", "B", "T", "V", "case", "train tok/s", "ms/step",
		"infer tok/s", "GFLOP/s", "% peak", "host MiB", "device MiB", "÷normal"}
	for _, lib := range compare {
		headers = append(headers, lib+" train", lib+" infer", "recur÷"+lib+" train", "infer")
	}
	return &table{out: out, headers: headers}
}

func (t *table) printRow(cells []string) {
	var b strings.Builder
	for i, c := range cells {
		width := max(utf8.RuneCountInString(t.headers[i]), 5)
		if t.headers[i] == "case" {
			width = len("denormal")
		}
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(strings.Repeat(" ", max(width-utf8.RuneCountInString(c), 0)))
		b.WriteString(c)
	}
	fmt.Fprintln(t.out, b.String())
}

func (t *table) printHeader() { t.printRow(t.headers) }

func (t *table) printResult(r result, compare []string) {
	ratio := "-"
	if r.NormalRatio > 0 {
		ratio = fmt.Sprintf("%.2f", r.NormalRatio)
	}
	device := "-"
	if r.Memory.DevicePeakBytes > 0 {
		device = fmt.Sprintf("%.0f", float64(r.Memory.DevicePeakBytes)/(1<<20))
	}
	sh := r.Shape
	cells := []string{r.Backend, r.Model, strconv.Itoa(sh.Hidden), strconv.Itoa(sh.Layers),
		strconv.Itoa(sh.Batch), strconv.Itoa(sh.Seq), strconv.Itoa(sh.Vocab), r.Case,
		fmt.Sprintf("%.0f", r.Train.TokensPerS), fmt.Sprintf("%.1f", r.Train.MsPerStep),
		fmt.Sprintf("%.0f", r.Infer.TokensPerS), fmt.Sprintf("%.1f", r.Train.GFLOPS),
		fmt.Sprintf("%.1f", 100*r.Train.PeakShare),
		fmt.Sprintf("%.0f", float64(r.Memory.HostPeakRSSBytes)/(1<<20)), device, ratio}
	for _, lib := range compare {
		var c *comparison
		for i := range r.Comparisons {
			if r.Comparisons[i].Library == lib {
				c = &r.Comparisons[i]
			}
		}
		libCells := []string{"-", "-", "-", "-"}
		if c != nil && c.Train != nil {
			libCells[0], libCells[2] = fmt.Sprintf("%.0f", c.Train.TokensPerS), fmt.Sprintf("%.2f", c.TrainRatio)
		}
		if c != nil && c.Infer != nil {
			libCells[1], libCells[3] = fmt.Sprintf("%.0f", c.Infer.TokensPerS), fmt.Sprintf("%.2f", c.InferRatio)
		}
		cells = append(cells, libCells...)
	}
	t.printRow(cells)
}

// printErrors lists the comparisons that failed, below the table.
func printErrors(out io.Writer, results []result) {
	for _, r := range results {
		for _, c := range r.Comparisons {
			if c.Error != "" {
				fmt.Fprintf(out, "%s on %s %s: %s\n", c.Library, r.Backend, r.Shape, c.Error)
			}
		}
	}
}
