package runbooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Step limits.
const (
	// DefaultHTTPTimeout bounds an HTTP step without its own timeout.
	DefaultHTTPTimeout = 30 * time.Second
	// MaxHTTPBodyBytes is how much of an HTTP response body goes to the output.
	MaxHTTPBodyBytes = 64 << 10
	// pipeDrainWait is how long tebura waits for the output pipe to close
	// after a step's process group is gone (a process that escaped the group
	// with setsid can keep it open).
	pipeDrainWait = 2 * time.Second
	// readerWait is how long the output reader, told to stop after
	// pipeDrainWait, gets to stop before it is left behind.
	readerWait = 3 * time.Second
	// wakeEvery is how often a reader told to stop is woken again.
	wakeEvery = 100 * time.Millisecond
	// reapWait bounds the wait for a step's main process after SIGKILL.
	reapWait = 2 * time.Second
	// maxHoldersNamed is how many processes holding the output pipe open
	// after the step are named in its output.
	maxHoldersNamed = 5
)

// stepWaits are the bounds drainOutput and stopProcess wait for: the
// constants above, kept per Executor so that tests of this package can
// shorten them instead of waiting seconds for each escaped process.
type stepWaits struct {
	pipeDrain, reader, wake, reap time.Duration
}

var defaultStepWaits = stepWaits{pipeDrain: pipeDrainWait, reader: readerWait, wake: wakeEvery, reap: reapWait}

// pipeFunc makes a step's output pipe: its read end, its write end for the
// process, and wake, which interrupts a read blocked on the read end.
type pipeFunc func() (r, w *os.File, wake func() error, err error)

// stepResult is how one step ended.
type stepResult struct {
	code     int
	err      error // could not start, request failed…
	timedOut bool
	timeout  time.Duration
	status   string // HTTP status line
	answered string // a manual step answered Failed: who said so
}

// describe says in words why the step failed.
func (r stepResult) describe(s RenderedStep) string {
	switch {
	case r.timedOut:
		return fmt.Sprintf("step %s timed out after %s", s.Name, shortDuration(r.timeout))
	case r.answered != "":
		return r.answered
	case r.err != nil:
		return fmt.Sprintf("step %s failed: %v", s.Name, r.err)
	case r.status != "":
		return fmt.Sprintf("step %s got HTTP %s", s.Name, r.status)
	default:
		return fmt.Sprintf("step %s exited with code %d", s.Name, r.code)
	}
}

func (e *Executor) runStep(ctx context.Context, s RenderedStep, out *output) stepResult {
	return e.runStepWith(ctx, s, out, outputPipe)
}

// runStepWith is runStep with the output pipe made by pipe.
func (e *Executor) runStepWith(ctx context.Context, s RenderedStep, out *output, pipe pipeFunc) stepResult {
	timeout := s.Timeout
	if s.Kind == StepHTTP && timeout == 0 {
		timeout = DefaultHTTPTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errStepTimeout)
		defer cancel()
	}
	var r stepResult
	switch s.Kind {
	case StepHTTP:
		r = e.runHTTP(ctx, s, out)
	case StepSSH:
		r = e.runSSH(ctx, out.h, s, out)
	case StepManual:
		out.h.mu.Lock()
		n := out.h.stepNo
		out.h.mu.Unlock()
		r = e.runManual(ctx, out.h, n, s, out)
	case StepAnsible:
		r = e.runAnsible(ctx, out.h, s, out)
	case StepKubernetes:
		r = e.runKubernetes(ctx, s, out)
	default:
		r = e.runProcess(ctx, s, out, pipe)
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), errStepTimeout) {
		r.timedOut, r.timeout = true, timeout
		if r.code == 0 {
			r.code = -1
		}
	}
	return r
}

