package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machineInfo describes the host that ran the benchmark.
type machineInfo struct {
	CPUModel    string `json:"cpu_model"`    // "model name" from /proc/cpuinfo
	Cores       int    `json:"cores"`        // runtime.NumCPU: the logical CPUs this process may use
	GOMAXPROCS  int    `json:"gomaxprocs"`   // Go's scheduler threads
	OS          string `json:"os"`           // runtime.GOOS
	Arch        string `json:"arch"`         // runtime.GOARCH
	MemoryBytes int64  `json:"memory_bytes"` // MemTotal from /proc/meminfo, 0 when unknown
}

func readMachineInfo() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if m.CPUModel == "" {
		m.CPUModel = "unknown"
	}
	if kb, ok := kibField("/proc/meminfo", "MemTotal"); ok {
		m.MemoryBytes = kb << 10
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file, or "".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// kibField reads a "Key:   123 kB" line of a /proc file and returns the number in KiB.
func kibField(path, key string) (int64, bool) {
	v := strings.TrimSuffix(procField(path, key), " kB")
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil
}

// resetPeakRSS resets the process's peak resident set size (VmHWM) to its current size, as
// Linux 4.0 and later allow by writing 5 to /proc/self/clear_refs. It returns false where
// that fails, and then VmHWM keeps the peak since the process started.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// currentRSS returns VmRSS from /proc/self/status in bytes, or 0 where it cannot be read.
func currentRSS() int64 {
	kb, ok := kibField("/proc/self/status", "VmRSS")
	if !ok {
		return 0
	}
	return kb << 10
}

// peakRSS returns VmHWM from /proc/self/status in bytes, or 0 where it cannot be read.
func peakRSS() int64 {
	kb, ok := kibField("/proc/self/status", "VmHWM")
	if !ok {
		return 0
	}
	return kb << 10
}
