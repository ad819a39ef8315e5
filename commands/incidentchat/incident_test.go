package incidentchat_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// TestStorm: 10,000 alerts in 100 deliveries across 20 group keys, every
// delivery sent twice and several at once, open exactly 20 incidents and 20
// channels; each incident runs its diagnostic once, proposes its
// remediation once (never runs it), and has one card, edited as alerts
// join.
func TestStorm(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Incidents: config.Incidents{AnnounceChannel: "incidents"}})
	const groups, batches, perBatch = 20, 100, 100
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	var deliveries []incident.Batch
	for k := 0; k < batches; k++ {
		g := k % groups
		b := alertBatch(fmt.Sprintf("group-%02d", g), fmt.Sprintf("api-%02d", g), k*perBatch, perBatch, start)
		deliveries = append(deliveries, b, b) // every webhook retried once
	}
	work := make(chan incident.Batch)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				res, err := s.Svc.Ingest(context.Background(), b)
				if err != nil {
					t.Errorf("ingest: %v", err)
					continue
				}
				s.Inc.React(context.Background(), res)
			}
		}()
	}
	for _, b := range deliveries {
		work <- b
	}
	close(work)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Inc.Wait(ctx); err != nil { // React is asynchronous
		t.Fatal(err)
	}

	incs, err := s.Svc.List(context.Background(), incident.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != groups {
		t.Fatalf("incidents = %d, want %d", len(incs), groups)
	}
	if n := chat.createdCount(); n != groups {
		t.Errorf("channels created = %d, want %d", n, groups)
	}
	diags := s.waitRuns(byRunbook("check-api"))
	if len(diags) != groups {
		t.Errorf("diagnostic runs = %d, want one per incident (%d)", len(diags), groups)
	}
	perInc := map[string]int{}
	for _, r := range diags {
		perInc[r.Origin.Incident]++
		if r.State != runbooks.StateSucceeded {
			t.Errorf("diagnostic %s %s: %s", r.ID, r.State, r.Reason)
		}
		if r.RequestedBy != "automation:api" {
			t.Errorf("diagnostic %s requested by %q, want automation:api", r.ID, r.RequestedBy)
		}
	}
	for _, inc := range incs {
		if perInc[inc.ID] != 1 {
			t.Errorf("incident %s ran %d diagnostics, want 1", inc.Ref(), perInc[inc.ID])
		}
		if inc.AlertCount != batches/groups*perBatch {
			t.Errorf("incident %s has %d alerts, want %d", inc.Ref(), inc.AlertCount, batches/groups*perBatch)
		}
		cards := chat.cards(inc.Channel.ID)
		if len(cards) != 1 {
			t.Fatalf("incident %s has %d cards in %s, want 1", inc.Ref(), len(cards), inc.Channel.ID)
		}
		last := bottest.Text(cards[0].Last())
		if !strings.Contains(last, fmt.Sprintf("Alerts: %d (%d firing)", inc.AlertCount, inc.AlertCount)) {
			t.Errorf("card of %s not up to date:\n%s", inc.Ref(), last)
		}
		if len(cards[0].Versions()) < 2 {
			t.Errorf("card of %s never edited as alerts joined", inc.Ref())
		}
		chat.mu.Lock()
		invited := append([]string(nil), chat.invites[inc.Channel.ID]...)
		chat.mu.Unlock()
		slices.Sort(invited)
		if want := []string{"console:bob", "console:carol", "console:dave"}; !slices.Equal(invited, want) {
			t.Errorf("invited to %s: %v, want %v (role sre expanded, and dave)", inc.Channel.ID, invited, want)
		}
		if len(inc.Responders) != 3 {
			t.Errorf("responders of %s = %v", inc.Ref(), inc.Responders)
		}
		tl := s.timeline(inc.Number)
		if n := countKind(tl, incident.KindRun); n != 1 {
			t.Errorf("incident %s has %d run results on its timeline, want 1", inc.Ref(), n)
		}
	}
	for _, r := range s.Runs() {
		if r.Runbook == "restart-api" && r.State != runbooks.StatePendingApproval {
			t.Errorf("remediation %s is %s; it must wait for approval", r.ID, r.State)
		}
	}
	if n := len(slices.DeleteFunc(s.Runs(), func(r *runbooks.Run) bool { return r.Runbook != "restart-api" })); n != groups {
		t.Errorf("proposals = %d, want one per incident (%d)", n, groups)
	}
	announced := chat.inChannel("incidents")
	if len(announced) != groups {
		t.Errorf("announcements = %d, want %d", len(announced), groups)
	}
}

