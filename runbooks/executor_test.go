package runbooks

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

// TestMain lets more tests run at once than -parallel's default (the CPU
// count) unless -parallel was given: the parallel tests here wait for real
// timeouts, kill grace and pipe drains of sleeping processes, and waiting
// side by side costs no CPU.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(max(8, runtime.GOMAXPROCS(0))))
	}
	os.Exit(m.Run())
}

type harness struct {
	t     *testing.T
	store *fakeStore
	exec  *Executor
	dir   string
	red   *Redactor
}

// shortWaits are stepWaits for tests of escaped processes: long enough for
// a step's output to drain on a loaded machine, short enough that waiting
// them out (which those tests must) takes a second, not five.
var shortWaits = stepWaits{pipeDrain: 300 * time.Millisecond, reader: time.Second, wake: 50 * time.Millisecond, reap: reapWait}

func newHarness(t *testing.T, cfg ExecutorConfig) *harness {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 200 * time.Millisecond
	}
	h := &harness{t: t, store: newFakeStore(), dir: cfg.DataDir}
	h.exec = NewExecutor(h.store, cfg, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		h.exec.Shutdown(ctx)
	})
	return h
}

func (h *harness) load(yaml string) *Runbook {
	h.t.Helper()
	dir := h.t.TempDir()
	writeRunbook(h.t, dir, "rb.yaml", yaml)
	reg, problems := Load(LoadOptions{Dirs: []string{dir}})
	if len(problems) > 0 {
		h.t.Fatalf("runbook problems: %v", problems)
	}
	return reg.List()[0]
}

// start requests, approves and starts a run of rb with args.
func (h *harness) start(rb *Runbook, requestedBy string, args ...string) (*Handle, *Run, error) {
	h.t.Helper()
	v, err := rb.ParseArgs(args)
	if err != nil {
		h.t.Fatal(err)
	}
	steps, err := rb.Render(v)
	if err != nil {
		h.t.Fatal(err)
	}
	plan, err := rb.Plan(v)
	if err != nil {
		h.t.Fatal(err)
	}
	key, err := rb.LockKey(v)
	if err != nil {
		h.t.Fatal(err)
	}
	run := &Run{Runbook: rb.Name, Kind: rb.Kind, Params: v, Secret: rb.SecretNames(), PlanHash: plan.Hash,
		LockKey: key, RequestedBy: requestedBy, RequestedAt: time.Now(), State: StateApproved}
	if err := h.store.CreateRun(context.Background(), run); err != nil {
		h.t.Fatal(err)
	}
	handle, err := h.exec.Start(context.Background(), run, Job{Steps: steps, Timeout: rb.Timeout, Masker: h.red.With(rb.Secrets(v)...)})
	return handle, run, err
}

func (h *harness) wait(handle *Handle) Snapshot {
	h.t.Helper()
	select {
	case <-handle.Done():
	case <-time.After(60 * time.Second):
		h.t.Fatalf("run %s did not end: %+v", handle.RunID(), handle.Snapshot())
	}
	return handle.Snapshot()
}

