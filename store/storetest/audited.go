package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/runbooks"
)

// AuditedStore is a store that writes runs with their audit entries in
// one transaction (runbooks.StartingStore) and keeps the chain.
type AuditedStore interface {
	runbooks.Store
	runbooks.StartingStore
	audit.Store
}

// AuditedStores is one opened store as the audited-run suite sees it.
type AuditedStores struct {
	Store AuditedStore
	Clock *Clock
}

// RunAudited is the conformance suite for runbooks.StartingStore: a run
// and the audit entries of its change are written together or not at all,
// and a run created started holds its lock, or nothing is stored and no
// run ID is used.
func RunAudited(t *testing.T, open func(t *testing.T) AuditedStores) {
	t.Run("create", func(t *testing.T) { testCreateRunAudited(t, open(t)) })
	t.Run("update", func(t *testing.T) { testUpdateRunAudited(t, open(t)) })
	t.Run("create_started", func(t *testing.T) { testCreateRunStarted(t, open(t)) })
}

// chain lists the audit entries as "action subject".
func chain(t *testing.T, s audit.Store) []string {
	t.Helper()
	var got []string
	for _, e := range entries(t, s) {
		got = append(got, string(e.Action)+" "+e.Subject)
	}
	return got
}

func testCreateRunAudited(t *testing.T, st AuditedStores) {
	s, ctx := st.Store, t.Context()
	log := audit.New(s, nil, st.Clock.Now)
	if err := log.Record(ctx, "system", audit.ActionConfigLoad, "config", nil); err != nil {
		t.Fatal(err)
	}
	entries := func(r *runbooks.Run, last *audit.Entry) ([]audit.Entry, error) {
		e1 := log.Next(last, audit.Note{Actor: "slack:U1", Action: audit.ActionRunRequest, Subject: r.ID})
		e2 := log.Next(&e1, audit.Note{Actor: "slack:U1", Action: audit.ActionRunApprove, Subject: r.ID})
		return []audit.Entry{e1, e2}, nil
	}
	run := &runbooks.Run{Runbook: "hello", State: runbooks.StateApproved}
	if err := s.CreateRunAudited(ctx, run, entries); err != nil {
		t.Fatal(err)
	}
	refused := &runbooks.Run{Runbook: "hello", State: runbooks.StateApproved}
	boom := errors.New("boom")
	if err := s.CreateRunAudited(ctx, refused, func(*runbooks.Run, *audit.Entry) ([]audit.Entry, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if refused.ID != "" {
		t.Errorf("a refused create kept ID %q", refused.ID)
	}
	runs, err := s.ListRuns(ctx, runbooks.ListOptions{})
	if err != nil || len(runs) != 1 || runs[0].ID != run.ID {
		t.Fatalf("runs = %v, %v; want only %s", runs, err, run.ID)
	}
	want := []string{"config.load config", "run.request " + run.ID, "run.approve " + run.ID}
	if got := chain(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("audit = %q, want %q", got, want)
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != 3 {
		t.Fatalf("verify: %d %v", n, err)
	}
}

func testUpdateRunAudited(t *testing.T, st AuditedStores) {
	s, ctx := st.Store, t.Context()
	log := audit.New(s, nil, st.Clock.Now)
	run := &runbooks.Run{Runbook: "hello", State: runbooks.StateApproved}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	toRunning := func(r *runbooks.Run) error { r.State = runbooks.StateRunning; return nil }
	boom := errors.New("boom")
	if _, err := s.UpdateRunAudited(ctx, run.ID, toRunning, func(*runbooks.Run, *audit.Entry) ([]audit.Entry, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if got, _ := s.GetRun(ctx, run.ID); got.State != runbooks.StateApproved {
		t.Fatalf("state after a failed entry = %s, want approved (unchanged)", got.State)
	}
	if _, err := s.UpdateRunAudited(ctx, run.ID, func(*runbooks.Run) error { return boom }, func(r *runbooks.Run, last *audit.Entry) ([]audit.Entry, error) {
		return []audit.Entry{log.Next(last, audit.Note{Actor: "system", Action: audit.ActionRunStart, Subject: r.ID})}, nil
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	started, err := s.UpdateRunAudited(ctx, run.ID, toRunning, func(r *runbooks.Run, last *audit.Entry) ([]audit.Entry, error) {
		if r.State != runbooks.StateRunning {
			t.Errorf("entries saw state %s, want the changed run", r.State)
		}
		return []audit.Entry{log.Next(last, audit.Note{Actor: "slack:U1", Action: audit.ActionRunStart, Subject: r.ID})}, nil
	})
	if err != nil || started.State != runbooks.StateRunning {
		t.Fatalf("update = %+v, %v", started, err)
	}
	if got, want := chain(t, s), []string{"run.start " + run.ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit = %q, want %q", got, want)
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != 1 {
		t.Fatalf("verify: %d %v", n, err)
	}
}

func testCreateRunStarted(t *testing.T, st AuditedStores) {
	s, ctx := st.Store, t.Context()
	log := audit.New(s, nil, st.Clock.Now)
	started := st.Clock.Now().Add(time.Second)
	mark := func(r *runbooks.Run) error {
		r.State, r.StartedAt, r.LogPath = runbooks.StateRunning, started, "logs/"+r.ID+".log"
		return nil
	}
	entries := func(r *runbooks.Run, last *audit.Entry) ([]audit.Entry, error) {
		if r.State != runbooks.StateRunning {
			t.Errorf("entries saw state %s, want the marked run", r.State)
		}
		e1 := log.Next(last, audit.Note{Actor: "slack:U1", Action: audit.ActionRunRequest, Subject: r.ID})
		e2 := log.Next(&e1, audit.Note{Actor: "slack:U1", Action: audit.ActionRunStart, Subject: r.ID})
		return []audit.Entry{e1, e2}, nil
	}
	run := &runbooks.Run{Runbook: "restart", LockKey: "restart:web", RequestedBy: "slack:U1", State: runbooks.StateApproved}
	if err := s.CreateRunStarted(ctx, run, mark, entries); err != nil {
		t.Fatal(err)
	}
	if run.ID != "r1" || run.State != runbooks.StateRunning || run.LogPath != "logs/r1.log" {
		t.Fatalf("run after create = %+v; want r1 as stored, running with its log", run)
	}
	if got, err := s.GetRun(ctx, "r1"); err != nil || got.State != runbooks.StateRunning || !got.StartedAt.Equal(started) {
		t.Fatalf("stored = %+v, %v", got, err)
	}
	locks, err := s.Locks(ctx)
	if err != nil || len(locks) != 1 || locks[0].RunID != "r1" || locks[0].Holder != "slack:U1" || !locks[0].Since.Equal(started) {
		t.Fatalf("locks = %+v, %v; want restart:web held by r1 since its start", locks, err)
	}
	second := &runbooks.Run{Runbook: "restart", LockKey: "restart:web", RequestedBy: "slack:U2", State: runbooks.StateApproved}
	err = s.CreateRunStarted(ctx, second, mark, entries)
	var held *runbooks.LockedError
	if !errors.As(err, &held) || held.Lock.RunID != "r1" {
		t.Fatalf("err = %v; want a *LockedError naming r1", err)
	}
	boom := errors.New("boom")
	third := &runbooks.Run{Runbook: "restart", LockKey: "restart:db", RequestedBy: "slack:U2", State: runbooks.StateApproved}
	if err := s.CreateRunStarted(ctx, third, mark, func(*runbooks.Run, *audit.Entry) ([]audit.Entry, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if second.ID != "" || third.ID != "" || second.State != runbooks.StateApproved {
		t.Errorf("refused creates changed their runs: %+v, %+v", second, third)
	}
	if locks, _ := s.Locks(ctx); len(locks) != 1 {
		t.Errorf("locks after refused creates = %+v; want r1's only", locks)
	}
	next := &runbooks.Run{Runbook: "hello", State: runbooks.StateApproved}
	if err := s.CreateRun(ctx, next); err != nil || next.ID != "r2" {
		t.Fatalf("next run = %q, %v; want r2 (refused creates use no ID)", next.ID, err)
	}
	if got, want := chain(t, s), []string{"run.request r1", "run.start r1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit = %q, want %q", got, want)
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != 2 {
		t.Fatalf("verify: %d %v", n, err)
	}
	running, err := s.ListRuns(ctx, runbooks.ListOptions{States: []runbooks.State{runbooks.StateRunning}})
	if err != nil || len(running) != 1 || running[0].ID != "r1" {
		t.Errorf("running runs = %v, %v; want r1 (listed as active)", running, err)
	}
}