func (s *stack) Runs() []*runbooks.Run {
	runs, err := s.Store.ListRuns(context.Background(), runbooks.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return runs
}

// TestOnceWithinAcrossReopen: a rule with once_within does not start its
// diagnostic again when the incident reopens inside the window.
func TestOnceWithinAcrossReopen(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Clock: clock,
		Incidents: config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}})
	b := alertBatch("g", "api", 0, 2, clock.Now().Add(-time.Minute))
	s.deliver(b)
	s.waitRuns(byRunbook("check-api"))
	clock.Advance(time.Minute)
	resolved := b
	resolved.Alerts = nil
	for _, a := range b.Alerts {
		a.Status = incident.AlertResolved
		resolved.Alerts = append(resolved.Alerts, a)
	}
	res := s.deliver(resolved)
	if len(res.Resolved()) != 1 {
		t.Fatalf("batch did not resolve the incident: %+v", res)
	}
	clock.Advance(time.Minute)
	refire := alertBatch("g", "api", 0, 2, clock.Now())
	res = s.deliver(refire)
	if len(res.Reopened()) != 1 {
		t.Fatalf("re-fire did not reopen: %+v", res)
	}
	if runs := s.waitRuns(byRunbook("check-api")); len(runs) != 1 {
		t.Errorf("diagnostics = %d after a reopen inside once_within, want 1", len(runs))
	}
	if n := chat.createdCount(); n != 1 {
		t.Errorf("channels = %d, want 1 (the reopened incident keeps its channel)", n)
	}
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	msgs := chat.inChannel(inc.Channel.ID)
	var texts []string
	for _, m := range msgs {
		texts = append(texts, bottest.Text(m.Last()))
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"resolved automatically", "reopened"} {
		if !strings.Contains(all, want) {
			t.Errorf("channel never said %q:\n%s", want, all)
		}
	}
}

// TestRemediationUnderDiagnosticsNeverRuns: even when the config check was
// skipped, a remediation listed under diagnostics is refused and logged on
// the timeline; it never runs.
func TestRemediationUnderDiagnosticsNeverRuns(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Automations: []config.Automation{{
		Name: "bad", Match: []string{`service="api"`}, Diagnostics: []string{"restart-api", "check-api"},
		Params: map[string]string{"service": "api", "env": "prod"},
	}}})
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	s.waitRuns(byRunbook("check-api"))
	for _, r := range s.Runs() {
		if r.Runbook == "restart-api" {
			t.Fatalf("remediation stored as run %s (%s)", r.ID, r.State)
		}
	}
	tl := s.timeline(1)
	found := false
	for _, e := range tl {
		if e.Data["runbook"] == "restart-api" && e.Data["refused"] == "true" {
			found = true
		}
	}
	if !found {
		t.Errorf("refusal not on the timeline: %+v", tl)
	}
	// A reconcile does not try again.
	if err := s.Inc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Runs() {
		if r.Runbook == "restart-api" {
			t.Fatalf("remediation started by the reconcile: %s", r.ID)
		}
	}
}

// TestSuggestionApprovedByAnotherIdentity: the suggested remediation's card
// is requested by the rule; an sre approves it, it runs, and its approval
// and result land on the timeline.
func TestSuggestionApprovedByAnotherIdentity(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat})
	card := s.suggestionCard(chat)
	mustContain(t, "approval card", bottest.Text(card.Last()), "automation:api")
	mustContain(t, "approval card", bottest.Text(card.Last()), "env=prod")
	if r := s.press(alice, chat, card, "Approve"); !strings.Contains(r.text(), "not an approver") {
		t.Errorf("a dev approved: %s", r.text())
	}
	s.press(bob, chat, card, "Approve")
	runs := s.waitRuns(byRunbook("restart-api"))
	if len(runs) != 1 || runs[0].State != runbooks.StateSucceeded {
		t.Fatalf("remediation runs = %+v", runs)
	}
	// No sweep (the loop's interval is an hour): the approval and the
	// result are recorded as they happen.
	s.settle()
	tl := s.timeline(1)
	if countKind(tl, incident.KindApproval) != 1 {
		t.Errorf("approval not on the timeline:\n%s", dumpTimeline(tl))
	}
	if countKind(tl, incident.KindRun) != 2 { // the diagnostic and the remediation
		t.Errorf("run results on the timeline = %d, want 2:\n%s", countKind(tl, incident.KindRun), dumpTimeline(tl))
	}
	mustContain(t, "approval entry", dumpTimeline(tl), "approved run "+runs[0].ID)
	for range 2 {
		if err := s.Inc.Tick(context.Background()); err != nil { // the sweep must not write them again
			t.Fatal(err)
		}
	}
	if tl := s.timeline(1); countKind(tl, incident.KindRun) != 2 || countKind(tl, incident.KindApproval) != 1 {
		t.Errorf("the sweep recorded again:\n%s", dumpTimeline(tl))
	}
}