func (h *harness) logOf(runID string) string {
	h.t.Helper()
	rc, err := ReadLog(h.dir, h.store.run(runID))
	if err != nil {
		h.t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	b.ReadFrom(rc)
	return b.String()
}

// waitFor polls snapshots until cond holds (or fails after a deadline).
func waitFor(t *testing.T, handle *Handle, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	sub := handle.Subscribe()
	defer sub.Close()
	deadline := time.After(20 * time.Second)
	for {
		s := sub.Snapshot()
		if cond(s) {
			return s
		}
		select {
		case _, ok := <-sub.C():
			if !ok {
				if s := sub.Snapshot(); cond(s) {
					return s
				}
				t.Fatalf("run ended before %s: %+v", what, sub.Snapshot())
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s: %+v", what, sub.Snapshot())
		}
	}
}

func tailHas(s Snapshot, sub string) bool {
	for _, l := range s.Tail {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func TestExecutorRunsSteps(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	rb := h.load(`name: hello
kind: diagnostic
params: [{name: who, default: world}]
timeout: 30s
steps:
  - name: greet
    run: [/bin/echo, "hello {{ .Params.who }}"]
  - name: fail-ok
    run: [/bin/sh, -c, "echo soft; exit 3"]
    continue_on_error: true
  - name: script
    script: |
      echo "script sees $TEBURA_PARAM_WHO and $GREETING"
      echo "no newline at the end" >&2; printf partial
    env: {GREETING: "hi {{ .Params.who }}"}
`)
	handle, run, err := h.start(rb, "console:alice", "who=tebura")
	if err != nil {
		t.Fatal(err)
	}
	snap := h.wait(handle)
	if snap.State != StateSucceeded || snap.ExitCode != 0 {
		t.Fatalf("snapshot = %+v", snap)
	}
	log := h.logOf(run.ID)
	for _, want := range []string{"==> step 1/3: greet\nhello tebura\n", "soft\n==> step fail-ok exited with code 3; continuing", "script sees tebura and hi tebura\n", "no newline at the end\npartial\n", "==> succeeded\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	stored := h.store.run(run.ID)
	if stored.State != StateSucceeded || stored.StartedAt.IsZero() || stored.EndedAt.IsZero() || stored.LogPath != "logs/"+run.ID+".log" || stored.LogBytes != int64(len(log)) {
		t.Errorf("stored run = %+v (log %d bytes)", stored, len(log))
	}
	if _, ok := h.exec.Handle(run.ID); ok {
		t.Error("finished run still has a live handle")
	}
	if entries, _ := os.ReadDir(filepath.Join(h.dir, "tmp")); len(entries) != 0 {
		t.Errorf("script files left behind: %v", entries)
	}
}

func TestExecutorFailureStops(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	rb := h.load("name: f\nkind: diagnostic\nsteps:\n  - run: [/bin/sh, -c, 'exit 7']\n  - run: [/bin/echo, never]\n")
	handle, run, _ := h.start(rb, "console:alice")
	snap := h.wait(handle)
	if snap.State != StateFailed || snap.ExitCode != 7 || snap.Reason != "step step-1 exited with code 7" {
		t.Errorf("snapshot = %+v", snap)
	}
	if strings.Contains(h.logOf(run.ID), "never") {
		t.Error("the step after a failure ran")
	}
	rb = h.load("name: g\nkind: diagnostic\nsteps:\n  - run: [/nonexistent/tool]\n")
	handle, _, _ = h.start(rb, "console:alice")
	if snap := h.wait(handle); snap.State != StateFailed || !strings.Contains(snap.Reason, "step step-1 failed") {
		t.Errorf("missing binary: %+v", snap)
	}
}

// TestInjection passes hostile values to argv elements and scripts: every
// value must arrive as one argument (or one env value), nothing may run a
// shell on it and no file may be created.
func TestInjection(t *testing.T) {
	values := []string{"; touch X", "$(touch X)", "`touch X`", "--help", "a\ntouch X\n", "../../etc/passwd", "| touch X", "&& touch X", "' ; touch X ; '", "\" ; touch X"}
	work := t.TempDir()
	h := newHarness(t, ExecutorConfig{})
	// The same runbook twice: x without a pattern (a value starting with
	// "-" is refused), and x with a pattern that allows anything (the
	// author's decision: "--help" then runs, still one argument).
	const yaml = `name: inject
kind: diagnostic
params: [{name: x%[2]s}]
steps:
  - name: echo
    run: [/bin/echo, "{{ .Params.x }}"]
    dir: %[1]s
  - name: argc
    run: [/bin/sh, -c, 'echo "argc=$#"; printf "arg=<%%s>\n" "$1"', sh, "{{ .Params.x }}"]
    dir: %[1]s
  - name: script
    script: |
      printf 'env=<%%s>\n' "$TEBURA_PARAM_X"
      echo "$TEBURA_PARAM_X" > /dev/null
    dir: %[1]s
`
	rb := h.load(fmt.Sprintf(yaml, work, ""))
	rbPattern := h.load(fmt.Sprintf(yaml, work, ", pattern: '(?s).*'"))
	for _, v := range values {
		rb := rb
		if strings.HasPrefix(v, "-") {
			if _, err := rb.ParseArgs([]string{"x=" + v}); err == nil || !strings.Contains(errMessage(err), "must not start with") {
				t.Errorf("%q was not refused for a param without a pattern: %v", v, err)
			}
			rb = rbPattern
		}
		handle, run, err := h.start(rb, "console:mallory", "x="+v)
		if err != nil {
			t.Fatal(err)
		}
		if snap := h.wait(handle); snap.State != StateSucceeded {
			t.Errorf("%q: %+v", v, snap)
		}
		log := h.logOf(run.ID)
		if !strings.Contains(log, "argc=1\n") {
			t.Errorf("%q did not arrive as one argument:\n%s", v, log)
		}
		// (/bin/echo treats a lone --help as its own option: the value still
		// arrived as one argument, which is all argv can promise.)
		if !strings.Contains(log, "arg=<"+v+">") || !strings.Contains(log, "env=<"+v+">") || (v != "--help" && !strings.Contains(log, "step 1/3: echo\n"+v)) {
			t.Errorf("%q was changed on the way:\n%s", v, log)
		}
	}
	entries, _ := os.ReadDir(work)
	if len(entries) != 0 {
		t.Errorf("files were created: %v", entries)
	}
	if _, err := os.Stat("X"); err == nil {
		t.Error("file X created in the test's directory")
	}
}

// procAlive reports whether pid exists and is not a zombie.
func procAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// pidsFrom reads "pid=N pgid=M" from a snapshot.
func pidsFrom(t *testing.T, s Snapshot) (pid, pgid int) {
	t.Helper()
	for _, l := range s.Tail {
		if _, err := fmt.Sscanf(l, "pid=%d pgid=%d", &pid, &pgid); err == nil {
			return pid, pgid
		}
	}
	t.Fatalf("no pid line in %q", s.Tail)
	return 0, 0
}

func assertGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for procAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d is still alive", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

const grandchildScript = `name: spawn
kind: diagnostic
timeout: %s
steps:
  - name: spawn
    timeout: %s
    script: |
      trap '' TERM
      sleep 1000 &
      echo "pid=$! pgid=$$"
      wait
`

func TestTimeoutKillsGrandchildren(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, runTimeout, stepTimeout string
		reason                        string
	}{
		{"step timeout", "1m", "1s", "step spawn timed out after 1s"},
		{"runbook timeout", "1s", "1s", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, ExecutorConfig{KillGrace: 100 * time.Millisecond})
			rb := h.load(fmt.Sprintf(grandchildScript, tt.runTimeout, tt.stepTimeout))
			handle, run, _ := h.start(rb, "console:alice")
			snap := h.wait(handle)
			if snap.State != StateTimedOut {
				t.Fatalf("state = %+v", snap)
			}
			if tt.reason != "" && snap.Reason != tt.reason {
				t.Errorf("reason = %q", snap.Reason)
			}
			pid, pgid := pidsFrom(t, snap)
			assertGone(t, pid, pgid)
			if s := h.store.run(run.ID); s.State != StateTimedOut || s.ExitCode == 0 {
				t.Errorf("stored = %+v", s)
			}
		})
	}
}

func TestCancelKillsGrandchildren(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ExecutorConfig{KillGrace: 100 * time.Millisecond})
	rb := h.load(fmt.Sprintf(grandchildScript, "1m", "1m"))
	handle, run, _ := h.start(rb, "console:alice")
	snap := waitFor(t, handle, "the pid line", func(s Snapshot) bool { return tailHas(s, "pid=") })
	pid, pgid := pidsFrom(t, snap)
	if err := h.exec.Cancel(context.Background(), run.ID, "slack:U2"); err != nil {
		t.Fatal(err)
	}
	snap = h.wait(handle)
	if snap.State != StateCancelled || snap.Reason != "cancelled by slack:U2" {
		t.Errorf("snapshot = %+v", snap)
	}
	assertGone(t, pid, pgid)
	if s := h.store.run(run.ID); s.CancelledBy != "slack:U2" || s.State != StateCancelled {
		t.Errorf("stored = %+v", s)
	}
	if err := h.exec.Cancel(context.Background(), run.ID, "x"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("cancel of an ended run: %v", err)
	}
}

func TestLeftoverBackgroundProcessesDie(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	rb := h.load("name: bg\nkind: diagnostic\nsteps:\n  - script: |\n      sleep 1000 &\n      echo \"pid=$! pgid=$$\"\n")
	handle, _, _ := h.start(rb, "console:alice")
	snap := h.wait(handle)
	if snap.State != StateSucceeded {
		t.Fatalf("snapshot = %+v", snap)
	}
	pid, _ := pidsFrom(t, snap)
	assertGone(t, pid)
}

// TestEscapedHolderOfThePipe: a process that left the step's group (setsid)
// and keeps the output pipe open cannot hold the step: after the pipe drain wait
// the reader is stopped (blocked in read(2), it is woken through /proc)
// and the run ends with the output it had.
func TestEscapedHolderOfThePipe(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	t.Parallel()
	h := newHarness(t, ExecutorConfig{})
	h.exec.waits = shortWaits
	// The step ends only once the escaped process has its own session, so
	// that the group kill misses it.
	flag := filepath.Join(t.TempDir(), "escaped")
	rb := h.load(fmt.Sprintf(`name: escape
kind: diagnostic
steps:
  - script: |
      setsid sh -c 'echo $$ > %[1]s; exec sleep 30' &
      while [ ! -s %[1]s ]; do sleep 0.01; done
      echo "pid=$(cat %[1]s) pgid=$$"
`, flag))
	start := time.Now()
	handle, run, _ := h.start(rb, "console:alice")
	var snap Snapshot
	select {
	case <-handle.Done():
		snap = handle.Snapshot()
	case <-time.After(shortWaits.pipeDrain + 10*time.Second):
		t.Fatal("the step waits for the escaped process")
	}
	pid, _ := pidsFrom(t, snap)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if took := time.Since(start); snap.State != StateSucceeded || took < shortWaits.pipeDrain {
		t.Fatalf("after %s: snapshot = %+v", took, snap)
	}
	if log := h.logOf(run.ID); !strings.Contains(log, "pid=") || !strings.Contains(log, "==> succeeded") {
		t.Errorf("log = %q", log)
	}
}

func TestSecretsNeverLeave(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	var err error
	h.red, err = NewRedactor([]string{"configured-value-42"}, []string{`ghp_[A-Za-z0-9]{10,}`})
	if err != nil {
		t.Fatal(err)
	}
	rb := h.load(`name: secrets
kind: diagnostic
params: [{name: token, secret: true}]
steps:
  - name: leak
    run: [/bin/sh, -c, 'echo "arg $1"; echo "env $API_TOKEN"; echo "param $TEBURA_PARAM_TOKEN"; echo configured-value-42; echo ghp_abcdefghijkl; printf "%s" "$1" | tr a-z a-z', sh, "{{ .Params.token }}"]
    env: {API_TOKEN: "Bearer {{ .Params.token }}"}
  - name: url
    http: {url: "http://127.0.0.1:1/{{ .Params.token }}"}
    continue_on_error: true
  - name: query
    http: {url: "http://127.0.0.1:1/api?token={{ .Params.token }}"}
`)
	handle, run, err := h.start(rb, "console:alice", "token=sup3r-s3cret-value+/=")
	if err != nil {
		t.Fatal(err)
	}
	snap := h.wait(handle)
	log := h.logOf(run.ID)
	stored := h.store.run(run.ID)
	stored.Params = nil // the store keeps the values to render the run; everything else must be masked
	all := strings.Join(snap.Tail, "\n") + "\n" + log + "\n" + fmt.Sprintf("%+v", snap) + fmt.Sprintf("%+v", stored)
	// The secret also must not leak URL-escaped (the host is down, so the
	// request error names the URL).
	for _, secret := range []string{"sup3r-s3cret-value", "sup3r-s3cret-value%2B%2F%3D", "configured-value-42", "ghp_abcdefghijkl"} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q leaked:\n%s", secret, all)
		}
	}
	for _, want := range []string{"arg ***", "env Bearer ***", "param ***"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestHTTPStep(t *testing.T) {
	var gotPath, gotQuery, gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery, gotHeader = r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-Env")
		switch r.URL.Path {
		case "/big":
			w.Write(bytes.Repeat([]byte("b"), MaxHTTPBodyBytes+10))
		case "/fail":
			http.Error(w, "broken", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ok from server")
		}
	}))
	defer srv.Close()
	h := newHarness(t, ExecutorConfig{})
	rb := h.load(`name: web
kind: diagnostic
params: [{name: q, default: "a b&c=d/../e"}, {name: path, default: health}]
steps:
  - name: get
    http:
      url: "` + srv.URL + `/{{ .Params.path }}?q={{ .Params.q }}"
      headers: {X-Env: "env {{ .Params.q }}"}
`)
	handle, run, _ := h.start(rb, "console:alice")
	if snap := h.wait(handle); snap.State != StateSucceeded {
		t.Fatalf("snapshot = %+v", snap)
	}
	if gotPath != "/health" || gotQuery != "q=a%20b%26c%3Dd%2F..%2Fe" || gotHeader != "env a b&c=d/../e" {
		t.Errorf("server saw path %q query %q header %q", gotPath, gotQuery, gotHeader)
	}
	if log := h.logOf(run.ID); !strings.Contains(log, "HTTP/1.1 200 OK\nok from server\n") {
		t.Errorf("log:\n%s", log)
	}
	handle, run, _ = h.start(rb, "console:alice", "path=fail")
	if snap := h.wait(handle); snap.State != StateFailed || snap.Reason != "step get got HTTP 503 Service Unavailable" {
		t.Errorf("snapshot = %+v", snap)
	}
	handle, run, _ = h.start(rb, "console:alice", "path=big")
	h.wait(handle)
	if log := h.logOf(run.ID); !strings.Contains(log, "==> response body cut at 65536 bytes") || len(log) > MaxHTTPBodyBytes+1000 {
		t.Errorf("big body not capped (%d bytes)", len(log))
	}
}

