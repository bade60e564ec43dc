package cuda

import (
	"math"
	"testing"
)

func TestFormatDriverVersion(t *testing.T) {
	tests := map[int]string{12040: "12.4", 11080: "11.8", 13000: "13.0", 12090: "12.9",
		0: "unknown", -1: "unknown"}
	for v, want := range tests {
		if got := FormatDriverVersion(v); got != want {
			t.Errorf("FormatDriverVersion(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestInfoCUBLASVersionString(t *testing.T) {
	info := &Info{CUBLASVersion: [3]int{12, 4, 5}}
	if got := info.CUBLASVersionString(); got != "12.4.5" {
		t.Errorf("CUBLASVersionString() = %q, want 12.4.5", got)
	}
	if got := (&Info{}).CUBLASVersionString(); got != "unknown" {
		t.Errorf("CUBLASVersionString() of an empty Info = %q, want unknown", got)
	}
}

func TestLaunchConfigValidate(t *testing.T) {
	if err := Linear(4, 256).validate(); err != nil {
		t.Errorf("Linear(4, 256).validate() = %v, want nil", err)
	}
	if err := Linear(0, 256).validate(); err == nil {
		t.Error("a grid of 0 blocks passed validation, want an error")
	}
	if err := (LaunchConfig{Grid: Dim3{1, 1, 1}, Block: Dim3{32, 0, 1}}).validate(); err == nil {
		t.Error("a block of Y = 0 passed validation, want an error")
	}
}

func TestCheckGemm(t *testing.T) {
	if err := checkGemm("cublasSgemm_v2", 0, 1, math.MaxInt32); err != nil {
		t.Errorf("checkGemm(0, 1, MaxInt32) = %v, want nil", err)
	}
	if err := checkGemm("cublasSgemm_v2", 3, math.MaxInt32+1); err == nil {
		t.Error("checkGemm accepted 2^31, want an error")
	}
	if err := checkGemm("cublasSgemm_v2", -1); err == nil {
		t.Error("checkGemm accepted -1, want an error")
	}
}
