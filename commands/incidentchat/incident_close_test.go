package incidentchat_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// closedText is what a closed approval card and a click on it say.
const closedText = "incident #1 resolved — request again if still needed"

// TestResolveClosesApprovalCards: however an incident resolves (its alerts
// resolve, a person types /incident resolve, a person presses [Resolve],
// PagerDuty reports it resolved), every approval still pending for it is
// closed: the card loses its buttons and says why, the timeline and the
// audit log say so once, and a click on the card as it was before (a
// stale view) answers that it was closed and starts nothing. A pending
// request of another channel is left alone.
func TestResolveClosesApprovalCards(t *testing.T) {
	// fire is the delivery that opens the incident, from source.
	fire := func(source string, start time.Time) incident.Batch {
		b := alertBatch("g", "api", 0, 1, start)
		b.Source, b.Alerts[0].Source = source, source
		return b
	}
	resolveAlerts := func(s *stack, _ *cmChat, _ *incident.Incident, source string, start time.Time) {
		b := fire(source, start)
		b.Alerts[0].Status, b.Alerts[0].EndsAt = incident.AlertResolved, time.Now()
		s.deliver(b)
	}
	tests := []struct {
		name    string
		source  string
		resolve func(s *stack, chat *cmChat, inc *incident.Incident, source string, start time.Time)
		by      string // the incident's ResolvedBy
	}{
		{"alerts resolve", "alertmanager", resolveAlerts, incident.ActorTebura},
		{"pagerduty resolves", "pagerduty", resolveAlerts, incident.ActorTebura},
		{"person types resolve", "alertmanager", func(s *stack, chat *cmChat, inc *incident.Incident, _ string, _ time.Time) {
			r := s.say(chat, bob, inc.Channel.ID, "/incident resolve rolled back")
			mustContain(t, "resolve", r.text(), "@bob resolved incident #1")
		}, bob.ID},
		{"person presses Resolve", "alertmanager", func(s *stack, chat *cmChat, inc *incident.Incident, _ string, _ time.Time) {
			s.press(carol, chat, chat.cards(inc.Channel.ID)[0], "Resolve")
		}, carol.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chat := newCMChat()
			s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Incidents: config.Incidents{AutoResolve: true}})
			start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
			s.deliver(fire(tc.source, start))
			inc, _ := s.Svc.ByNumber(context.Background(), 1)
			suggested := findCard(t, chat, inc.Channel.ID, "Approval needed: restart-api")
			// A request typed in the incident channel is the incident's too;
			// one typed elsewhere is not.
			s.say(chat, alice, inc.Channel.ID, "/runbook run restart-api env=staging")
			s.say(chat, alice, "general", "/runbook run restart-api env=prod service=web")
			pending := s.pending()
			if len(pending) != 3 {
				t.Fatalf("pending requests = %d, want 3", len(pending))
			}
			s.waitRuns(byRunbook("check-api"))

			tc.resolve(s, chat, inc, tc.source, start)
			s.settle()
			if got, _ := s.Svc.ByNumber(context.Background(), 1); got.Status != incident.StatusResolved || got.ResolvedBy != tc.by {
				t.Fatalf("incident %s by %s, want resolved by %s", got.Status, got.ResolvedBy, tc.by)
			}

			var closed []string
			for _, p := range pending {
				run, err := s.Store.GetRun(context.Background(), p.ID)
				if err != nil {
					t.Fatal(err)
				}
				if run.Origin.Channel == "general" {
					if run.State != runbooks.StatePendingApproval {
						t.Errorf("the request in #general is %s, want it still pending", run.State)
					}
					continue
				}
				closed = append(closed, run.ID)
				if !run.Closed() || !strings.Contains(run.Reason, closedText) {
					t.Errorf("run %s: state %s, reason %q; want closed because the incident resolved", run.ID, run.State, run.Reason)
				}
			}
			if len(closed) != 2 {
				t.Fatalf("closed %v, want the 2 requests of the incident channel", closed)
			}
			for _, m := range chat.inChannel(inc.Channel.ID) {
				if !strings.HasPrefix(m.Versions()[0].Header, "Approval needed") {
					continue
				}
				last := m.Last()
				mustContain(t, "closed card", bottest.Text(last), closedText)
				if len(last.Buttons) != 0 {
					t.Errorf("closed card keeps buttons %v", last.Buttons)
				}
			}

			// A click on the card as it looked before the resolve.
			for _, label := range []string{"Approve", "Deny"} {
				r := s.pressVersion(bob, chat, suggested, 0, label)
				mustContain(t, label+" after the resolve", r.text(), "was closed: "+closedText)
			}
			s.settle()
			for _, id := range closed {
				run, _ := s.Store.GetRun(context.Background(), id)
				if !run.Closed() || len(run.Approvals) != 0 || !run.StartedAt.IsZero() {
					t.Errorf("run %s after the clicks: %s, approvals %v, started %v", id, run.State, run.Approvals, run.StartedAt)
				}
			}
			all, err := s.Store.ListRuns(context.Background(), runbooks.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 4 { // the diagnostic and the three requests
				t.Errorf("runs = %d after the clicks, want 4: a click made a new one", len(all))
			}
			for _, r := range all {
				if r.Runbook == "restart-api" && !r.StartedAt.IsZero() {
					t.Errorf("remediation %s ran: %s", r.ID, r.State)
				}
			}

			tl := s.timeline(1)
			var entries []string
			for _, e := range tl {
				if e.Kind == incident.KindDenial && strings.Contains(e.Text, "closed: "+closedText) {
					entries = append(entries, e.Data["run"])
				}
			}
			slices.Sort(entries)
			if !slices.Equal(entries, closed) {
				t.Errorf("timeline closings %v, want %v:\n%s", entries, closed, dumpTimeline(tl))
			}
			if err := s.Inc.Tick(context.Background()); err != nil { // the sweep must not write them again
				t.Fatal(err)
			}
			if n := countKind(s.timeline(1), incident.KindDenial); n != 2 {
				t.Errorf("denial entries after a sweep = %d, want 2", n)
			}
			var audited []string
			_ = s.Store.AuditEntries(context.Background(), func(e audit.Entry) error {
				if e.Action == "run.close" {
					audited = append(audited, e.Subject)
				}
				return nil
			})
			slices.Sort(audited)
			if !slices.Equal(audited, closed) {
				t.Errorf("audited run.close for %v, want %v", audited, closed)
			}
		})
	}
}

