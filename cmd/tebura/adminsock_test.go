package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/admin"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/runbooks"
)

// adminConfig writes a config whose only runner is the OS user running
// the test: the admin socket's peer. $USER is set to someone else, who may
// run nothing, so that a command that acts as $USER is refused.
func adminConfig(t *testing.T) (cfgPath, dataDir, actor string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	actor = "console:" + u.Username
	t.Setenv("USER", "mallory-not-"+u.Username)
	dir := t.TempDir()
	body := `
data_dir: data
http: {listen: "127.0.0.1:0"}
console: {enabled: "false"}
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
        - {name: greet, run: [echo, "hello {{ .Params.who }} token={{ .Params.token }}"]}
        - {name: count, script: 'for i in 1 2 3; do echo "line $i"; done'}
    - name: fails
      kind: diagnostic
      allow: [dev]
      steps:
        - {name: bad, script: 'echo about to fail; exit 3'}
    - name: forever
      kind: diagnostic
      allow: [dev]
      steps:
        - {name: tick, script: 'while true; do echo tick; sleep 0.05; done'}
access:
  roles:
    dev: {members: [` + actor + `]}
`
	cfgPath = filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, filepath.Join(dir, "data"), actor
}

// startServe runs `tebura serve` in-process until the returned stop is
// called, and waits until its admin socket answers.
func startServe(t *testing.T, cfgPath, dataDir string) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bottest.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, strings.NewReader(""), &out, &errb) }()
	sock := admin.SocketPath(dataDir)
	deadline := time.Now().Add(15 * time.Second)
	for !admin.Answers(sock) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before its admin socket answered:\n%s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the admin socket %s did not answer within 15s:\n%s", sock, errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := false
	var code int
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop within 20s")
			}
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestCLIWhileServeRuns: with a server holding the store, the CLI's
// commands work through the admin socket as the socket's peer, the
// socket is 0600, a second server is refused, and a backup taken while
// serving restores to a store whose audit chain verifies.
func TestCLIWhileServeRuns(t *testing.T) {
	cleanEnv(t)
	cfg, dataDir, actor := adminConfig(t)
	stop := startServe(t, cfg, dataDir)

	sock := admin.SocketPath(dataDir)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want a socket with 0600", fi.Mode())
	}

	// run: plan, confirmation, output and exit code through the server.
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "hello", "who=tebura", "--yes")
	if code != 0 {
		t.Fatalf("run --yes: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"hello (diagnostic)", "hello tebura token=***", "line 1\nline 2\nline 3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("run stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "s3cr3t-value") {
		t.Errorf("the secret reached the terminal:\n%s%s", out, errOut)
	}
	m := regexp.MustCompile(`run (\S+) succeeded`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("run stderr does not say the run succeeded:\n%s", errOut)
	}
	id := m[1]
	out, errOut, code = runCLI(t, "", "run", "--config", cfg, "fails", "--yes")
	if code != 3 || !strings.Contains(out, "about to fail") {
		t.Errorf("run fails: exit %d (want the step's 3), stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "n\n", "run", "--config", cfg, "hello")
	if code != 1 || !strings.Contains(out, "Run it? [y/N]") || !strings.Contains(errOut, "not confirmed; nothing ran") {
		t.Errorf("run answered n: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// runs: the run is there, requested by the peer, not by $USER.
	out, errOut, code = runCLI(t, "", "runs", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("runs: exit %d: %s", code, errOut)
	}
	var runs []runbooks.Run
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var r runbooks.Run
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("runs --json: %v\n%s", err, out)
		}
		runs = append(runs, r)
	}
	if len(runs) != 2 {
		t.Fatalf("runs lists %d runs, want 2 (the unconfirmed one never ran):\n%s", len(runs), out)
	}
	for _, r := range runs {
		if r.RequestedBy != actor {
			t.Errorf("run %s requested by %q, want the socket peer %q", r.ID, r.RequestedBy, actor)
		}
		if r.Params["token"] != "" && r.Params["token"] != "***" {
			t.Errorf("runs printed the secret param: %q", r.Params["token"])
		}
	}
	out, _, code = runCLI(t, "", "runs", "--config", cfg)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "succeeded") {
		t.Errorf("runs: exit %d\n%s", code, out)
	}

	// logs, audit, incidents.
	out, errOut, code = runCLI(t, "", "logs", "--config", cfg, id)
	if code != 0 || !strings.Contains(out, "line 3") || strings.Contains(out, "s3cr3t-value") {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = runCLI(t, "", "logs", "--config", cfg, "no-such-run")
	if code != 1 || !strings.Contains(errOut, "tebura: ") {
		t.Errorf("logs of a missing run: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code = runCLI(t, "", "audit", "verify", "--config", cfg)
	if code != 0 || !strings.Contains(out, "chain intact") {
		t.Errorf("audit verify: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "", "audit", "export", "--config", cfg)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, actor) {
		t.Errorf("audit export: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	out, errOut, code = runCLI(t, "", "incident", "list", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "#") || !strings.Contains(out, "STATUS") {
		t.Errorf("incident list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A second server on the same data dir is refused and says why.
	_, errOut, code = runCLI(t, "", "serve", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "in use by another tebura") || !strings.Contains(errOut, sock) {
		t.Errorf("second serve: exit %d, stderr %q", code, errOut)
	}

	// Online backup, then restore it over the store.
	backup := filepath.Join(t.TempDir(), "tebura-backup.db")
	out, errOut, code = runCLI(t, "", "backup", "--config", cfg, backup)
	if code != 0 || !strings.Contains(out, "from the running server") {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	head := regexp.MustCompile(`head (\S+)`).FindStringSubmatch(out)
	if head == nil {
		t.Fatalf("backup does not print the audit head: %q", out)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the admin socket is still there after shutdown: %v", err)
	}
	restore(t, backup, filepath.Join(dataDir, dbFile))
	out, errOut, code = runCLI(t, "", "audit", "verify", "--config", cfg, "--anchor", head[1])
	if code != 0 || !strings.Contains(out, "chain intact") {
		t.Errorf("audit verify after restore: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = runCLI(t, "", "runs", "--config", cfg)
	if code != 0 || !strings.Contains(out, id) {
		t.Errorf("runs after restore: exit %d\n%s", code, out)
	}
	// Without a server, backup reads the store itself.
	out, errOut, code = runCLI(t, "", "backup", "--config", cfg, filepath.Join(t.TempDir(), "again.db"))
	if code != 0 || !strings.Contains(out, "from the store") || !strings.Contains(out, head[1]) {
		t.Errorf("backup without a server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// restore replaces the store file with a backup, as docs/operations.md
// says: with tebura stopped, copy over, keep the mode.
func restore(t *testing.T, backup, db string) {
	t.Helper()
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRemoteRunCtrlC: interrupting `tebura run` through the socket
// cancels the run on the server; the CLI waits for its end, says so and
// exits 130.
func TestRemoteRunCtrlC(t *testing.T) {
	cleanEnv(t)
	cfg, dataDir, _ := adminConfig(t)
	startServe(t, cfg, dataDir)
	out := &watchBuffer{want: "tick\n", seen: make(chan struct{})}
	var errb bottest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config", cfg, "forever", "--yes"}, strings.NewReader(""), out, &errb)
	}()
	select {
	case <-out.seen:
	case <-time.After(15 * time.Second):
		t.Fatalf("no output from the run:\n%s", errb.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != exitCancelled || !regexp.MustCompile(`cancelling…\n(.|\n)*run \S+ cancelled`).MatchString(errb.String()) {
			t.Errorf("exit %d after Ctrl-C, want %d and the run's end; stderr:\n%s", code, exitCancelled, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after Ctrl-C")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, _ := runCLI(t, "", "runs", "--config", cfg)
		if strings.Contains(out, "cancelled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not end cancelled:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// teburaOut runs this binary as tebura with args to its end and returns
// its stdout, stderr and exit code.
func teburaOut(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := teburaCmd(t, args...)
	var out, errb bottest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("tebura %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

// waitSocket waits until a server answers on dataDir's admin socket.
func waitSocket(t *testing.T, p *proc, dataDir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !admin.Answers(admin.SocketPath(dataDir)) {
		if time.Now().After(deadline) {
			t.Fatalf("no admin socket within 30s; stderr:\n%s", p.errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCLIProcessesWhileServeRuns: the built program as separate
// processes. While serve runs, run, runs and logs work through its
// socket as the OS user (the processes have USER=bob, who may run
// nothing); after kill -9 the stale socket does not stop the CLI or the
// next serve; after SIGTERM the socket is gone.
func TestCLIProcessesWhileServeRuns(t *testing.T) {
	cleanEnv(t)
	cfg, dataDir, actor := adminConfig(t)
	serve := startProc(t, "serve", "--config", cfg)
	waitSocket(t, serve, dataDir)

	out, errOut, code := teburaOut(t, "run", "--config", cfg, "hello", "--yes")
	if code != 0 || !strings.Contains(out, "line 3") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	id := regexp.MustCompile(`run (\S+) succeeded`).FindStringSubmatch(errOut)
	if id == nil {
		t.Fatalf("run stderr: %q", errOut)
	}
	out, errOut, code = teburaOut(t, "runs", "--config", cfg)
	if code != 0 || !strings.Contains(out, id[1]) || !strings.Contains(out, actor) {
		t.Errorf("runs: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = teburaOut(t, "logs", "--config", cfg, id[1])
	if code != 0 || !strings.Contains(out, "hello world token=***") {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// kill -9: the socket file stays, nothing answers on it.
	serve.cmd.Process.Signal(syscall.SIGKILL)
	serve.wait(t)
	if _, err := os.Stat(admin.SocketPath(dataDir)); err != nil {
		t.Fatalf("after kill -9 the socket file should be left behind: %v", err)
	}
	out, errOut, code = teburaOut(t, "runs", "--config", cfg)
	if code != 0 || !strings.Contains(out, id[1]) {
		t.Errorf("runs with a stale socket and no server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	serve = startProc(t, "serve", "--config", cfg)
	waitSocket(t, serve, dataDir)
	out, errOut, code = teburaOut(t, "logs", "--config", cfg, id[1])
	if code != 0 || !strings.Contains(out, "line 3") {
		t.Errorf("logs through the restarted server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	serve.cmd.Process.Signal(syscall.SIGTERM)
	if err := serve.wait(t); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	if _, err := os.Stat(admin.SocketPath(dataDir)); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after SIGTERM: %v", err)
	}
}

// TestAdminAnswersDuringStartup: the CLI is answered while the start-up
// steps (reconciliation with the chats) still run.
func TestAdminAnswersDuringStartup(t *testing.T) {
	cleanEnv(t)
	cfg, _, _ := adminConfig(t)
	w, ps, _ := loadWorld(cfg)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	app, err := NewApp(w.Config, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := wire(app, wireOptions{ConfigPath: cfg, In: strings.NewReader(""), Out: &bottest.SyncBuffer{}}); err != nil {
		t.Fatal(err)
	}
	blocked, release := make(chan struct{}), make(chan struct{})
	app.AddStartup(func(context.Context, []*runbooks.Run) error {
		close(blocked)
		<-release
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-blocked
	out, errOut, code := runCLI(t, "", "audit", "verify", "--config", cfg)
	close(release)
	if code != 0 || !strings.Contains(out, "chain intact") {
		t.Errorf("audit verify during start-up: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