// TestDenialRecordedAtOnce: denying a suggested remediation lands on the
// timeline with who denied it when it happens, once, sweep or not.
func TestDenialRecordedAtOnce(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat})
	card := s.suggestionCard(chat)
	s.press(bob, chat, card, "Deny")
	s.settle()
	tl := s.timeline(1)
	if countKind(tl, incident.KindDenial) != 1 {
		t.Fatalf("denial not on the timeline at once:\n%s", dumpTimeline(tl))
	}
	for _, e := range tl {
		if e.Kind == incident.KindDenial && (e.Actor != bob.ID || !strings.Contains(e.Text, "denied by")) {
			t.Errorf("denial entry %+v, want actor %s and who denied in the text", e, bob.ID)
		}
	}
	if err := s.Inc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countKind(s.timeline(1), incident.KindDenial); n != 1 {
		t.Errorf("denial entries after a sweep = %d, want 1", n)
	}
}

func dumpTimeline(tl []incident.TimelineEntry) string {
	var lines []string
	for _, e := range tl {
		lines = append(lines, fmt.Sprintf("%s %s %s %v", e.Actor, e.Kind, e.Text, e.Data))
	}
	return strings.Join(lines, "\n")
}

// TestArchiveAfterResolve: the channel is archived archive_after after the
// resolve, once, and the schedule survives a restart.
func TestArchiveAfterResolve(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	chat := newCMChat()
	dir := t.TempDir()
	o := stackOptions{Chat: chat, Clock: clock, Incidents: config.Incidents{ArchiveAfter: time.Hour}}
	s := newStack(t, dir, o)
	r := s.say(chat, bob, "general", `/incident declare "Checkout is failing" sev=2`)
	mustContain(t, "declare", r.text(), "declared incident #1")
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	if inc.Channel.IsZero() {
		t.Fatal("declared incident has no channel")
	}
	r = s.say(chat, bob, inc.Channel.ID, "/incident resolve rolled back")
	mustContain(t, "resolve", r.text(), "archived at")
	clock.Advance(59 * time.Minute)
	if err := s.Inc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := chat.archivedList(); len(a) != 0 {
		t.Fatalf("archived before archive_after: %v", a)
	}
	s.Close()
	clock.Advance(2 * time.Minute)
	s = newStack(t, dir, o) // Recover ticks once
	if a := chat.archivedList(); !slices.Equal(a, []string{inc.Channel.ID}) {
		t.Fatalf("archived = %v, want [%s]", a, inc.Channel.ID)
	}
	if err := s.Inc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := chat.archivedList(); len(a) != 1 {
		t.Errorf("archived again: %v", a)
	}
	if n := countKind(s.timeline(1), "channel.archived"); n != 1 {
		t.Errorf("archive entries = %d, want 1", n)
	}
}

// TestRestartInTheMiddle: incidents, channels and timelines come back after
// a restart; a re-fire joins the same incident and edits the same card; an
// incident whose reaction was lost in the crash gets its channel, card and
// diagnostic on start-up.
func TestRestartInTheMiddle(t *testing.T) {
	chat := newCMChat()
	dir := t.TempDir()
	s := newStack(t, dir, stackOptions{Chat: chat})
	start := time.Now().Add(-time.Minute).UTC()
	s.deliver(alertBatch("g1", "api", 0, 3, start))
	s.waitRuns(byRunbook("check-api"))
	// A crash after the second webhook was stored but before its reaction.
	if _, err := s.Svc.Ingest(context.Background(), alertBatch("g2", "api-two", 0, 1, start)); err != nil {
		t.Fatal(err)
	}
	inc1, _ := s.Svc.ByNumber(context.Background(), 1)
	before := len(s.timeline(1))
	s.Close()

	s = newStack(t, dir, stackOptions{Chat: chat})
	incs, err := s.Svc.List(context.Background(), incident.ListOptions{})
	if err != nil || len(incs) != 2 {
		t.Fatalf("incidents after restart = %d (%v), want 2", len(incs), err)
	}
	if got := len(s.timeline(1)); got < before {
		t.Errorf("timeline of #1 has %d entries after restart, had %d", got, before)
	}
	inc2, _ := s.Svc.ByNumber(context.Background(), 2)
	if inc2.Channel.IsZero() {
		t.Fatal("the incident whose reaction was lost got no channel on start-up")
	}
	if n := chat.createdCount(); n != 2 {
		t.Errorf("channels created = %d, want 2", n)
	}
	if len(chat.cards(inc2.Channel.ID)) != 1 {
		t.Errorf("lost incident has %d cards, want 1", len(chat.cards(inc2.Channel.ID)))
	}
	runs := s.waitRuns(byRunbook("check-api"))
	if len(runs) != 2 {
		t.Errorf("diagnostics = %d, want 2 (one per incident, the lost one started on start-up)", len(runs))
	}
	if n := len(slices.DeleteFunc(s.Runs(), func(r *runbooks.Run) bool { return r.Runbook != "restart-api" })); n != 2 {
		t.Errorf("proposals = %d, want 2", n)
	}

	cards := chat.cards(inc1.Channel.ID)
	if len(cards) != 1 {
		t.Fatalf("cards of #1 = %d", len(cards))
	}
	versions := len(cards[0].Versions())
	res := s.deliver(alertBatch("g1", "api", 3, 1, time.Now().UTC()))
	if len(res.Changes) != 1 || res.Changes[0].Incident.Number != 1 || res.Changes[0].Opened {
		t.Fatalf("re-fire after restart: %+v", res.Changes)
	}
	if n := chat.createdCount(); n != 2 {
		t.Errorf("channels created = %d after the re-fire, want 2", n)
	}
	if got := chat.cards(inc1.Channel.ID); len(got) != 1 || len(got[0].Versions()) <= versions {
		t.Errorf("card of #1 not edited after restart (cards %d, versions %d → %d)", len(got), versions, len(got[0].Versions()))
	}
	mustContain(t, "card", bottest.Text(cards[0].Last()), "Alerts: 4 (4 firing)")
	if runs := s.waitRuns(byRunbook("check-api")); len(runs) != 2 {
		t.Errorf("diagnostics = %d after re-fire, want 2", len(runs))
	}
}

