package runbookchat

import (
	"context"
	"strings"
	"sync"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// The hooks in this file are what the web view and /api/v1 use: the same
// request, approve, deny and cancel flows as chat, run for a person signed
// in to a browser (or an API token) instead of one typing in a channel.
// Approval cards and live messages still go to chat, to the channel the
// caller names; what chat would say privately comes back as the answer.

// DoorRequest is a run asked for outside chat.
type DoorRequest struct {
	Actor   bot.Actor
	Runbook string
	Params  map[string]string
	// Platform and Target are where the approval card (or the live
	// message of a run that needs no approval) is posted; an empty
	// Platform, or one without a chat, posts nothing: the run's web page
	// shows it, and it can be approved there.
	Platform string
	Target   bot.Target
	// Incident is the incident the run belongs to ("i42"), if any.
	Incident string
	Via      runbooks.Via
}

// RequestFrom requests a run exactly as /runbook run does (the runbook
// must be one the actor may see and run, params are bound and validated,
// a held lock refuses it, the request is audited) and returns the stored
// run: pending approval with its card posted to req.Target, or started.
func (b *Flows) RequestFrom(ctx context.Context, req DoorRequest) (*runbooks.Run, error) {
	rep := b.doorReplier(req.Platform, req.Target)
	c := &bot.Command{Platform: req.Platform, Channel: req.Target.Channel, Thread: req.Target.Thread, Actor: req.Actor, Reply: rep, Received: b.now()}
	run, err := b.requestVia(ctx, c, commands.Request{Root: commands.RootRunbook, Verb: commands.VerbRun, Name: req.Runbook, Args: req.Params}, req.Via, req.Incident)
	if run == nil {
		if err == nil {
			// Refused with a private answer (a held lock): the door's
			// answer is that sentence.
			err = tebura.Errorf(tebura.ECONFLICT, "%s", rep.privateText())
		}
		return nil, err
	}
	stored, gerr := b.d.Store.GetRun(ctx, run.ID)
	if gerr != nil {
		return run, gerr
	}
	return stored, err
}

// ApproveAs approves run runID as actor, with every check of the chat's
// [Approve] button (approver role, allow_self, the plan still the one
// requested, one decision per person); it returns what chat would have
// told the approver ("1 of 2"), or "" when the run started.
func (b *Flows) ApproveAs(ctx context.Context, actor bot.Actor, runID string) (string, error) {
	c, rep, err := b.doorClick(ctx, actor, runID)
	if err != nil {
		return "", err
	}
	if err := b.approve(ctx, c, runID); err != nil {
		return "", err
	}
	return rep.privateText(), nil
}

// DenyAs denies run runID as actor, with the checks of the [Deny] button.
func (b *Flows) DenyAs(ctx context.Context, actor bot.Actor, runID string) error {
	c, _, err := b.doorClick(ctx, actor, runID)
	if err != nil {
		return err
	}
	return b.deny(ctx, c, runID)
}

// CancelAs cancels run runID as actor, as /runbook cancel does.
func (b *Flows) CancelAs(ctx context.Context, actor bot.Actor, runID string) (string, error) {
	rep := b.doorReplier("", bot.Target{})
	if err := b.cancel(ctx, rep, actor, runID); err != nil {
		return "", err
	}
	return rep.privateText(), nil
}

// CanView reports whether actor may see run (its page and its log): its
// requester, anyone who may view its runbook, admins; as /runbook status.
func (b *Flows) CanView(actor bot.Actor, run *runbooks.Run) bool { return b.canView(actor, run) }

// doorClick is the click a button on the run's card would have made.
func (b *Flows) doorClick(ctx context.Context, actor bot.Actor, runID string) (*bot.Click, *doorReplier, error) {
	run, err := b.getRun(ctx, actor, runID)
	if err != nil {
		return nil, nil, err
	}
	rep := b.doorReplier(run.Origin.Platform, bot.Target{Channel: run.Origin.Channel, Thread: run.Origin.Thread})
	return &bot.Click{Platform: run.Origin.Platform, Actor: actor, Message: refOf(run.Origin), Reply: rep, Received: b.now()}, rep, nil
}

// doorReplier answers a door's command: Reply posts to the chat and
// target named (nothing when there is none), Private is kept for the
// caller.
func (b *Flows) doorReplier(platform string, target bot.Target) *doorReplier {
	return &doorReplier{chat: b.chat(platform), platform: platform, target: target}
}

type doorReplier struct {
	chat     bot.Chat
	platform string
	target   bot.Target

	mu      sync.Mutex
	private []bot.Message
}

// Reply posts m where the door asked; without a chat it posts nothing.
func (r *doorReplier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	if r.chat == nil || r.target.Channel == "" {
		return bot.MessageRef{}, nil
	}
	ref, err := r.chat.Post(ctx, r.target, bot.Fit(m, bot.LimitsOf(r.chat)))
	ref.Platform = r.platform
	return ref, err
}

// Private keeps m for the caller.
func (r *doorReplier) Private(_ context.Context, m bot.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.private = append(r.private, m)
	return nil
}

// privateText is what chat would have said to the person privately.
func (r *doorReplier) privateText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, m := range r.private {
		parts = append(parts, messageText(m))
	}
	return strings.Join(parts, " ")
}

// messageText flattens a message to one line of plain text.
func messageText(m bot.Message) string {
	parts := []string{}
	if m.Header != "" {
		parts = append(parts, m.Header+":")
	}
	parts = append(parts, m.Text...)
	for _, f := range m.Fields {
		parts = append(parts, f.Label+": "+f.Value)
	}
	return strings.Join(parts, " ")
}
