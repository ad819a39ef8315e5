package ansible

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// checkRunbook writes a config line on the role=api targets; its token is
// secret, so the check's diff must show it masked.
const checkRunbook = `name: write-config
kind: remediation
plan_check: true
params:
  - {name: line, type: string, required: true}
  - {name: token, type: string, secret: true, default: hunter2-secret}
approval: {required: 1, approvers: [sre]}
steps:
  - name: write
    ansible:
      playbook: playbooks/write.yml
      on: role=api
      vars:
        dest: DEST
        line: "{{ .Params.line }} token={{ .Params.token }}"
`

const checkPlaybook = `
- hosts: all
  gather_facts: false
  tasks:
    - name: Write config
      copy:
        dest: "{{ dest }}/{{ inventory_hostname }}.conf"
        content: "{{ line }}\n"
`

// TestPlanCheck: a plan_check runbook's plan carries the --check --diff
// output of its ansible step, run when the plan is made: the diff of what
// would change on each target, secrets masked, nothing changed, and the
// plan's hash (what approvals bind to) the same as without the check.
func TestPlanCheck(t *testing.T) {
	f := startFleet(t, 2)
	dir, dest := t.TempDir(), t.TempDir()
	// Playbooks live in a subdirectory: the runbooks directory's own
	// *.yml files are runbooks.
	if err := os.Mkdir(filepath.Join(dir, "playbooks"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "playbooks", "write.yml"), []byte(checkPlaybook), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "write.yaml"), []byte(strings.Replace(checkRunbook, "DEST", dest, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var inv []runbooks.Target
	for _, n := range f.names() {
		inv = append(inv, runbooks.Target{Name: n, Labels: map[string]string{"role": "api"}})
	}
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{dir}, Targets: inv})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, _ := reg.Get("write-config")
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ex := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: t.TempDir(), Playbooks: New(f.cfg)}, nil)
	svc := runbooks.NewService(runbooks.ServiceConfig{Store: st, Executor: ex})
	t.Cleanup(svc.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := svc.Prepare(ctx, runbooks.Request{Runbook: rb, Params: map[string]string{"line": "max_conn=100"}, By: "console:alice"})
	if err != nil {
		t.Fatal(err)
	}
	shown := p.Plan.String()
	for _, want := range []string{
		"ansible-playbook " + filepath.Join(dir, "playbooks", "write.yml") + " on role=api: h0, h1",
		"check (what the playbook would change; nothing was changed):",
		"--check --diff of step write:",
		"TASK [Write config]",
		"+max_conn=100 token=***",
		"changed: [h0]", "changed: [h1]",
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("the plan lacks %q:\n%s", want, shown)
		}
	}
	if strings.Contains(shown, "hunter2-secret") {
		t.Errorf("the plan shows the secret:\n%s", shown)
	}
	for _, n := range f.names() {
		if _, err := os.Stat(filepath.Join(dest, n+".conf")); err == nil {
			t.Errorf("the check wrote %s.conf: it changed a target", n)
		}
	}
	plain, err := rb.Plan(p.Values)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Hash != p.Plan.Hash || plain.Check != "" {
		t.Errorf("hash with check %s, without %s (check %q): the check must not change what approvals bind to", p.Plan.Hash, plain.Hash, plain.Check)
	}
}

// TestExampleBannerPlanCheck: the shipped Ansible example, loaded as a
// user would load runbooks/examples with role=api targets, shows on its
// plan the file each host would get, and writes nothing while planning.
func TestExampleBannerPlanCheck(t *testing.T) {
	f := startFleet(t, 1)
	inv := []runbooks.Target{{Name: "h0", Labels: map[string]string{"role": "api", "env": "staging"}}}
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{filepath.Join("..", "..", "examples")}, Targets: inv})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, ok := reg.Get("ansible-maintenance-banner")
	if !ok {
		t.Fatal("no ansible-maintenance-banner example")
	}
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ex := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: t.TempDir(), Playbooks: New(f.cfg)}, nil)
	svc := runbooks.NewService(runbooks.ServiceConfig{Store: st, Executor: ex})
	t.Cleanup(svc.Stop)
	const banner = "/var/tmp/tebura-maintenance"
	_, before := os.Stat(banner)
	msg := "Back at 15:00 {{ 6*7 }}"
	p, err := svc.Prepare(context.Background(), runbooks.Request{Runbook: rb, Params: map[string]string{"env": "staging", "message": msg}, By: "console:alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Plan.Check, "+"+msg) || !strings.Contains(p.Plan.Check, "TASK [Write the banner]") {
		t.Errorf("the plan's check lacks the banner's diff:\n%s", p.Plan.Check)
	}
	if _, after := os.Stat(banner); (before == nil) != (after == nil) {
		t.Errorf("planning changed %s (existed before: %v, after: %v)", banner, before == nil, after == nil)
	}
}