// TestIncidentCommands is the /incident grammar and access, in and out of
// an incident channel.
func TestIncidentCommands(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Automations: []config.Automation{}})
	s.say(chat, bob, "general", `/incident declare Checkout is failing sev=2`)
	inc, err := s.Svc.ByNumber(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ch := inc.Channel.ID
	if inc.Severity != "2" || inc.Title != "Checkout is failing" {
		t.Fatalf("declared %+v", inc)
	}
	tests := []struct {
		name, who, channel, line string
		want                     string
	}{
		{"no role may not declare", "dave", "general", "/incident declare x", "needs a role"},
		{"no role may not ack", "dave", ch, "/incident ack", "needs a role"},
		{"no role may read", "dave", ch, "/incident status", "Incident #1: Checkout is failing"},
		{"outside a channel, name it", "bob", "general", "/incident ack", "name one: `/incident ack #42`"},
		{"unknown incident", "bob", "general", "/incident status #9", "There is no incident #9"},
		{"unknown verb", "bob", ch, "/incident resolv", "Did you mean `/incident resolve`?"},
		{"ack in the channel", "alice", ch, "/incident ack", "@alice acknowledged incident #1"},
		{"ack twice", "bob", ch, "/incident ack", "already acknowledged"},
		{"note by number", "alice", "general", "/incident note #1 rolled back the deploy", "Noted on the timeline of #1"},
		{"empty note", "alice", ch, "/incident note", "Write the note"},
		{"commander", "bob", ch, "/incident commander console:carol", "console:carol is the commander"},
		{"status", "dave", ch, "/incident status", "Commander: console:carol"},
		{"timeline", "dave", ch, "/incident timeline", "rolled back the deploy"},
		{"list", "dave", "general", "/incident list --open", "#1"},
		{"list bad flag", "dave", "general", "/incident list --all", "takes only --open"},
		{"stats", "dave", "general", "/incident stats 7d", "severity 2"},
		{"stats bad window", "dave", "general", "/incident stats soon", "not a window"},
		{"resolve", "bob", ch, "/incident resolve fixed by rollback", "@bob resolved incident #1"},
		{"resolve twice", "bob", ch, "/incident resolve", "already resolved"},
		{"stats after", "dave", "general", "/incident stats", "1 incidents since"},
		{"help", "dave", "general", "/incident", "/incident declare TITLE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.say(chat, bottest.User(tc.who), tc.channel, tc.line)
			mustContain(t, tc.line, r.text(), tc.want)
		})
	}
	tl := s.timeline(1)
	if countKind(tl, "reaction.card") != 1 {
		t.Fatalf("the card's bookkeeping entry is missing:\n%s", dumpTimeline(tl))
	}
	if r := s.say(chat, bottest.User("dave"), ch, "/incident timeline"); strings.Contains(r.text(), "Incident card posted") {
		t.Errorf("the chat timeline shows bookkeeping:\n%s", r.text())
	}
	for _, want := range []struct{ kind, actor string }{
		{incident.KindOpened, "console:bob"}, {incident.KindAcknowledged, "console:alice"}, {incident.KindNote, "console:alice"},
		{incident.KindCommander, "console:bob"}, {incident.KindResolved, "console:bob"},
	} {
		ok := false
		for _, e := range tl {
			ok = ok || (e.Kind == want.kind && e.Actor == want.actor)
		}
		if !ok {
			t.Errorf("timeline has no %s by %s:\n%s", want.kind, want.actor, dumpTimeline(tl))
		}
	}
	var actions []string
	_ = s.Store.AuditEntries(context.Background(), func(e audit.Entry) error {
		actions = append(actions, string(e.Action))
		return nil
	})
	for _, want := range []string{"incident.open", "incident.ack", "incident.note", "incident.commander", "incident.resolve"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit has no %s: %v", want, actions)
		}
	}
	cards := chat.cards(ch)
	if len(cards) != 1 {
		t.Fatalf("cards = %d, want 1", len(cards))
	}
	last := cards[0].Last()
	mustContain(t, "card", bottest.Text(last), "resolved by console:bob")
	if len(last.Buttons) != 0 {
		t.Errorf("resolved card keeps buttons %v", last.Buttons)
	}
}

