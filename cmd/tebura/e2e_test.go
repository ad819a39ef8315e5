package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/bot/console"
	"github.com/tebura/tebura/runbooks"
)

// proc is tebura running as a separate process (this test binary started
// as the program, see TestMain), its stdin a pipe, its output captured.
type proc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bottest.SyncBuffer
	errb *bottest.SyncBuffer
	done chan error
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: teburaCmd(t, args...), out: &bottest.SyncBuffer{}, errb: &bottest.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errb
	in, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.in = in
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("stderr of tebura %s:\n%s", strings.Join(args, " "), p.errb.String())
		}
	})
	return p
}

func (p *proc) send(t *testing.T, ev map[string]any) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("tebura did not exit; stderr:\n%s", p.errb.String())
		return nil
	}
}

// waitLog waits until stderr contains want.
func (p *proc) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.errb.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("tebura never logged %q; stderr:\n%s", want, p.errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConsoleJSONProcess is the four-eyes loop through `tebura console
// --json` as a separate process: alice requests a remediation, her own
// press of Approve is refused (she is no approver), bob approves, the run's
// final edit says succeeded, and the process exits 0 once its input ended
// and the run's last frame is out.
func TestConsoleJSONProcess(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/restart.yaml": restartAPIBook, "tebura.yaml": baseConfig("")})
	p := startProc(t, "console", "--json", "--config", filepath.Join(dir, "tebura.yaml"))
	p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run restart-api env=prod"})
	card := waitEvent(t, p.out, "the approval card", headerIs("Approval needed: restart-api"))
	p.send(t, map[string]any{"type": "click", "user": "alice", "callback_id": card.callback("approve")})
	waitEvent(t, p.out, "alice's refusal", func(e outEvent) bool {
		return e.To == "alice" && strings.Contains(e.text(), "not an approver")
	})
	p.send(t, map[string]any{"type": "click", "user": "bob", "callback_id": card.callback("approve")})
	p.in.Close()
	if err := p.wait(t); err != nil {
		t.Fatalf("tebura console exited with %v; stderr:\n%s", err, p.errb.String())
	}
	evs := parseEvents(t, p.out.String())
	var last outEvent
	for _, e := range evs {
		if e.Ref == card.Ref && e.Type == "edit" {
			last = e
		}
	}
	if last.Message.Header != "restart-api — succeeded" || !strings.Contains(last.text(), "restarting api in prod") ||
		!strings.Contains(last.text(), "Approved by: @bob") {
		t.Fatalf("final edit of the card:\n%s\nall output:\n%s", last.text(), p.out.String())
	}
}

// longBook runs until told otherwise, holding a lock; it prints "started"
// first and dies of SIGPIPE when tebura is gone.
const longBook = `name: long
description: Takes its time
kind: diagnostic
params:
  - {name: n, type: int, default: 3000}
allow: [dev]
lock: long
timeout: 10m
steps:
  - name: loop
    run: [/bin/sh, -c, 'echo started; i=0; while [ $i -lt "$TEBURA_PARAM_N" ]; do sleep 0.2; echo tick $i; i=$((i+1)); done']
`

// editRecorder is the console as the bot sees it after a restart, also
// recording every edit, including those of messages the previous process
// posted (which the new console cannot show).
type editRecorder struct {
	*console.Adapter
	mu    sync.Mutex
	edits map[string][]bot.Message
}

func (r *editRecorder) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	r.mu.Lock()
	r.edits[ref.ID] = append(r.edits[ref.ID], m)
	r.mu.Unlock()
	return r.Adapter.Edit(ctx, ref, m)
}

func (r *editRecorder) headers(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.edits[id] {
		out = append(out, m.Header)
	}
	return out
}

// replies records what a click was answered.
type replies struct {
	mu   sync.Mutex
	text []string
}

func (r *replies) Reply(_ context.Context, m bot.Message) (bot.MessageRef, error) {
	r.add(m)
	return bot.MessageRef{}, nil
}

func (r *replies) Private(_ context.Context, m bot.Message) error { r.add(m); return nil }

func (r *replies) add(m bot.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.text = append(r.text, m.Header+" "+strings.Join(m.Text, " "))
}

