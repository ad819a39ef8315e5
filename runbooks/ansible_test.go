package runbooks

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakePlaybooks records the requests it gets and replays events.
type fakePlaybooks struct {
	mu     sync.Mutex
	runs   []AnsibleRequest
	checks []AnsibleRequest
	events []TaskEvent
	code   int
	print  string
}

func (f *fakePlaybooks) RunPlaybook(ctx context.Context, req AnsibleRequest, check bool, out io.Writer, events func(TaskEvent)) (int, error) {
	f.mu.Lock()
	if check {
		f.checks = append(f.checks, req)
	} else {
		f.runs = append(f.runs, req)
	}
	f.mu.Unlock()
	_, _ = io.WriteString(out, f.print)
	for _, ev := range f.events {
		if events != nil {
			events(ev)
		}
	}
	return f.code, nil
}

const ansibleBook = `name: deploy
kind: remediation
allow: [dev]
approval: {required: 1, approvers: [sre]}
params:
  - {name: version, type: string, pattern: '[0-9.]+', required: true}
  - {name: token, type: string, secret: true, default: s3cret}
steps:
  - name: deploy
    ansible:
      playbook: playbooks/deploy.yml
      on: role=api
      vars: {version: "{{ .Params.version }}", token: "{{ .Params.token }}"}
`

// ansibleDir is a runbooks directory with a playbook in playbooks/.
func ansibleDir(t *testing.T, book string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "playbooks"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeRunbook(t, filepath.Join(dir, "playbooks"), "deploy.yml", "- hosts: all\n  tasks: []\n")
	writeRunbook(t, dir, "rb.yaml", book)
	return dir
}

func loadAnsible(t *testing.T, book string, inv []Target) *Runbook {
	t.Helper()
	reg, problems := Load(LoadOptions{Dirs: []string{ansibleDir(t, book)}, KnownRole: knownRole, Targets: inv})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, _ := reg.Get("deploy")
	return rb
}

// TestAnsibleStepChecks: what an ansible step may say is checked when the
// runbook loads, each refusal saying what to write instead.
func TestAnsibleStepChecks(t *testing.T) {
	step := func(body string) string {
		return "name: deploy\nkind: remediation\nparams:\n  - {name: v, type: string}\n  - {name: env, type: enum, values: [prod]}\n" +
			"steps:\n  - name: deploy\n" + body
	}
	tests := []struct {
		name, book, want string
	}{
		{"good", step("    ansible: {playbook: playbooks/deploy.yml, on: 'role=api,env={{ .Params.env }}', vars: {v: '{{ .Params.v }}'}}\n"), ""},
		{"inventory file", step("    ansible: {playbook: playbooks/deploy.yml, inventory: playbooks/deploy.yml}\n"), ""},
		{"no playbook", step("    ansible: {on: role=api}\n"), "playbook: is missing"},
		{"templated playbook", step("    ansible: {playbook: '{{ .Params.v }}.yml', on: role=api}\n"), "must not be a template"},
		{"missing playbook", step("    ansible: {playbook: nope.yml, on: role=api}\n"), "cannot be read"},
		{"on and inventory", step("    ansible: {playbook: playbooks/deploy.yml, on: role=api, inventory: /etc/hosts}\n"), "has on and inventory"},
		{"neither", step("    ansible: {playbook: playbooks/deploy.yml}\n"), "needs on"},
		{"free-form selector", step("    ansible: {playbook: playbooks/deploy.yml, on: 'role={{ .Params.v }}'}\n"), "neither an enum nor has a pattern"},
		{"selects nothing", step("    ansible: {playbook: playbooks/deploy.yml, on: role=web}\n"), "selects no target"},
		{"bad var name", step("    ansible: {playbook: playbooks/deploy.yml, on: role=api, vars: {a-b: x}}\n"), "not a valid ansible variable name"},
		{"unknown param", step("    ansible: {playbook: playbooks/deploy.yml, on: role=api, vars: {a: '{{ .Params.nope }}'}}\n"), "declares no param"},
		{"env", step("    ansible: {playbook: playbooks/deploy.yml, on: role=api}\n    env: {A: b}\n"), "pass values to the playbook as vars"},
		{"two kinds", step("    ansible: {playbook: playbooks/deploy.yml, on: role=api}\n    run: [true]\n"), "has ansible and run; a step needs exactly one of " + stepKindList},
		{"unknown key", step("    ansible: {playbook: playbooks/deploy.yml, on: role=api, limit: x}\n"), "limit"},
		{"plan_check without ansible", "name: deploy\nkind: remediation\nplan_check: true\nsteps:\n  - {name: a, run: [true]}\n", "no ansible step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := Load(LoadOptions{Dirs: []string{ansibleDir(t, tt.book)}, KnownRole: knownRole, Targets: fleetInventory})
			var msgs []string
			for _, p := range problems {
				msgs = append(msgs, p.String())
			}
			all := strings.Join(msgs, "\n")
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("unexpected problems:\n%s", all)
			case tt.want != "" && !strings.Contains(all, tt.want):
				t.Errorf("problems lack %q:\n%s", tt.want, all)
			}
		})
	}
}

