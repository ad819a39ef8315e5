package ansible

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/runbooks/step/ssh/sshdtest"
	"github.com/tebura/tebura/store/bolt"
)

// needAnsible skips under -short, and where ansible-playbook is missing:
// fails in CI (which installs Debian's ansible), skips elsewhere.
func needAnsible(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real ansible-playbook against real OpenSSH servers; skipped under -short")
	}
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; .ci/run installs Debian's ansible", DefaultBinary)
		}
		t.Skipf("%s is missing: apt-get install ansible to run the ansible tests", DefaultBinary)
	}
}

// fleet is n real sshd hosts as targets h0, h1, … and the runner's
// config for them.
type fleet struct {
	*sshdtest.Fleet
	cfg Config
}

func startFleet(t testing.TB, n int) *fleet {
	t.Helper()
	needAnsible(t)
	f := &fleet{Fleet: sshdtest.Start(t, n)}
	f.cfg = Config{Targets: map[string]Target{}, KnownHosts: f.KnownHosts, KillGrace: time.Second, TempDir: t.TempDir()}
	for i, h := range f.Hosts {
		host, port, _ := strings.Cut(h.Addr, ":")
		var p int
		fmt.Sscan(port, &p)
		f.cfg.Targets[fmt.Sprintf("h%d", i)] = Target{Host: host, Port: p, User: f.User, Identity: f.Identity}
	}
	return f
}

func (f *fleet) names() []string {
	var n []string
	for i := range f.Hosts {
		n = append(n, fmt.Sprintf("h%d", i))
	}
	return n
}

// writePlaybook writes a playbook into a new directory and returns its path.
func writePlaybook(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "playbook.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// events collects task events.
type events struct {
	mu  sync.Mutex
	all []runbooks.TaskEvent
}

func (e *events) add(ev runbooks.TaskEvent) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) find(task, host string) (runbooks.TaskEvent, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all {
		if ev.Task == task && ev.Host == host {
			return ev, true
		}
	}
	return runbooks.TaskEvent{}, false
}

// markerPlaybook writes a file per host under dir (changed the first
// time, ok the second), then fails on the hosts listed in fail_on.
const markerPlaybook = `
- hosts: all
  gather_facts: false
  tasks:
    - name: Write marker
      copy:
        dest: "{{ dir }}/{{ inventory_hostname }}.txt"
        content: "{{ value }}"
    - name: Look around
      command: "true"
      changed_when: false
    - name: Fail where asked
      command: "false"
      when: inventory_hostname in (fail_on | default('')).split(',')
`

// TestTaskEvents: every task's result on every host arrives as an event,
// with changed told apart from ok, and the run exits 0.
func TestTaskEvents(t *testing.T) {
	f := startFleet(t, 2)
	dir := t.TempDir()
	pb := writePlaybook(t, markerPlaybook)
	var ev events
	var out strings.Builder
	code, err := New(f.cfg).RunPlaybook(context.Background(), runbooks.AnsibleRequest{Playbook: pb, Targets: f.names(),
		Vars: map[string]string{"dir": dir, "value": "hello"}}, false, &lockedWriter{w: &out}, ev.add)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, out.String())
	}
	for _, want := range []runbooks.TaskEvent{
		{Task: "Write marker", Host: "h0", Status: runbooks.TaskChanged},
		{Task: "Write marker", Host: "h1", Status: runbooks.TaskChanged},
		{Task: "Look around", Host: "h0", Status: runbooks.TaskOK},
		{Task: "Look around", Host: "h1", Status: runbooks.TaskOK},
		{Task: "Fail where asked", Host: "h0", Status: runbooks.TaskSkipped},
		{Task: "Fail where asked", Host: "h1", Status: runbooks.TaskSkipped},
	} {
		got, ok := ev.find(want.Task, want.Host)
		if !ok || got.Status != want.Status {
			t.Errorf("%s on %s: got %+v (found %v), want %s\nall: %+v\nout: %s", want.Task, want.Host, got, ok, want.Status, ev.all, out.String())
		}
	}
	for _, h := range f.names() {
		b, err := os.ReadFile(filepath.Join(dir, h+".txt"))
		if err != nil || string(b) != "hello" {
			t.Errorf("%s's marker = %q, %v", h, b, err)
		}
	}
}

