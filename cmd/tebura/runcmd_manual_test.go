package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRefusesManualSteps: tebura run shows no buttons, so a runbook
// with a manual step is refused with where to run it, and nothing is
// stored or run.
func TestRunRefusesManualSteps(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "bob")
	dir := t.TempDir()
	book := "---\nname: checklist\nkind: diagnostic\nallow: [dev]\n---\n## look\n\nIs the graph green?\n"
	if err := os.WriteFile(filepath.Join(dir, "checklist.runbook.md"), []byte(book), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tebura.yaml")
	body := "data_dir: data\nrunbooks:\n  dirs: [.]\naccess:\n  roles:\n    dev: {members: [console:bob]}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "checklist")
	if code != 1 || !strings.Contains(errOut, "Runbook checklist has manual steps (look), which people answer with buttons in chat; run it from chat with `/runbook run checklist`.") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "tebura.db")); err == nil {
		t.Errorf("the refused run opened the store")
	}
}
