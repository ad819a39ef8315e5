package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/runbooks"
)

// help lists what the caller may do, and only that.
func (b *Bot) help(ctx context.Context, c *bot.Command) error {
	return c.Reply.Private(ctx, b.helpMessage(subject(c.Actor)))
}

func (b *Bot) helpMessage(s access.Subject) bot.Message {
	rb, tb := b.names.typed(RootRunbook), b.names.typed(RootTebura)
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
		lines = append(lines, "`"+b.names.typed(RootIncident)+" …` — declare and work incidents; `"+b.names.typed(RootIncident)+" help` for more")
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
		if allowed(pol, s, access.ActionRun, r) {
			books = append(books, runbookLine(r))
		}
	}
	if len(books) == 0 {
		msg.Text = append(msg.Text, "You may not run any runbook yet. Ask an admin for a role; `"+tb+" whoami` shows the ones you have.")
	} else {
		msg.Code = &bot.Code{Title: "Runbooks you may run", Text: strings.Join(books, "\n")}
	}
	return msg
}

func runbookLine(r *runbooks.Runbook) string {
	line := r.Name + " (" + string(r.Kind)
	if r.NeedsApproval() {
		line += ", needs " + plural(r.Approval.Required, "approval")
	}
	line += ")"
	if r.Description != "" {
		line += " — " + r.Description
	}
	return line
}

// list shows the runbooks the caller may run.
func (b *Bot) list(ctx context.Context, c *bot.Command) error {
	pol, s := b.policy(), subject(c.Actor)
	var lines []string
	for _, r := range b.registry().List() {
		if allowed(pol, s, access.ActionRun, r) {
			lines = append(lines, runbookLine(r))
		}
	}
	if len(lines) == 0 {
		return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{
			"You may not run any runbook yet. Ask an admin for a role; `" + b.names.typed(RootTebura) + " whoami` shows the ones you have."}})
	}
	return c.Reply.Private(ctx, bot.Message{
		Header:  "Runbooks you may run",
		Level:   bot.LevelInfo,
		Code:    &bot.Code{Text: strings.Join(lines, "\n")},
		Context: "`" + b.names.typed(RootRunbook) + " describe NAME` for details",
	})
}

// lookup finds a runbook the caller may see, or an error that suggests the
// nearest one they may run.
func (b *Bot) lookup(name string, s access.Subject) (*runbooks.Runbook, error) {
	reg, pol := b.registry(), b.policy()
	rb, ok := reg.Get(name)
	if !ok || !allowed(pol, s, access.ActionView, rb) {
		msg := fmt.Sprintf("There is no runbook `%s`.", name)
		if sug := Suggest(name, runnable(reg, pol, s)); sug != "" {
			msg += fmt.Sprintf(" Did you mean `%s`?", sug)
		}
		msg += fmt.Sprintf(" `%s list` shows the ones you may run.", b.names.typed(RootRunbook))
		return nil, tebura.Errorf(tebura.ENOTFOUND, "%s", msg)
	}
	return rb, nil
}

// describe shows what a runbook takes and what it will need.
func (b *Bot) describe(ctx context.Context, c *bot.Command, name string) error {
	rb, err := b.lookup(name, subject(c.Actor))
	if err != nil {
		return err
	}
	return c.Reply.Private(ctx, describeMessage(rb))
}

func describeMessage(rb *runbooks.Runbook) bot.Message {
	approval := "none: it starts at once"
	if rb.NeedsApproval() {
		approval = fmt.Sprintf("%d from %s", rb.Approval.Required, strings.Join(rb.Approval.Approvers, ", "))
		if rb.Approval.AllowSelf {
			approval += "; the requester may approve"
		} else {
			approval += "; not the requester"
		}
		if rb.Approval.Expires > 0 {
			approval += "; expires after " + human(rb.Approval.Expires)
		}
	}
	msg := bot.Message{
		Header: rb.Name,
		Level:  bot.LevelInfo,
		Fields: []bot.Field{
			{Label: "Kind", Value: string(rb.Kind)},
			{Label: "Allowed", Value: orNone(strings.Join(rb.Allow, ", "))},
			{Label: "Approval", Value: approval},
			{Label: "Lock", Value: orNone(rb.Lock)},
			{Label: "Timeout", Value: human(rb.Timeout)},
		},
	}
	if rb.Description != "" {
		msg.Text = []string{rb.Description}
	}
	var params []string
	for _, p := range rb.Params {
		line := p.Name + " (" + string(p.Type)
		if p.Required {
			line += ", required"
		}
		if p.Secret {
			line += ", secret"
		}
		line += ")"
		if p.Default != "" {
			d := p.Default
			if p.Secret {
				d = secretMask
			}
			line += " default " + Quote(d)
		}
		if len(p.Values) > 0 {
			line += " one of " + strings.Join(p.Values, " | ")
		}
		if p.Pattern != "" {
			line += " matching " + p.Pattern
		}
		if p.Description != "" {
			line += " — " + p.Description
		}
		params = append(params, line)
	}
	if len(params) == 0 {
		params = []string{"(no parameters)"}
	}
	msg.Code = &bot.Code{Title: "Parameters", Text: strings.Join(params, "\n")}
	return msg
}

