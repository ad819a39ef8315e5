package runbooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// helperEnv tells the test binary, started as a step, to act as the
// helper process of TestHelperLeaveGroup.
const helperEnv = "TEBURA_TEST_HELPER"

// TestHelperLeaveGroup is not a test: started as a step with helperEnv set,
// it ignores SIGTERM, moves itself out of the step's process group into
// its parent's (tebura's), prints "pid=N pgid=M" and sleeps.
func TestHelperLeaveGroup(t *testing.T) {
	if os.Getenv(helperEnv) != "leave-group" {
		return
	}
	signal.Ignore(syscall.SIGTERM)
	pgid, err := syscall.Getpgid(os.Getppid())
	if err == nil {
		err = syscall.Setpgid(0, pgid)
	}
	if err != nil {
		fmt.Println("helper:", err)
		os.Exit(2)
	}
	fmt.Printf("pid=%d pgid=%d\n", os.Getpid(), syscall.Getpgrp())
	time.Sleep(time.Minute)
	os.Exit(0)
}

// pidIn reads "pid=N" from a snapshot's tail; 0 if there is none.
func pidIn(s Snapshot) int {
	for _, l := range s.Tail {
		var pid, pgid int
		if _, err := fmt.Sscanf(l, "pid=%d pgid=%d", &pid, &pgid); err == nil {
			return pid
		}
	}
	return 0
}

// TestMainProcessLeavesGroup: a step whose main process moves itself into
// another process group (and ignores SIGTERM) is out of reach of the group
// signals; timeout and cancel must still kill it by its pid, and the run
// must end within KillGrace and a small bound.
func TestMainProcessLeavesGroup(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const slack = 3 * time.Second // process start-up and reaping under -race
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		cancel  bool
		want    State
	}{
		{name: "timeout", timeout: 2 * time.Second, want: StateTimedOut},
		{name: "cancel", timeout: time.Minute, cancel: true, want: StateCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, ExecutorConfig{})
			rb := h.load(fmt.Sprintf(`name: leave
kind: diagnostic
timeout: %s
steps:
  - run: [%q, "-test.run=^TestHelperLeaveGroup$"]
    env: {%s: leave-group}
`, tc.timeout, self, helperEnv))
			start := time.Now()
			handle, run, err := h.start(rb, "console:alice")
			if err != nil {
				t.Fatal(err)
			}
			var pid int
			t.Cleanup(func() { // runs before the harness's: today's code waits for the helper
				if pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			pid = pidIn(waitFor(t, handle, "the helper's pid", func(s Snapshot) bool { return pidIn(s) > 0 }))
			deadline := start.Add(tc.timeout + h.exec.cfg.KillGrace + slack)
			if tc.cancel {
				if err := h.exec.Cancel(context.Background(), run.ID, "console:bob"); err != nil {
					t.Fatal(err)
				}
				deadline = time.Now().Add(h.exec.cfg.KillGrace + slack)
			}
			select {
			case <-handle.Done():
			case <-time.After(time.Until(deadline)):
				t.Fatalf("run still %s after %s; tail=%q", handle.Snapshot().State, time.Since(start), handle.Snapshot().Tail)
			}
			snap := handle.Snapshot()
			t.Logf("ended %s after %s", snap.State, time.Since(start))
			if snap.State != tc.want {
				t.Errorf("state = %s, want %s (reason %q)", snap.State, tc.want, snap.Reason)
			}
			if procAlive(pid) {
				t.Errorf("process %d that left the group is alive", pid)
			}
			want := fmt.Sprintf("process %d left the step's process group", pid)
			if log := h.logOf(run.ID); !strings.Contains(log, want) {
				t.Errorf("log has no %q:\n%s", want, log)
			}
		})
	}
}

// flakyWake makes real output pipes whose wake fails its first fails
// calls, as it does when no file descriptor is left.
type flakyWake struct {
	fails int32
	calls atomic.Int32
}

func (f *flakyWake) pipe() (r, w *os.File, wake func() error, err error) {
	r, w, real, err := outputPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	return r, w, func() error {
		if f.calls.Add(1) <= f.fails {
			return errors.New("simulated: too many open files")
		}
		return real()
	}, nil
}

// TestStepEndsWhenWakeFails: a process that escaped the group (setsid)
// holds the output pipe, and waking the reader fails. The wake is retried;
// when it never works the reader is left behind after the reader wait, and the
// step ends all the same, saying which process was left running.
func TestStepEndsWhenWakeFails(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	const slack = 3 * time.Second
	for _, tc := range []struct {
		name      string
		fails     int32
		hold      bool // the main process stays until the step times out
		wantCalls int32
	}{
		{name: "never wakes", fails: 1 << 30},
		{name: "never wakes, step times out", fails: 1 << 30, hold: true},
		{name: "wakes on the fourth try", fails: 3, wantCalls: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, ExecutorConfig{})
			h.exec.waits = shortWaits
			flag := filepath.Join(t.TempDir(), "escaped")
			hold := ""
			if tc.hold {
				hold = "sleep 30"
			}
			step := RenderedStep{Name: "escape", Kind: StepScript, Interpreter: []string{"/bin/sh"},
				Script: fmt.Sprintf(`setsid sh -c 'echo $$ > %[1]s; exec sleep 30' &
while [ ! -s %[1]s ]; do sleep 0.01; done
echo started
%[2]s
`, flag, hold)}
			if tc.hold {
				step.Timeout = time.Second
			}
			t.Cleanup(func() { // the escaped process; the left-behind reader then ends
				b, _ := os.ReadFile(flag)
				var pid int
				if fmt.Sscan(string(b), &pid); pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			handle := newHandle(h.exec, "run-wake", nil, 20)
			out := newOutput(handle, nil, nil, 0, nil)
			wake := &flakyWake{fails: tc.fails}
			start := time.Now()
			ended := make(chan stepResult, 1)
			go func() { ended <- h.exec.runStepWith(context.Background(), step, out, wake.pipe) }()
			var res stepResult
			select {
			case res = <-ended:
			case <-time.After(step.Timeout + h.exec.cfg.KillGrace + shortWaits.pipeDrain + shortWaits.reader + slack):
				t.Fatalf("step still running after %s; tail=%q", time.Since(start), handle.Snapshot().Tail)
			}
			t.Logf("step ended after %s, %d wakes: %+v", time.Since(start), wake.calls.Load(), res)
			if res.timedOut != tc.hold || (!tc.hold && res.code != 0) {
				t.Errorf("result = %+v", res)
			}
			if tc.wantCalls > 0 && wake.calls.Load() != tc.wantCalls {
				t.Errorf("wake called %d times, want %d", wake.calls.Load(), tc.wantCalls)
			}
			b, err := os.ReadFile(flag)
			if err != nil {
				t.Fatal(err)
			}
			tail := strings.Join(handle.Snapshot().Tail, "\n")
			want := fmt.Sprintf("process %s left the step's process group and was not killed", strings.TrimSpace(string(b)))
			if !strings.Contains(tail, "started") || !strings.Contains(tail, want) {
				t.Errorf("tail has no %q or %q:\n%s", "started", want, tail)
			}
		})
	}
}
