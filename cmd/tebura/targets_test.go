package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetsLists: `tebura targets` prints each target with its address
// (default port filled in), user, credential and labels, sorted by name,
// and the known_hosts file keys are checked against.
func TestTargetsLists(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tebura.yaml")
	cfg := `data_dir: ` + filepath.Join(dir, "data") + `
ssh:
  known_hosts: /etc/tebura/known_hosts
targets:
  web-1:
    address: 10.0.0.2
    port: 2222
    user: deploy
    agent: true
  api-1:
    address: 10.0.0.1
    user: ops
    identity: /etc/tebura/id_ed25519
    labels: {role: api, env: prod}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "", "targets", "--config", path)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want header, 2 targets and known_hosts:\n%s", len(lines), out)
	}
	for i, want := range [][]string{
		{"NAME", "ADDRESS", "USER", "AUTH", "LABELS"},
		{"api-1", "10.0.0.1:22", "ops", "identity", "/etc/tebura/id_ed25519", "env=prod,role=api"},
		{"web-1", "10.0.0.2:2222", "deploy", "agent"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[3], "/etc/tebura/known_hosts") {
		t.Errorf("last line %q does not name the known_hosts file", lines[3])
	}
}

// TestTargetsRefusesPassword: a password is a configuration problem, so
// the command stops with the key and the reason.
func TestTargetsRefusesPassword(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tebura.yaml")
	cfg := "data_dir: " + filepath.Join(dir, "data") + "\nssh: {known_hosts: /k}\ntargets:\n  a: {address: h, user: u, password: hunter2}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "", "targets", "--config", path)
	if code != 1 || !strings.Contains(errOut, "targets.a.password") || !strings.Contains(errOut, "passwords are refused") {
		t.Fatalf("exit %d, stderr %q; want 1 and the password refused", code, errOut)
	}
	if strings.Contains(errOut, "hunter2") {
		t.Errorf("stderr shows the password: %q", errOut)
	}
}
