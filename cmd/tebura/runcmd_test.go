package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runConfig writes a config with inline runbooks and a temp data dir.
func runConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	body := `
data_dir: data
runbooks:
  dirs: []
  inline:
    - name: hello
      kind: diagnostic
      allow: [dev]
      params:
        - {name: who, type: string, pattern: '[a-z]+', default: world}
        - {name: token, type: string, secret: true, default: s3cr3t-value}
      steps:
        - name: greet
          run: [echo, "hello {{ .Params.who }} token={{ .Params.token }}"]
        - name: count
          script: 'for i in 1 2 3; do echo "line $i"; done'
    - name: fails
      kind: diagnostic
      allow: [dev]
      steps:
        - {name: bad, script: 'echo about to fail; exit 3'}
    - name: slow
      kind: diagnostic
      allow: [dev]
      timeout: 1s
      steps:
        - {name: sleep, script: 'echo started; sleep 30'}
    - name: forever
      kind: diagnostic
      allow: [dev]
      steps:
        - {name: tick, script: 'while true; do echo tick; sleep 0.05; done'}
    - name: locked
      kind: diagnostic
      allow: [dev]
      lock: the-lock
      steps:
        - {name: hold, run: [echo, holding]}
    - name: restart
      kind: remediation
      allow: [dev]
      approval: {required: 1, approvers: [sre]}
      steps:
        - {name: restart, run: [echo, restarted]}
access:
  roles:
    dev: {members: [console:alice, console:bob]}
    sre: {members: [console:alice]}
`
	p := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// watchBuffer is a concurrency-safe buffer that closes seen once it
// contains want.
type watchBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if w.want != "" && strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestRunStreamsAndRecords(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "hello", "who=tebura", "--yes")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"hello (diagnostic)", "hello tebura token=***", "line 1\nline 2\nline 3\n", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "s3cr3t-value") {
		t.Errorf("the secret param's value reached the terminal:\n%s%s", out, errOut)
	}
	runs, _, code := runCLI(t, "", "runs", "--config", cfg)
	if code != 0 || !strings.Contains(runs, "r1") || !strings.Contains(runs, "succeeded") || !strings.Contains(runs, "console:bob") {
		t.Errorf("runs: %d\n%s", code, runs)
	}
	logs, _, code := runCLI(t, "", "logs", "--config", cfg, "r1")
	if code != 0 || !strings.Contains(logs, "hello tebura token=***") || strings.Contains(logs, "s3cr3t-value") {
		t.Errorf("logs: %d\n%s", code, logs)
	}
	verify, _, code := runCLI(t, "", "audit", "verify", "--config", cfg)
	if code != 0 || !strings.Contains(verify, "ok: 3 audit entries") {
		t.Errorf("audit verify: %d %q", code, verify)
	}
	_, head, ok := strings.Cut(strings.TrimSpace(verify), "head ")
	if !ok {
		t.Fatalf("audit verify prints no head: %q", verify)
	}
	if out, _, code := runCLI(t, "", "audit", "verify", "--config", cfg, "--anchor", head); code != 0 {
		t.Errorf("audit verify --anchor <its own head>: %d %q", code, out)
	}
	_, hash, _ := strings.Cut(head, ":")
	past := "4:" + hash // recorded when the chain had a 4th entry: it was cut since
	if _, errOut, code := runCLI(t, "", "audit", "verify", "--config", cfg, "--anchor", past); code != 1 || !strings.Contains(errOut, "removed from the end") {
		t.Errorf("audit verify --anchor past the end: %d %q", code, errOut)
	}
	export, _, _ := runCLI(t, "", "audit", "export", "--config", cfg)
	for _, action := range []string{`"run.request"`, `"run.start"`, `"run.end"`} {
		if !strings.Contains(export, action) {
			t.Errorf("audit lacks %s:\n%s", action, export)
		}
	}
	if strings.Contains(export, "s3cr3t-value") {
		t.Errorf("the secret reached the audit log:\n%s", export)
	}
}