// TestAnsiblePlan: the plan names the playbook (made absolute), the
// resolved targets and the vars with secrets masked; the hash binds the
// targets.
func TestAnsiblePlan(t *testing.T) {
	rb := loadAnsible(t, ansibleBook, fleetInventory)
	v, err := rb.ParseArgs([]string{"version=1.2"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := rb.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	a := steps[0].Ansible
	if steps[0].Kind != StepAnsible || !filepath.IsAbs(a.Playbook) || !slices.Equal(a.Targets, []string{"api-1", "api-2", "api-3"}) ||
		a.Vars["version"] != "1.2" || a.Vars["token"] != "s3cret" || len(steps[0].Env) != 0 {
		t.Fatalf("rendered %+v %+v", steps[0], a)
	}
	plan, err := rb.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	shown := plan.String()
	for _, want := range []string{"ansible-playbook " + a.Playbook + " on role=api: api-1, api-2, api-3", "var token=***", "var version=1.2"} {
		if !strings.Contains(shown, want) {
			t.Errorf("plan lacks %q:\n%s", want, shown)
		}
	}
	if strings.Contains(shown, "s3cret") {
		t.Errorf("plan shows the secret:\n%s", shown)
	}
	more := append(slices.Clone(fleetInventory), Target{Name: "api-4", Labels: map[string]string{"role": "api"}})
	if p2, _ := loadAnsible(t, ansibleBook, more).Plan(v); p2 == nil || p2.Hash == plan.Hash {
		t.Error("a target added to the inventory leaves the plan hash unchanged")
	}
}

// TestAnsibleStepStatus: each task event is an output line, the live
// step line counts the results and names the failed hosts, and a
// non-zero exit fails the step saying what ansible's code means.
func TestAnsibleStepStatus(t *testing.T) {
	fp := &fakePlaybooks{code: 2, print: "[WARNING]: something ansible said\n", events: []TaskEvent{
		{Task: "Restart", Host: "api-1", Status: TaskChanged},
		{Task: "Restart", Host: "api-2", Status: TaskFailed, Msg: "unit not found\nmore"},
		{Task: "Check", Host: "api-1", Status: TaskOK},
	}}
	h := newHarness(t, ExecutorConfig{Playbooks: fp})
	run := &Run{Runbook: "deploy", Kind: KindRemediation, RequestedBy: "console:test", State: StateApproved}
	if err := h.store.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	handle, err := h.exec.Start(context.Background(), run, Job{Steps: []RenderedStep{{Name: "deploy", Kind: StepAnsible,
		Ansible: &AnsibleRequest{Playbook: "/p.yml", Targets: []string{"api-1", "api-2"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	snap := h.wait(handle)
	log := h.logOf(run.ID)
	if snap.State != StateFailed || snap.ExitCode != 2 || !strings.Contains(snap.Reason, "a task failed") {
		t.Errorf("state %s code %d reason %q", snap.State, snap.ExitCode, snap.Reason)
	}
	for _, want := range []string{"[WARNING]: something ansible said\n", "[api-1] changed: Restart\n", "[api-2] failed: Restart (unit not found)\n",
		"[api-1] ok: Check\n", "==> deploy: task Check; 1 ok, 1 changed, 1 failed (api-2)"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestAnsibleTargetAddedAfterApprovalDoesNotJoin: as for ssh steps, a run
// approved for the targets its plan listed is refused at start once the
// reloaded inventory selects one more, and no playbook runs.
func TestAnsibleTargetAddedAfterApprovalDoesNotJoin(t *testing.T) {
	fp := &fakePlaybooks{}
	sh := newSvcHarnessCfg(t, ExecutorConfig{Playbooks: fp})
	ctx := context.Background()
	rb := loadAnsible(t, ansibleBook, fleetInventory)
	p, err := sh.svc.Request(ctx, Request{Runbook: rb, Params: map[string]string{"version": "1.2"}, By: "slack:UREQ", Via: ViaChat})
	if err != nil {
		t.Fatal(err)
	}
	approved, now, err := sh.svc.Approve(ctx, p.Run.ID, Decision{By: "slack:UB"}, false, p.Run.PlanHash, nil)
	if err != nil || !now {
		t.Fatalf("approval: now=%v err=%v", now, err)
	}
	reloaded := loadAnsible(t, ansibleBook, append(slices.Clone(fleetInventory), Target{Name: "api-4", Labels: map[string]string{"role": "api"}}))
	if _, err := sh.svc.Start(ctx, approved, reloaded, "slack:UB"); err == nil || !strings.Contains(err.Error(), "api-4") {
		t.Fatalf("Start = %v; want the run refused naming the new targets", err)
	}
	if len(fp.runs) != 0 {
		t.Errorf("playbooks ran: %+v", fp.runs)
	}
}

// TestPlanCheckRunsCheckOnly: a plan_check runbook's plan asks the runner
// for a check of each ansible step (never a real run), keeps its output
// masked, and leaves the hash alone; without plan_check nothing runs.
func TestPlanCheckRunsCheckOnly(t *testing.T) {
	for _, planCheck := range []bool{true, false} {
		fp := &fakePlaybooks{print: "TASK [Write] *****\n+token=s3cret\n"}
		sh := newSvcHarnessCfg(t, ExecutorConfig{Playbooks: fp})
		book := ansibleBook
		if planCheck {
			book = strings.Replace(book, "kind: remediation\n", "kind: remediation\nplan_check: true\n", 1)
		}
		rb := loadAnsible(t, book, fleetInventory)
		p, err := sh.svc.Prepare(context.Background(), Request{Runbook: rb, Params: map[string]string{"version": "1.2"}, By: "slack:UREQ"})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := rb.Plan(p.Values)
		switch {
		case len(fp.runs) != 0:
			t.Errorf("plan_check %v: a real run was made: %+v", planCheck, fp.runs)
		case planCheck && (len(fp.checks) != 1 || !strings.Contains(p.Plan.Check, "TASK [Write]\n+token=***") || strings.Contains(p.Plan.String(), "s3cret")):
			t.Errorf("checks %d, check %q", len(fp.checks), p.Plan.Check)
		case !planCheck && (len(fp.checks) != 0 || p.Plan.Check != ""):
			t.Errorf("without plan_check: checks %d, check %q", len(fp.checks), p.Plan.Check)
		case plain.Hash != p.Plan.Hash:
			t.Errorf("plan_check %v changed the hash", planCheck)
		case p.Run.PlanCheck != p.Plan.Check:
			t.Errorf("the run keeps check %q, the plan has %q", p.Run.PlanCheck, p.Plan.Check)
		}
	}
}
