package runbookchat

import (
	"fmt"
	"strings"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// secretMask replaces a secret param's value wherever it is shown.
const secretMask = runbooks.SecretMask

// Button labels, also what tests click.
const (
	labelApprove = "Approve"
	labelDeny    = "Deny"
	labelCancel  = "Cancel"
	labelView    = "View"
)

// paramsText shows params as k=v in name order, secret values masked, then
// configured secrets masked by m.
func paramsText(params map[string]string, secret []string, m runbooks.Masker) string {
	return runbooks.ParamsText(params, secret, m)
}

func mask(m runbooks.Masker, s string) string {
	if m == nil {
		return s
	}
	return m.Mask(s)
}

func approvalsText(run *runbooks.Run) string {
	if len(run.Approvals) == 0 {
		return ""
	}
	names := make([]string, len(run.Approvals))
	for i, d := range run.Approvals {
		names[i] = commands.Who(d.By, d.Name)
	}
	return strings.Join(names, ", ")
}

// approvalCard is the message that asks for approval.
func approvalCard(run *runbooks.Run, rb *runbooks.Runbook, plan string, m runbooks.Masker, approveCB, denyCB string) bot.Message {
	rule := fmt.Sprintf("Needs %s from %s", commands.Plural(run.Required, "approval"), strings.Join(rb.Approval.Approvers, ", "))
	if !rb.Approval.AllowSelf {
		rule += "; the requester cannot approve their own request"
	}
	msg := bot.Message{
		Header: "Approval needed: " + run.Runbook,
		Level:  bot.LevelWarning,
		Text: []string{
			fmt.Sprintf("%s asks to run *%s*. %s.", commands.Who(run.RequestedBy, run.RequestedName), run.Runbook, rule),
		},
		Fields: []bot.Field{
			{Label: "Params", Value: paramsText(run.Params, run.Secret, m)},
			{Label: "Requested by", Value: commands.Who(run.RequestedBy, run.RequestedName)},
			{Label: "Lock", Value: mask(m, commands.OrNone(run.LockKey))},
			{Label: "Timeout", Value: commands.Human(rb.Timeout)},
			{Label: "Expires", Value: commands.Stamp(run.ExpiresAt)},
		},
		Code:    &bot.Code{Title: "Plan", Text: mask(m, plan)},
		Context: fmt.Sprintf("run %s · plan %s", run.ID, shortHash(run.PlanHash)),
		Buttons: []bot.Button{
			{Label: labelApprove, Style: bot.StylePrimary, ActionID: actionApprove, CallbackID: approveCB},
			{Label: labelDeny, Style: bot.StyleDanger, ActionID: actionDeny, CallbackID: denyCB},
		},
	}
	if rb.Description != "" {
		msg.Text = append([]string{rb.Description}, msg.Text...)
	}
	if a := approvalsText(run); a != "" {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Approved by", Value: fmt.Sprintf("%s (%d of %d)", a, len(run.Approvals), run.Required)})
	}
	return msg
}

// decidedCard redraws an approval card that will never run: denied,
// expired or cancelled. It has no buttons and says who decided.
func decidedCard(run *runbooks.Run, m runbooks.Masker) bot.Message {
	var verdict string
	switch {
	case run.State == runbooks.StateDenied && run.Denied != nil:
		verdict = "Denied by " + commands.Who(run.Denied.By, run.Denied.Name)
	case run.LostSecrets():
		verdict = "Expired: " + run.Reason
	case run.State == runbooks.StateExpired:
		verdict = fmt.Sprintf("Expired: nobody approved it before %s. Request it again if it is still needed.", commands.Stamp(run.ExpiresAt))
	case run.Closed():
		verdict = "Closed: " + run.Reason
	case run.State == runbooks.StateCancelled:
		verdict = "Cancelled by " + commands.OrNone(run.CancelledBy) + " before it started"
	default:
		verdict = StateLabel(run.State)
		if run.Reason != "" {
			verdict += ": " + run.Reason
		}
	}
	state := StateLabel(run.State)
	if run.Closed() {
		state = "closed"
	}
	msg := bot.Message{
		Header: run.Runbook + " — " + state,
		Level:  bot.LevelDanger,
		Text:   []string{verdict + "."},
		Fields: []bot.Field{
			{Label: "Params", Value: paramsText(run.Params, run.Secret, m)},
			{Label: "Requested by", Value: commands.Who(run.RequestedBy, run.RequestedName)},
		},
		Context: fmt.Sprintf("run %s · plan %s", run.ID, shortHash(run.PlanHash)),
	}
	if run.State == runbooks.StateExpired || run.Closed() {
		msg.Level = bot.LevelWarning
	}
	if a := approvalsText(run); a != "" {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Approved by", Value: a})
	}
	return msg
}

// StateLabel says a run's state as people read it; incident timelines
// use the same words.
func StateLabel(s runbooks.State) string {
	switch s {
	case runbooks.StatePendingApproval:
		return "waiting for approval"
	case runbooks.StateApproved:
		return "starting"
	case runbooks.StateQueued:
		return "queued (waiting for a free slot)"
	case runbooks.StateTimedOut:
		return "timed out"
	case runbooks.StateInterrupted:
		return "interrupted" // the reason says why: a restart, a lost replica, a lost database
	}
	return string(s)
}

func levelOf(s runbooks.State) bot.Level {
	switch s {
	case runbooks.StateSucceeded:
		return bot.LevelSuccess
	case runbooks.StateFailed, runbooks.StateTimedOut, runbooks.StateInterrupted, runbooks.StateDenied:
		return bot.LevelDanger
	case runbooks.StateCancelled, runbooks.StateExpired:
		return bot.LevelWarning
	}
	return bot.LevelInfo
}

// frame is one picture of a run's live message: header, who, state,
// elapsed, the rolling tail, and [Cancel] while it can still be cancelled.
// note is a last context line (the full-log hint).
func frame(run *runbooks.Run, snap runbooks.Snapshot, m runbooks.Masker, now time.Time, cancelCB, note string) bot.Message {
	state := run.State
	if snap.State != "" {
		state = snap.State
	}
	started, ended := run.StartedAt, run.EndedAt
	if !snap.StartedAt.IsZero() {
		started = snap.StartedAt
	}
	if !snap.EndedAt.IsZero() {
		ended = snap.EndedAt
	}
	msg := bot.Message{
		Header: run.Runbook + " — " + StateLabel(state),
		Level:  levelOf(state),
		Fields: []bot.Field{
			{Label: "Params", Value: paramsText(run.Params, run.Secret, m)},
			{Label: "Requested by", Value: commands.Who(run.RequestedBy, run.RequestedName)},
		},
	}
	if a := approvalsText(run); a != "" {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Approved by", Value: a})
	}
	msg.Fields = append(msg.Fields, bot.Field{Label: "State", Value: StateLabel(state)})
	if snap.Step != "" && !state.Final() {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Step", Value: snap.Step})
	}
	switch {
	case state.Final() && !started.IsZero() && !ended.IsZero():
		msg.Fields = append(msg.Fields, bot.Field{Label: "Duration", Value: commands.Human(ended.Sub(started))})
	case !started.IsZero():
		msg.Fields = append(msg.Fields, bot.Field{Label: "Elapsed", Value: commands.Human(now.Sub(started))})
	}
	if state.Final() && state != runbooks.StateInterrupted && state != runbooks.StateCancelled && !started.IsZero() {
		exit := run.ExitCode
		if snap.State.Final() {
			exit = snap.ExitCode
		}
		msg.Fields = append(msg.Fields, bot.Field{Label: "Exit code", Value: fmt.Sprint(exit)})
	}
	reason := run.Reason
	if snap.Reason != "" {
		reason = snap.Reason
	}
	if state == runbooks.StateCancelled && run.CancelledBy != "" && !strings.Contains(reason, "cancelled by") {
		reason = strings.TrimSpace("cancelled by " + run.CancelledBy + " " + reason)
	}
	if reason != "" && (state.Final() || state == runbooks.StateQueued) {
		msg.Text = []string{strings.TrimSuffix(upperFirst(mask(m, reason)), ".") + "."}
	}
	tail := snap.Tail
	title := "Output"
	if n := int64(len(tail)); snap.Lines > n && n > 0 {
		title = fmt.Sprintf("Output (last %d of %d lines)", n, snap.Lines)
	}
	switch {
	case len(tail) > 0:
		msg.Code = &bot.Code{Title: title, Text: strings.Join(tail, "\n"), Tail: true}
	case state.Final() && !started.IsZero():
		msg.Code = &bot.Code{Title: title, Text: "(no output)", Tail: true}
	}
	switch {
	case run.ID != "" && note != "":
		msg.Context = "run " + run.ID + " · " + note
	case run.ID != "":
		msg.Context = "run " + run.ID
	default:
		msg.Context = note
	}
	if !state.Final() && cancelCB != "" {
		msg.Buttons = []bot.Button{{Label: labelCancel, Style: bot.StyleDanger, ActionID: actionCancel, CallbackID: cancelCB}}
	}
	return msg
}

// lockHeld answers a request whose lock another run holds.
func lockHeld(runbook string, lock runbooks.Lock, holder *runbooks.Run, viewCB, status string) bot.Message {
	by := lock.Holder
	if holder != nil {
		by = commands.Who(holder.RequestedBy, holder.RequestedName)
	}
	msg := bot.Message{
		Header: runbook + " is locked",
		Level:  bot.LevelWarning,
		Text: []string{fmt.Sprintf("The lock `%s` is held by run %s of %s since %s. Wait for it to finish and ask again, or cancel it with `%s %s`.",
			bot.Verbatim(lock.Key), lock.RunID, by, commands.Stamp(lock.Since), status, lock.RunID)},
		Fields: []bot.Field{
			{Label: "Lock", Value: lock.Key},
			{Label: "Held by", Value: lock.RunID + " (" + by + ")"},
			{Label: "Since", Value: commands.Stamp(lock.Since)},
		},
	}
	if viewCB != "" {
		msg.Buttons = []bot.Button{{Label: labelView, ActionID: actionView, CallbackID: viewCB}}
	}
	return msg
}

// plural writes "1 approval", "2 approvals".

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
