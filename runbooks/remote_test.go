package runbooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
)

var fleetInventory = []Target{
	{Name: "api-1", Labels: map[string]string{"role": "api", "env": "prod"}},
	{Name: "api-2", Labels: map[string]string{"role": "api", "env": "prod"}},
	{Name: "api-3", Labels: map[string]string{"role": "api", "env": "staging"}},
	{Name: "db-1", Labels: map[string]string{"role": "db", "env": "prod"}},
}

const fleetRunbook = `name: fleet-restart
kind: remediation
params:
  - {name: env, type: enum, values: [prod, staging, "prod,role=db"]}
  - {name: unit, type: string, pattern: "[a-z.-]+"}
steps:
  - name: restart
    ssh:
      on: 'role=api,env={{ .Params.env }}'
      run: [systemctl, restart, "{{ .Params.unit }}"]
      parallel: 2
      fail_fast: true
`

func loadFleet(t *testing.T, inv []Target) *Runbook {
	t.Helper()
	dir := t.TempDir()
	writeRunbook(t, dir, "a.yaml", fleetRunbook)
	reg, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole, Targets: inv})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, _ := reg.Get("fleet-restart")
	return rb
}

// TestSSHPlanResolvesTargets: the selector picks targets by labels, the
// plan shows them, and the hash changes when the inventory would add one
// (so an approval does not cover a target added afterwards).
func TestSSHPlanResolvesTargets(t *testing.T) {
	rb := loadFleet(t, fleetInventory)
	v, err := rb.ParseArgs([]string{"env=prod", "unit=api.service"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := rb.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	s := steps[0]
	if s.Kind != StepSSH || !slices.Equal(s.SSH.Targets, []string{"api-1", "api-2"}) || s.SSH.On != "role=api,env=prod" {
		t.Fatalf("rendered %+v %+v", s, s.SSH)
	}
	if !slices.Equal(s.Argv, []string{"systemctl", "restart", "api.service"}) {
		t.Errorf("argv %q", s.Argv)
	}
	plan, err := rb.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.String(), "ssh systemctl restart api.service on role=api,env=prod: api-1, api-2 (2 at a time, fail fast)") {
		t.Errorf("plan does not list the targets:\n%s", plan)
	}
	more := append(slices.Clone(fleetInventory), Target{Name: "api-4", Labels: map[string]string{"role": "api", "env": "prod"}})
	plan2, err := loadFleet(t, more).Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	if plan2.Hash == plan.Hash {
		t.Error("a target added to the inventory leaves the plan hash unchanged")
	}
	run := &Run{PlanHash: plan.Hash}
	steps2, _ := loadFleet(t, more).Render(v)
	if err := sameTargets(run, loadFleet(t, more), v, steps2); err == nil || !strings.Contains(err.Error(), "api-4") {
		t.Errorf("sameTargets = %v; want the run refused naming the new target set", err)
	}
	if err := sameTargets(run, rb, v, steps); err != nil {
		t.Errorf("sameTargets with the same inventory = %v", err)
	}
}

// TestSSHSelectorCannotBeWidened: a param value that would add a clause
// (an enum value holding ",role=db") is refused at render, and a selector
// that matches nothing says so.
func TestSSHSelectorCannotBeWidened(t *testing.T) {
	rb := loadFleet(t, fleetInventory)
	v, err := rb.ParseArgs([]string{"env=prod,role=db", "unit=x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Render(v); err == nil || !strings.Contains(err.Error(), "not a label value") {
		t.Errorf("Render = %v; want the value refused", err)
	}
	rb = loadFleet(t, fleetInventory[3:])
	v, _ = rb.ParseArgs([]string{"env=prod", "unit=x"})
	if _, err := rb.Render(v); err == nil || !strings.Contains(err.Error(), "selects no target") {
		t.Errorf("Render = %v; want no target selected", err)
	}
}

// TestSSHLoadProblems: what the loader refuses in an ssh step.
func TestSSHLoadProblems(t *testing.T) {
	head := "name: a\nkind: diagnostic\nparams:\n  - {name: free, type: string}\n  - {name: env, type: enum, values: [prod]}\nsteps:\n  - ssh:\n"
	tests := []struct{ name, body, want string }{
		{"no selector", "      run: [uptime]\n", "steps[0].ssh.on: is empty"},
		{"clause without value", "      on: role\n      run: [uptime]\n", `"role" is not key=value`},
		{"templated key", "      on: '{{ .Params.env }}=x'\n      run: [uptime]\n", "is not a label name"},
		{"free-form param picks targets", "      on: 'env={{ .Params.free }}'\n      run: [uptime]\n", "neither an enum nor has a pattern"},
		{"run and script", "      on: role=api\n      run: [uptime]\n      script: uptime\n", "has run and script"},
		{"nothing to run", "      on: role=api\n", "needs run"},
		{"templated program", "      on: role=api\n      run: ['{{ .Params.env }}']\n", "is the program to run"},
		{"code argument", "      on: role=api\n      run: [sh, -c, 'echo {{ .Params.env }}']\n", "puts a template into program text"},
		{"unknown key", "      on: role=api\n      run: [uptime]\n      host: x\n", `unknown key "host"`},
		{"literal selector matching nothing", "      on: role=cache\n      run: [uptime]\n", "role=cache selects no target"},
		{"negative parallel", "      on: role=api\n      run: [uptime]\n      parallel: -1\n", "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRunbook(t, dir, "a.yaml", head+tt.body)
			_, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole, Targets: fleetInventory})
			var all []string
			for _, p := range problems {
				all = append(all, p.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Errorf("problems %q; want one with %q", all, tt.want)
			}
		})
	}
}

