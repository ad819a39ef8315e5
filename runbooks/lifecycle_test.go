package runbooks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

var t0 = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

func pendingRun(t *testing.T, s *fakeStore, required int) *Run {
	t.Helper()
	r := &Run{Runbook: "restart", PlanHash: "hash1", RequestedBy: "slack:UREQ", RequestedAt: t0,
		Required: required, ExpiresAt: t0.Add(15 * time.Minute), State: StatePendingApproval}
	if err := s.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func dec(by, name string) Decision { return Decision{By: by, Name: name} }

// svcAt is the run service on s with its clock stopped at now.
func svcAt(s Store, now time.Time) *Service {
	return NewService(ServiceConfig{Store: s, Clock: func() time.Time { return now }})
}

func approveAt(ctx context.Context, s Store, id string, d Decision, allowSelf bool, hash string, now time.Time) (*Run, bool, error) {
	return svcAt(s, now).Approve(ctx, id, d, allowSelf, hash, nil)
}

func denyAt(ctx context.Context, s Store, id string, d Decision, now time.Time) (*Run, error) {
	return svcAt(s, now).Deny(ctx, id, d)
}

func closeAt(ctx context.Context, s Store, id, why string, now time.Time) (*Run, bool, error) {
	return svcAt(s, now).Close(ctx, id, why, "")
}

func expireAt(ctx context.Context, s Store, now time.Time) ([]*Run, error) {
	return svcAt(s, now).Expire(ctx)
}

func recoverAt(ctx context.Context, s Store, now time.Time) ([]*Run, error) {
	return svcAt(s, now).Recover(ctx)
}

func TestApprove(t *testing.T) {
	ctx := context.Background()
	type step struct {
		d         Decision
		allowSelf bool
		hash      string
		at        time.Duration
		code      string
		msg       string
		now       bool
		state     State
	}
	tests := []struct {
		name     string
		required int
		steps    []step
	}{
		{"one approval", 1, []step{
			{d: dec("slack:UB", "bob"), hash: "hash1", state: StateApproved, now: true},
			{d: dec("slack:UC", "carol"), hash: "hash1", code: tebura.ECONFLICT, msg: "Already approved by @bob.", state: StateApproved},
		}},
		{"self refused", 1, []step{
			{d: dec("slack:UREQ", "req"), hash: "hash1", code: tebura.EFORBIDDEN, msg: "You requested this run; this runbook needs someone else to approve it.", state: StatePendingApproval},
		}},
		{"self allowed", 1, []step{
			{d: dec("slack:UREQ", "req"), allowSelf: true, hash: "hash1", state: StateApproved, now: true},
		}},
		{"quorum of two distinct people", 2, []step{
			{d: dec("slack:UB", "bob"), hash: "hash1", state: StatePendingApproval},
			{d: dec("slack:UB", "bob"), hash: "hash1", code: tebura.ECONFLICT, msg: "You already approved this run", state: StatePendingApproval},
			{d: dec("slack:UC", "carol"), hash: "hash1", state: StateApproved, now: true},
			{d: dec("slack:UD", ""), hash: "hash1", code: tebura.ECONFLICT, msg: "Already approved by @bob and @carol.", state: StateApproved},
		}},
		{"plan changed", 1, []step{
			{d: dec("slack:UB", "bob"), hash: "hash2", code: tebura.ECONFLICT, msg: "The runbook or its parameters changed since the request, so this approval no longer matches the plan. Request the run again.", state: StatePendingApproval},
		}},
		{"expired", 1, []step{
			{d: dec("slack:UB", "bob"), hash: "hash1", at: 15 * time.Minute, code: tebura.ECONFLICT, msg: "This request expired at 14:15 UTC; request it again.", state: StateExpired},
			{d: dec("slack:UC", "carol"), hash: "hash1", code: tebura.ECONFLICT, msg: "This request expired at 14:15 UTC; request it again.", state: StateExpired},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeStore()
			r := pendingRun(t, s, tt.required)
			for i, st := range tt.steps {
				run, now, err := approveAt(ctx, s, r.ID, st.d, st.allowSelf, st.hash, t0.Add(st.at))
				if tebura.ErrorCode(err) != st.code || (st.msg != "" && !strings.Contains(tebura.ErrorMessage(err), st.msg)) {
					t.Errorf("step %d: err = %v, want %s %q", i, err, st.code, st.msg)
				}
				if now != st.now {
					t.Errorf("step %d: approvedNow = %v", i, now)
				}
				if err == nil && run.State != st.state {
					t.Errorf("step %d: returned state %s", i, run.State)
				}
				if got := s.run(r.ID).State; got != st.state {
					t.Errorf("step %d: stored state %s, want %s", i, got, st.state)
				}
			}
		})
	}
}

func TestApproveConcurrent(t *testing.T) {
	s := newFakeStore()
	r := pendingRun(t, s, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, now, _ := approveAt(context.Background(), s, r.ID, Decision{By: "slack:U" + string(rune('A'+i))}, false, "hash1", t0)
			if now {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d callers were told they approved it", winners)
	}
	if got := s.run(r.ID); got.State != StateApproved || len(got.Approvals) != 2 {
		t.Errorf("stored = %+v", got)
	}
}

func TestDeny(t *testing.T) {
	ctx := context.Background()
	s := newFakeStore()
	r := pendingRun(t, s, 1)
	run, err := denyAt(ctx, s, r.ID, dec("slack:UB", "bob"), t0)
	if err != nil || run.State != StateDenied || run.Reason != "denied by @bob" || run.Denied.By != "slack:UB" {
		t.Fatalf("Deny = %+v, %v", run, err)
	}
	if _, _, err := approveAt(ctx, s, r.ID, dec("slack:UC", "carol"), false, "hash1", t0); tebura.ErrorMessage(err) != "Already denied by @bob." {
		t.Errorf("approve after deny: %v", err)
	}
	if _, err := denyAt(ctx, s, r.ID, dec("slack:UC", ""), t0); tebura.ErrorCode(err) != tebura.ECONFLICT {
		t.Errorf("deny twice: %v", err)
	}
	r2 := pendingRun(t, s, 1)
	if _, err := denyAt(ctx, s, r2.ID, dec("slack:UC", ""), t0.Add(time.Hour)); !strings.Contains(tebura.ErrorMessage(err), "expired") || s.run(r2.ID).State != StateExpired {
		t.Errorf("deny after expiry: %v, %s", err, s.run(r2.ID).State)
	}
	if _, err := denyAt(ctx, s, "r999", dec("x", ""), t0); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("unknown run: %v", err)
	}
}

// TestClose: a pending request closed because its incident resolved can
// be neither approved nor denied, and says why; a decided one is left as
// it was.
func TestClose(t *testing.T) {
	ctx := context.Background()
	s := newFakeStore()
	r := pendingRun(t, s, 2)
	if _, _, err := approveAt(ctx, s, r.ID, dec("slack:UB", "bob"), false, "hash1", t0); err != nil {
		t.Fatal(err) // one of two approvals: still pending
	}
	const why = "incident #3 resolved — request again if still needed"
	run, closed, err := closeAt(ctx, s, r.ID, why, t0.Add(time.Minute))
	if err != nil || !closed || run.State != StateCancelled || !run.Closed() || run.Reason != why || !run.EndedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Close = %+v, %v, %v", run, closed, err)
	}
	want := "Run " + r.ID + " was closed: " + why + "."
	if _, _, err := approveAt(ctx, s, r.ID, dec("slack:UC", "carol"), false, "hash1", t0); tebura.ErrorMessage(err) != want {
		t.Errorf("approve after close: %v, want %q", err, want)
	}
	if _, err := denyAt(ctx, s, r.ID, dec("slack:UC", "carol"), t0); tebura.ErrorMessage(err) != want {
		t.Errorf("deny after close: %v, want %q", err, want)
	}
	if _, closed, err := closeAt(ctx, s, r.ID, "again", t0); err != nil || closed || s.run(r.ID).Reason != why {
		t.Errorf("Close twice: closed %v, %v, reason %q", closed, err, s.run(r.ID).Reason)
	}
	denied := pendingRun(t, s, 1)
	if _, err := denyAt(ctx, s, denied.ID, dec("slack:UB", "bob"), t0); err != nil {
		t.Fatal(err)
	}
	if _, closed, err := closeAt(ctx, s, denied.ID, why, t0); err != nil || closed || s.run(denied.ID).State != StateDenied || s.run(denied.ID).Closed() {
		t.Errorf("Close of a denied run: closed %v, %v, state %s", closed, err, s.run(denied.ID).State)
	}
	if _, _, err := closeAt(ctx, s, "r999", why, t0); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("unknown run: %v", err)
	}
	cancelled := &Run{Runbook: "x", State: StateCancelled, CancelledBy: "@bob", Reason: "cancelled by @bob before approval"}
	if cancelled.Closed() {
		t.Error("a request withdrawn by a person counts as closed")
	}
}