func TestRunExitCodes(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"failing step's code", []string{"fails"}, 3, "about to fail", "failed"},
		{"timeout", []string{"slow"}, 124, "started", "timed_out"},
		{"bad param", []string{"hello", "who=UPPER"}, 1, "", "who"},
		{"unknown param", []string{"hello", "nope=1"}, 1, "", "nope"},
		{"unknown runbook", []string{"helo"}, 1, "", "did you mean hello?"},
		{"needs approval", []string{"restart"}, 1, "", "Request it in chat"},
		{"break glass while it is off", []string{"restart", "--break-glass"}, 1, "", "runbooks.break_glass: true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", append([]string{"run", "--config", cfg, "--yes"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.inStdout) || !strings.Contains(errOut, tt.inStderr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
		})
	}
	// Refused runs never reach the store.
	runs, _, _ := runCLI(t, "", "runs", "--config", cfg, "--json")
	if n := strings.Count(runs, "\n"); n != 2 {
		t.Errorf("want 2 stored runs (fails, slow), got %d:\n%s", n, runs)
	}
}

func TestRunRefusesWhoMayNotRun(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "mallory")
	_, errOut, code := runCLI(t, "", "run", "--config", runConfig(t), "--yes", "hello")
	if code != 1 || !strings.Contains(errOut, "console:mallory may not run hello") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestRunAsksForConfirmation(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	for _, answer := range []string{"n\n", "\n", ""} {
		out, errOut, code := runCLI(t, answer, "run", "--config", cfg, "hello")
		if code != 1 || !strings.Contains(out, "Run it? [y/N]") || strings.Contains(out, "line 1") || !strings.Contains(errOut, "nothing ran") {
			t.Fatalf("answer %q: exit %d\n%s\n%s", answer, code, out, errOut)
		}
	}
	out, _, code := runCLI(t, "yes\n", "run", "--config", cfg, "hello")
	if code != 0 || !strings.Contains(out, "line 3") {
		t.Fatalf("answer yes: exit %d\n%s", code, out)
	}
}

// enableBreakGlass appends runbooks.break_glass: true to the config at cfg.
func enableBreakGlass(t *testing.T, cfg string) {
	t.Helper()
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body = []byte(strings.Replace(string(body), "runbooks:\n", "runbooks:\n  break_glass: true\n", 1))
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRunBreakGlassOffByDefault(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "alice") // an approver: still refused while the key is off
	cfg := runConfig(t)
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "--break-glass", "restart")
	if code == 0 || strings.Contains(out, "restarted") || strings.Contains(out, "APPROVAL BYPASSED") {
		t.Fatalf("--break-glass ran with runbooks.break_glass off: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "runbooks.break_glass") {
		t.Errorf("the refusal should name the key that enables it:\n%s", errOut)
	}
	// Without the flag the refusal does not advertise a bypass that is off.
	_, errOut, _ = runCLI(t, "", "run", "--config", cfg, "--yes", "restart")
	if strings.Contains(errOut, "--break-glass") {
		t.Errorf("refusal offers --break-glass while it is off:\n%s", errOut)
	}
	export, _, _ := runCLI(t, "", "audit", "export", "--config", cfg)
	if strings.Contains(export, "break_glass") || strings.Contains(export, "run.start") {
		t.Errorf("a refused break-glass left a run behind:\n%s", export)
	}
}

func TestRunBreakGlassApproversOnly(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob") // may run, is no approver
	cfg := runConfig(t)
	enableBreakGlass(t, cfg)
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "--break-glass", "restart")
	if code == 0 || strings.Contains(out, "restarted") || !strings.Contains(errOut, "is neither") {
		t.Fatalf("bob is no approver: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestRunBreakGlassIsAudited(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "alice")
	cfg := runConfig(t)
	enableBreakGlass(t, cfg)
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "--break-glass", "restart")
	if code != 0 || !strings.Contains(out, "APPROVAL BYPASSED") || !strings.Contains(out, "restarted") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	export, _, _ := runCLI(t, "", "audit", "export", "--config", cfg)
	if !strings.Contains(export, `"action":"run.approve"`) || !strings.Contains(export, `"break_glass":"true"`) {
		t.Fatalf("audit does not record the bypass:\n%s", export)
	}
	if out, _, _ := runCLI(t, "", "validate", "--config", cfg); !strings.Contains(out, "warning: ") || !strings.Contains(out, "runbooks.break_glass is true") {
		t.Errorf("validate should warn that break-glass is on:\n%s", out)
	}
}

