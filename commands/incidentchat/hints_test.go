package incidentchat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// TestHintsCard scripts a history on a stopped clock — an api incident
// resolved by an approved restart-api with a note, an unrelated payments
// incident, changes to api inside and outside the window and to another
// service — then opens a new api incident: its card lists the similar
// incident with what resolved it and the changes in the window (golden),
// and [Run the same: restart-api] proposes restart-api with the same params
// as an approval card requested by whoever pressed it.
func TestHintsCard(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC))
	chat := newCMChat()
	h := config.Default().Hints
	// The rule stays out of the new incident (phase=two), so that only
	// the hints propose restart-api there.
	rules := defaultAutomations()
	rules[0].Match = append(rules[0].Match, `phase!="two"`)
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Clock: clock, Hints: &h, Automations: rules})
	ctx := context.Background()

	// #1: api latency, remediated by restart-api, resolved with a note.
	card := s.suggestionCard(chat)
	s.press(bob, chat, card, "Approve")
	if runs := s.waitRuns(byRunbook("restart-api")); len(runs) != 1 || runs[0].State != runbooks.StateSucceeded {
		t.Fatalf("remediation runs = %+v", runs)
	}
	s.settle()
	clock.Advance(14 * time.Minute)
	first, _ := s.Svc.ByNumber(ctx, 1)
	if _, err := s.Svc.Resolve(ctx, first.ID, "console:bob", "rolled back v1.41"); err != nil {
		t.Fatal(err)
	}
	// #2: another service, another alert: not similar.
	clock.Advance(time.Hour)
	other := alertBatch("g-pay", "payments", 0, 1, clock.Now())
	other.Labels["alertname"], other.Alerts[0].Labels["alertname"] = "QueueBacklog", "QueueBacklog"
	s.deliver(other)
	pay, _ := s.Svc.ByNumber(ctx, 2)
	if _, err := s.Svc.Resolve(ctx, pay.ID, "console:bob", ""); err != nil {
		t.Fatal(err)
	}

	clock.Advance(24 * time.Hour)
	for _, c := range []hints.Change{
		{ID: "gh-1", Service: "api", Version: "main@1a2b3c4", By: "octocat", Source: "github", Environment: "production", URL: "https://github.example/acme/api/deployments", At: clock.Now().Add(-35 * time.Minute)},
		{ID: "cli-1", Service: "api", Version: "v1.42", By: "ci", Source: "cli", At: clock.Now().Add(-90 * time.Minute)},
		{ID: "old", Service: "api", Version: "v1.40", By: "ci", Source: "cli", At: clock.Now().Add(-3 * time.Hour)},
		{ID: "db", Service: "db", Version: "v9", By: "ci", Source: "cli", At: clock.Now().Add(-10 * time.Minute)},
	} {
		if _, err := hints.Record(ctx, s.Store, c); err != nil {
			t.Fatal(err)
		}
	}
	again := alertBatch("g2", "api", 0, 1, clock.Now())
	again.Labels["phase"], again.Alerts[0].Labels["phase"] = "two", "two"
	s.deliver(again)
	inc, _ := s.Svc.ByNumber(ctx, 3)
	if inc == nil || inc.Channel.IsZero() {
		t.Fatalf("incident #3 = %+v", inc)
	}
	c3 := chat.cards(inc.Channel.ID)[0]
	golden(t, "hints_card", c3.Last())
	text := bottest.Text(c3.Last())
	if strings.Contains(text, "QueueBacklog") || strings.Contains(text, "v1.40") || strings.Contains(text, "v9") {
		t.Errorf("the card lists what is not similar or out of the window:\n%s", text)
	}

	// [Run the same] proposes restart-api with #1's params, requested by
	// carol, who therefore cannot approve it herself.
	r := s.press(carol, chat, c3, "Run the same: restart-api")
	if txt := r.text(); txt != "" && !strings.Contains(txt, "restart-api") {
		t.Errorf("pressing [Run the same]: %s", txt)
	}
	var approval *bottest.Msg
	for _, m := range chat.inChannel(inc.Channel.ID) {
		if strings.HasPrefix(m.Last().Header, "Approval needed: restart-api") {
			approval = m
		}
	}
	if approval == nil {
		t.Fatal("no approval card after [Run the same]")
	}
	at := bottest.Text(approval.Last())
	mustContain(t, "approval card", at, "env=prod")
	mustContain(t, "approval card", at, "Requested by: @carol")
	if after := bottest.Text(c3.Last()); strings.Contains(after, "[Run the same") {
		t.Errorf("the card still offers [Run the same] once it is proposed:\n%s", after)
	}
	// Pressed again: the card that waits, not a second one.
	r = s.press(bob, chat, c3, "Propose restart-api")
	if r == nil {
		t.Fatal("no [Propose restart-api] on the card after [Run the same]")
	}
	mustContain(t, "second press", r.text(), "waiting for approval")
	pending := 0
	for _, run := range s.pending() {
		if run.Runbook == "restart-api" && run.Origin.Incident == inc.ID {
			pending++
		}
	}
	if pending != 1 {
		t.Errorf("restart-api runs waiting for approval on #3 = %d, want 1", pending)
	}
	proposed := 0
	for _, e := range s.timeline(3) {
		if e.Kind == incident.KindAutomation && e.Data["rule"] == "hint" && e.Data["runbook"] == "restart-api" && e.Data["asked_by"] == "console:carol" && e.Data["run"] != "" {
			proposed++
		}
	}
	if proposed != 1 {
		t.Errorf("proposals from the hint on #3's timeline = %d, want 1:\n%s", proposed, dumpTimeline(s.timeline(3)))
	}
}
