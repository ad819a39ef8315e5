package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/runbooks/step/ssh/sshdtest"
)

// TestRunAnsibleStepEndToEnd: `tebura run` of a plan_check runbook with an
// ansible step, configured as a user would, against two real sshd hosts
// with the real ansible-playbook: the plan shows the targets and the
// --check --diff of what would change, the run writes one line per task
// and host, the playbook gets the param as data, and the staging target
// is not touched.
func TestRunAnsibleStepEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ansible-playbook is missing; .ci/run installs Debian's ansible")
		}
		t.Skip("ansible-playbook is missing: apt-get install ansible to run this test")
	}
	cleanEnv(t)
	t.Setenv("USER", "bob")
	f := sshdtest.Start(t, 3)
	dir, dest := t.TempDir(), t.TempDir()
	playbook := filepath.Join(dir, "write.yml")
	if err := os.WriteFile(playbook, []byte(`
- hosts: all
  gather_facts: false
  tasks:
    - name: Write motd
      copy: {dest: "`+dest+`/{{ inventory_hostname }}.motd", content: "{{ msg }}\n"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var targets strings.Builder
	for i, h := range f.Hosts {
		host, port, _ := net.SplitHostPort(h.Addr)
		env := "prod"
		if i == 2 {
			env = "staging"
		}
		fmt.Fprintf(&targets, "  api-%d: {address: %s, port: %s, user: %s, identity: %s, labels: {role: api, env: %s}}\n", i, host, port, f.User, f.Identity, env)
	}
	body := `data_dir: data
ssh: {known_hosts: ` + f.KnownHosts + `}
targets:
` + targets.String() + `runbooks:
  dirs: []
  inline:
    - name: fleet-motd
      kind: remediation
      plan_check: true
      allow: [dev]
      params:
        - {name: env, type: enum, values: [prod, staging]}
        - {name: msg, type: string, pattern: '.+'}
      steps:
        - name: motd
          ansible:
            playbook: ` + playbook + `
            on: 'role=api,env={{ .Params.env }}'
            vars: {msg: "{{ .Params.msg }}"}
access:
  roles:
    dev: {members: [console:bob]}
`
	cfg := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := "hello {{ 7*7 }}; $(id)"
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "fleet-motd", "env=prod", "msg="+msg, "--yes")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"on role=api,env=prod: api-0, api-1", "--check --diff of step motd:", "+" + msg,
		"[api-0] changed: Write motd\n", "[api-1] changed: Write motd\n", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for i, want := range []bool{true, true, false} {
		b, err := os.ReadFile(filepath.Join(dest, fmt.Sprintf("api-%d.motd", i)))
		if got := err == nil; got != want || (got && string(b) != msg+"\n") {
			t.Errorf("api-%d.motd: %q, %v; want written %v with the message as given", i, b, err, want)
		}
	}
}

// TestDoctorChecksAnsible: with a runbook that has an ansible step,
// `tebura doctor` reports ansible-playbook's version and its JSON-lines
// callback, and fails with what to install when either is missing;
// without such a runbook it says nothing of ansible. The ansible
// programs here are stand-ins on PATH, so each case is exact.
func TestDoctorChecksAnsible(t *testing.T) {
	cleanEnv(t)
	const ansibleBook = `name: banner
kind: remediation
allow: [sre]
steps:
  - name: banner
    ansible: {playbook: playbooks/banner.yml, inventory: playbooks/hosts.ini}
`
	tests := []struct {
		name     string
		books    map[string]string
		programs map[string]string // stand-ins put on PATH
		code     int
		want     string
	}{
		{"no ansible step", map[string]string{"rb/check.yaml": checkAPIBook}, nil, 0, ""},
		{"ansible present", map[string]string{"rb/banner.yaml": ansibleBook}, map[string]string{
			"ansible-playbook": "echo 'ansible-playbook [core 2.14.18]'; echo more", "ansible-doc": "exit 0"}, 0,
			"✓ ansible: ansible-playbook [core 2.14.18], ansible.posix.jsonl callback present"},
		{"ansible missing", map[string]string{"rb/banner.yaml": ansibleBook}, nil, 1,
			"✗ ansible: ansible-playbook is not installed, and banner run ansible steps"},
		{"callback missing", map[string]string{"rb/banner.yaml": ansibleBook}, map[string]string{
			"ansible-playbook": "echo 'ansible-playbook [core 2.14.18]'", "ansible-doc": "exit 1"}, 1,
			"its ansible.posix.jsonl callback is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"tebura.yaml": baseConfig(""), "rb/playbooks/banner.yml": "- hosts: all\n", "rb/playbooks/hosts.ini": "x\n"}
			for k, v := range tt.books {
				files[k] = v
			}
			dir := writeTree(t, files)
			bin := t.TempDir()
			for name, body := range tt.programs {
				if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("PATH", bin)
			out, _, code := runCLI(t, "", "doctor", "--config", filepath.Join(dir, "tebura.yaml"))
			if code != tt.code || (tt.want != "" && !strings.Contains(out, tt.want)) || (tt.want == "" && strings.Contains(out, " ansible:")) {
				t.Errorf("exit %d, want %d and %q:\n%s", code, tt.code, tt.want, out)
			}
		})
	}
}
