package kernels

import (
	"bytes"
	"encoding/binary"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// fatbinMagic starts every CUDA fat binary, stored little-endian.
const fatbinMagic = 0xBA55ED50

func TestKernelNamesMatchSource(t *testing.T) {
	src, err := os.ReadFile("recur_kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, m := range regexp.MustCompile(`extern "C" __global__ void (\w+)\(`).FindAllSubmatch(src, -1) {
		defined = append(defined, string(m[1]))
	}
	if !slices.Equal(defined, KernelNames) {
		t.Errorf("recur_kernels.cu defines the kernels\n%q\nbut KernelNames is\n%q", defined, KernelNames)
	}
}

func TestFatbinContainsKernels(t *testing.T) {
	if len(Fatbin) < 4 {
		t.Fatalf("Fatbin has %d bytes; run make kernels", len(Fatbin))
	}
	if magic := binary.LittleEndian.Uint32(Fatbin); magic != fatbinMagic {
		t.Fatalf("Fatbin starts with %#x, expected the fatbin magic %#x", magic, fatbinMagic)
	}
	// nvcc stores the cubins uncompressed, so each kernel's code section .text.NAME is named in
	// plain bytes.
	for _, name := range KernelNames {
		if !bytes.Contains(Fatbin, []byte(".text."+name+"\x00")) {
			t.Errorf("Fatbin has no code section for kernel %q; run make kernels", name)
		}
	}
}

func TestLaunchConstantsMatchHeader(t *testing.T) {
	for macro, want := range map[string]int{
		"RECUR_REDUCE_THREADS": BlockThreads,
		"RECUR_NORM_PARTIALS":  NormPartials,
	} {
		m := regexp.MustCompile(`(?m)^#define ` + macro + ` (\d+)$`).FindStringSubmatch(MathHeader)
		if m == nil {
			t.Errorf("recur_math.cuh does not #define %s", macro)
			continue
		}
		if got, _ := strconv.Atoi(m[1]); got != want {
			t.Errorf("recur_math.cuh defines %s as %d, but the Go constant is %d", macro, got, want)
		}
	}
}
