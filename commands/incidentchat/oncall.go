package incidentchat

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/oncall"
)

// OnCall is what the incident flows use of the on-call schedules: paging
// (oncall:NAME in an invite list, an escalation level, /incident page)
// and showing who is on call (/incident oncall). *oncall.Service
// implements it.
type OnCall interface {
	Expand(ctx context.Context, entries []string, platform string) ([]string, []oncall.Page)
	Rotation(ctx context.Context, name string) (oncall.Rotation, error)
	Names() []string
}

var _ OnCall = (*oncall.Service)(nil)
var _ oncall.Pager = (*Incidents)(nil)

// resolveOnCall turns oncall:NAME entries into the identities of who is on
// call now and role:NAME into the role, and records each page on the
// timeline (who was reached, who could not be, and why), unless the same
// page is already the schedule's last one there: an alert that fires again
// does not count as another page.
func (i *Incidents) resolveOnCall(ctx context.Context, inc *incident.Incident, platform string, list []string) ([]string, []oncall.Page) {
	if i.oncall == nil {
		out := make([]string, 0, len(list))
		for _, e := range list {
			out = append(out, strings.TrimPrefix(e, "role:"))
		}
		return out, nil
	}
	members, pages := i.oncall.Expand(ctx, list, platform)
	if len(pages) == 0 {
		return members, nil
	}
	last := map[string]string{}
	if tl, err := i.svc.Timeline(ctx, inc.ID); err == nil {
		for _, e := range tl {
			if pg, ok := oncall.PageOf(e); ok {
				last[pg.Schedule] = pg.Text()
			}
		}
	}
	for _, pg := range pages {
		if last[pg.Schedule] == pg.Text() {
			continue
		}
		if err := i.svc.AddTimeline(ctx, inc.ID, pg.Entry()); err != nil {
			i.log.Error("page not recorded", "incident", inc.Number, "schedule", pg.Schedule, "err", err)
			continue
		}
		last[pg.Schedule] = pg.Text()
		if i.observePage != nil {
			i.observePage(pg)
		}
	}
	return members, pages
}

// Page invites entries (oncall:NAME, role:NAME, roles, identities) into
// incident number's channel and records whom they reached; it implements
// oncall.Pager for escalation. It fails while the incident has no channel.
func (i *Incidents) Page(ctx context.Context, number int64, entries []string) error {
	_, err := i.page(ctx, number, entries)
	return err
}

func (i *Incidents) page(ctx context.Context, number int64, entries []string) ([]oncall.Page, error) {
	unlock := i.lock(number)
	defer unlock()
	inc, err := i.svc.ByNumber(ctx, number)
	if err != nil {
		return nil, err
	}
	st, err := i.state(ctx, inc)
	if err != nil {
		return nil, err
	}
	if st.channel.IsZero() {
		return nil, tebura.Errorf(tebura.ETRANSIENT, "Incident %s has no channel yet to invite anyone into; try again in a minute.", inc.Ref())
	}
	pages, err := i.invite(ctx, inc, st, entries)
	if err != nil {
		return pages, err
	}
	i.card(ctx, inc, st, true)
	return pages, nil
}

