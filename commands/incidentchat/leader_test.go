package incidentchat_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
)

// TestRoundsOnlyOnLeader: with several replicas the reconcile rounds
// (archiving due channels among them) run on the leader only (Deps.Lead);
// a follower archives nothing and counts as caught up for /readyz.
func TestRoundsOnlyOnLeader(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	chat := newCMChat()
	dir := t.TempDir()
	o := stackOptions{Chat: chat, Clock: clock, Incidents: config.Incidents{ArchiveAfter: time.Hour}}
	s := newStack(t, dir, o)
	s.say(chat, bob, "general", `/incident declare "Checkout is failing" sev=2`)
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	s.say(chat, bob, inc.Channel.ID, "/incident resolve rolled back")
	s.Close()
	clock.Advance(61 * time.Minute)

	o.Lead = func(context.Context, func(context.Context)) bool { return false }
	s = newStack(t, dir, o) // Recover's first round, as a follower
	if a := chat.archivedList(); len(a) != 0 {
		t.Fatalf("a follower archived %v", a)
	}
	if p := s.Inc.Progress(); !p.Following || !p.CaughtUp() || p.Rounds != 0 {
		t.Errorf("follower's progress = %+v, want following, caught up, no round", p)
	}
	s.Close()

	o.Lead = func(ctx context.Context, f func(context.Context)) bool { f(ctx); return true }
	s = newStack(t, dir, o)
	if a := chat.archivedList(); !slices.Equal(a, []string{inc.Channel.ID}) {
		t.Fatalf("the leader archived %v, want [%s]", a, inc.Channel.ID)
	}
	if p := s.Inc.Progress(); p.Following || p.Rounds != 1 {
		t.Errorf("leader's progress = %+v, want one round of its own", p)
	}
}
