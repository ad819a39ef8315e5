package commands

import (
	"context"
	"strings"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/runbooks"
)

// The hooks in this file are what the incident reaction layer needs from
// the Bot beyond StartRun: registering the /incident handler after both
// exist, proposing a remediation behind its approval card on behalf of an
// automation, and learning when a run of this process ends.

// SetIncidents installs the /incident handler. The Bot and the handler need
// each other, so the handler is set after New; call it before the chats
// deliver events (NewIncidents calls it).
func (b *Bot) SetIncidents(ic IncidentCommands) { b.d.Incidents = ic }

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
// requester: see proposeFor.
func (b *Bot) ProposeRun(ctx context.Context, req RunRequest) (*runbooks.Run, error) {
	if !access.IsAutomation(req.By) {
		return nil, tebura.Errorf(tebura.EINVALID, "ProposeRun is for automations; %q is not an automation identity.", req.By)
	}
	return b.propose(ctx, req, nil)
}

// proposeFor is ProposeRun when a person asked for it: asker becomes the
// requester, is checked for ActionRun like /runbook run, and is audited as
// run.request with the suggesting automation (req.By) in the detail. So
// allow_self and a colleague's Deny hold: an approver who presses
// [Propose X] after a denial or an expiry cannot then approve the card
// alone.
func (b *Bot) proposeFor(ctx context.Context, asker bot.Actor, req RunRequest) (*runbooks.Run, error) {
	if !access.IsAutomation(req.By) {
		return nil, tebura.Errorf(tebura.EINVALID, "proposeFor needs the suggesting automation; %q is not an automation identity.", req.By)
	}
	return b.propose(ctx, req, &asker)
}

// propose posts the approval card of ProposeRun, requested by the
// automation req.By, or by asker when a person asked.
func (b *Bot) propose(ctx context.Context, req RunRequest, asker *bot.Actor) (*runbooks.Run, error) {
	rb, ok := b.registry().Get(req.Runbook)
	if !ok {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no runbook `%s`; fix the automation rule.", req.Runbook)
	}
	if asker != nil && !allowed(b.policy(), subject(*asker), access.ActionRun, rb) {
		return nil, tebura.Errorf(tebura.EFORBIDDEN, "You may not run `%s`: it needs one of the roles %s. Ask an admin for one, or ask someone who has it.",
			rb.Name, orNone(strings.Join(rb.Allow, ", ")))
	}
	if !rb.NeedsApproval() {
		return nil, tebura.Errorf(tebura.EINVALID, "The runbook `%s` needs no approval, so there is nothing to propose; list it under diagnostics instead.", rb.Name)
	}
	chat := b.chat(req.Platform)
	if chat == nil {
		return nil, tebura.Errorf(tebura.EINVALID, "There is no chat %q to post the approval card of `%s` in.", req.Platform, rb.Name)
	}
	suggestedBy := req.By
	if asker != nil {
		req.By, req.Name = asker.ID, asker.Name
	}
	run, vals, plan, err := b.planRun(rb, req)
	if err != nil {
		return nil, err
	}
	exp := rb.Approval.Expires
	if exp <= 0 {
		exp = defaultApprovalExpiry
	}
	run.State, run.Required, run.ExpiresAt = runbooks.StatePendingApproval, rb.Approval.Required, run.RequestedAt.Add(exp)
	if err := b.d.Store.CreateRun(ctx, run); err != nil {
		return nil, err
	}
	m := b.masker(rb, vals)
	detail := requestDetail(run, m)
	if asker != nil {
		detail["suggested_by"] = suggestedBy
	}
	b.record(ctx, run.RequestedBy, audit.ActionRunRequest, run.ID, detail)
	approveCB, denyCB, err := b.decisionCallbacks(ctx, run)
	if err != nil {
		return nil, err
	}
	ref, err := chat.Post(ctx, req.Target, bot.Fit(approvalCard(run, rb, plan.String(), m, approveCB, denyCB), bot.LimitsOf(chat)))
	if err != nil {
		return nil, err
	}
	ref.Platform = req.Platform
	return b.d.Store.UpdateRun(ctx, run.ID, func(r *runbooks.Run) error {
		r.Origin = originOf(ref, r.Origin)
		return nil
	})
}

// closeRequest ends the pending request runID because what it was for is
// over (reason says what; incident is the incident that resolved): no
// click can start it any more. It is audited like the other endings of a
// request and its card is redrawn without buttons, saying why. The
// incident layer learns of it through observeRuns, like of a denial. A
// request decided meanwhile is left as it is.
func (b *Bot) closeRequest(ctx context.Context, runID, reason, incident string) error {
	run, closed, err := runbooks.Close(ctx, b.d.Store, runID, reason, b.now())
	if err != nil || !closed {
		return err
	}
	b.record(ctx, "system", audit.ActionRunClose, run.ID, map[string]string{"runbook": run.Runbook, "incident": incident, "reason": reason})
	b.show(ctx, run.ID, refOf(run.Origin), decidedCard(run, b.storedMasker(run)))
	return nil
}

// RunDone returns a channel that is closed when run runID, executing in
// this process, has ended (its final state is stored). ok is false when the
// run is not executing here (not started yet, ended before, or started by
// another process): callers then read the stored run.
func (b *Bot) RunDone(runID string) (done <-chan struct{}, ok bool) {
	if b.d.Executor == nil {
		return nil, false
	}
	h, ok := b.d.Executor.Handle(runID)
	if !ok {
		return nil, false
	}
	return h.Done(), true
}

// runEvents is what the incident layer learns of runs as the Bot changes
// them (see observeRuns).
type runEvents interface {
	// runChanged: the Bot stored a change of run id that carries a
	// decision or an end (an approval, a denial, an expiry, a start that
	// failed). It must return at once.
	runChanged(id string)
	// runStarted: the Bot handed run to the executor, so RunDone can
	// follow it (an OnRunStart hook). It must return quickly.
	runStarted(ctx context.Context, run *runbooks.Run)
}

// observeRuns routes the Bot's run writes past ev and registers ev's
// runStarted with OnRunStart, so that the incident timeline shows an
// approval, a denial, an expiry when it happens and the result of an
// approved run when it ends, not on the next sweep. The executor's own
// writes do not pass here; the sweep stays as the net for what a crash
// loses. Call it while wiring, before the Bot handles events or starts its
// loops (NewIncidents does).
func (b *Bot) observeRuns(ev runEvents) {
	b.d.Store = &observedStore{Store: b.d.Store, ev: ev}
	b.OnRunStart(ev.runStarted)
}

// observedStore is the Bot's Store with runEvents hooks.
type observedStore struct {
	Store
	ev runEvents
}

// UpdateRun is where the Bot's decisions on runs are stored: Approve, Deny,
// ExpirePending, a failed start.
func (s *observedStore) UpdateRun(ctx context.Context, id string, fn func(*runbooks.Run) error) (*runbooks.Run, error) {
	run, err := s.Store.UpdateRun(ctx, id, fn)
	if err == nil && run != nil && (len(run.Approvals) > 0 || run.State.Final()) {
		s.ev.runChanged(run.ID)
	}
	return run, err
}
