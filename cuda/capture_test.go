package cuda

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCaptureTracker(t *testing.T) {
	var tr captureTracker
	if err := tr.check("Synchronize"); err != nil {
		t.Errorf("check while idle: %v, want nil", err)
	}
	if err := tr.end(); err == nil {
		t.Error("end without begin succeeded, want an error")
	}
	if err := tr.begin(CaptureMode(9)); err == nil || tr.active {
		t.Errorf("begin(9) = %v, active %v; want an error and no capture", err, tr.active)
	}
	if err := tr.begin(CaptureThreadLocal); err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := tr.begin(CaptureGlobal); err == nil {
		t.Error("nested begin succeeded, want an error")
	}
	err := tr.check("Download")
	if err == nil || !strings.Contains(err.Error(), "Download") ||
		!strings.Contains(err.Error(), "EndCapture") {
		t.Errorf("check while capturing = %v, want an error naming Download and EndCapture", err)
	}
	if err := tr.end(); err != nil {
		t.Errorf("end: %v", err)
	}
	if err := tr.check("Synchronize"); err != nil {
		t.Errorf("check after end: %v, want nil", err)
	}
}

// fakeCapture records the calls of captureGraph and fails the ones named in fail.
type fakeCapture struct {
	calls []string
	fail  map[string]bool
}

func (f *fakeCapture) steps() captureSteps[string, string] {
	step := func(name string) error {
		f.calls = append(f.calls, name)
		if f.fail[name] {
			return errors.New(name + " failed")
		}
		return nil
	}
	return captureSteps[string, string]{
		begin: func(CaptureMode) error { return step("begin") },
		end: func() (string, error) {
			if err := step("end"); err != nil {
				return "", err
			}
			return "graph", nil
		},
		instantiate: func(g string) (string, error) {
			if err := step("instantiate " + g); err != nil {
				return "", err
			}
			return "exec", nil
		},
		destroy: func(g string) error { return step("destroy " + g) },
	}
}

func TestCaptureGraph(t *testing.T) {
	tests := []struct {
		name      string
		fail      []string
		recordErr bool
		wantExec  string
		wantErr   string
		wantCalls []string
	}{
		{name: "success", wantExec: "exec",
			wantCalls: []string{"begin", "record", "end", "instantiate graph", "destroy graph"}},
		{name: "record fails", recordErr: true, wantErr: "record failed",
			wantCalls: []string{"begin", "record", "end", "destroy graph"}},
		{name: "begin fails", fail: []string{"begin"}, wantErr: "begin failed",
			wantCalls: []string{"begin"}},
		{name: "end fails", fail: []string{"end"}, wantErr: "end failed",
			wantCalls: []string{"begin", "record", "end"}},
		{name: "instantiate fails", fail: []string{"instantiate graph"},
			wantErr:   "instantiate graph failed",
			wantCalls: []string{"begin", "record", "end", "instantiate graph", "destroy graph"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCapture{fail: map[string]bool{}}
			for _, name := range tc.fail {
				f.fail[name] = true
			}
			exec, err := captureGraph(f.steps(), CaptureGlobal, func() error {
				f.calls = append(f.calls, "record")
				if tc.recordErr {
					return errors.New("record failed")
				}
				return nil
			})
			if tc.wantErr == "" && err != nil {
				t.Errorf("error %v, want nil", err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if exec != tc.wantExec {
				t.Errorf("exec %q, want %q", exec, tc.wantExec)
			}
			if !slices.Equal(f.calls, tc.wantCalls) {
				t.Errorf("calls %q, want %q", f.calls, tc.wantCalls)
			}
		})
	}
}

func TestCaptureGraphEndsOnPanic(t *testing.T) {
	f := &fakeCapture{}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the record function's panic", r)
			}
		}()
		captureGraph(f.steps(), CaptureGlobal, func() error { panic("boom") })
	}()
	want := []string{"begin", "end", "destroy graph"}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
}