// TestCardButtons: [Acknowledge] and [Resolve] on the card work like the
// commands, and check the clicker's role.
func TestCardButtons(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat})
	s.deliver(alertBatch("g", "api", 0, 2, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	card := chat.cards(inc.Channel.ID)[0]
	text := bottest.Text(card.Last())
	for _, want := range []string{"Incident #1: HighLatency on api", "Severity: critical", "Status: triggered", "Alerts: 2 (2 firing)",
		"alertname=HighLatency service=api severity=critical", "p99 latency above 2s", "[Acknowledge]", "[Resolve]", "[Run diagnostics]", "[Propose restart-api]"} {
		mustContain(t, "card", text, want)
	}
	links := card.Last().Links
	if len(links) < 2 || links[0].URL != "https://runbooks.example/latency" || links[1].URL != "https://prometheus.example/graph" {
		t.Errorf("card links = %+v", links)
	}
	if r := s.press(dave, chat, card, "Acknowledge"); !strings.Contains(r.text(), "needs a role") {
		t.Errorf("dave acknowledged: %s", r.text())
	}
	s.press(carol, chat, card, "Acknowledge")
	mustContain(t, "card", bottest.Text(card.Last()), "acknowledged by console:carol")
	if r := s.press(carol, chat, card, "Propose restart-api"); !strings.Contains(r.text(), "waiting for approval") {
		t.Errorf("propose while pending: %s", r.text())
	}
	s.press(bob, chat, card, "Resolve")
	got, _ := s.Svc.ByNumber(context.Background(), 1)
	if got.Status != incident.StatusResolved || got.ResolvedBy != "console:bob" {
		t.Errorf("after [Resolve]: %s by %s", got.Status, got.ResolvedBy)
	}
	s.waitRuns(byRunbook("check-api"))
}

// TestPostmortemPosted: /incident postmortem uploads the Markdown where the
// chat takes files and posts a code block where it cannot.
func TestPostmortemPosted(t *testing.T) {
	for _, files := range []bool{true, false} {
		t.Run(fmt.Sprintf("files=%v", files), func(t *testing.T) {
			var chat bot.Chat
			rec := bottest.NewChat(bot.Limits{})
			if files {
				chat = bottest.FileChat{Chat: rec}
			} else {
				chat = rec
			}
			s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Automations: []config.Automation{},
				Incidents: config.Incidents{AnnounceChannel: "incidents"}})
			s.say(chat, bob, "ops", `/incident declare "Disk full" sev=1`)
			s.say(chat, bob, "ops", "/incident resolve #1 cleaned up")
			r := s.say(chat, bob, "ops", "/incident postmortem #1")
			md, err := s.Inc.Postmortem(context.Background(), "1")
			if err != nil {
				t.Fatal(err)
			}
			mustContain(t, "markdown", md, "# Postmortem: #1 Disk full")
			if files {
				up := rec.Files()
				if len(up) != 1 || up[0].File.Name != "postmortem-1.md" || !strings.Contains(string(up[0].File.Content), "Resolved by console:bob: cleaned up") {
					t.Fatalf("uploads = %d, want postmortem-1.md with the resolve note", len(up))
				}
				mustContain(t, "reply", r.text(), "attached as postmortem-1.md")
				return
			}
			mustContain(t, "reply", r.text(), "# Postmortem: #1 Disk full")
			mustContain(t, "reply", r.text(), "tebura incident postmortem 1")
		})
	}
}

