package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	s, err := startConsole(e, "console", nil)
	if err != nil {
		return nil, err
	}
	defer s.kill()
	var lat []time.Duration
	for i := range warmup + n {
		d, err := s.command(i)
		if err != nil {
			return nil, err
		}
		if i >= warmup {
			lat = append(lat, d)
		}
	}
	p50, p99 := pct(lat, 0.50), pct(lat, 0.99)
	return []row{
		{fmt.Sprintf("console command to final reply p50 (%d commands, pty)", n), ms(p50), "<= 2.5 ms", met(p50 <= 2500*time.Microsecond)},
		{"console command to final reply p99", ms(p99), "<= 10 ms", met(p99 <= 10*time.Millisecond)},
	}, nil
}

// consoleSyncs counts the fdatasync calls of one console command with
// strace(1): two sessions under strace, one typing no command and one
// typing n, each ended by the end of input (which waits for the runs'
// final frames); the difference over n is the count per command, start-up
// and shut-down cancelling out. Each bbolt commit syncs twice (its pages,
// then its meta page), so a command's store commits are half the figure.
func consoleSyncs(e *env) ([]row, error) {
	const n = 50
	strace, err := exec.LookPath("strace")
	if err != nil {
		return []row{{"fdatasync per console command", "skipped: strace(1) not installed", "noted", ""}}, nil
	}
	count := func(name string, commands int) (int, error) {
		out := filepath.Join(e.work, name+".strace")
		s, err := startConsole(e, name, []string{strace, "-f", "-qq", "-e", "trace=fdatasync", "-e", "signal=none", "-o", out})
		if err != nil {
			return 0, err
		}
		defer s.kill()
		for i := range commands {
			if _, err := s.command(i); err != nil {
				return 0, err
			}
		}
		if err := s.end(); err != nil {
			return 0, err
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return 0, err
		}
		return strings.Count(string(b), "fdatasync("), nil
	}
	idle, err := count("syncs-idle", 0)
	if err != nil {
		return nil, err
	}
	busy, err := count("syncs-busy", n)
	if err != nil {
		return nil, err
	}
	per := float64(busy-idle) / n
	if per < 0 {
		return nil, fmt.Errorf("strace counted %d then %d fdatasync calls", idle, busy)
	}
	// The goal: the request, its audit entries and the run's creation
	// (started) are one commit, and its end one more, before the reply.
	return []row{{fmt.Sprintf("fdatasync per console command (strace, %d commands; 2 per store commit)", n), fmt.Sprintf("%.1f", per),
		"<= 4 (request+start, end)", met(per <= 4.05)}}, nil
}

// consoleSession is `tebura console` with consoleConfig on a
// pseudo-terminal, in a directory of its own (its data dir is fresh).
type consoleSession struct {
	cmd  *exec.Cmd
	tty  *os.File
	term *screen
}

// startConsole starts the console in e.work/name, behind wrap (a command
// and its arguments the binary is appended to; nil: none), and waits for
// its greeting.
func startConsole(e *env, name string, wrap []string) (*consoleSession, error) {
	dir := filepath.Join(e.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfgPath, []byte(consoleConfig), 0o644); err != nil {
		return nil, err
	}
	argv := append(slices.Clone(wrap), e.binary, "console", "--config", cfgPath)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TEBURA_LOG_LEVEL=warn")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		return nil, fmt.Errorf("start tebura console on a pty: %w", err)
	}
	s := &consoleSession{cmd: cmd, tty: tty, term: newScreen(tty)}
	if err := s.term.waitFor("help", 10*time.Second); err != nil {
		s.kill()
		return nil, fmt.Errorf("tebura console did not greet: %w", err)
	}
	return s, nil
}

// command types the i-th command and returns the time from its Enter to
// its final frame on the terminal.
func (s *consoleSession) command(i int) (time.Duration, error) {
	s.term.reset()
	begin := time.Now()
	if _, err := fmt.Fprintf(s.tty, "/runbook run echo n=%d\r", i); err != nil {
		return 0, err
	}
	// The echoed output line is in the final frame; the success icon
	// says it is final (the terminal's echo of the typed line has
	// neither).
	if err := s.term.waitFor(fmt.Sprintf("pong-%d", i), 10*time.Second); err != nil {
		return 0, fmt.Errorf("command %d: %w", i, err)
	}
	if err := s.term.waitFor("✔", 10*time.Second); err != nil {
		return 0, fmt.Errorf("command %d: %w", i, err)
	}
	return time.Since(begin), nil
}

// end ends the console's input (Ctrl-D) and waits for it to exit.
func (s *consoleSession) end() error {
	if _, err := s.tty.Write([]byte{4}); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		s.cmd = nil
		_ = s.tty.Close()
		return err
	case <-time.After(10 * time.Second):
		return errors.New("tebura console did not exit within 10s of the end of its input")
	}
}

// kill stops the console if it still runs.
func (s *consoleSession) kill() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
	_ = s.tty.Close()
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
