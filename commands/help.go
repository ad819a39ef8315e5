package commands

import (
	"context"
	"strings"

	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
)

// help lists what the caller may do, and only that.
func (b *Router) help(ctx context.Context, c *bot.Command) error {
	return c.Reply.Private(ctx, b.helpMessage(Subject(c.Actor)))
}

func (b *Router) helpMessage(s access.Subject) bot.Message {
	rb, tb := b.names.Typed(RootRunbook), b.names.Typed(RootTebura)
	lines := []string{
		"`" + rb + " list` — the runbooks you may run",
		"`" + rb + " describe NAME` — parameters, approval, lock and timeout of a runbook",
		"`" + rb + " run NAME [key=value …]` (or `" + rb + " NAME …`) — run it, or ask for approval",
		"`" + rb + " status [RUN]` — your recent runs and everything running",
		"`" + rb + " cancel RUN` — stop a run you requested or may approve",
		"`" + rb + " logs RUN` — the end of a run's log, or the whole file",
		"`" + tb + " whoami` — who the bot thinks you are, and your roles",
	}
	if b.d.Incidents != nil {
		lines = append(lines, "`"+b.names.Typed(RootIncident)+" …` — declare and work incidents; `"+b.names.Typed(RootIncident)+" help` for more")
	}
	if b.d.Login != nil {
		lines = append(lines, "`"+tb+" login` — a private one-time link that signs your browser in to the web view as you")
	}
	if b.mayReload(s) {
		lines = append(lines, "`"+tb+" reload` — load the config, runbooks and access again (admins)")
	}
	msg := bot.Message{
		Header: "What you can do",
		Level:  bot.LevelInfo,
		Text:   []string{strings.Join(lines, "\n"), "Quote values with spaces: `msg=\"rolling restart\"`. Nothing you type is expanded."},
	}
	pol := b.policy()
	var books []string
	for _, r := range b.registry().List() {
		if Allowed(pol, s, access.ActionRun, r) {
			books = append(books, RunbookLine(r))
		}
	}
	if len(books) == 0 {
		msg.Text = append(msg.Text, "You may not run any runbook yet. Ask an admin for a role; `"+tb+" whoami` shows the ones you have.")
	} else {
		msg.Code = &bot.Code{Title: "Runbooks you may run", Text: strings.Join(books, "\n")}
	}
	return msg
}

// whoami shows the caller's identity as the bot sees it.
func (b *Router) whoami(ctx context.Context, c *bot.Command) error {
	pol, s := b.policy(), Subject(c.Actor)
	roles := "none"
	admin := "no"
	if pol != nil {
		if r := pol.Roles(s); len(r) > 0 {
			roles = strings.Join(r, ", ")
		}
		if pol.IsAdmin(s) {
			admin = "yes"
		}
	}
	return c.Reply.Private(ctx, bot.Message{
		Header: "You are " + c.Actor.Mention(),
		Level:  bot.LevelInfo,
		Fields: []bot.Field{
			{Label: "Identity", Value: c.Actor.ID},
			{Label: "Groups", Value: OrNone(strings.Join(c.Actor.Groups, ", "))},
			{Label: "Roles", Value: roles},
			{Label: "Admin", Value: admin},
		},
		Context: "Roles come from the access section of the bot's config.",
	})
}