// TestConsoleSharedChannel: without the channel capability the configured
// channel is used: the card goes there and commands name the incident.
func TestConsoleSharedChannel(t *testing.T) {
	rec := bottest.NewChat(bot.Limits{})
	s := newStack(t, t.TempDir(), stackOptions{Chat: rec, Incidents: config.Incidents{AnnounceChannel: "ops"}})
	s.deliver(alertBatch("g1", "api", 0, 1, time.Now()))
	s.deliver(alertBatch("g2", "api-b", 0, 1, time.Now()))
	var cards int
	for _, m := range rec.Messages() {
		if m.Ref.Channel == "ops" && strings.HasPrefix(m.Versions()[0].Header, "Incident #") {
			cards++
		}
	}
	if cards != 2 {
		t.Errorf("cards in the shared channel = %d, want 2", cards)
	}
	runs := s.waitRuns(byRunbook("check-api"))
	if len(runs) != 2 {
		t.Errorf("diagnostics = %d, want 2", len(runs))
	}
	// Commands in the shared channel are about its most recent open
	// incident, and say so when several are open.
	r := s.say(rec, bob, "ops", "/incident ack")
	for _, want := range []string{"acknowledged incident #2", "2 incidents are open in this channel", "`/incident ack #1`"} {
		mustContain(t, "ack in shared channel", r.text(), want)
	}
	r = s.say(rec, bob, "ops", "/incident ack #1")
	mustContain(t, "ack #1", r.text(), "acknowledged incident #1")
	r = s.say(rec, bob, "ops", "/incident resolve")
	mustContain(t, "resolve in shared channel", r.text(), "resolved incident #2")
	r = s.say(rec, bob, "ops", "/incident note rolled back")
	mustContain(t, "note after #2 resolved", r.text(), "timeline of #1")
	if strings.Contains(r.text(), "are open in this channel") {
		t.Errorf("one open incident left, yet the reply names a choice: %q", r.text())
	}
	for _, n := range []int64{1, 2} {
		inc, err := s.Svc.ByNumber(context.Background(), n)
		if err != nil || !inc.Channel.Shared || inc.Channel.ID != "ops" {
			t.Errorf("incident #%d channel = %+v, %v; want the shared ops", n, inc.Channel, err)
		}
	}
}

// TestChannelCreationRetried: when the platform refuses to create the
// channel, nothing is posted or started; the reconcile loop creates it and
// then posts the card and starts the diagnostic, once.
func TestChannelCreationRetried(t *testing.T) {
	chat := newCMChat()
	chat.failNext = 1
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat})
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	if !inc.Channel.IsZero() || len(s.Runs()) != 0 || len(chat.Messages()) != 0 {
		t.Fatalf("acted without a channel: channel %+v, runs %d, messages %d", inc.Channel, len(s.Runs()), len(chat.Messages()))
	}
	for range 2 {
		if err := s.Inc.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	inc, _ = s.Svc.ByNumber(context.Background(), 1)
	if inc.Channel.IsZero() || chat.createdCount() != 1 {
		t.Fatalf("channel after reconcile: %+v (created %d)", inc.Channel, chat.createdCount())
	}
	if n := len(chat.cards(inc.Channel.ID)); n != 1 {
		t.Errorf("cards = %d, want 1", n)
	}
	if runs := s.waitRuns(byRunbook("check-api")); len(runs) != 1 {
		t.Errorf("diagnostics = %d, want 1", len(runs))
	}
}

// TestRunRecordedOnceUnderRace: the hooks and sweeps running at the same
// time still write an approval and a result once.
func TestRunRecordedOnceUnderRace(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat})
	card := s.suggestionCard(chat)
	stop := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-stop:
				return
			default:
				if err := s.Inc.Tick(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	s.press(bob, chat, card, "Approve")
	s.waitRuns(byRunbook("restart-api"))
	s.settle()
	close(stop)
	<-swept
	tl := s.timeline(1)
	if countKind(tl, incident.KindRun) != 2 || countKind(tl, incident.KindApproval) != 1 {
		t.Errorf("want 2 run entries and 1 approval:\n%s", dumpTimeline(tl))
	}
}

