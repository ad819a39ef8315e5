package metrics_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/runbooks"
)

// Compile-time checks: the instrumented store is accepted wherever the
// bolt store is.
var (
	_ metrics.Store  = (*metrics.InstrumentedStore)(nil)
	_ runbooks.Store = (*metrics.InstrumentedStore)(nil)
	_ bot.Deduper    = (*metrics.InstrumentedStore)(nil)
)

// pending stores a run waiting for required approvals until expires.
func pending(t *testing.T, s runbooks.Store, runbook string, required int, expires time.Time) *runbooks.Run {
	t.Helper()
	r := &runbooks.Run{Runbook: runbook, Kind: runbooks.KindRemediation, Params: map[string]string{}, PlanHash: "h1",
		RequestedBy: "console:alice", RequestedAt: time.Now(), Required: required, ExpiresAt: expires,
		State: runbooks.StatePendingApproval}
	if err := s.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunStoreApprovalsAndFinalStates(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.BuildInfo{})
	s := m.Store(openStore(t))
	now := time.Now()
	later := now.Add(time.Hour)
	dec := func(by string) runbooks.Decision { return runbooks.Decision{By: by, At: now} }

	// Two approvals needed; bob twice and alice herself are refused.
	r1 := pending(t, s, "restart-api", 2, later)
	if _, _, err := runbooks.Approve(ctx, s, r1.ID, dec("console:bob"), false, "h1", now); err != nil {
		t.Fatal(err)
	}
	for _, by := range []string{"console:bob", "console:alice"} {
		if _, _, err := runbooks.Approve(ctx, s, r1.ID, dec(by), false, "h1", now); err == nil {
			t.Fatalf("approval by %s accepted", by)
		}
	}
	if _, _, err := runbooks.Approve(ctx, s, r1.ID, dec("console:carol"), false, "other-plan", now); err == nil {
		t.Fatal("approval of a changed plan accepted")
	}
	_, approvedNow, err := runbooks.Approve(ctx, s, r1.ID, dec("console:carol"), false, "h1", now)
	if err != nil || !approvedNow {
		t.Fatalf("second approval: %v, approvedNow %v", err, approvedNow)
	}
	// Late approval of an approved run: refused by the function, but the run
	// was not pending, so it is not an approval refusal of a pending run.
	if _, _, err := runbooks.Approve(ctx, s, r1.ID, dec("console:dave"), false, "h1", now); err == nil {
		t.Fatal("approval of an approved run accepted")
	}

	// A denial, an expiry, a run that ends with timestamps, and an update
	// that changes nothing countable.
	r2 := pending(t, s, "restart-api", 1, later)
	if _, err := runbooks.Deny(ctx, s, r2.ID, dec("console:bob"), now); err != nil {
		t.Fatal(err)
	}
	r3 := pending(t, s, "drain-node", 1, now.Add(-time.Minute))
	if got, err := runbooks.ExpirePending(ctx, s, now); err != nil || len(got) != 1 {
		t.Fatalf("ExpirePending = %v, %v", got, err)
	}
	start := now.Add(-90 * time.Second)
	for _, fn := range []func(*runbooks.Run) error{
		func(r *runbooks.Run) error { r.Origin.Message = "m1"; return nil },
		func(r *runbooks.Run) error { r.State, r.StartedAt = runbooks.StateRunning, start; return nil },
		func(r *runbooks.Run) error {
			r.State, r.EndedAt = runbooks.StateSucceeded, start.Add(90*time.Second)
			return nil
		},
		func(r *runbooks.Run) error { r.Reason = "again"; return nil }, // already final: not counted twice
	} {
		if _, err := s.UpdateRun(ctx, r1.ID, fn); err != nil {
			t.Fatal(err)
		}
	}
	// A failing update counts nothing.
	boom := errors.New("boom")
	if _, err := s.UpdateRun(ctx, r3.ID, func(*runbooks.Run) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateRun error = %v", err)
	}
	if _, err := s.UpdateRun(ctx, "r999", func(*runbooks.Run) error { return nil }); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Fatalf("UpdateRun of a missing run = %v", err)
	}

	wantApprovals := map[string]sample{
		"outcome=approved": {Value: 2}, "outcome=denied": {Value: 1},
		"outcome=expired": {Value: 1}, "outcome=refused": {Value: 3},
	}
	if got := series(t, m, "tebura_approvals_total"); !reflect.DeepEqual(got, wantApprovals) {
		t.Errorf("approvals = %v, want %v", got, wantApprovals)
	}
	wantRuns := map[string]sample{
		"runbook=restart-api,state=succeeded": {Value: 1},
		"runbook=restart-api,state=denied":    {Value: 1},
		"runbook=drain-node,state=expired":    {Value: 1},
	}
	if got := series(t, m, "tebura_runs_total"); !reflect.DeepEqual(got, wantRuns) {
		t.Errorf("runs = %v, want %v", got, wantRuns)
	}
	// Only the run that started has a duration.
	wantDur := map[string]sample{"runbook=restart-api": {Count: 1, Sum: 90}}
	if got := series(t, m, "tebura_run_duration_seconds"); !reflect.DeepEqual(got, wantDur) {
		t.Errorf("durations = %v, want %v", got, wantDur)
	}
}

