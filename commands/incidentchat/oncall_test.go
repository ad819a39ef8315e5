package incidentchat_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/oncall"
)

// fixedSchedule has Alice and Bob on call until an hour from now, then
// Carol.
type fixedSchedule struct{}

func (fixedSchedule) Shifts(_ context.Context, from, _ time.Time) ([]oncall.Shift, error) {
	end := from.Add(time.Hour)
	return []oncall.Shift{
		{Start: from.Add(-time.Hour), End: end, People: []oncall.Person{{Name: "Alice", Email: "alice@example.com"}, {Name: "Bob", Email: "bob@example.com"}}},
		{Start: end, End: end.Add(24 * time.Hour), People: []oncall.Person{{Name: "Carol", Email: "carol@example.com"}}},
	}, nil
}

// emailDirectory knows Alice and Carol, not Bob.
type emailDirectory map[string]string

func (d emailDirectory) LookupEmail(_ context.Context, email string) (string, error) {
	if id, ok := d[email]; ok {
		return id, nil
	}
	return "", tebura.Errorf(tebura.ENOTFOUND, "no account")
}

func onCallStack(t *testing.T) (*stack, *cmChat) {
	t.Helper()
	svc := oncall.NewService(oncall.Deps{
		Schedules: map[string]oncall.Schedule{"primary": fixedSchedule{}},
		Directories: map[string]bot.UserDirectory{bottest.Platform: emailDirectory{
			"alice@example.com": alice.ID, "carol@example.com": carol.ID}},
	})
	cal, err := oncall.NewCalendar(config.Default().OnCall.WorkingHours)
	if err != nil {
		t.Fatal(err)
	}
	chat := newCMChat()
	autos := []config.Automation{{Name: "api", Match: []string{`service=~"api.*"`}, Invite: []string{"oncall:primary", "role:sre"}}}
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Automations: autos, OnCall: svc, Calendar: cal})
	return s, chat
}

// TestOnCallInviteNamesUnmatched: oncall:primary invites who is on call
// now, role:sre the role's members; Bob, who has no chat account, is
// named on the card and the timeline, not skipped.
func TestOnCallInviteNamesUnmatched(t *testing.T) {
	s, chat := onCallStack(t)
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	ctx := context.Background()
	inc, err := s.Svc.ByNumber(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	chat.mu.Lock()
	invited := slices.Clone(chat.invites[inc.Channel.ID])
	chat.mu.Unlock()
	for _, want := range []string{alice.ID, bob.ID, carol.ID} {
		if !slices.Contains(invited, want) {
			t.Errorf("invited %v, want %s among them (on call, or in role sre)", invited, want)
		}
	}
	card := bottest.Text(chat.cards(inc.Channel.ID)[0].Last())
	mustContain(t, "card", card, "On call: primary: Alice <alice@example.com>")
	mustContain(t, "card", card, "Not reached in chat, call them: Bob <bob@example.com>, on call for primary (no fake account has the email bob@example.com)")
	tl, err := s.Svc.Timeline(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for _, e := range tl {
		if e.Kind == oncall.KindPaged {
			pages++
			mustContain(t, "timeline", e.Text, "not reached in chat: Bob <bob@example.com>")
		}
	}
	if pages != 1 {
		t.Errorf("%d page entries, want 1", pages)
	}
	// The same alert again pages nobody twice.
	s.deliver(alertBatch("g", "api", 1, 1, time.Now()))
	tl, _ = s.Svc.Timeline(ctx, inc.ID)
	n := 0
	for _, e := range tl {
		if e.Kind == oncall.KindPaged {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d page entries after the alert fired again, want still 1", n)
	}
}

// TestOnCallCommands: /incident oncall shows now and next; /incident page
// pages a schedule into the incident, and refuses an unknown one or a
// caller without a role; /incident stats shows responder load.
func TestOnCallCommands(t *testing.T) {
	s, chat := onCallStack(t)
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)

	r := s.say(chat, dave, inc.Channel.ID, "/incident oncall")
	mustContain(t, "oncall", r.text(), "primary: now Alice <alice@example.com>, Bob <bob@example.com> until")
	mustContain(t, "oncall", r.text(), "next Carol <carol@example.com>")

	tests := []struct {
		name string
		who  bot.Actor
		line string
		want string
	}{
		{"unknown schedule", bob, "/incident page oncall:nope", `There is no on-call schedule "nope"`},
		{"no role", dave, "/incident page oncall:primary", "Working an incident needs a role"},
		{"nothing to page", bob, "/incident page", "Say whom to page"},
		{"not a role or a person", bob, "/incident page nobody", `"nobody" is not a role, oncall:SCHEDULE or @person`},
		{"pages the schedule", bob, "/incident page oncall:primary", "Paged on-call primary: Alice <alice@example.com>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.say(chat, tt.who, inc.Channel.ID, tt.line)
			mustContain(t, tt.line, r.text(), tt.want)
		})
	}
	audited := false
	if err := s.Store.AuditEntries(context.Background(), func(e audit.Entry) error {
		audited = audited || (e.Action == audit.ActionIncidentPage && e.Actor == bob.ID && e.Detail["entries"] == "oncall:primary")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !audited {
		t.Error("/incident page is not on the audit chain")
	}
	r = s.say(chat, bob, inc.Channel.ID, "/incident stats 7d")
	stats := r.text()
	mustContain(t, "stats", stats, "Responder load")
	for _, line := range strings.Split(stats, "\n") {
		if strings.HasPrefix(line, "Alice <alice@example.com>") {
			if f := strings.Fields(line); len(f) < 6 || f[3] != "1" || f[4] != "1" {
				t.Errorf("Alice's load line %q: want 1 incident and 1 page (the second page was the same answer)", line)
			}
			return
		}
	}
	t.Errorf("stats do not list Alice:\n%s", stats)
}