// TestManualRunInIncidentChannel: a runbook run by hand in an incident's
// own channel is the incident's: its result lands on the timeline and the
// postmortem lists it.
func TestManualRunInIncidentChannel(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat})
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	s.waitRuns(byRunbook("check-api")) // the automatic diagnostic
	s.say(chat, bob, inc.Channel.ID, "/runbook run check-api service=web")
	var manual *runbooks.Run
	for _, r := range s.waitRuns(byRunbook("check-api")) {
		if r.RequestedBy == bob.ID {
			manual = r
		}
	}
	if manual == nil {
		t.Fatal("the manual run did not run")
	}
	s.settle()
	ctx := context.Background()
	stored, err := s.Store.GetRun(ctx, manual.ID)
	if err != nil || stored.Origin.Incident != inc.ID {
		t.Fatalf("manual run's incident = %q, %v; want %s", stored.Origin.Incident, err, inc.ID)
	}
	tl := s.timeline(1)
	if countKind(tl, incident.KindRun) != 2 {
		t.Errorf("want the diagnostic and the manual run on the timeline:\n%s", dumpTimeline(tl))
	}
	md, err := s.Inc.Postmortem(ctx, "#1")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "postmortem", md, "| "+manual.ID+" | check-api | diagnostic | "+bob.ID)
}

// suggestionCard opens incident #1 from one alert and returns the approval
// card of its suggested remediation, restart-api.
func (s *stack) suggestionCard(chat *cmChat) *bottest.Msg {
	s.t.Helper()
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	for _, m := range chat.inChannel(inc.Channel.ID) {
		if strings.HasPrefix(m.Last().Header, "Approval needed: restart-api") {
			return m
		}
	}
	s.t.Fatal("no approval card for the suggestion")
	return nil
}

