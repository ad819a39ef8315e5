package runbookchat

import (
	"context"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// The hooks in this file are what the incident chat flows use of the
// runbook flows beyond StartRun: proposing a remediation behind its
// approval card on behalf of an automation, or for the person who asked.
// What happens to runs they learn from the run service's transitions.

// ProposeRun posts an approval card for a runbook on behalf of an
// automation ("automation:<rule>"), with the rule's parameters pre-filled
// and validated like any user input (rb.Bind). The card is the ordinary
// one: any approver of the runbook may approve it (the requester is the
// rule, so allow_self does not matter), Approve and Deny are re-checked
// like every click, and the run starts on the quorum. Runbooks that need no
// approval are refused: a suggestion is always decided by people.
//
// ProposeRun is for the automation alone. When a person asks for the
// proposal (the incident card's [Propose X]), that person is the
// requester: see ProposeFor.
func (b *Flows) ProposeRun(ctx context.Context, req RunRequest) (*runbooks.Run, error) {
	if !access.IsAutomation(req.By) {
		return nil, tebura.Errorf(tebura.EINVALID, "ProposeRun is for automations; %q is not an automation identity.", req.By)
	}
	return b.propose(ctx, req, nil)
}

// ProposeFor is ProposeRun when a person asked for it: asker becomes the
// requester, is checked for ActionRun like /runbook run, and is audited as
// run.request with the suggesting automation (req.By) in the detail. So
// allow_self and a colleague's Deny hold: an approver who presses
// [Propose X] after a denial or an expiry cannot then approve the card
// alone.
func (b *Flows) ProposeFor(ctx context.Context, asker bot.Actor, req RunRequest) (*runbooks.Run, error) {
	if !access.IsAutomation(req.By) {
		return nil, tebura.Errorf(tebura.EINVALID, "ProposeFor needs the suggesting automation; %q is not an automation identity.", req.By)
	}
	return b.propose(ctx, req, &asker)
}

// propose posts the approval card of ProposeRun, requested by the
// automation req.By, or by asker when a person asked.
func (b *Flows) propose(ctx context.Context, req RunRequest, asker *bot.Actor) (*runbooks.Run, error) {
	rb, ok := b.registry().Get(req.Runbook)
	if !ok {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no runbook `%s`; fix the automation rule.", req.Runbook)
	}
	r := runbooks.Request{Runbook: rb, Params: req.Params, By: req.By, Name: req.Name, Via: runbooks.ViaAutomation,
		Gate: runbooks.ProposeOnly, Origin: req.origin()}
	if asker != nil {
		s := commands.Subject(*asker)
		r.By, r.Name, r.Via, r.SuggestedBy = asker.ID, asker.Name, runbooks.ViaChat, req.By
		r.Authorize = func(rb *runbooks.Runbook) error { return b.mayRun(s, rb) }
	}
	p, err := b.d.Runs.Prepare(ctx, r)
	if err != nil {
		return nil, err
	}
	chat := b.chat(req.Platform)
	if chat == nil {
		return nil, tebura.Errorf(tebura.EINVALID, "There is no chat %q to post the approval card of `%s` in.", req.Platform, rb.Name)
	}
	if err := b.d.Runs.Create(ctx, p); err != nil {
		return nil, err
	}
	run := p.Run
	approveCB, denyCB, err := b.decisionCallbacks(ctx, run)
	if err != nil {
		return nil, err
	}
	ref, err := chat.Post(ctx, req.Target, bot.Fit(b.withRunLink(run.ID, approvalCard(run, rb, p.Plan.String(), p.Masker, approveCB, denyCB)), bot.LimitsOf(chat)))
	if err != nil {
		return nil, err
	}
	ref.Platform = req.Platform
	return b.d.Runs.SetOrigin(ctx, run.ID, originOf(ref, run.Origin))
}