func TestRunCtrlCCancels(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &watchBuffer{want: "tick\ntick\n", seen: make(chan struct{})}
	var errOut watchBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config", cfg, "--yes", "forever"}, strings.NewReader(""), out, &errOut)
	}()
	select {
	case <-out.seen:
	case <-time.After(20 * time.Second):
		t.Fatalf("no live output within 20s:\n%s\n%s", out.String(), errOut.String())
	}
	cancel() // what SIGINT does through signal.NotifyContext
	select {
	case code := <-done:
		if code != 130 {
			t.Fatalf("exit %d after Ctrl-C, want 130\n%s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not end after Ctrl-C")
	}
	if !strings.Contains(errOut.String(), "cancelled by console:bob") {
		t.Errorf("stderr: %s", errOut.String())
	}
	runs, _, _ := runCLI(t, "", "runs", "--config", cfg)
	if !strings.Contains(runs, "cancelled") {
		t.Errorf("runs:\n%s", runs)
	}
}

func TestRunExitCodeMapping(t *testing.T) {
	// Covered end to end above; this pins the table.
	for _, tt := range []struct {
		state string
		code  int
		want  int
	}{
		{"succeeded", 0, 0}, {"failed", 3, 3}, {"failed", -1, 1}, {"failed", 300, 1},
		{"timed_out", -1, 124}, {"cancelled", 143, 130}, {"interrupted", -1, 1},
	} {
		r := runOf(tt.state, tt.code)
		if got := runExitCode(r); got != tt.want {
			t.Errorf("%s/%d → %d, want %d", tt.state, tt.code, got, tt.want)
		}
	}
}

func runOf(state string, code int) *runbooks.Run {
	return &runbooks.Run{State: runbooks.State(state), ExitCode: code}
}

