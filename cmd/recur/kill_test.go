package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recur-ml/recur/lstm"
)

// runMainEnv makes the test binary act as the recur command, so a test can start recur as a
// child process and kill it.
const runMainEnv = "RECUR_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestKillLeavesCompleteCheckpoint kills training with SIGKILL at random moments, with a
// checkpoint written after every step, and checks that the directory always loads and that
// training resumes from it.
func TestKillLeavesCompleteCheckpoint(t *testing.T) {
	dir := t.TempDir()
	data := writeText(t, dir, "in.txt", strings.Repeat("the quick brown fox\n", 200))
	ck := filepath.Join(dir, "ck")
	rng := rand.New(rand.NewPCG(7, 11))
	lastStep := -1
	const kills = 8
	for i := 0; i < kills; i++ {
		args := []string{"train", "--steps", "1000000", "--eval-every", "1", "--log-every", "1000"}
		if lastStep < 0 {
			args = append(args, append([]string{"--data", data, "--out", ck}, smallModel...)...)
		} else {
			args = append(args, "--resume", ck)
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		// A child that exited on its own, such as a resume that failed at once, would leave
		// the checkpoint untouched and prove nothing about a kill.
		err := cmd.Wait()
		if !killedBy(err, syscall.SIGKILL) {
			t.Fatalf("kill %d: the child was not killed by SIGKILL but ended with %v; its output:\n%s", i, err, output.String())
		}

		loaded, err := lstm.LoadCheckpoint(ck)
		if err != nil {
			if lastStep < 0 && errors.Is(err, os.ErrNotExist) {
				continue // killed before the first checkpoint
			}
			t.Fatalf("kill %d: the checkpoint does not load: %v", i, err)
		}
		if loaded.State == nil {
			t.Fatalf("kill %d: the checkpoint has no training state", i)
		}
		step, err := strconv.Atoi(loaded.State.Metadata["step"])
		if err != nil {
			t.Fatalf("kill %d: invalid step in the checkpoint: %v", i, err)
		}
		if step < lastStep {
			t.Fatalf("kill %d: the checkpoint went back from step %d to %d", i, lastStep, step)
		}
		t.Logf("kill %d: checkpoint at step %d", i, step)
		lastStep = step
	}
	if lastStep < 0 {
		t.Fatal("no checkpoint was ever written")
	}
}

// killedBy reports whether err, from exec.Cmd.Wait, reports a process ended by sig.
func killedBy(err error, sig syscall.Signal) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	return ok && status.Signaled() && status.Signal() == sig
}