func TestLockConflict(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	rb := h.load("name: locked\nkind: remediation\nparams: [{name: svc, default: api}]\nlock: 'deploy-{{ .Params.svc }}'\nsteps:\n  - run: [sleep, '1000']\n")
	var wg sync.WaitGroup
	type result struct {
		h   *Handle
		run *Run
		err error
	}
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hd, run, err := h.start(rb, fmt.Sprintf("slack:U%d", i))
			results[i] = result{hd, run, err}
		}()
	}
	wg.Wait()
	var winner, loser *result
	for i := range results {
		if results[i].err == nil {
			winner = &results[i]
		} else {
			loser = &results[i]
		}
	}
	if winner == nil || loser == nil {
		t.Fatalf("want one run and one refusal, got %+v", results)
	}
	var le *LockedError
	if !errors.As(loser.err, &le) || tebura.ErrorCode(loser.err) != tebura.ECONFLICT {
		t.Fatalf("refusal = %v", loser.err)
	}
	msg := tebura.ErrorMessage(loser.err)
	if !strings.Contains(msg, "Lock deploy-api is held by run "+winner.run.ID+", requested by "+winner.run.RequestedBy+", since ") {
		t.Errorf("message = %q", msg)
	}
	if s := h.store.run(loser.run.ID); s.State != StateFailed || !strings.Contains(s.Reason, "lock held by run "+winner.run.ID) {
		t.Errorf("refused run stored as %+v", s)
	}
	h.exec.Cancel(context.Background(), winner.run.ID, "console:alice")
	h.wait(winner.h)
	if locks, _ := h.store.Locks(context.Background()); len(locks) != 0 {
		t.Errorf("lock not released: %v", locks)
	}
	// Free again: a new run takes it.
	hd, run, err := h.start(rb, "slack:U9")
	if err != nil {
		t.Fatal(err)
	}
	h.exec.Cancel(context.Background(), run.ID, "console:alice")
	h.wait(hd)
}

