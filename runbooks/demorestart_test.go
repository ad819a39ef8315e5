package runbooks

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestDemoRestartExample: the tour's demo-restart, run as an approved run,
// says it acts on Tebura's own host, changes nothing with the default dry
// run, and with dry_run=false leaves no file behind (its stand-in lives in
// a private temporary directory under TMPDIR, which it removes).
func TestDemoRestartExample(t *testing.T) {
	reg, problems := Load(LoadOptions{Dirs: []string{"examples"}, KnownRole: knownRole, MaxTimeout: time.Hour})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, ok := reg.Get("demo-restart")
	if !ok {
		t.Fatal("no demo-restart example")
	}
	for _, word := range []string{"DEMO", "Tebura's own host", "dry run"} {
		if !strings.Contains(rb.Description, word) {
			t.Errorf("description %q does not say %q", rb.Description, word)
		}
	}
	if !rb.NeedsApproval() || rb.Approval.AllowSelf || rb.Kind != KindRemediation {
		t.Errorf("want a remediation behind an approval by someone else: %+v", rb.Approval)
	}
	v, err := rb.ParseArgs([]string{"unit=api.service"})
	if err != nil {
		t.Fatal(err)
	}
	if key, err := rb.LockKey(v); err != nil || key != "demo-restart-api.service" {
		t.Errorf("lock key %q, %v", key, err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		want     string
		dontWant string
	}{
		{"dry run by default", []string{"unit=api.service"},
			"dry run: would restart the demo stand-in of api.service\n", "demo restart of"},
		{"dry_run=false", []string{"unit=api.service", "dry_run=false"},
			"demo restart of api.service: its stand-in is running since ", "dry run:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, ExecutorConfig{})
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // steps inherit TMPDIR; mktemp -d creates under it
			handle, run, err := h.start(rb, "console:alice", tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			snap := h.wait(handle)
			log := h.logOf(run.ID)
			if snap.State != StateSucceeded {
				t.Fatalf("state %s (%s)\n%s", snap.State, snap.Reason, log)
			}
			for _, want := range []string{host + "\n", "demo on Tebura's own host: no real unit is touched\n", tt.want} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			if strings.Contains(log, tt.dontWant) {
				t.Errorf("log has %q:\n%s", tt.dontWant, log)
			}
			left, err := os.ReadDir(tmp)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Errorf("the demo left %d entries in TMPDIR (first %s)", len(left), left[0].Name())
			}
		})
	}
	if _, err := rb.ParseArgs([]string{"unit=-H.service"}); err == nil {
		t.Error("unit=-H.service was accepted")
	}
}
