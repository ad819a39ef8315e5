package runbooks

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunsAcrossReplicas: the replica that approves or starts a run is
// stored on it; Recover at start-up and the leader's InterruptLost leave
// the runs of live replicas alone, and interrupt (freeing their locks) the
// runs of lost ones, naming the lost replica; InterruptLost also leaves
// the leader's own runs, which execute right there.
func TestRunsAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	live := map[string]bool{"a": true, "b": true} // c is lost
	svc := func(s Store, id string) *Service {
		return NewService(ServiceConfig{Store: s, Clock: func() time.Time { return t0 }, Replica: id,
			Alive: func(_ context.Context, r string) (bool, error) { return live[r], nil }})
	}
	s := newFakeStore()
	a := svc(s, "a")

	pending := pendingRun(t, s, 1)
	approved, _, err := a.Approve(ctx, pending.ID, dec("slack:UB", "bob"), false, "hash1", nil)
	if err != nil || approved.State != StateApproved || approved.Replica != "a" {
		t.Fatalf("Approve on a = %+v, %v; want approved, replica a", approved, err)
	}

	runs := map[string]*Run{}
	for _, rep := range []string{"a", "b", "c"} {
		r := &Run{Runbook: "x", State: StateRunning, Replica: rep, LockKey: "lock-" + rep}
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		s.AcquireLock(ctx, Lock{Key: r.LockKey, RunID: r.ID})
		runs[rep] = r
	}

	got, err := a.InterruptLost(ctx)
	if err != nil || len(got) != 1 || got[0].ID != runs["c"].ID {
		t.Fatalf("InterruptLost on a = %+v, %v; want only c's run", got, err)
	}
	if st := s.run(runs["c"].ID); st.State != StateInterrupted || !strings.Contains(st.Reason, "replica c was lost") {
		t.Errorf("c's run = %s %q; want interrupted, saying replica c was lost", st.State, st.Reason)
	}
	for _, rep := range []string{"a", "b"} {
		if st := s.run(runs[rep].ID); st.State != StateRunning {
			t.Errorf("%s's run was touched: %s", rep, st.State)
		}
	}
	if st := s.run(pending.ID); st.State != StateApproved {
		t.Errorf("the run approved on a (live) was touched: %s", st.State)
	}
	locks, _ := s.Locks(ctx)
	if len(locks) != 2 {
		t.Errorf("locks = %v; want a's and b's only", locks)
	}
	if again, err := a.InterruptLost(ctx); err != nil || len(again) != 0 {
		t.Errorf("second InterruptLost = %+v, %v; want nothing", again, err)
	}

	// A process restarted as b (same replica.id) recovers b's runs: they
	// belong to the process that stopped. a's stay: a is alive.
	got, err = svc(s, "b").Recover(ctx)
	if err != nil || len(got) != 1 || got[0].ID != runs["b"].ID {
		t.Fatalf("Recover on b = %+v, %v; want only b's run", got, err)
	}
	if st := s.run(runs["b"].ID); !strings.Contains(st.Reason, "tebura stopped") {
		t.Errorf("b's own run reason = %q, want tebura stopped", st.Reason)
	}

	// a is lost now: its running run and its approved one end.
	live["a"] = false
	got, err = svc(s, "b").InterruptLost(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("InterruptLost after a was lost = %+v, %v; want a's two runs", got, err)
	}

	// One process alone on its store (no Alive) recovers everything and
	// InterruptLost does nothing.
	s2 := newFakeStore()
	r := &Run{Runbook: "x", State: StateRunning, Replica: "old"}
	s2.CreateRun(ctx, r)
	solo := NewService(ServiceConfig{Store: s2, Clock: func() time.Time { return t0 }, Replica: "new"})
	if got, err := solo.InterruptLost(ctx); err != nil || len(got) != 0 {
		t.Errorf("InterruptLost without Alive = %+v, %v; want nothing", got, err)
	}
	if got, err := solo.Recover(ctx); err != nil || len(got) != 1 {
		t.Errorf("Recover without Alive = %+v, %v; want the run", got, err)
	}
}

// TestInterruptOrphans: a run this replica's store record says is running,
// started long enough ago, that its executor does not hold (its end could
// not be written while the database was away) is marked interrupted by
// InterruptOrphans; a run the executor holds, one just started, another
// replica's, and an approved one waiting for the executor are left alone.
func TestInterruptOrphans(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ExecutorConfig{})
	now := t0.Add(time.Hour)
	svc := NewService(ServiceConfig{Store: h.store, Executor: h.exec, Clock: func() time.Time { return now }, Replica: "a",
		Alive: func(context.Context, string) (bool, error) { return true, nil }})
	mk := func(state State, replica string, started time.Time) *Run {
		r := &Run{Runbook: "x", State: state, Replica: replica, StartedAt: started, RequestedAt: started}
		if err := h.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	orphan := mk(StateRunning, "a", t0)
	queuedOrphan := mk(StateQueued, "a", t0)
	fresh := mk(StateRunning, "a", now.Add(-time.Second))
	others := mk(StateRunning, "b", t0)
	approved := mk(StateApproved, "a", time.Time{})
	long := h.load(`name: long
kind: diagnostic
timeout: 60s
steps:
  - {name: wait, run: [sleep, "60"]}
`)
	handle, held, err := h.start(long, "console:alice")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, handle, "running", func(s Snapshot) bool { return s.State == StateRunning })
	h.store.UpdateRun(ctx, held.ID, func(r *Run) error { r.Replica, r.StartedAt = "a", t0; return nil })

	got, err := svc.InterruptOrphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.ID] = true
	}
	if len(got) != 2 || !ids[orphan.ID] || !ids[queuedOrphan.ID] {
		t.Fatalf("InterruptOrphans = %d runs %v; want the running and the queued orphans", len(got), ids)
	}
	if st := h.store.run(orphan.ID); st.State != StateInterrupted || !strings.Contains(st.Reason, "lost the database") {
		t.Errorf("orphan = %s %q", st.State, st.Reason)
	}
	for _, r := range []*Run{fresh, others, approved, held} {
		if st := h.store.run(r.ID); st.State.Final() {
			t.Errorf("run %s (%s, replica %s) was interrupted", r.ID, r.State, r.Replica)
		}
	}
}
