package runbookchat_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/runbooks"
)

// TestExpiryOnlyOnLeader: with several replicas only the leader expires
// approvals (Deps.Lead); a follower's ExpireNow leaves an overdue request
// pending for the leader, and expires it once it leads.
func TestExpiryOnlyOnLeader(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	var leading atomic.Bool
	lead := func(ctx context.Context, f func(context.Context)) bool {
		if !leading.Load() {
			return false
		}
		f(ctx)
		return true
	}
	h := newHarness(t, commandstest.Options{Clock: clock, Lead: lead})
	h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	clock.Advance(16 * time.Minute)
	if err := h.Runbooks.ExpireNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := h.LastRun(); got.State != runbooks.StatePendingApproval {
		t.Fatalf("a follower's expiry made the run %s, want it left pending", got.State)
	}
	leading.Store(true)
	if err := h.Runbooks.ExpireNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := h.LastRun(); got.State != runbooks.StateExpired {
		t.Fatalf("the leader's expiry left the run %s, want expired", got.State)
	}
}