func TestExpirePending(t *testing.T) {
	ctx := context.Background()
	s := newFakeStore()
	old := pendingRun(t, s, 1)
	fresh := &Run{Runbook: "x", RequestedAt: t0.Add(10 * time.Minute), ExpiresAt: t0.Add(25 * time.Minute), State: StatePendingApproval, Required: 1}
	s.CreateRun(ctx, fresh)
	done := &Run{Runbook: "x", ExpiresAt: t0, State: StateSucceeded}
	s.CreateRun(ctx, done)
	got, err := expireAt(ctx, s, t0.Add(20*time.Minute))
	if err != nil || len(got) != 1 || got[0].ID != old.ID || got[0].State != StateExpired {
		t.Fatalf("ExpirePending = %+v, %v", got, err)
	}
	if s.run(fresh.ID).State != StatePendingApproval || s.run(done.ID).State != StateSucceeded {
		t.Error("ExpirePending touched a run it should not have")
	}
}

func TestRecover(t *testing.T) {
	ctx := context.Background()
	s := newFakeStore()
	running := &Run{Runbook: "x", State: StateRunning, LockKey: "deploy-api"}
	queued := &Run{Runbook: "x", State: StateQueued, LockKey: "deploy-web"}
	ended := &Run{Runbook: "x", State: StateFailed, LockKey: "stale"}
	pending := &Run{Runbook: "x", State: StatePendingApproval}
	for _, r := range []*Run{running, queued, ended, pending} {
		s.CreateRun(ctx, r)
		if r.LockKey != "" {
			s.AcquireLock(ctx, Lock{Key: r.LockKey, RunID: r.ID})
		}
	}
	got, err := recoverAt(ctx, s, t0)
	if err != nil || len(got) != 2 {
		t.Fatalf("Recover = %+v, %v", got, err)
	}
	for _, r := range []*Run{running, queued} {
		if st := s.run(r.ID); st.State != StateInterrupted || !st.EndedAt.Equal(t0) || !strings.HasPrefix(st.Reason, "interrupted") {
			t.Errorf("%s = %+v", r.ID, st)
		}
	}
	if s.run(pending.ID).State != StatePendingApproval {
		t.Error("a pending run was touched")
	}
	if locks, _ := s.Locks(ctx); len(locks) != 0 {
		t.Errorf("locks left: %v", locks)
	}
}

