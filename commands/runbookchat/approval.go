package runbookchat

import (
	"context"
	"fmt"
	"strings"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// approve handles a click on [Approve]. Everything is checked again
// against the current config: the clicker's role, the runbook, and the
// plan re-rendered from the current registry, whose hash must equal the
// one requested. The store transaction in runbooks.Approve decides races:
// exactly one click reaches the quorum and starts the run.
func (b *Flows) approve(ctx context.Context, c *bot.Click, runID string) error {
	run, err := b.pendingRun(ctx, runID)
	if err != nil {
		return err
	}
	rb, ok := b.registry().Get(run.Runbook)
	if !ok {
		return tebura.Errorf(tebura.ECONFLICT, "The runbook `%s` no longer exists, so this request cannot be approved.", run.Runbook)
	}
	s := commands.Subject(c.Actor)
	if !commands.Allowed(b.policy(), s, access.ActionApprove, rb) {
		return tebura.Errorf(tebura.EFORBIDDEN, "You are not an approver of `%s`: approving needs one of the roles %s. Nothing was changed.",
			rb.Name, commands.OrNone(strings.Join(rb.Approval.Approvers, ", ")))
	}
	hash := "" // a plan that no longer renders cannot match
	given, err := b.d.Runs.Values(run)
	if err != nil {
		given = run.Params // the service expires the request and says why
	}
	if vals, err := rb.Bind(given); err == nil {
		if plan, err := rb.Plan(vals); err == nil {
			hash = plan.Hash
		}
	}
	updated, approvedNow, err := b.d.Runs.Approve(ctx, run.ID,
		runbooks.Decision{By: c.Actor.ID, Name: c.Actor.Name, At: b.now()}, rb.Approval.AllowSelf, hash, b.policy())
	if err != nil {
		// A request found expired is redrawn by onTransition.
		return err
	}
	if !approvedNow {
		vals, err := rb.Bind(given)
		if err != nil {
			return err
		}
		// Quorum not reached yet: redraw the card with who approved, keep
		// the buttons (same callbacks), and tell the clicker.
		if err := b.redrawPending(ctx, c, updated, rb, vals); err != nil {
			b.log.Error("redraw approval card failed", "run_id", run.ID, "err", err)
		}
		return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf(
			"Your approval of %s is recorded: %d of %d. It starts once %s more.",
			run.ID, len(updated.Approvals), updated.Required, commands.Plural(updated.Required-len(updated.Approvals), "approval"))}})
	}
	ref := refOf(updated.Origin)
	if ref.IsZero() {
		ref = c.Message
	}
	return b.start(ctx, updated, ref, nil, func() (*runbooks.Handle, error) { return b.d.Runs.Start(ctx, updated, rb, c.Actor.ID) })
}

// redrawPending redraws an approval card after a partial approval; the
// buttons keep the callbacks of the message that was clicked.
func (b *Flows) redrawPending(ctx context.Context, c *bot.Click, run *runbooks.Run, rb *runbooks.Runbook, vals runbooks.Values) error {
	plan, err := rb.Plan(vals)
	if err != nil {
		return err
	}
	plan.Check = run.PlanCheck // made with the request, not again
	approveCB, denyCB, err := b.decisionCallbacks(ctx, run)
	if err != nil {
		return err
	}
	ref := refOf(run.Origin)
	if ref.IsZero() {
		ref = c.Message
	}
	b.show(ctx, run.ID, ref, approvalCard(run, rb, plan.String(), b.d.Runs.Masker(run), approveCB, denyCB))
	return nil
}

// deny handles a click on [Deny]: an approver refuses; the card is redrawn
// without buttons, saying who denied it, from the transition
// (onTransition).
func (b *Flows) deny(ctx context.Context, c *bot.Click, runID string) error {
	run, err := b.pendingRun(ctx, runID)
	if err != nil {
		return err
	}
	rb, ok := b.registry().Get(run.Runbook)
	s := commands.Subject(c.Actor)
	pol := b.policy()
	may := c.Actor.ID == run.RequestedBy || (ok && commands.Allowed(pol, s, access.ActionApprove, rb)) || (pol != nil && pol.IsAdmin(s))
	if !may {
		roles := "its approver roles"
		if ok {
			roles = commands.OrNone(strings.Join(rb.Approval.Approvers, ", "))
		}
		return tebura.Errorf(tebura.EFORBIDDEN, "You may not deny this request: that needs one of the roles %s, or being the requester. Nothing was changed.", roles)
	}
	denied, err := b.d.Runs.Deny(ctx, run.ID, runbooks.Decision{By: c.Actor.ID, Name: c.Actor.Name, At: b.now()})
	if err != nil {
		return err
	}
	if refOf(denied.Origin).IsZero() {
		// A card whose message was never stored on the run: onTransition
		// cannot find it, so the click that has it redraws it.
		b.show(ctx, denied.ID, c.Message, decidedCard(denied, b.storedMasker(denied)))
	}
	return nil
}

// pendingRun returns run runID while it waits for a decision; once it is
// decided, the error says how (see decidedError).
func (b *Flows) pendingRun(ctx context.Context, runID string) (*runbooks.Run, error) {
	run, err := b.d.Store.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	if run.State != runbooks.StatePendingApproval {
		return nil, decidedError(run)
	}
	return run, nil
}

// decidedError answers a click on a card that was already decided.
func decidedError(run *runbooks.Run) error {
	switch {
	case run.State == runbooks.StateDenied && run.Denied != nil:
		return tebura.Errorf(tebura.ECONFLICT, "Run %s was already denied by %s.", run.ID, commands.Who(run.Denied.By, run.Denied.Name))
	case run.LostSecrets():
		return tebura.Errorf(tebura.ECONFLICT, "Run %s expired: %s.", run.ID, run.Reason)
	case run.State == runbooks.StateExpired:
		return tebura.Errorf(tebura.ECONFLICT, "Run %s expired before it was approved. Request it again if it is still needed.", run.ID)
	case run.Closed():
		return tebura.Errorf(tebura.ECONFLICT, "Run %s was closed: %s.", run.ID, run.Reason)
	case len(run.Approvals) > 0 && run.State != runbooks.StateCancelled:
		return tebura.Errorf(tebura.ECONFLICT, "Run %s was already approved by %s.", run.ID, approvalsText(run))
	}
	return tebura.Errorf(tebura.ECONFLICT, "Run %s is no longer waiting for approval: it is %s.", run.ID, StateLabel(run.State))
}
