package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/creack/pty"
)

// consoleConfig is `tebura console` with one runbook whose step echoes one
// line: the reply to a command is then the run's final frame.
const consoleConfig = `data_dir: data
console: {user: bench}
runbooks:
  dirs: []
  inline:
    - name: echo
      description: Echo one line
      kind: diagnostic
      allow: [bench]
      params:
        - {name: n, type: int, required: true}
      steps:
        - {name: say, run: [echo, "pong-{{ .Params.n }}"]}
access:
  roles:
    bench: {members: ["console:bench"]}
`

// consoleReply drives `tebura console` (the binary) through a
// pseudo-terminal exactly as a person types: one line and Enter, then waits
// for the run's final frame (its success icon and this command's echoed
// line) and types the next. It times each command from the Enter to the
// final frame on the terminal.
func consoleReply(e *env) ([]row, error) {
	const warmup, n = 20, 300
	dir := filepath.Join(e.work, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfgPath, []byte(consoleConfig), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(e.binary, "console", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TEBURA_LOG_LEVEL=warn")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		return nil, fmt.Errorf("start tebura console on a pty: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = tty.Close()
	}()
	term := newScreen(tty)
	if err := term.waitFor("help", 10*time.Second); err != nil {
		return nil, fmt.Errorf("tebura console did not greet: %w", err)
	}
	var lat []time.Duration
	for i := range warmup + n {
		term.reset()
		begin := time.Now()
		if _, err := fmt.Fprintf(tty, "/runbook run echo n=%d\r", i); err != nil {
			return nil, err
		}
		// The echoed output line is in the final frame; the success icon
		// says it is final (the terminal's echo of the typed line has
		// neither).
		if err := term.waitFor(fmt.Sprintf("pong-%d", i), 10*time.Second); err != nil {
			return nil, fmt.Errorf("command %d: %w", i, err)
		}
		if err := term.waitFor("✔", 10*time.Second); err != nil {
			return nil, fmt.Errorf("command %d: %w", i, err)
		}
		if i >= warmup {
			lat = append(lat, time.Since(begin))
		}
	}
	p50, p99 := pct(lat, 0.50), pct(lat, 0.99)
	return []row{
		{fmt.Sprintf("console command to final reply p50 (%d commands, pty)", n), ms(p50), "<= 2.5 ms", met(p50 <= 2500*time.Microsecond)},
		{"console command to final reply p99", ms(p99), "<= 10 ms", met(p99 <= 10*time.Millisecond)},
	}, nil
}

// screen collects what the terminal shows, read on its own goroutine.
type screen struct {
	chunks chan []byte
	done   chan error
	buf    bytes.Buffer // since the last reset
}

func newScreen(r io.Reader) *screen {
	s := &screen{chunks: make(chan []byte, 64), done: make(chan error, 1)}
	go func() {
		for {
			b := make([]byte, 32<<10)
			n, err := r.Read(b)
			if n > 0 {
				s.chunks <- b[:n]
			}
			if err != nil {
				s.done <- err
				return
			}
		}
	}()
	return s
}

// reset forgets what was shown so far, once it has been read.
func (s *screen) reset() {
	for {
		select {
		case b := <-s.chunks:
			s.buf.Write(b)
		default:
			s.buf.Reset()
			return
		}
	}
}

// waitFor returns once want appeared since the last reset.
func (s *screen) waitFor(want string, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for !strings.Contains(s.buf.String(), want) {
		select {
		case b := <-s.chunks:
			s.buf.Write(b)
		case err := <-s.done:
			return fmt.Errorf("terminal closed before %q appeared: %w (shown: %q)", want, err, tail(s.buf.String()))
		case <-deadline.C:
			return fmt.Errorf("%q did not appear within %s (shown: %q)", want, limit, tail(s.buf.String()))
		}
	}
	return nil
}

func tail(s string) string {
	if len(s) > 400 {
		return "…" + s[len(s)-400:]
	}
	return s
}

// runFloor times `tebura run` of a no-op runbook against `tebura version`,
// the process start floor, alternating the two, and compares their medians.
func runFloor(e *env) ([]row, error) {
	const pairs = 20
	cfgPath := filepath.Join(e.work, "big", "tebura.yaml") // bigOutput's, with its noop runbook
	if _, err := os.Stat(cfgPath); err != nil {
		return nil, errors.New("run after bigOutput, whose config has the noop runbook")
	}
	var runs, versions, diffs []time.Duration
	for range pairs + 1 { // the first pair warms the page cache
		cmd := exec.Command(e.binary, "run", "--config", cfgPath, "--yes", "noop")
		cmd.Dir = filepath.Dir(cfgPath)
		cmd.Env = append(os.Environ(), "USER=bench")
		r, err := timed(cmd)
		if err != nil {
			return nil, fmt.Errorf("tebura run noop: %w", err)
		}
		v, err := timed(exec.Command(e.binary, "version"))
		if err != nil {
			return nil, fmt.Errorf("tebura version: %w", err)
		}
		runs, versions, diffs = append(runs, r), append(versions, v), append(diffs, r-v)
	}
	runs, versions, diffs = runs[1:], versions[1:], diffs[1:]
	mr, mv, md := median(runs), median(versions), median(diffs)
	return []row{
		{fmt.Sprintf("tebura run no-op / tebura version (medians of %d, alternated)", pairs), ms(mr) + " / " + ms(mv), "", ""},
		{"tebura run no-op minus tebura version (median of pairs)", ms(md), "<= 5 ms", met(md <= 5*time.Millisecond)},
	}, nil
}
