package runbookchat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// list shows the runbooks the caller may run.
func (b *Flows) list(ctx context.Context, c *bot.Command) error {
	pol, s := b.policy(), commands.Subject(c.Actor)
	var lines []string
	for _, r := range b.registry().List() {
		if commands.Allowed(pol, s, access.ActionRun, r) {
			lines = append(lines, commands.RunbookLine(r))
		}
	}
	if len(lines) == 0 {
		return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{
			"You may not run any runbook yet. Ask an admin for a role; `" + b.names.Typed(commands.RootTebura) + " whoami` shows the ones you have."}})
	}
	return c.Reply.Private(ctx, bot.Message{
		Header:  "Runbooks you may run",
		Level:   bot.LevelInfo,
		Code:    &bot.Code{Text: strings.Join(lines, "\n")},
		Context: "`" + b.names.Typed(commands.RootRunbook) + " describe NAME` for details",
	})
}

// lookup finds a runbook the caller may see, or an error that suggests the
// nearest one they may run.
func (b *Flows) lookup(name string, s access.Subject) (*runbooks.Runbook, error) {
	reg, pol := b.registry(), b.policy()
	rb, ok := reg.Get(name)
	if !ok || !commands.Allowed(pol, s, access.ActionView, rb) {
		msg := fmt.Sprintf("There is no runbook `%s`.", name)
		if sug := commands.Suggest(name, commands.Runnable(reg, pol, s)); sug != "" {
			msg += fmt.Sprintf(" Did you mean `%s`?", sug)
		}
		msg += fmt.Sprintf(" `%s list` shows the ones you may run.", b.names.Typed(commands.RootRunbook))
		return nil, tebura.Errorf(tebura.ENOTFOUND, "%s", msg)
	}
	return rb, nil
}

// describe shows what a runbook takes and what it will need.
func (b *Flows) describe(ctx context.Context, c *bot.Command, name string) error {
	rb, err := b.lookup(name, commands.Subject(c.Actor))
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
			approval += "; expires after " + commands.Human(rb.Approval.Expires)
		}
	}
	msg := bot.Message{
		Header: rb.Name,
		Level:  bot.LevelInfo,
		Fields: []bot.Field{
			{Label: "Kind", Value: string(rb.Kind)},
			{Label: "Allowed", Value: commands.OrNone(strings.Join(rb.Allow, ", "))},
			{Label: "Approval", Value: approval},
			{Label: "Lock", Value: commands.OrNone(rb.Lock)},
			{Label: "Timeout", Value: commands.Human(rb.Timeout)},
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
			line += " default " + commands.Quote(d)
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

// request handles /runbook run: the run service checks and plans it;
// then it either asks for approval or starts.
func (b *Flows) request(ctx context.Context, c *bot.Command, req commands.Request) error {
	_, err := b.requestVia(ctx, c, req, runbooks.ViaChat, "")
	return err
}

// requestVia is request from any door that answers like a chat command
// (the web view builds a Command whose replies go where it says),
// recording via and the incident the run belongs to. It returns the run
// once it is stored (nil when it was refused, the refusal then being the
// error or a private reply).
func (b *Flows) requestVia(ctx context.Context, c *bot.Command, req commands.Request, via runbooks.Via, incident string) (*runbooks.Run, error) {
	s := commands.Subject(c.Actor)
	rb, err := b.lookup(req.Name, s)
	if err != nil {
		if req.Implicit {
			return nil, b.names.Unknown(commands.RootRunbook, req.Name, append(commands.RunbookVerbs(), commands.Runnable(b.registry(), b.policy(), s)...))
		}
		return nil, err
	}
	p, err := b.d.Runs.Prepare(ctx, runbooks.Request{
		Runbook: rb, Params: req.Args, By: c.Actor.ID, Name: c.Actor.Name, Via: via,
		Origin:           runbooks.Origin{Platform: c.Platform, Channel: c.Channel, Thread: c.Thread, Incident: incident},
		Authorize:        func(rb *runbooks.Runbook) error { return b.mayRun(s, rb) },
		RefuseWhenLocked: true,
	})
	var locked *runbooks.LockedError
	if errors.As(err, &locked) {
		msg, err := b.lockMessage(ctx, rb.Name, locked.Lock)
		if err != nil {
			return nil, err
		}
		return nil, c.Reply.Private(ctx, msg)
	}
	if err != nil {
		return nil, err
	}
	if !rb.NeedsApproval() {
		// One transaction stores the run started, with its request. The
		// answer is the run's message, posted by its stream within
		// bot.DefaultStreamHold: the final frame of a run that ended by then.
		err := b.start(ctx, p.Run, bot.MessageRef{Platform: c.Platform, Channel: c.Channel, Thread: c.Thread}, c.Reply.Reply,
			func() (*runbooks.Handle, error) { return b.d.Runs.CreateAndStart(ctx, p, c.Actor.ID, nil) })
		if p.Run.ID == "" {
			return nil, err
		}
		return p.Run, err
	}
	if err := b.d.Runs.Create(ctx, p); err != nil {
		return nil, err
	}
	run := p.Run
	approveCB, denyCB, err := b.decisionCallbacks(ctx, run)
	if err != nil {
		return run, err
	}
	ref, err := c.Reply.Reply(ctx, b.withRunLink(run.ID, approvalCard(run, rb, p.Plan.String(), p.Masker, approveCB, denyCB)))
	if err != nil {
		return run, err
	}
	_, err = b.d.Runs.SetOrigin(ctx, run.ID, originOf(ref, run.Origin))
	return run, err
}

// mayRun is the allow-list check of a person in chat's words.
func (b *Flows) mayRun(s access.Subject, rb *runbooks.Runbook) error {
	if commands.Allowed(b.policy(), s, access.ActionRun, rb) {
		return nil
	}
	return tebura.Errorf(tebura.EFORBIDDEN, "You may not run `%s`: it needs one of the roles %s. Ask an admin for one, or ask someone who has it.",
		rb.Name, commands.OrNone(strings.Join(rb.Allow, ", ")))
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
func (b *Flows) maskerWith(secrets []string) runbooks.Masker {
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
func (b *Flows) lockMessage(ctx context.Context, runbook string, l runbooks.Lock) (bot.Message, error) {
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
	return lockHeld(runbook, l, holder, viewCB, b.names.Typed(commands.RootRunbook)+" cancel"), nil
}