func TestQueue(t *testing.T) {
	h := newHarness(t, ExecutorConfig{MaxConcurrent: 1})
	rb := h.load("name: q\nkind: diagnostic\nsteps:\n  - run: [sleep, '1000']\n")
	first, r1, _ := h.start(rb, "console:a")
	second, r2, _ := h.start(rb, "console:b")
	third, r3, _ := h.start(rb, "console:c")
	if s := second.Snapshot(); s.State != StateQueued || !strings.Contains(s.Reason, "position 1") {
		t.Errorf("second = %+v", s)
	}
	if s := third.Snapshot(); s.State != StateQueued || !strings.Contains(s.Reason, "position 2") {
		t.Errorf("third = %+v", s)
	}
	if s := h.store.run(r3.ID); s.State != StateQueued || !strings.Contains(s.Reason, "position 2") {
		t.Errorf("stored third = %+v", s)
	}
	// Cancelling a queued run takes it out of the queue.
	h.exec.Cancel(context.Background(), r2.ID, "console:z")
	if s := h.wait(second); s.State != StateCancelled {
		t.Errorf("second = %+v", s)
	}
	if s := third.Snapshot(); !strings.Contains(s.Reason, "position 1") {
		t.Errorf("third after cancel = %+v", s)
	}
	h.exec.Cancel(context.Background(), r1.ID, "console:z")
	h.wait(first)
	waitFor(t, third, "third running", func(s Snapshot) bool { return s.State == StateRunning })
	h.exec.Cancel(context.Background(), r3.ID, "console:z")
	h.wait(third)
}