// TestRecoverApprovedNeverStarted: a run stored approved whose process died
// before the executor took it must not sit "starting" forever, nor start by
// itself after a restart: it ends interrupted, telling people to ask again.
func TestRecoverApprovedNeverStarted(t *testing.T) {
	ctx := context.Background()
	s := newFakeStore()
	approved := &Run{Runbook: "restart", State: StateApproved, LockKey: "restart-api",
		Approvals: []Decision{dec("slack:UBOB", "bob")}}
	pending := &Run{Runbook: "restart", State: StatePendingApproval}
	for _, r := range []*Run{approved, pending} {
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// The executor may have taken the lock just before the process died.
	if _, err := s.AcquireLock(ctx, Lock{Key: approved.LockKey, RunID: approved.ID}); err != nil {
		t.Fatal(err)
	}
	got, err := recoverAt(ctx, s, t0)
	if err != nil || len(got) != 1 || got[0].ID != approved.ID {
		t.Fatalf("Recover = %+v, %v; want only %s", got, err, approved.ID)
	}
	st := s.run(approved.ID)
	const reason = "approved, but the bot stopped before it started; request it again"
	if st.State != StateInterrupted || st.Reason != reason || !st.EndedAt.Equal(t0) || !st.StartedAt.IsZero() {
		t.Errorf("approved run after Recover = state %s, reason %q, ended %v, started %v", st.State, st.Reason, st.EndedAt, st.StartedAt)
	}
	if len(st.Approvals) != 1 {
		t.Errorf("approvals = %v, want bob's kept for the record", st.Approvals)
	}
	if s.run(pending.ID).State != StatePendingApproval {
		t.Error("a pending run was touched")
	}
	if locks, _ := s.Locks(ctx); len(locks) != 0 {
		t.Errorf("locks left: %v", locks)
	}
	if again, err := recoverAt(ctx, s, t0.Add(time.Minute)); err != nil || len(again) != 0 {
		t.Errorf("second Recover = %+v, %v; want nothing", again, err)
	}
}

func TestReadLog(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o750)
	os.WriteFile(filepath.Join(dir, "logs", "r1.log"), []byte("hi\n"), 0o600)
	rc, err := ReadLog(dir, &Run{ID: "r1", LogPath: "logs/r1.log"})
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	for _, r := range []*Run{{ID: "r2"}, {ID: "r3", LogPath: "logs/r3.log"}} {
		if _, err := ReadLog(dir, r); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Errorf("%s: %v", r.ID, err)
		}
	}
	if _, err := ReadLog(dir, &Run{ID: "r4", LogPath: "../etc/passwd"}); err == nil {
		t.Error("a log path outside logs/ was opened")
	}
}