// settle waits until the incident layer recorded what the hooks reported.
func (s *stack) settle() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Inc.Wait(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// restartAPIDevApproves is restart-api with dev among the approvers, so
// that alice (dev) could approve — anything but her own request.
var restartAPIDevApproves = strings.Replace(restartAPI, "approvers: [sre]", "approvers: [sre, dev]", 1)

// TestProposeFromCardRequestedByClicker: [Propose X] pressed by a person
// makes that person the requester. Otherwise an approver could sidestep
// four-eyes: after a colleague's Deny, press Propose and approve the new
// card alone, since its requester would be the automation.
func TestProposeFromCardRequestedByClicker(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Runbooks: []string{checkAPI, restartAPIDevApproves}})
	s.deliver(alertBatch("g", "api", 0, 2, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	card := chat.cards(inc.Channel.ID)[0]
	// approvalCard returns the approval card of run id.
	approvalCard := func(id string) (*runbooks.Run, *bottest.Msg) {
		t.Helper()
		run, err := s.Store.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range chat.inChannel(inc.Channel.ID) {
			if m.Ref.ID == run.Origin.Message {
				return run, m
			}
		}
		t.Fatalf("no approval card of %s", id)
		return nil, nil
	}
	// proposeAs presses [Propose restart-api] as a and returns the new run.
	proposeAs := func(a bot.Actor) (*runbooks.Run, *bottest.Msg) {
		t.Helper()
		before := len(slices.DeleteFunc(s.Runs(), func(r *runbooks.Run) bool { return r.Runbook != "restart-api" }))
		r := s.press(a, chat, card, "Propose restart-api")
		runs := slices.DeleteFunc(s.Runs(), func(r *runbooks.Run) bool { return r.Runbook != "restart-api" })
		if len(runs) != before+1 {
			t.Fatalf("%s pressed Propose: %d proposals, want %d; reply %q", a.Name, len(runs), before+1, r.text())
		}
		return approvalCard(runs[0].ID) // newest first
	}

	// The automation's own proposal: requested by the rule; carol denies.
	auto := slices.DeleteFunc(s.Runs(), func(r *runbooks.Run) bool { return r.Runbook != "restart-api" })
	if len(auto) != 1 || auto[0].RequestedBy != "automation:api" {
		t.Fatalf("automatic proposal = %+v, want one requested by automation:api", auto)
	}
	_, autoCard := approvalCard(auto[0].ID)
	s.press(carol, chat, autoCard, "Deny")

	// After carol's Deny, bob proposes again: he is the requester, so his
	// own approval is refused and the run stays pending.
	run, bobCard := proposeAs(bob)
	if run.RequestedBy != bob.ID {
		t.Errorf("bob's proposal requested by %q, want %s", run.RequestedBy, bob.ID)
	}
	mustContain(t, "bob approves his own", s.press(bob, chat, bobCard, "Approve").text(), "You requested this run")
	if got, _ := s.Store.GetRun(context.Background(), run.ID); got.State != runbooks.StatePendingApproval {
		t.Fatalf("bob approved his own proposal alone: %s", got.State)
	}
	s.press(carol, chat, bobCard, "Deny")

	// alice proposes: her approval is refused, bob's starts the run.
	run, aliceCard := proposeAs(alice)
	if run.RequestedBy != alice.ID {
		t.Errorf("alice's proposal requested by %q, want %s", run.RequestedBy, alice.ID)
	}
	mustContain(t, "alice's card", bottest.Text(aliceCard.Last()), "alice")
	mustContain(t, "alice approves her own", s.press(alice, chat, aliceCard, "Approve").text(), "You requested this run")
	s.press(bob, chat, aliceCard, "Approve")
	done := s.waitRuns(func(r *runbooks.Run) bool { return r.ID == run.ID })
	if len(done) != 1 || done[0].State != runbooks.StateSucceeded || len(done[0].Approvals) != 1 || done[0].Approvals[0].By != bob.ID {
		t.Errorf("alice's proposal after bob's approval = %+v, want succeeded, approved by bob", done)
	}

	// The audit chain names the people who asked, and the rule that suggested.
	requests := map[string]string{}
	_ = s.Store.AuditEntries(context.Background(), func(e audit.Entry) error {
		if e.Action == "run.request" && e.Subject != auto[0].ID {
			requests[e.Actor] = e.Detail["suggested_by"]
		}
		return nil
	})
	for _, who := range []string{bob.ID, alice.ID} {
		if by, ok := requests[who]; !ok || by != "automation:api" {
			t.Errorf("run.request by %s: present %v, suggested_by %q; all: %v", who, ok, by, requests)
		}
	}
}

// TestProposeFromCardChecksAccess: a person with a role who may not run the
// runbook cannot have it proposed by pressing [Propose X].
func TestProposeFromCardChecksAccess(t *testing.T) {
	chat := newCMChat()
	sreRuns := strings.Replace(restartAPI, "allow: [sre, dev]", "allow: [sre]", 1)
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Runbooks: []string{checkAPI, sreRuns}})
	s.deliver(alertBatch("g", "api", 0, 2, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	card := chat.cards(inc.Channel.ID)[0]
	runs := slices.DeleteFunc(s.Runs(), func(r *runbooks.Run) bool { return r.Runbook != "restart-api" })
	if len(runs) != 1 {
		t.Fatalf("proposals = %d, want 1", len(runs))
	}
	if _, err := s.Books.ProposeRun(context.Background(), runbookchat.RunRequest{Runbook: "restart-api", By: alice.ID}); err == nil {
		t.Error("ProposeRun accepted a person as the automation")
	}
	// Deny the automatic proposal so that Propose would post a new card.
	for _, m := range chat.inChannel(inc.Channel.ID) {
		if m.Ref.ID == runs[0].Origin.Message {
			s.press(bob, chat, m, "Deny")
		}
	}
	mustContain(t, "alice proposes", s.press(alice, chat, card, "Propose restart-api").text(), "You may not run `restart-api`")
	if n := len(slices.DeleteFunc(s.Runs(), func(r *runbooks.Run) bool { return r.Runbook != "restart-api" })); n != 1 {
		t.Errorf("proposals after alice's refused click = %d, want 1", n)
	}
}

// TestRunEndsComeAsTransitionsNotSweeps: the reconcile loop no longer
// sweeps runs into timelines (transitions bring them as they happen); a
// run's end that a previous process stored but never got onto the
// timeline is written once, at start-up.
func TestRunEndsComeAsTransitionsNotSweeps(t *testing.T) {
	chat := newCMChat()
	dir := t.TempDir()
	s := newStack(t, dir, stackOptions{Chat: chat})
	s.deliver(alertBatch("g1", "api", 0, 1, time.Now().Add(-time.Minute).UTC()))
	s.waitRuns(byRunbook("check-api"))
	s.settle()
	inc, err := s.Svc.ByNumber(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	before := countKind(s.timeline(1), incident.KindRun)
	// A run of the incident that ended in a previous process, whose
	// transition never reached the timeline: written to the store alone.
	lost := &runbooks.Run{Runbook: "check-api", Kind: runbooks.KindDiagnostic, RequestedBy: "automation:api", RequestedAt: time.Now(),
		State: runbooks.StateFailed, Reason: "step check exited with code 2", ExitCode: 2, EndedAt: time.Now(),
		Origin: runbooks.Origin{Incident: inc.ID}}
	if err := s.Store.CreateRun(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Inc.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := countKind(s.timeline(1), incident.KindRun); got != before {
		t.Fatalf("a reconcile swept %d run(s) onto the timeline; runs come as transitions", got-before)
	}
	s.Close()
	s = newStack(t, dir, stackOptions{Chat: chat})
	s.settle()
	tl := s.timeline(1)
	if got := countKind(tl, incident.KindRun); got != before+1 {
		t.Fatalf("after a restart the timeline has %d run entries, want %d:\n%s", got, before+1, dumpTimeline(tl))
	}
	mustContain(t, "timeline", dumpTimeline(tl), "Run "+lost.ID+" (check-api) failed")
}