// fakeTargets is a TargetRunner whose targets end as told: code per
// target, and "block" ones run until their context ends.
type fakeTargets struct {
	mu            sync.Mutex
	codes         map[string]int
	block         map[string]bool
	started       []string
	running, peak int
	release       chan struct{}
}

func (f *fakeTargets) RunOn(ctx context.Context, target string, cmd RemoteCommand, out io.Writer) (int, error) {
	f.mu.Lock()
	f.started = append(f.started, target)
	f.running++
	f.peak = max(f.peak, f.running)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	fmt.Fprintf(out, "hello from %s\npartial", target)
	if f.block[target] {
		<-ctx.Done()
		return -1, nil
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return -1, nil
		}
	}
	if c := f.codes[target]; c != 0 {
		return c, nil
	}
	if target == "unreachable" {
		return -1, errors.New("could not connect")
	}
	return 0, nil
}

// TestSSHFanOutPrefixesAndStatus: each target's lines (a last line
// without newline too) carry its name, an unreachable target's reason is
// noted, and the summary counts the states.
func TestSSHFanOutPrefixesAndStatus(t *testing.T) {
	h := newHarness(t, ExecutorConfig{Targets: &fakeTargets{}})
	snap, log := h.runSSH(&SSHRequest{On: "role=api", Targets: []string{"a", "b", "unreachable"}, Parallel: 3})
	if snap.State != StateFailed {
		t.Fatalf("state %s", snap.State)
	}
	for _, want := range []string{"[a] hello from a\n", "[a] partial\n", "[b] hello from b\n", "[unreachable] failed: could not connect", "fleet: 2/3 ok, 1 failed"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// runSSH runs one ssh step of uptime on req's targets and returns the
// ended run's snapshot and log.
func (h *harness) runSSH(req *SSHRequest) (Snapshot, string) {
	h.t.Helper()
	run := &Run{Runbook: "fleet", Kind: KindDiagnostic, RequestedBy: "console:test", State: StateApproved}
	if err := h.store.CreateRun(context.Background(), run); err != nil {
		h.t.Fatal(err)
	}
	handle, err := h.exec.Start(context.Background(), run, Job{Steps: []RenderedStep{{Name: "fleet", Kind: StepSSH, Argv: []string{"uptime"}, SSH: req}}})
	if err != nil {
		h.t.Fatal(err)
	}
	snap := h.wait(handle)
	return snap, h.logOf(run.ID)
}

// TestSSHFanOutFailFast: with fail_fast, a failing target stops the one
// still running and the ones not started never start; without it, all
// run. The parallel limit holds (peak running).
func TestSSHFanOutFailFast(t *testing.T) {
	tests := []struct {
		name        string
		failFast    bool
		parallel    int
		block       map[string]bool
		wantStarted []string
		summary     string
	}{
		{"fail fast stops the running", true, 2, map[string]bool{"a": true}, []string{"a", "b"}, "0/4 ok, 1 failed, 3 cancelled"},
		{"fail fast, one at a time", true, 1, nil, []string{"a", "b"}, "1/4 ok, 1 failed, 2 cancelled"},
		{"without fail fast all run", false, 2, nil, []string{"a", "b", "c", "d"}, "3/4 ok, 1 failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTargets{codes: map[string]int{"b": 5}, block: tt.block}
			h := newHarness(t, ExecutorConfig{Targets: ft})
			snap, log := h.runSSH(&SSHRequest{On: "role=api", Targets: []string{"a", "b", "c", "d"}, Parallel: tt.parallel, FailFast: tt.failFast})
			if snap.State != StateFailed || snap.ExitCode != 5 {
				t.Fatalf("state %s code %d (%s); want failed with b's 5", snap.State, snap.ExitCode, snap.Reason)
			}
			slices.Sort(ft.started)
			if !slices.Equal(ft.started, tt.wantStarted) {
				t.Errorf("started %v, want %v", ft.started, tt.wantStarted)
			}
			if ft.peak > tt.parallel {
				t.Errorf("%d targets ran at once; parallel is %d", ft.peak, tt.parallel)
			}
			if !strings.Contains(log, "fleet: "+tt.summary) || !strings.Contains(snap.Reason, "b") {
				t.Errorf("want summary %q and b named; reason %q, log:\n%s", tt.summary, snap.Reason, log)
			}
		})
	}
}

// TestSSHWithoutRunner: an executor built without a TargetRunner fails an
// ssh step with a sentence instead of panicking.
func TestSSHWithoutRunner(t *testing.T) {
	h := newHarness(t, ExecutorConfig{})
	snap, _ := h.runSSH(&SSHRequest{On: "role=api", Targets: []string{"a"}, Parallel: 1})
	if snap.State != StateFailed || !strings.Contains(snap.Reason, "no SSH runner") {
		t.Errorf("state %s, reason %q", snap.State, snap.Reason)
	}
}

// secretTargets prints a secret on every target.
type secretTargets struct{}

func (secretTargets) RunOn(ctx context.Context, target string, cmd RemoteCommand, out io.Writer) (int, error) {
	fmt.Fprintf(out, "token=s3cr3t-%s\n", "value")
	return 0, nil
}

// TestSSHOutputMasked: remote output is masked like local output, the
// prefix notwithstanding.
func TestSSHOutputMasked(t *testing.T) {
	h := newHarness(t, ExecutorConfig{Targets: secretTargets{}})
	red, err := NewRedactor([]string{"s3cr3t-value"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := &Run{Runbook: "fleet", Kind: KindDiagnostic, RequestedBy: "console:test", State: StateApproved}
	if err := h.store.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	handle, err := h.exec.Start(context.Background(), run, Job{Masker: red, Steps: []RenderedStep{{Name: "fleet", Kind: StepSSH, Argv: []string{"env"},
		SSH: &SSHRequest{On: "role=api", Targets: []string{"a", "b"}, Parallel: 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	snap := h.wait(handle)
	log := h.logOf(run.ID)
	if strings.Contains(log+strings.Join(snap.Tail, "\n"), "s3cr3t-value") || !strings.Contains(log, "[a] token=***") {
		t.Errorf("secret not masked in the remote output:\n%s", log)
	}
}

const approvedFleetBook = `
name: fleet
kind: remediation
allow: [dev]
approval: {required: 1, approvers: [sre]}
steps:
  - name: restart
    ssh: {on: role=api, run: [uptime]}
`

// TestSSHTargetAddedAfterApprovalDoesNotJoin: a run approved for api-1
// and api-2 is refused at start once the inventory (reloaded with the
// runbooks) also selects api-4: nothing runs on any target.
func TestSSHTargetAddedAfterApprovalDoesNotJoin(t *testing.T) {
	ft := &fakeTargets{}
	sh := newSvcHarnessCfg(t, ExecutorConfig{Targets: ft})
	load := func(inv []Target) *Runbook {
		dir := t.TempDir()
		writeRunbook(t, dir, "rb.yaml", approvedFleetBook)
		reg, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole, Targets: inv})
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		rb, _ := reg.Get("fleet")
		return rb
	}
	ctx := context.Background()
	rb := load(fleetInventory)
	p, err := sh.svc.Request(ctx, Request{Runbook: rb, By: "slack:UREQ", Via: ViaChat})
	if err != nil {
		t.Fatal(err)
	}
	approved, now, err := sh.svc.Approve(ctx, p.Run.ID, Decision{By: "slack:UB"}, false, p.Run.PlanHash, nil)
	if err != nil || !now {
		t.Fatalf("approval: now=%v err=%v", now, err)
	}
	reloaded := load(append(slices.Clone(fleetInventory), Target{Name: "api-4", Labels: map[string]string{"role": "api"}}))
	if _, err := sh.svc.Start(ctx, approved, reloaded, "slack:UB"); err == nil || !strings.Contains(err.Error(), "api-4") {
		t.Fatalf("Start = %v; want the run refused naming the new targets", err)
	}
	if len(ft.started) != 0 {
		t.Errorf("targets ran: %v", ft.started)
	}
}
