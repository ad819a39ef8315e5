package runbooks

import (
	"strings"
	"testing"
)

// TestAbandon: a replica that lost its heartbeat stops its runs (the
// leader is interrupting them in the store): the running one is killed and
// ends interrupted saying why, and the executor still takes new runs.
func TestAbandon(t *testing.T) {
	h := newHarness(t, ExecutorConfig{MaxConcurrent: 1})
	long := h.load(`name: long
kind: diagnostic
timeout: 60s
steps:
  - {name: wait, run: [sleep, "60"]}
`)
	handle, run, err := h.start(long, "console:alice")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, handle, "the run is running", func(s Snapshot) bool { return s.State == StateRunning })
	if n := h.exec.Abandon(); n != 1 {
		t.Errorf("Abandon stopped %d runs, want 1", n)
	}
	snap := h.wait(handle)
	stored := h.store.run(run.ID)
	if snap.State != StateInterrupted || stored.State != StateInterrupted || !strings.Contains(stored.Reason, "lost the database") {
		t.Fatalf("after Abandon: snapshot %s, stored %s %q; want interrupted, saying the database was lost", snap.State, stored.State, stored.Reason)
	}
	quick := h.load(`name: quick
kind: diagnostic
timeout: 10s
steps:
  - {name: hi, run: [echo, hi]}
`)
	next, _, err := h.start(quick, "console:alice")
	if err != nil {
		t.Fatalf("a run after Abandon: %v", err)
	}
	if s := h.wait(next); s.State != StateSucceeded {
		t.Errorf("a run after Abandon ended %s, want succeeded", s.State)
	}
	if n := h.exec.Abandon(); n != 0 {
		t.Errorf("Abandon with nothing running stopped %d", n)
	}
}