// TestRunStoreExecutorAndRecover: the executor's own updates (a lock
// conflict, a real run) and start-up recovery are counted too, through
// the plain runbooks.Store decorator.
func TestRunStoreExecutorAndRecover(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.BuildInfo{})
	st := openStore(t)
	s := m.RunStore(st)
	exec := runbooks.NewExecutor(s, runbooks.ExecutorConfig{DataDir: t.TempDir()}, nil)
	t.Cleanup(func() { _ = exec.Shutdown(ctx) })

	approved := func(rb, lock string) *runbooks.Run {
		r := &runbooks.Run{Runbook: rb, Kind: runbooks.KindDiagnostic, Params: map[string]string{}, LockKey: lock,
			RequestedBy: "console:alice", RequestedAt: time.Now(), State: runbooks.StateApproved}
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if _, err := s.AcquireLock(ctx, runbooks.Lock{Key: "db", RunID: "r0", Holder: "console:zed", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	job := runbooks.Job{Steps: []runbooks.RenderedStep{{Name: "hi", Kind: runbooks.StepRun, Argv: []string{"echo", "hi"}}}}
	if _, err := exec.Start(ctx, approved("check-db", "db"), job); err == nil {
		t.Fatal("run started although its lock is held")
	}
	h, err := exec.Start(ctx, approved("check-api", ""), job)
	if err != nil {
		t.Fatal(err)
	}
	<-h.Done()

	stale := approved("check-api", "")
	if _, err := s.UpdateRun(ctx, stale.ID, func(r *runbooks.Run) error { r.State = runbooks.StateRunning; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := runbooks.Recover(ctx, s, time.Now()); err != nil || len(got) != 1 {
		t.Fatalf("Recover = %v, %v", got, err)
	}

	wantRuns := map[string]sample{
		"runbook=check-db,state=failed":       {Value: 1},
		"runbook=check-api,state=succeeded":   {Value: 1},
		"runbook=check-api,state=interrupted": {Value: 1},
	}
	if got := series(t, m, "tebura_runs_total"); !reflect.DeepEqual(got, wantRuns) {
		t.Errorf("runs = %v, want %v", got, wantRuns)
	}
	// The lock refusal never started; the recovered run has no start time.
	if got := series(t, m, "tebura_run_duration_seconds"); len(got) != 1 || got["runbook=check-api"].Count != 1 {
		t.Errorf("durations = %v, want one check-api run", got)
	}
}

// failingDeduper fails every Mark.
type failingDeduper struct{}

func (failingDeduper) Mark(context.Context, string, string, time.Duration) (bool, error) {
	return false, errors.New("disk full")
}

func TestDeduper(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.BuildInfo{})
	d := m.Deduper(openStore(t))
	for _, c := range []struct {
		scope, key string
		first      bool
	}{
		{"slack-event", "T1/Ev1", true},
		{"slack-event", "T1/Ev1", false},
		{"slack-event", "T1/Ev2", true},
		{"slack-envelope", "e1", true},
	} {
		first, err := d.Mark(ctx, c.scope, c.key, time.Hour)
		if err != nil || first != c.first {
			t.Fatalf("Mark(%s, %s) = %v, %v; want %v", c.scope, c.key, first, err, c.first)
		}
	}
	if _, err := m.Deduper(failingDeduper{}).Mark(ctx, "discord-interaction", "1", time.Hour); err == nil {
		t.Fatal("error swallowed")
	}
	want := map[string]sample{
		"result=miss,scope=slack-event":          {Value: 2},
		"result=hit,scope=slack-event":           {Value: 1},
		"result=miss,scope=slack-envelope":       {Value: 1},
		"result=error,scope=discord-interaction": {Value: 1},
	}
	if got := series(t, m, "tebura_dedupe_checks_total"); !reflect.DeepEqual(got, want) {
		t.Errorf("dedupe = %v, want %v", got, want)
	}
}