// TestCrashRecovery: `tebura serve` is killed with SIGKILL while a long
// run is going and an approval is pending. After a restart the run is
// interrupted (its message redrawn, its lock free, the audit says so) and
// the pending approval still works: ten concurrent presses of Approve run
// it exactly once.
func TestCrashRecovery(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/long.yaml": longBook, "rb/restart.yaml": restartAPIBook, "tebura.yaml": baseConfig("")})
	path := filepath.Join(dir, "tebura.yaml")

	p := startProc(t, "serve", "--console-json", "--config", path)
	p.waitLog(t, "tebura serving")
	p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run long"})
	// An edit, not the post: the place of the run's message is stored
	// right after the post, on the goroutine that then edits it, so a
	// kill after an edit finds it stored.
	running := waitEvent(t, p.out, "the long run's output", func(e outEvent) bool {
		return e.Type == "edit" && e.Message.Header == "long — running" && strings.Contains(e.text(), "started")
	})
	p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run restart-api env=prod"})
	card := waitEvent(t, p.out, "the approval card", headerIs("Approval needed: restart-api"))
	cb := card.callback("approve")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t)

	var rec *editRecorder
	ts := startServerWith(t, path, "info", func(s *server) {
		rec = &editRecorder{Adapter: s.console, edits: map[string][]bot.Message{}}
		s.chats[console.Platform] = rec
	})
	// The interrupted run's message was redrawn at start-up.
	if hs := rec.headers(running.Ref); len(hs) == 0 || !strings.HasPrefix(hs[len(hs)-1], "long — interrupted") {
		t.Errorf("edits of the long run's message %q after the restart: %q (all: %v)", running.Ref, hs, rec.edits)
	}
	// Its lock is free: the same runbook starts again.
	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run long n=1"})
	waitEvent(t, ts.out, "the second long run", headerIs("long — succeeded"))

	// The approval card of the dead process still works, exactly once.
	h := ts.srv.bot
	rep := &replies{}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.HandleEvent(context.Background(), &bot.Click{Platform: console.Platform, Actor: bot.Actor{ID: "console:bob", Name: "bob"},
				ActionID: "approve", CallbackID: cb, Message: bot.MessageRef{Platform: console.Platform, Channel: "console", ID: card.Ref}, Reply: rep})
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for !containsHeader(rec.headers(card.Ref), "restart-api — succeeded") {
		if time.Now().After(deadline) {
			t.Fatalf("the approved run never finished; edits of its card: %q", rec.headers(card.Ref))
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.stop(t)
	rep.mu.Lock()
	already := 0
	for _, s := range rep.text {
		if strings.Contains(strings.ToLower(s), "already approved by @bob") {
			already++
		}
	}
	rep.mu.Unlock()
	if already != 9 {
		t.Errorf("%d of the 9 late presses were told it was already approved: %q", already, rep.text)
	}

	out, errOut, code := runCLI(t, "", "runs", "--json", "-n", "0", "--config", path)
	if code != 0 {
		t.Fatalf("runs: %d %s", code, errOut)
	}
	states := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r runbooks.Run
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		states[r.Runbook] = append(states[r.Runbook], string(r.State))
	}
	if got := strings.Join(states["restart-api"], ","); got != "succeeded" {
		t.Errorf("restart-api runs: %s, want exactly one, succeeded", got)
	}
	if got := strings.Join(states["long"], ","); got != "succeeded,interrupted" {
		t.Errorf("long runs (newest first): %s", got)
	}
	audit, _, _ := runCLI(t, "", "audit", "export", "--config", path)
	if n := strings.Count(audit, `"run.interrupt"`); n != 1 {
		t.Errorf("%d run.interrupt audit entries, want 1", n)
	}
	if n := strings.Count(audit, `"run.start"`); n != 3 {
		t.Errorf("%d run.start audit entries, want 3 (long before the crash and after, restart-api once)", n)
	}
}

func containsHeader(hs []string, h string) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// TestReloadOnSIGHUP: `tebura serve` keeps its configuration when SIGHUP
// finds a broken one (and logs why), and swaps the runbooks in when the new
// one is good.
func TestReloadOnSIGHUP(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": baseConfig("")})
	path := filepath.Join(dir, "tebura.yaml")
	p := startProc(t, "serve", "--console-json", "--config", path)
	p.waitLog(t, "tebura serving")

	if err := os.WriteFile(path, []byte(baseConfig("automations: [{name: x, match: ['a=\"b\"'], diagnostics: [nope]}]\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "reload refused")
	if !strings.Contains(p.errb.String(), `nope`) {
		t.Errorf("the log does not say what is wrong:\n%s", p.errb.String())
	}
	p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run check-api"})
	waitEvent(t, p.out, "the old runbook still running", headerIs("check-api — succeeded"))

	if err := os.WriteFile(filepath.Join(dir, "rb", "restart.yaml"), []byte(restartAPIBook), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(baseConfig("")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "configuration reloaded")
	p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run restart-api env=staging"})
	waitEvent(t, p.out, "the new runbook's approval card", headerIs("Approval needed: restart-api"))

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM", err)
	}
}

// TestShutdownRedrawsInterruptedRuns: on SIGTERM (here: the context) a run
// still going after shutdown_grace is cancelled, and its message gets its
// final "interrupted" frame before the server stops.
func TestShutdownRedrawsInterruptedRuns(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/long.yaml": longBook, "tebura.yaml": baseConfig("shutdown_grace: 200ms\n")})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run long"})
	running := waitEvent(t, ts.out, "the long run's output", func(e outEvent) bool {
		return e.Message.Header == "long — running" && strings.Contains(e.text(), "started")
	})
	ts.stop(t)
	var last outEvent
	for _, e := range parseEvents(t, ts.out.String()) {
		if e.Ref == running.Ref {
			last = e
		}
	}
	if !strings.HasPrefix(last.Message.Header, "long — interrupted") {
		t.Fatalf("last frame of the run after shutdown: %q", last.Message.Header)
	}
}