// runStep runs one ansible step through the real executor with this
// package's runner, and returns the ended run's snapshot and full log.
func runStep(t *testing.T, r runbooks.PlaybookRunner, step runbooks.RenderedStep, ctx context.Context) (runbooks.Snapshot, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ex := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: dir, Playbooks: r, KillGrace: time.Second}, nil)
	run := &runbooks.Run{Runbook: "fleet", Kind: runbooks.KindRemediation, RequestedBy: "console:test", RequestedAt: time.Now(), State: runbooks.StateApproved}
	if err := st.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	h, err := ex.Start(ctx, run, runbooks.Job{Steps: []runbooks.RenderedStep{step}, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Done() != nil {
		go func() {
			<-ctx.Done()
			_ = ex.Cancel(context.Background(), run.ID, "console:test")
		}()
	}
	select {
	case <-h.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("the run did not end within two minutes")
	}
	log, err := os.ReadFile(filepath.Join(dir, "logs", run.ID+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return h.Snapshot(), string(log)
}

// TestStepLinesAndFailure: through the executor, each task's result is a
// line "[host] status: task", and a task failing on one host fails the
// step with ansible's exit code, naming the failure.
func TestStepLinesAndFailure(t *testing.T) {
	f := startFleet(t, 2)
	pb := writePlaybook(t, markerPlaybook)
	tests := []struct {
		name      string
		failOn    string
		wantState runbooks.State
		wantLines []string
	}{
		{"all succeed", "", runbooks.StateSucceeded, []string{
			"[h0] changed: Write marker\n", "[h1] changed: Write marker\n", "[h0] ok: Look around\n", "[h1] skipped: Fail where asked\n",
			"==> fleet: task Fail where asked; 2 ok, 2 changed, 2 skipped"}},
		{"a task fails on one host", "h1", runbooks.StateFailed, []string{
			"[h0] changed: Write marker\n", "[h0] skipped: Fail where asked\n", "[h1] failed: Fail where asked (non-zero return code)\n",
			"1 failed (h1)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := runbooks.RenderedStep{Name: "fleet", Kind: runbooks.StepAnsible, Ansible: &runbooks.AnsibleRequest{
				Playbook: pb, On: "role=api", Targets: f.names(),
				Vars: map[string]string{"dir": t.TempDir(), "value": "v", "fail_on": tt.failOn}}}
			snap, log := runStep(t, New(f.cfg), step, context.Background())
			if snap.State != tt.wantState {
				t.Fatalf("state %s (%s), want %s\n%s", snap.State, snap.Reason, tt.wantState, log)
			}
			for _, want := range tt.wantLines {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			if tt.wantState == runbooks.StateFailed && (snap.ExitCode != 2 || !strings.Contains(snap.Reason, "a task failed")) {
				t.Errorf("exit %d, reason %q; want ansible's 2 and a task failed", snap.ExitCode, snap.Reason)
			}
		})
	}
}

// TestInjectionStaysData: values that would run commands if ansible
// rendered them as templates, or if a shell saw them, reach the playbook
// as the exact strings, and nothing they name ran.
func TestInjectionStaysData(t *testing.T) {
	f := startFleet(t, 1)
	dir := t.TempDir()
	pwned := filepath.Join(t.TempDir(), "pwned")
	values := []string{
		`{{ lookup('pipe', 'touch ` + pwned + `1') }}`,
		`{% for x in [1] %}{{ lookup('pipe','touch ` + pwned + `2') }}{% endfor %}`,
		`$(touch ` + pwned + `3)`,
		"'; touch " + pwned + "4; echo '",
		"line1\nline2 `touch " + pwned + "5`",
		`-e @/etc/passwd --become`,
		`!unsafe "x" {{ 7*7 }}`,
	}
	// One run carries every value: a task per value writes it to a file.
	pb := "- hosts: all\n  gather_facts: false\n  tasks:\n"
	vars := map[string]string{"dir": dir}
	for i, v := range values {
		vars[fmt.Sprintf("v%d", i)] = v
		pb += fmt.Sprintf("    - name: Write v%d\n      copy: {dest: \"{{ dir }}/v%d.txt\", content: \"{{ v%d }}\"}\n", i, i, i)
	}
	var ev events
	var out strings.Builder
	code, err := New(f.cfg).RunPlaybook(context.Background(), runbooks.AnsibleRequest{Playbook: writePlaybook(t, pb), Targets: f.names(),
		Vars: vars}, false, &lockedWriter{w: &out}, ev.add)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, out.String())
	}
	for i, v := range values {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("v%d.txt", i)))
		if err != nil || string(b) != v {
			t.Errorf("the playbook got %q (%v), want the value as it was: %q", b, err, v)
		}
	}
	for n := 1; n <= 5; n++ {
		if _, err := os.Stat(fmt.Sprintf("%s%d", pwned, n)); err == nil {
			t.Errorf("%s%d exists: a value ran as code", pwned, n)
		}
	}
}