// pending lists the requests waiting for approval, oldest first.
func (s *stack) pending() []*runbooks.Run {
	s.t.Helper()
	runs, err := s.Store.ListRuns(context.Background(), runbooks.ListOptions{States: []runbooks.State{runbooks.StatePendingApproval}})
	if err != nil {
		s.t.Fatal(err)
	}
	slices.Reverse(runs)
	return runs
}

// pressVersion presses the button labelled label as it was on version v of
// m: a person whose chat still shows an older rendering of the message.
func (s *stack) pressVersion(a bot.Actor, chat bot.Chat, m *bottest.Msg, v int, label string) *testReplier {
	s.t.Helper()
	for _, b := range m.Versions()[v].Buttons {
		if b.Label == label {
			r := &testReplier{chat: chat, channel: m.Ref.Channel}
			s.Bot.HandleEvent(context.Background(), &bot.Click{Platform: bottest.Platform, Actor: a, ActionID: b.ActionID,
				CallbackID: b.CallbackID, Message: m.Ref, Reply: r, Received: time.Now()})
			return r
		}
	}
	s.t.Fatalf("version %d of message %s has no button %q", v, m.Ref.ID, label)
	return nil
}

// findCard returns the first message in channel whose first header starts
// with header.
func findCard(t *testing.T, chat *cmChat, channel, header string) *bottest.Msg {
	t.Helper()
	for _, m := range chat.inChannel(channel) {
		if strings.HasPrefix(m.Versions()[0].Header, header) {
			return m
		}
	}
	t.Fatalf("no message %q in %s", header, channel)
	return nil
}

// TestResolveLostInACrashClosedBySweep: a resolve stored but never seen by
// the chat layer (the process died between the two) leaves the request
// pending only until the next round of the loop.
func TestResolveLostInACrashClosedBySweep(t *testing.T) {
	chat := newCMChat()
	dir := t.TempDir()
	s := newStack(t, dir, stackOptions{Chat: chat})
	card := s.suggestionCard(chat)
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	s.say(chat, alice, inc.Channel.ID, "/runbook run restart-api env=staging")
	s.say(chat, alice, "general", "/runbook run restart-api env=prod service=web")
	s.waitRuns(byRunbook("check-api"))
	if _, err := s.Svc.Resolve(context.Background(), inc.ID, bob.ID, "fixed"); err != nil { // the domain only
		t.Fatal(err)
	}
	if n := len(s.pending()); n != 3 {
		t.Fatalf("pending before the sweep = %d, want 3", n)
	}
	s.Close()
	s = newStack(t, dir, stackOptions{Chat: chat}) // Recover ticks once
	s.settle()
	pending := s.pending()
	if len(pending) != 1 || pending[0].Origin.Channel != "general" {
		t.Fatalf("pending after the sweep = %v, want only the request in #general", pending)
	}
	mustContain(t, "closed card", bottest.Text(card.Last()), closedText)
	if r := s.pressVersion(bob, chat, card, 0, "Approve"); !strings.Contains(r.text(), "was closed") {
		t.Errorf("approve after the sweep: %s", r.text())
	}
	if n := countKind(s.timeline(1), incident.KindDenial); n != 2 {
		t.Errorf("closings on the timeline = %d, want 2:\n%s", n, dumpTimeline(s.timeline(1)))
	}
}