// whoami shows the caller's identity as the bot sees it.
func (b *Bot) whoami(ctx context.Context, c *bot.Command) error {
	pol, s := b.policy(), subject(c.Actor)
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
			{Label: "Groups", Value: orNone(strings.Join(c.Actor.Groups, ", "))},
			{Label: "Roles", Value: roles},
			{Label: "Admin", Value: admin},
		},
		Context: "Roles come from the access section of the bot's config.",
	})
}

// request handles /runbook run: the run service checks and plans it;
// then it either asks for approval or starts.
func (b *Bot) request(ctx context.Context, c *bot.Command, req Request) error {
	s := subject(c.Actor)
	rb, err := b.lookup(req.Name, s)
	if err != nil {
		if req.Implicit {
			return b.names.unknown(RootRunbook, req.Name, append(verbStrings(runbookVerbs), runnable(b.registry(), b.policy(), s)...))
		}
		return err
	}
	p, err := b.d.Runs.Request(ctx, runbooks.Request{
		Runbook: rb, Params: req.Args, By: c.Actor.ID, Name: c.Actor.Name, Via: runbooks.ViaChat,
		Origin:           runbooks.Origin{Platform: c.Platform, Channel: c.Channel, Thread: c.Thread},
		Authorize:        func(rb *runbooks.Runbook) error { return b.mayRun(s, rb) },
		RefuseWhenLocked: true,
	})
	var locked *runbooks.LockedError
	if errors.As(err, &locked) {
		msg, err := b.lockMessage(ctx, rb.Name, locked.Lock)
		if err != nil {
			return err
		}
		return c.Reply.Private(ctx, msg)
	}
	if err != nil {
		return err
	}
	run := p.Run
	if !rb.NeedsApproval() {
		// The answer is the run's message, posted by its stream within
		// bot.DefaultStreamHold: the final frame of a run that ended by then.
		return b.start(ctx, run, rb, bot.MessageRef{Platform: c.Platform, Channel: c.Channel, Thread: c.Thread}, c.Reply.Reply, c.Actor.ID)
	}
	approveCB, denyCB, err := b.decisionCallbacks(ctx, run)
	if err != nil {
		return err
	}
	ref, err := c.Reply.Reply(ctx, approvalCard(run, rb, p.Plan.String(), p.Masker, approveCB, denyCB))
	if err != nil {
		return err
	}
	_, err = b.d.Runs.SetOrigin(ctx, run.ID, originOf(ref, run.Origin))
	return err
}

// mayRun is the allow-list check of a person in chat's words.
func (b *Bot) mayRun(s access.Subject, rb *runbooks.Runbook) error {
	if allowed(b.policy(), s, access.ActionRun, rb) {
		return nil
	}
	return tebura.Errorf(tebura.EFORBIDDEN, "You may not run `%s`: it needs one of the roles %s. Ask an admin for one, or ask someone who has it.",
		rb.Name, orNone(strings.Join(rb.Allow, ", ")))
}

// originOf records where the run's message lives.
func originOf(ref bot.MessageRef, o runbooks.Origin) runbooks.Origin {
	if ref.IsZero() {
		return o
	}
	o.Platform, o.Channel, o.Thread, o.Message = ref.Platform, ref.Channel, ref.Thread, ref.ID
	return o
}

// refOf is the message a run's origin points to.
func refOf(o runbooks.Origin) bot.MessageRef {
	return bot.MessageRef{Platform: o.Platform, Channel: o.Channel, ID: o.Message, Thread: o.Thread}
}

// maskerWith masks secrets and the configured secrets.
func (b *Bot) maskerWith(secrets []string) runbooks.Masker {
	r := b.redactor()
	if r == nil {
		var err error
		if r, err = runbooks.NewRedactor(nil, nil); err != nil {
			return nil
		}
	}
	return r.With(secrets...)
}

// viewButtonTTL is how long a [View] button of a lock-held answer works.
const viewButtonTTL = 24 * time.Hour

// lockMessage builds the "locked" answer with a [View] of the holding run.
func (b *Bot) lockMessage(ctx context.Context, runbook string, l runbooks.Lock) (bot.Message, error) {
	holder, err := b.d.Store.GetRun(ctx, l.RunID)
	if err != nil {
		holder = nil
	}
	viewCB, err := b.newCallback(ctx, actionView, l.RunID, b.now().Add(viewButtonTTL))
	if err != nil {
		return bot.Message{}, err
	}
	var m runbooks.Masker
	if holder != nil {
		m = b.storedMasker(holder)
	} else if r := b.redactor(); r != nil {
		m = r
	}
	l.Key = mask(m, l.Key)
	return lockHeld(runbook, l, holder, viewCB, b.names.typed(RootRunbook)+" cancel"), nil
}
