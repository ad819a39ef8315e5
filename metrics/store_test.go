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
	// The run service writes a run with its audit entries, and a run
	// that starts at once with its lock, in one transaction only through
	// a store that can.
	_ runbooks.StartingStore = (*metrics.InstrumentedStore)(nil)
	_ bot.Deduper            = (*metrics.InstrumentedStore)(nil)
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

// TestRunMetricsApprovals: approvals, refusals, a denial and an expiry
// are counted from the run service's transitions, each once.
func TestRunMetricsApprovals(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.BuildInfo{})
	s := m.Store(openStore(t))
	now := time.Now()
	later := now.Add(time.Hour)
	svc := runbooks.NewService(runbooks.ServiceConfig{Store: s, Clock: func() time.Time { return now },
		Subscribers: []func(runbooks.Transition){m.ObserveRun}})
	t.Cleanup(svc.Stop)
	dec := func(by string) runbooks.Decision { return runbooks.Decision{By: by, At: now} }

	// Two approvals needed; bob twice and alice herself are refused.
	r1 := pending(t, s, "restart-api", 2, later)
	if _, _, err := svc.Approve(ctx, r1.ID, dec("console:bob"), false, "h1", nil); err != nil {
		t.Fatal(err)
	}
	for _, by := range []string{"console:bob", "console:alice"} {
		if _, _, err := svc.Approve(ctx, r1.ID, dec(by), false, "h1", nil); err == nil {
			t.Fatalf("approval by %s accepted", by)
		}
	}
	if _, _, err := svc.Approve(ctx, r1.ID, dec("console:carol"), false, "other-plan", nil); err == nil {
		t.Fatal("approval of a changed plan accepted")
	}
	_, approvedNow, err := svc.Approve(ctx, r1.ID, dec("console:carol"), false, "h1", nil)
	if err != nil || !approvedNow {
		t.Fatalf("second approval: %v, approvedNow %v", err, approvedNow)
	}
	// Late approval of an approved run: refused, but the run was not
	// pending, so it is not an approval refusal of a pending run.
	if _, _, err := svc.Approve(ctx, r1.ID, dec("console:dave"), false, "h1", nil); err == nil {
		t.Fatal("approval of an approved run accepted")
	}

	// A denial, an expiry, and a close of a run no longer pending (which
	// changes nothing, so counts nothing).
	r2 := pending(t, s, "restart-api", 1, later)
	if _, err := svc.Deny(ctx, r2.ID, dec("console:bob")); err != nil {
		t.Fatal(err)
	}
	pending(t, s, "drain-node", 1, now.Add(-time.Minute))
	if got, err := svc.Expire(ctx); err != nil || len(got) != 1 {
		t.Fatalf("Expire = %v, %v", got, err)
	}
	if _, closed, err := svc.Close(ctx, r2.ID, "incident resolved", "inc-1"); err != nil || closed {
		t.Fatalf("Close of a denied run: closed %v, %v", closed, err)
	}
	if _, _, err := svc.Approve(ctx, "r999", dec("console:bob"), false, "h1", nil); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Fatalf("approval of a missing run = %v", err)
	}
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	wantApprovals := map[string]sample{
		"outcome=approved": {Value: 2}, "outcome=denied": {Value: 1},
		"outcome=expired": {Value: 1}, "outcome=refused": {Value: 3},
	}
	if got := series(t, m, "tebura_approvals_total"); !reflect.DeepEqual(got, wantApprovals) {
		t.Errorf("approvals = %v, want %v", got, wantApprovals)
	}
	wantRuns := map[string]sample{
		"runbook=restart-api,state=denied": {Value: 1},
		"runbook=drain-node,state=expired": {Value: 1},
	}
	if got := series(t, m, "tebura_runs_total"); !reflect.DeepEqual(got, wantRuns) {
		t.Errorf("runs = %v, want %v", got, wantRuns)
	}
	if got := series(t, m, "tebura_run_duration_seconds"); len(got) != 0 {
		t.Errorf("durations = %v, want none: no run started", got)
	}
}

// TestRunMetricsExecutorAndRecover: the executor's own writes (a lock
// conflict, a real run) and start-up recovery are counted too: the
// service publishes them like every other transition.
func TestRunMetricsExecutorAndRecover(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.BuildInfo{})
	s := openStore(t)
	exec := runbooks.NewExecutor(s, runbooks.ExecutorConfig{DataDir: t.TempDir()}, nil)
	t.Cleanup(func() { _ = exec.Shutdown(ctx) })
	svc := runbooks.NewService(runbooks.ServiceConfig{Store: s, Executor: exec,
		Subscribers: []func(runbooks.Transition){m.ObserveRun}})
	t.Cleanup(svc.Stop)

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
	if got, err := svc.Recover(ctx); err != nil || len(got) != 1 {
		t.Fatalf("Recover = %v, %v", got, err)
	}
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
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