// pageCmd is /incident page ENTRY...: page a schedule (or invite a role
// or a person) into the incident now.
func (i *Incidents) pageCmd(ctx context.Context, c *bot.Command, inc *incident.Incident, args []string) error {
	in := i.names.Typed(commands.RootIncident)
	if len(args) == 0 {
		return tebura.Errorf(tebura.EINVALID, "Say whom to page: `%s page oncall:SCHEDULE`, `%s page role:NAME` or `%s page @person`.", in, in, in)
	}
	var entries []string
	for _, a := range args {
		kind, name, ok := strings.Cut(a, ":")
		switch {
		case ok && kind == "oncall":
			if i.oncall == nil {
				return tebura.Errorf(tebura.EINVALID, "No on-call schedule is configured; add one under oncall.schedules.")
			}
			if !contains(i.oncall.Names(), name) {
				return tebura.Errorf(tebura.ENOTFOUND, "There is no on-call schedule %q; `%s oncall` lists them.", name, in)
			}
			entries = append(entries, a)
		case ok && kind == "role":
			if p := i.policy(); p == nil || !p.Known(name) {
				return tebura.Errorf(tebura.ENOTFOUND, "There is no role %q.", name)
			}
			entries = append(entries, a)
		default:
			id := identity(c.Platform, a)
			if p := i.policy(); !strings.Contains(id, ":") && (p == nil || !p.Known(id)) {
				return tebura.Errorf(tebura.EINVALID, "%q is not a role, oncall:SCHEDULE or @person; `%s oncall` lists the schedules.", a, in)
			}
			entries = append(entries, id)
		}
	}
	pages, err := i.page(ctx, inc.Number, entries)
	if err != nil {
		return err
	}
	i.mark(ctx, inc, c.Actor.ID, incident.KindCommand, fmt.Sprintf("%s paged %s", c.Actor.ID, strings.Join(args, " ")), nil)
	i.record(ctx, c.Actor.ID, audit.ActionIncidentPage, inc.ID, map[string]string{"entries": strings.Join(entries, ",")})
	lines := []string{fmt.Sprintf("%s paged %s into %s.", c.Actor.Mention(), bot.Verbatim(strings.Join(args, " ")), inc.Ref())}
	for _, pg := range pages {
		lines = append(lines, bot.Verbatim(pg.Text()))
	}
	_, err = c.Reply.Reply(ctx, bot.Message{Level: bot.LevelInfo, Text: lines})
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// oncallCmd is /incident oncall [SCHEDULE]: who is on call now and next.
func (i *Incidents) oncallCmd(ctx context.Context, c *bot.Command, args []string) error {
	if i.oncall == nil || len(i.oncall.Names()) == 0 {
		return tebura.Errorf(tebura.ENOTFOUND, "No on-call schedule is configured; add one under oncall.schedules.")
	}
	names := i.oncall.Names()
	if len(args) > 1 {
		return tebura.Errorf(tebura.EINVALID, "`%s oncall` takes one schedule at most.", i.names.Typed(commands.RootIncident))
	}
	if len(args) == 1 {
		names = []string{args[0]}
	}
	var lines []string
	for _, n := range names {
		rot, err := i.oncall.Rotation(ctx, n)
		if err != nil {
			if len(names) == 1 {
				return err
			}
			lines = append(lines, fmt.Sprintf("%s: %s", n, tebura.ErrorMessage(err)))
			continue
		}
		lines = append(lines, rotationText(rot))
	}
	return c.Reply.Private(ctx, bot.Message{Header: "On call", Level: bot.LevelInfo, Text: []string{bot.Verbatim(strings.Join(lines, "\n"))}})
}

// rotationText is one schedule's now and next.
func rotationText(r oncall.Rotation) string {
	who := func(s oncall.Shift) string {
		var l []string
		for _, p := range s.People {
			l = append(l, p.Label())
		}
		return strings.Join(l, ", ")
	}
	if r.Now.Empty() {
		t := r.Schedule + ": nobody on call now"
		if !r.Next.Empty() {
			t += fmt.Sprintf("; next %s from %s", who(r.Next), commands.Stamp(r.Next.Start))
		}
		return t
	}
	t := fmt.Sprintf("%s: now %s until %s", r.Schedule, who(r.Now), commands.Stamp(r.Now.End))
	if !r.Next.Empty() {
		t += "; next " + who(r.Next)
	}
	return t
}

// onCallPart is the card's on-call part: for every schedule paged, who was
// reached, and — so that nobody is skipped silently — who could not be
// reached in chat and why. It reads the timeline (one store read).
func (i *Incidents) onCallPart(ctx context.Context, inc *incident.Incident) CardAddition {
	tl, err := i.svc.Timeline(ctx, inc.ID)
	if err != nil {
		return CardAddition{}
	}
	last := map[string]oncall.Page{}
	var order []string
	for _, e := range tl {
		if pg, ok := oncall.PageOf(e); ok {
			if _, seen := last[pg.Schedule]; !seen {
				order = append(order, pg.Schedule)
			}
			last[pg.Schedule] = pg
		}
	}
	var a CardAddition
	var reached, missed []string
	for _, n := range order {
		pg := last[n]
		var names []string
		for _, r := range pg.Reached {
			names = append(names, r.Label())
		}
		if len(names) > 0 {
			reached = append(reached, n+": "+strings.Join(names, ", "))
		}
		if pg.Error != "" {
			missed = append(missed, fmt.Sprintf("on-call %s could not be read (%s)", n, pg.Error))
		}
		for _, m := range pg.Missed {
			missed = append(missed, fmt.Sprintf("%s, on call for %s (%s)", m.Label(), n, m.Reason))
		}
	}
	if len(reached) > 0 {
		a.Fields = append(a.Fields, bot.Field{Label: "On call", Value: strings.Join(reached, "; ")})
	}
	if len(missed) > 0 {
		a.Text = append(a.Text, "Not reached in chat, call them: "+strings.Join(missed, "; "))
	}
	return a
}

// loadText is the responder-load table of /incident stats.
func loadText(loads []oncall.Load) string {
	if len(loads) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nResponder load\n%-32s %9s %5s %12s %14s\n", "", "incidents", "pages", "out of hours", "in open incid.")
	for _, l := range loads {
		name := l.Label
		if name == "" {
			name = l.Person
		}
		fmt.Fprintf(&b, "%-32s %9d %5d %12d %14s\n", name, l.Incidents, l.Pages, l.OutOfHours, l.InOpen.Round(time.Minute))
	}
	return strings.TrimRight(b.String(), "\n")
}
