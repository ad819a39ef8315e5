package bolt

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/runbooks"
)

var _ runbooks.AuditedStore = (*Store)(nil)

// TestCreateRunAudited: a run and the entries recording its request are
// one transaction: both or neither, the entries naming the run's new ID
// and extending the chain.
func TestCreateRunAudited(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	log := audit.New(s, nil, nil)
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
	var got []string
	if err := s.AuditEntries(ctx, func(e audit.Entry) error { got = append(got, string(e.Action)+" "+e.Subject); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"config.load config", "run.request " + run.ID, "run.approve " + run.ID}
	if len(got) != len(want) || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("audit = %q, want %q", got, want)
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != 3 {
		t.Fatalf("verify: %d %v", n, err)
	}
}

// TestUpdateRunAudited: a change of a run and the entries recording it are
// one transaction: an entry that cannot be made leaves the run as it was,
// and a change that is refused appends no entry.
func TestUpdateRunAudited(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	log := audit.New(s, nil, nil)
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
	var got []string
	if err := s.AuditEntries(ctx, func(e audit.Entry) error { got = append(got, string(e.Action)+" "+e.Subject); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"run.start " + run.ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit = %q, want %q", got, want)
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != 1 {
		t.Fatalf("verify: %d %v", n, err)
	}
}