// TestVarsNeverOnCommandLine: the extra vars travel in a file whose mode
// is 0600, the command line holds only its path, and the private
// directory is gone after the run.
func TestVarsNeverOnCommandLine(t *testing.T) {
	tmp := t.TempDir()
	// A fake ansible-playbook that records its argv, the vars file's mode
	// and contents.
	fake := filepath.Join(tmp, "fake-ansible-playbook")
	record := filepath.Join(tmp, "record")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + record + "\nfor a; do case \"$a\" in @*) f=${a#@}; stat -c %a \"$f\" >> " + record +
		"; cat \"$f\" >> " + record + "; stat -c %a \"$(dirname \"$f\")\" >> " + record + ";; esac; done\n"
	if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	secret := "s3cr3t-value"
	r := New(Config{Binary: fake, TempDir: tmp, Targets: map[string]Target{"h0": {Host: "127.0.0.1", User: "u", Identity: "/k"}}})
	code, err := r.RunPlaybook(context.Background(), runbooks.AnsibleRequest{Playbook: "/p.yml", Targets: []string{"h0"},
		Vars: map[string]string{"token": secret}}, false, &strings.Builder{}, func(runbooks.TaskEvent) {})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	argEnd := slices.Index(lines, "/p.yml")
	if argEnd < 0 {
		t.Fatalf("the playbook is not an argument:\n%s", b)
	}
	if args := strings.Join(lines[:argEnd+1], "\n"); strings.Contains(args, secret) {
		t.Errorf("a var's value is on the command line:\n%s", args)
	}
	rest := strings.Join(lines[argEnd+1:], "\n")
	if !strings.HasPrefix(rest, "600\n") || !strings.Contains(rest, `token: !unsafe "`+secret+`"`) || !strings.Contains(rest, "\n700\n") {
		t.Errorf("vars file: want mode 600, the value tagged !unsafe, its directory 700; got:\n%s", rest)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "tebura-ansible-*"))
	if len(left) > 0 {
		t.Errorf("private directories left behind: %v", left)
	}
}

// TestHostKeyRefused: a target whose host key is not in known_hosts is
// unreachable, never accepted, and the step fails.
func TestHostKeyRefused(t *testing.T) {
	f := startFleet(t, 1)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := f.cfg
	cfg.KnownHosts = empty
	dir := t.TempDir()
	var ev events
	var out strings.Builder
	code, err := New(cfg).RunPlaybook(context.Background(), runbooks.AnsibleRequest{Playbook: writePlaybook(t, markerPlaybook),
		Targets: f.names(), Vars: map[string]string{"dir": dir, "value": "x"}}, false, &lockedWriter{w: &out}, ev.add)
	if err != nil || code == 0 {
		t.Fatalf("code %d err %v: an unknown host key was accepted\n%s", code, err, out.String())
	}
	got, ok := ev.find("Write marker", "h0")
	if !ok || got.Status != runbooks.TaskUnreachable || !strings.Contains(got.Msg, "Host key verification failed") {
		t.Errorf("event %+v (found %v), want unreachable with host key verification failed", got, ok)
	}
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Errorf("known_hosts was written to: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "h0.txt")); err == nil {
		t.Error("the task ran on a host whose key is unknown")
	}
}

// TestStopKillsProcessGroup: cancelling a run, or its timeout, while a
// task sleeps on a target ends ansible-playbook and everything it started
// locally (workers, ssh clients), and the remote sleep too (the session's
// terminal hangs up), and the step ends cancelled or timed out.
func TestStopKillsProcessGroup(t *testing.T) {
	f := startFleet(t, 1)
	for _, how := range []string{"cancel", "timeout"} {
		t.Run(how, func(t *testing.T) {
			marker := fmt.Sprintf("%d.%06d", 900+time.Now().Nanosecond()%90, time.Now().UnixNano()%1000000)
			pb := writePlaybook(t, `
- hosts: all
  gather_facts: false
  tasks:
    - name: Sleep
      command: sleep `+marker+`
`)
			t.Cleanup(func() { killByMarker(marker) })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			step := runbooks.RenderedStep{Name: "fleet", Kind: runbooks.StepAnsible, Ansible: &runbooks.AnsibleRequest{Playbook: pb, Targets: f.names()}}
			want := runbooks.StateCancelled
			runCtx := ctx
			if how == "timeout" {
				step.Timeout, want, runCtx = 20*time.Second, runbooks.StateTimedOut, context.Background()
			} else {
				go func() {
					// Cancel once the sleep runs on the target.
					for ctx.Err() == nil {
						if exec.Command("pgrep", "-f", "sleep "+marker).Run() == nil {
							cancel()
							return
						}
						time.Sleep(50 * time.Millisecond)
					}
				}()
			}
			snap, log := runStep(t, New(f.cfg), step, runCtx)
			if snap.State != want {
				t.Fatalf("state %s (%s), want %s\n%s", snap.State, snap.Reason, want, log)
			}
			// Locally nothing of the playbook's process group is left:
			// neither ansible-playbook and its workers (their arguments name
			// the private directory under TempDir) nor the ssh clients
			// (theirs name the known_hosts file). Signals are delivered by
			// the time the step ends.
			for _, what := range []string{f.cfg.TempDir, f.KnownHosts} {
				if out, _ := exec.Command("pgrep", "-af", what).Output(); len(out) > 0 {
					t.Errorf("local processes left after %s:\n%s", how, out)
				}
			}
			// On the target, sshd hangs up the session's terminal when the
			// connection drops; that takes a moment.
			deadline := time.Now().Add(5 * time.Second)
			for exec.Command("pgrep", "-f", "sleep "+marker).Run() == nil {
				if time.Now().After(deadline) {
					t.Fatalf("the remote sleep is left after %s", how)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// killByMarker kills, by pid, the test's own sleep if a failed test left it.
func killByMarker(marker string) {
	out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