func TestShutdownInterrupts(t *testing.T) {
	h := newHarness(t, ExecutorConfig{MaxConcurrent: 1, KillGrace: 100 * time.Millisecond})
	rb := h.load("name: s\nkind: diagnostic\nlock: one\nsteps:\n  - run: [sleep, '1000']\n")
	rb2 := h.load("name: t\nkind: diagnostic\nsteps:\n  - run: [sleep, '1000']\n")
	running, r1, _ := h.start(rb, "console:a")
	queuedH, r2, _ := h.start(rb2, "console:b")
	waitFor(t, running, "running", func(s Snapshot) bool { return s.State == StateRunning })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.exec.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v", err)
	}
	for _, r := range []*Run{r1, r2} {
		if s := h.store.run(r.ID); s.State != StateInterrupted {
			t.Errorf("%s = %+v", r.ID, s)
		}
	}
	if s := queuedH.Snapshot(); s.State != StateInterrupted {
		t.Errorf("queued = %+v", s)
	}
	if locks, _ := h.store.Locks(context.Background()); len(locks) != 0 {
		t.Errorf("locks = %v", locks)
	}
	if _, _, err := h.start(rb2, "console:c"); tebura.ErrorCode(err) != tebura.ETRANSIENT {
		t.Errorf("start after shutdown: %v", err)
	}
}