func TestRunStreamsEveryLineInOrder(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	dir := t.TempDir()
	p := filepath.Join(dir, "tebura.yaml")
	body := `
data_dir: data
runbooks:
  dirs: []
  log_cap_bytes: %d
  inline:
    - name: numbers
      kind: diagnostic
      allow: [dev]
      steps:
        - {name: seq, script: 'seq 1 %d; echo done'}
access:
  roles:
    dev: {members: [console:bob]}
`
	t.Run("all lines", func(t *testing.T) {
		if err := os.WriteFile(p, []byte(fmt.Sprintf(body, 10<<20, 200000)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runCLI(t, "", "run", "--config", p, "--yes", "numbers")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		_, after, _ := strings.Cut(out, "==> step 1/1: seq\n")
		got, _, _ := strings.Cut(after, "done\n")
		var want strings.Builder
		for i := 1; i <= 200000; i++ {
			fmt.Fprintf(&want, "%d\n", i)
		}
		if got != want.String() {
			t.Fatalf("streamed output is not exactly seq 1 200000 (got %d bytes, want %d)", len(got), want.Len())
		}
	})
	t.Run("over the log cap", func(t *testing.T) {
		// The cap bounds the stored log, not what the person watching
		// sees: every line reaches the terminal.
		if err := os.WriteFile(p, []byte(fmt.Sprintf(body, 4096, 100000)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runCLI(t, "", "run", "--config", p, "--yes", "numbers")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		_, after, _ := strings.Cut(out, "==> step 1/1: seq\n")
		got, _, _ := strings.Cut(after, "done\n")
		var want strings.Builder
		for i := 1; i <= 100000; i++ {
			fmt.Fprintf(&want, "%d\n", i)
		}
		if got != want.String() {
			t.Fatalf("the terminal did not get exactly seq 1 100000 (got %d bytes, want %d)", len(got), want.Len())
		}
		if !strings.Contains(errOut, "the stored log was cut at runbooks.log_cap_bytes") {
			t.Errorf("stderr does not say the stored log was cut:\n%s", errOut)
		}
		logs, _, code := runCLI(t, "", "logs", "--config", p, "r2")
		if code != 0 || len(logs) > 4096+200 || !strings.Contains(logs, "log truncated at") {
			t.Errorf("the stored log should be capped at 4096 bytes with a marker: exit %d, %d bytes\n%.300s", code, len(logs), logs)
		}
	})
}

func TestRunRecoversRunsOfADeadProcess(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	// A tebura run killed with -9 leaves its run "running" and its lock held.
	st, err := bolt.Open(filepath.Join(filepath.Dir(cfg), "data", dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stale := &runbooks.Run{Runbook: "locked", State: runbooks.StateRunning, LockKey: "the-lock", RequestedBy: "console:alice"}
	if err := st.CreateRun(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireLock(ctx, runbooks.Lock{Key: "the-lock", RunID: stale.ID, Holder: "console:alice"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "locked")
	if code != 0 || !strings.Contains(out, "holding") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	runs, _, _ := runCLI(t, "", "runs", "--config", cfg)
	if !strings.Contains(runs, "interrupted") {
		t.Errorf("the dead process's run should be interrupted:\n%s", runs)
	}
	export, _, _ := runCLI(t, "", "audit", "export", "--config", cfg)
	if !strings.Contains(export, `"run.interrupt"`) {
		t.Errorf("audit lacks run.interrupt:\n%s", export)
	}
}

func TestRunsLimitAndJSON(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	for i := 0; i < 3; i++ {
		if _, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "hello"); code != 0 {
			t.Fatalf("run %d: %s", i, errOut)
		}
	}
	out, _, code := runCLI(t, "", "runs", "--config", cfg, "--limit", "2")
	if code != 0 || !strings.Contains(out, "r3") || !strings.Contains(out, "r2") || strings.Contains(out, "r1 ") {
		t.Errorf("runs --limit 2 should list r3 and r2 only:\n%s", out)
	}
	out, _, _ = runCLI(t, "", "runs", "--config", cfg, "--json", "-n", "0")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"id":"r3"`) {
		t.Errorf("runs --json: %q", lines)
	}
}

// TestRunsAndLogsNeverPrintSecrets runs a runbook with a secret param and a
// value that only later becomes a redact.values entry, then checks every
// output form of runs and logs.
func TestRunsAndLogsNeverPrintSecrets(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	if _, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "hello", "who=zebrasecret", "token=TOPSECRETVALUE42"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	// The operator adds the value to redact.values after the run was logged.
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(body, "redact:\n  values: [zebrasecret]\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"runs", "--config", cfg},
		{"runs", "--config", cfg, "--json"},
		{"logs", "--config", cfg, "r1"},
	} {
		out, errOut, code := runCLI(t, "", args...)
		if code != 0 || out == "" {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		for _, secret := range []string{"TOPSECRETVALUE42", "zebrasecret"} {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("%v prints %q:\n%s%s", args, secret, out, errOut)
			}
		}
	}
	out, _, _ := runCLI(t, "", "runs", "--config", cfg, "--json")
	if !strings.Contains(out, `"token":"***"`) || !strings.Contains(out, `"who":"***"`) {
		t.Errorf("runs --json should show masked params:\n%s", out)
	}
}

// TestLineStreamerFromFile: the log file is read in big pieces, yet every
// line is printed once and in order, never past the snapshot's line count,
// lines the tail printed already are skipped, a line longer than the read
// buffer comes out whole, and the truncation marker is printed but not
// counted.

// TestRunAuditsLikeChat: `tebura run` writes the same run.request entry as
// chat does (the run service writes both): params as one masked "params"
// text with the plan hash and lock, the door in "via" — not a key per
// param — and the start, end, in the one vocabulary.
func TestRunAuditsLikeChat(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	cfg := runConfig(t)
	if out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "hello", "who=tebura"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	export, _, _ := runCLI(t, "", "audit", "export", "--config", cfg)
	var actions []string
	var request map[string]string
	for _, line := range strings.Split(strings.TrimSpace(export), "\n") {
		var e struct {
			Action string            `json:"action"`
			Detail map[string]string `json:"detail"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, e.Action)
		if e.Action == "run.request" {
			request = e.Detail
		}
	}
	if got := strings.Join(actions, " "); got != "run.request run.start run.end" {
		t.Errorf("actions = %s", got)
	}
	want := map[string]string{"runbook": "hello", "params": "token=•••••• who=tebura", "lock": "", "via": "cli"}
	for k, v := range want {
		if request[k] != v {
			t.Errorf("run.request %s = %q, want %q", k, request[k], v)
		}
	}
	for k := range request {
		if strings.HasPrefix(k, "param.") {
			t.Errorf("run.request has a key per param (%s), unlike chat's", k)
		}
	}
	if request["plan_hash"] == "" {
		t.Error("run.request lacks the plan hash")
	}
}
