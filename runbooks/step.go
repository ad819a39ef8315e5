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
)

// stepResult is how one step ended.
type stepResult struct {
	code     int
	err      error // could not start, request failed…
	timedOut bool
	timeout  time.Duration
	status   string // HTTP status line
}

// describe says in words why the step failed.
func (r stepResult) describe(s RenderedStep) string {
	switch {
	case r.timedOut:
		return fmt.Sprintf("step %s timed out after %s", s.Name, shortDuration(r.timeout))
	case r.err != nil:
		return fmt.Sprintf("step %s failed: %v", s.Name, r.err)
	case r.status != "":
		return fmt.Sprintf("step %s got HTTP %s", s.Name, r.status)
	default:
		return fmt.Sprintf("step %s exited with code %d", s.Name, r.code)
	}
}

func (e *Executor) runStep(ctx context.Context, s RenderedStep, out *output) stepResult {
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
	if s.Kind == StepHTTP {
		r = e.runHTTP(ctx, s, out)
	} else {
		r = e.runProcess(ctx, s, out)
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
// process group with stdin on /dev/null and stdout+stderr on one pipe.
// When ctx ends the group gets SIGTERM, then SIGKILL after KillGrace; when
// the main process ends, whatever it left behind in its group is killed.
func (e *Executor) runProcess(ctx context.Context, s RenderedStep, out *output) stepResult {
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
	pr, pw, wake, err := outputPipe()
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
	select {
	case werr = <-waited:
	case <-ctx.Done():
		syscall.Kill(-pgid, syscall.SIGTERM)
		grace := time.NewTimer(e.cfg.KillGrace)
		select {
		case werr = <-waited:
		case <-grace.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
			werr = <-waited
		}
		grace.Stop()
	}
	// Leftovers of the group (background jobs) die with the step.
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(pipeDrainWait):
		stop.Store(true) // someone escaped the group and holds the pipe
		wake()
		<-copied
	}
	pr.Close()
	out.endLine()
	return stepResult{code: exitCode(cmd, werr)}
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
