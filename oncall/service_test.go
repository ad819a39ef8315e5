package oncall_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/oncall"
)

// shifts is a fixed schedule.
type shifts []oncall.Shift

func (s shifts) Shifts(context.Context, time.Time, time.Time) ([]oncall.Shift, error) { return s, nil }

// directory is a fake users.lookupByEmail.
type directory map[string]string

func (d directory) LookupEmail(_ context.Context, email string) (string, error) {
	if id, ok := d[email]; ok {
		return id, nil
	}
	return "", tebura.Errorf(tebura.ENOTFOUND, "no user")
}

var _ bot.UserDirectory = directory(nil)

// TestPageNamesUnmatched: everyone on call is either reached (by the
// schedule's chat identity, oncall.identities or the directory) or named
// with the reason; nobody is dropped.
func TestPageNamesUnmatched(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sh := shifts{{Start: at.Add(-time.Hour), End: at.Add(time.Hour), People: []oncall.Person{
		{Name: "Alice", Email: "alice@example.com"},
		{Name: "Bob", Email: "bob@example.com"},
		{Name: "Dave", Email: "Dave@Example.com"},
		{Name: "Erin", Chat: "slack:UE"},
		{Name: "Frank"},
	}}}
	svc := oncall.NewService(oncall.Deps{
		Schedules:   map[string]oncall.Schedule{"primary-db": sh},
		Identities:  map[string]string{"dave@example.com": "slack:UD", "bob@example.com": "discord:7"},
		Directories: map[string]bot.UserDirectory{"slack": directory{"alice@example.com": "slack:UA"}},
		Clock:       func() time.Time { return at },
	})
	pg := svc.Page(context.Background(), "primary-db", "slack")
	var reached []string
	for _, r := range pg.Reached {
		reached = append(reached, r.Name+"="+r.Identity)
	}
	if got, want := strings.Join(reached, ","), "Alice=slack:UA,Dave=slack:UD,Erin=slack:UE"; got != want {
		t.Errorf("reached %s, want %s", got, want)
	}
	if len(pg.Missed) != 2 || pg.Missed[0].Name != "Bob" || pg.Missed[1].Name != "Frank" {
		t.Fatalf("missed = %+v, want Bob and Frank", pg.Missed)
	}
	text := pg.Text()
	for _, want := range []string{"Bob <bob@example.com> (no slack account has the email bob@example.com)", "Frank (the schedule gives no email"} {
		if !strings.Contains(text, want) {
			t.Errorf("page text %q does not name %q", text, want)
		}
	}
	back, ok := oncall.PageOf(pg.Entry())
	if !ok || len(back.Missed) != 2 || len(back.Reached) != 3 {
		t.Errorf("the timeline entry does not read back: %+v", back)
	}

	// Discord has no directory: only oncall.identities reaches people.
	pg = svc.Page(context.Background(), "primary-db", "discord")
	if len(pg.Reached) != 1 || pg.Reached[0].Identity != "discord:7" || len(pg.Missed) != 4 {
		t.Errorf("discord page = %+v", pg)
	}
	if !strings.Contains(pg.Text(), "discord cannot look people up by email") {
		t.Errorf("discord page text %q does not say why", pg.Text())
	}

	members, pages := svc.Expand(context.Background(), []string{"oncall:primary-db", "role:sre-leads", "sre", "slack:U9", "oncall:nope"}, "slack")
	if got := strings.Join(members, ","); got != "slack:UA,slack:UD,slack:UE,sre-leads,sre,slack:U9" {
		t.Errorf("expanded to %s", got)
	}
	if len(pages) != 2 || !strings.Contains(pages[1].Error, `no on-call schedule "nope"`) {
		t.Errorf("pages = %+v; an unknown schedule must be a page that says so", pages)
	}
}