// runProcess runs argv (or the script through its interpreter) in a new
// process group with stdin on /dev/null and stdout+stderr on one pipe made
// by pipe. When ctx ends the step is stopped (see stopProcess); when the
// main process ends, whatever it left behind in its group is killed, and
// the output is drained (see drainOutput).
func (e *Executor) runProcess(ctx context.Context, s RenderedStep, out *output, pipe pipeFunc) stepResult {
	argv := s.Argv
	if s.Kind == StepScript {
		path, err := e.writeScript(s.Script)
		if err != nil {
			return stepResult{code: -1, err: fmt.Errorf("the script could not be written: %w", err)}
		}
		defer os.Remove(path)
		argv = append(append([]string(nil), s.Interpreter...), path)
	}
	if len(argv) == 0 {
		return stepResult{code: -1, err: errors.New("nothing to run")}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = stepEnv(s.Env)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, wake, err := pipe()
	if err != nil {
		return stepResult{code: -1, err: err}
	}
	cmd.Stdout, cmd.Stderr = pw, pw // stdin stays nil: /dev/null
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return stepResult{code: 127, err: err}
	}
	pw.Close()
	pgid := cmd.Process.Pid

	copied := make(chan struct{})
	var stop atomic.Bool
	go func() {
		defer close(copied)
		readOutput(pr, out, &stop)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var werr error
	reaped := true
	select {
	case werr = <-waited:
	case <-ctx.Done():
		werr, reaped = e.stopProcess(cmd, waited, out)
	}
	// Leftovers of the group (background jobs) die with the step.
	syscall.Kill(-pgid, syscall.SIGKILL)
	e.drainOutput(pr, copied, &stop, wake, out, pgid)
	pr.Close()
	out.endLine()
	if !reaped {
		// cmd.Wait may still set cmd.ProcessState: do not read it.
		return stepResult{code: -1, err: errNotReaped}
	}
	return stepResult{code: exitCode(cmd, werr)}
}

// errNotReaped says the main process outlived SIGKILL by reapWait.
var errNotReaped = errors.New("the process did not end after SIGKILL")

// stopProcess stops a step whose ctx is done and returns cmd.Wait's error.
// SIGTERM goes to the step's process group and, when the main process has
// left the group (setpgid), to the main process by its pid too: a group
// signal would miss it. SIGKILL follows after KillGrace, to the group and
// the main process. The main process is then waited for at most reapWait
// more; reaped is false when that bound passed (a process stuck in the
// kernel), so that the run still ends, its lock is released and its slot
// freed.
func (e *Executor) stopProcess(cmd *exec.Cmd, waited <-chan error, out *output) (werr error, reaped bool) {
	select {
	case werr = <-waited: // it ended as ctx did
		return werr, true
	default:
	}
	pid, runID := cmd.Process.Pid, out.h.RunID()
	if pg, err := syscall.Getpgid(pid); err == nil && pg != pid {
		e.log.Warn("step process left its process group; stopping it by pid", "run_id", runID, "pid", pid, "pgid", pg)
		out.note("process %d left the step's process group; it is stopped by its pid", pid)
	}
	// cmd.Process.Signal goes through a pidfd where there is one, so it
	// never reaches a reused pid; after cmd.Wait it does nothing.
	syscall.Kill(-pid, syscall.SIGTERM)
	if pg, err := syscall.Getpgid(pid); err != nil || pg != pid {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	grace := time.NewTimer(e.cfg.KillGrace)
	defer grace.Stop()
	select {
	case werr = <-waited:
		return werr, true
	case <-grace.C:
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	cmd.Process.Signal(syscall.SIGKILL)
	bound := time.NewTimer(e.waits.reap)
	defer bound.Stop()
	select {
	case werr = <-waited:
		return werr, true
	case <-bound.C:
	}
	e.log.Error("step process still not ended after SIGKILL; the run ends without waiting for it",
		"run_id", runID, "pid", pid, "waited", e.waits.reap)
	out.note("process %d did not end %s after SIGKILL; tebura stopped waiting for it", pid, shortDuration(e.waits.reap))
	return nil, false
}

// drainOutput waits for the reader to copy the pipe to its end. A process
// that escaped the step's group (setsid) can hold the pipe open: after
// pipeDrainWait the reader is told to stop and woken, again every
// wakeEvery (a wake can fail, e.g. with no file descriptor left), and
// after readerWait more it is left behind so that the step still ends.
// Blocked in read(2), it returns once the holder closes the pipe, and
// writes nothing more. pid is the step's main process.
func (e *Executor) drainOutput(pr *os.File, copied <-chan struct{}, stop *atomic.Bool, wake func() error, out *output, pid int) {
	drain := time.NewTimer(e.waits.pipeDrain)
	defer drain.Stop()
	select {
	case <-copied:
		return
	case <-drain.C:
	}
	stop.Store(true)
	runID := out.h.RunID()
	holders := pipeHolders(pr, pid, maxHoldersNamed) // before a wake that may close pr
	every := time.NewTicker(e.waits.wake)
	defer every.Stop()
	giveUp := time.NewTimer(e.waits.reader)
	defer giveUp.Stop()
	stopped, warned := false, false
waking:
	for {
		if err := wake(); err != nil && !warned {
			warned = true
			e.log.Warn("step output reader not woken; retrying", "run_id", runID, "err", err)
		}
		select {
		case <-copied:
			stopped = true
			break waking
		case <-giveUp.C:
			break waking
		case <-every.C:
		}
	}
	if !stopped {
		e.log.Error("step output reader did not stop; leaving it behind", "run_id", runID, "waited", e.waits.reader)
	}
	if len(holders) == 0 {
		e.log.Warn("a process that left the step's process group holds its output open and was not killed", "run_id", runID)
		out.note("a process that left the step's process group holds its output open and was not killed")
	}
	for _, p := range holders {
		e.log.Warn("process left the step's process group and was not killed", "run_id", runID, "pid", p)
		out.note("process %d left the step's process group and was not killed", p)
	}
}

// readOutput copies the pipe to out until EOF, each read taking whatever
// the pipe holds (up to 256 KiB). It never rests between reads: a pause to
// let output pile up into bigger reads (tried: 1 ms after a short read)
// let a fast child fill even a 1 MiB pipe and wait, and cost a 100 MiB
// flood 25% more wall time; output.Write handles small writes cheaply.
// Once stop is set it returns after the read in progress, dropping its data.
func readOutput(pr *os.File, out *output, stop *atomic.Bool) {
	buf := make([]byte, 256<<10)
	for {
		n, err := pr.Read(buf)
		if stop.Load() {
			return
		}
		if n > 0 {
			out.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func exitCode(cmd *exec.Cmd, err error) int {
	ps := cmd.ProcessState
	if ps == nil {
		if err != nil {
			return -1
		}
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// stepEnv is the few inherited variables plus the step's own. Nothing else
// of tebura's environment is passed on: it holds chat tokens, and a step
// must not see them.
func stepEnv(own []string) []string {
	inheritedEnv := [...]string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}
	env := make([]string, 0, len(inheritedEnv)+len(own))
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "PATH" {
			env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
		}
	}
	return append(env, own...)
}

// writeScript stores a script body in a private file for its interpreter.
func (e *Executor) writeScript(body string) (string, error) {
	dir := os.TempDir()
	if e.cfg.DataDir != "" {
		dir = filepath.Join(e.cfg.DataDir, "tmp")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
	}
	f, err := os.CreateTemp(dir, "script-*")
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// runHTTP sends the request and writes the status line and the body (up to
// MaxHTTPBodyBytes) to the output. The status must be one of Expect, or
// 2xx when Expect is empty.
func (e *Executor) runHTTP(ctx context.Context, s RenderedStep, out *output) stepResult {
	h := s.HTTP
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, body)
	if err != nil {
		return stepResult{code: 1, err: err}
	}
	for _, k := range sortedKeys(h.Headers) {
		req.Header.Set(k, h.Headers[k])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return stepResult{code: 1, err: err}
	}
	defer resp.Body.Close()
	fmt.Fprintf(out, "%s %s\n", resp.Proto, resp.Status)
	n, _ := io.Copy(out, io.LimitReader(resp.Body, MaxHTTPBodyBytes))
	out.endLine()
	if n == MaxHTTPBodyBytes {
		if extra, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1)); extra > 0 {
			out.note("response body cut at %d bytes", MaxHTTPBodyBytes)
		}
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(h.Expect) > 0 {
		ok = false
		for _, c := range h.Expect {
			if c == resp.StatusCode {
				ok = true
			}
		}
	}
	if !ok {
		return stepResult{code: 1, status: resp.Status}
	}
	return stepResult{}
}
