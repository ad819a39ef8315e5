package incidentchat_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/config"
)

// hangChat is a chat whose channel creation hangs, like a platform whose
// connections go nowhere, until its caller gives up.
type hangChat struct {
	*cmChat
	mu      sync.Mutex
	hanging bool
	tries   int
}

func (c *hangChat) CreateChannel(ctx context.Context, spec bot.ChannelSpec) (bot.Channel, error) {
	c.mu.Lock()
	c.tries++
	hanging := c.hanging
	c.mu.Unlock()
	if hanging {
		<-ctx.Done()
		return bot.Channel{}, ctx.Err()
	}
	return c.cmChat.CreateChannel(ctx, spec)
}

func (c *hangChat) set(hanging bool) (tries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tries, c.tries, c.hanging = c.tries, 0, hanging
	return tries
}

// outcomes counts what the incident layer reports to Deps.Observe.
type outcomes struct {
	mu   sync.Mutex
	n    map[incidentchat.Outcome]int
	peek func() // called at each outcome, when set
}

func (o *outcomes) observe(x incidentchat.Outcome) {
	o.mu.Lock()
	o.n[x]++
	peek := o.peek
	o.mu.Unlock()
	if peek != nil {
		peek()
	}
}

func (o *outcomes) take() map[incidentchat.Outcome]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.n
	o.n = map[incidentchat.Outcome]int{}
	return n
}

// TestReconcileBoundedWhenChatHangs: a restart over ten open incidents
// without a channel while the chat hangs. Each incident's chat work ends
// at its deadline, the round gives up after three in a row (the other
// seven deferred, not tried), the three are noted once on their timelines
// (the round goes newest first),
// the outcomes are reported, and Progress says what is pending. Once the
// chat answers again, the next round brings every incident in line and
// writes no second note, after a restart as well.
func TestReconcileBoundedWhenChatHangs(t *testing.T) {
	chat := &hangChat{cmChat: newCMChat()}
	dir := t.TempDir()
	obs := &outcomes{n: map[incidentchat.Outcome]int{}}
	o := stackOptions{Chat: chat, Automations: []config.Automation{}, ReconcileTimeout: 300 * time.Millisecond, Observe: obs.observe}
	s := newStack(t, dir, o)
	for k := range 10 { // stored, never reacted to: the process died
		if _, err := s.Svc.Ingest(context.Background(), alertBatch(fmt.Sprintf("g%d", k), fmt.Sprintf("api-%d", k), 0, 1, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	obs.take()
	chat.set(true)

	begin := time.Now()
	s = newStack(t, dir, o) // returns after the first round
	took := time.Since(begin)
	if tries := chat.set(true); tries != 3 {
		t.Errorf("channel creations tried in the first round = %d, want 3 (then the round gives up)", tries)
	}
	if took > 5*time.Second {
		t.Errorf("the first round took %s with a 300ms deadline per incident", took)
	}
	got := obs.take()
	if got[incidentchat.OutcomeUnreachable] != 3 || got[incidentchat.OutcomeDeferred] != 7 || got[incidentchat.OutcomeDone] != 0 {
		t.Errorf("outcomes of the first round = %v, want 3 unreachable, 7 deferred", got)
	}
	p := s.Inc.Progress()
	if p.Rounds != 1 || p.Open != 10 || p.Pending != 10 || p.Deferred != 7 || p.CaughtUp() {
		t.Errorf("progress = %+v, want round 1 with 10 of 10 pending, 7 deferred", p)
	}
	if str := p.String(); !strings.Contains(str, "reconciling 10 of 10 open incidents") || !strings.Contains(str, "7 deferred") {
		t.Errorf("progress says %q", str)
	}
	notes := func(n int64) int {
		k := 0
		for _, e := range s.timeline(n) {
			if e.Kind == "chat.delayed" {
				k++
				if !strings.Contains(e.Text, "could not create this incident's channel: the chat did not answer within 300ms") {
					t.Errorf("note on #%d: %q", n, e.Text)
				}
			}
		}
		return k
	}
	allNotes := func() (total, most int) {
		for n := int64(1); n <= 10; n++ {
			k := notes(n)
			total, most = total+k, max(most, k)
		}
		return total, most
	}
	if total, most := allNotes(); total != 3 || most != 1 {
		t.Errorf("delay notes = %d (at most %d per incident), want one on each of the 3 incidents tried", total, most)
	}

	// The chat answers again; the next start (with a deadline no loaded
	// machine misses) picks up where this one left off.
	s.Close()
	chat.set(false)
	o.ReconcileTimeout = time.Minute
	s = newStack(t, dir, o)
	if got := obs.take(); got[incidentchat.OutcomeDone] != 10 || len(got) != 1 {
		t.Errorf("outcomes once the chat answers = %v, want 10 done", got)
	}
	if p := s.Inc.Progress(); !p.CaughtUp() || p.Pending != 0 {
		t.Errorf("progress once the chat answers = %+v, want caught up", p)
	}
	for n := int64(1); n <= 10; n++ {
		inc, err := s.Svc.ByNumber(context.Background(), n)
		if err != nil || inc.Channel.IsZero() {
			t.Errorf("incident #%d has no channel after the chat came back (%v)", n, err)
		}
	}
	if total, _ := allNotes(); total != 3 {
		t.Errorf("delay notes after the chat came back = %d, want still 3", total)
	}
	// A later round over the settled backlog never shows it pending again
	// (/readyz?strict does not flap every round).
	obs.mu.Lock()
	obs.peek = func() {
		if p := s.Inc.Progress(); p.Pending != 0 {
			t.Errorf("pending during a round over settled incidents: %+v", p)
		}
	}
	obs.mu.Unlock()
	if err := s.Inc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := obs.take(); got[incidentchat.OutcomeDone] != 10 {
		t.Errorf("outcomes of a round over settled incidents = %v, want 10 done", got)
	}
}