func TestSubscriberSeesFinalSnapshot(t *testing.T) {
	h := newHarness(t, ExecutorConfig{TailLines: 5})
	rb := h.load("name: sub\nkind: diagnostic\nsteps:\n  - script: |\n      i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done\n")
	handle, _, _ := h.start(rb, "console:a")
	sub := handle.Subscribe()
	for range sub.C() {
		// a slow reader: read one snapshot per notification
		_ = sub.Snapshot()
	}
	s := sub.Snapshot()
	if s.State != StateSucceeded || len(s.Tail) != 5 || s.Tail[3] != "line 1999" || s.Tail[4] != "==> succeeded" || s.Lines != 2002 {
		t.Errorf("final = %+v", s)
	}
	late := handle.Subscribe()
	if _, ok := <-late.C(); ok {
		t.Error("a subscription after the end is not closed")
	}
	late.Close()
}

func TestLongLinesAreCut(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	rb := h.load("name: long\nkind: diagnostic\nsteps:\n  - script: head -c 200000 /dev/zero | tr '\\0' x\n")
	handle, run, _ := h.start(rb, "console:a")
	snap := h.wait(handle)
	log := h.logOf(run.ID)
	lines := strings.Split(log, "\n")
	if len(lines[1]) != MaxLineBytes || len(lines[4]) != 200000-3*MaxLineBytes {
		t.Errorf("lines: %d %d %d %d", len(lines[1]), len(lines[2]), len(lines[3]), len(lines[4]))
	}
	for _, l := range snap.Tail {
		if len(l) > MaxTailLineBytes+len("…") {
			t.Errorf("tail line of %d bytes", len(l))
		}
	}
}

