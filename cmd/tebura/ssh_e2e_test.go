package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/runbooks/step/ssh/sshdtest"
)

// TestRunSSHStepEndToEnd: `tebura run` of a runbook with an ssh step,
// configured as a user would (targets, labels, identity, known_hosts),
// against two real sshd hosts: the plan lists the targets the selector
// chose, a param value reaches the remote side as one argument, the
// output comes back prefixed per target, and a third target whose labels
// do not match is not touched.
func TestRunSSHStepEndToEnd(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	f := sshdtest.Start(t, 3)
	dir := t.TempDir()
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
    - name: fleet-echo
      kind: diagnostic
      allow: [dev]
      params:
        - {name: env, type: enum, values: [prod, staging]}
        - {name: msg, type: string, pattern: '.+'}
      steps:
        - name: echo
          ssh:
            on: 'role=api,env={{ .Params.env }}'
            run: [sh, -c, 'printf "%s|%s\n" "$#" "$1"', sh, "{{ .Params.msg }}"]
            parallel: 2
access:
  roles:
    dev: {members: [console:bob]}
`
	cfg := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "fleet-echo", "env=prod", "msg=a b; touch x", "--yes")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"on role=api,env=prod: api-0, api-1", "[api-0] 1|a b; touch x\n", "[api-1] 1|a b; touch x\n", "echo: 2/2 ok", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "api-2") {
		t.Errorf("the staging target was touched:\n%s", out)
	}
	list, _, code := runCLI(t, "", "targets", "--config", cfg)
	if code != 0 || !strings.Contains(list, "api-2") || !strings.Contains(list, "env=staging,role=api") {
		t.Errorf("targets: %d\n%s", code, list)
	}
}

// TestDoctorChecksTargets: `tebura doctor` logs in to every target; one
// reached under a name known_hosts does not hold fails with the
// ssh-keyscan line, and doctor exits 1.
func TestDoctorChecksTargets(t *testing.T) {
	cleanEnv(t)
	f := sshdtest.Start(t, 1)
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(f.Hosts[0].Addr)
	body := fmt.Sprintf(`data_dir: data
ssh: {known_hosts: %s}
targets:
  good: {address: 127.0.0.1, port: %s, user: %s, identity: %s}
  unknown: {address: localhost, port: %s, user: %s, identity: %s}
`, f.KnownHosts, port, f.User, f.Identity, port, f.User, f.Identity)
	cfg := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "", "doctor", "--config", cfg)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"✓ target good: " + f.User + "@127.0.0.1:" + port, "✗ target unknown: ", "ssh-keyscan -p " + port + " localhost >> " + f.KnownHosts} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