func TestStartRefusesUnapproved(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	run := &Run{Runbook: "x", State: StatePendingApproval, Required: 1}
	h.store.CreateRun(context.Background(), run)
	_, err := h.exec.Start(context.Background(), run, Job{Steps: []RenderedStep{{Kind: StepRun, Argv: []string{"true"}}}})
	if tebura.ErrorCode(err) != tebura.ECONFLICT {
		t.Errorf("err = %v", err)
	}
}

func TestExitCodeOfSignal(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	rb := h.load("name: sig\nkind: diagnostic\nsteps:\n  - script: kill -9 $$\n")
	handle, _, _ := h.start(rb, "console:a")
	if s := h.wait(handle); s.ExitCode != 137 || s.State != StateFailed {
		t.Errorf("snapshot = %+v", s)
	}
	_ = strconv.Itoa
}

// TestSecretMaskingExample runs the shipped example: its output must show
// *** where the token was echoed.
func TestSecretMaskingExample(t *testing.T) {
	reg, problems := Load(LoadOptions{Dirs: []string{"examples"}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, ok := reg.Get("secret-masking")
	if !ok {
		t.Fatal("secret-masking example missing")
	}
	h := newHarness(t, ExecutorConfig{})
	handle, run, err := h.start(rb, "console:alice", "token=tok-9f8e7d")
	if err != nil {
		t.Fatal(err)
	}
	snap := h.wait(handle)
	log := h.logOf(run.ID)
	if snap.State != StateSucceeded || !strings.Contains(log, "calling the API with token ***\nagain: ***\n") {
		t.Errorf("state %s, log:\n%s", snap.State, log)
	}
	if strings.Contains(log+strings.Join(snap.Tail, "\n"), "tok-9f8e7d") {
		t.Error("the token leaked")
	}
}

// TestStartWithoutTimeoutIsBounded starts a Job that comes without a
// Timeout (as a caller building a Job by hand might): the executor applies
// its default instead of letting the run go on forever.
func TestStartWithoutTimeoutIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ExecutorConfig{KillGrace: 100 * time.Millisecond, DefaultTimeout: 300 * time.Millisecond})
	rb := h.load("name: slow\nkind: diagnostic\nsteps:\n  - run: [sleep, \"30\"]\n")
	steps, err := rb.Render(Values{})
	if err != nil {
		t.Fatal(err)
	}
	run := &Run{Runbook: rb.Name, Kind: rb.Kind, RequestedBy: "console:alice", RequestedAt: time.Now(), State: StateApproved}
	if err := h.store.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	handle, err := h.exec.Start(context.Background(), run, Job{Steps: steps, Masker: h.red})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-handle.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("a run without a timeout is still running: %+v", handle.Snapshot())
	}
	if snap := handle.Snapshot(); snap.State != StateTimedOut || snap.Reason != "timed out after 300ms" {
		t.Fatalf("snapshot = %+v, want timed out after the default", snap)
	}
}
