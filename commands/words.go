package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/runbooks"
)

// The words every chat flow writes with, in one place so that a person, a
// time, a duration or an error reads the same in a runbook's card, an
// incident's card and a private reply; and who may do what, as every flow
// asks it.

// Who names an identity for people: @name when the platform gave one.
func Who(id, name string) string {
	if name != "" {
		return "@" + name
	}
	return id
}

// Stamp formats a moment for people, in UTC; "—" for none.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// Human formats a duration for people, whole seconds (or minutes and hours).
func Human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 || (h > 0 && sec > 0) {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// Plural counts word: "1 approval", "2 approvals".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// OrNone shows an empty value as "none".
func OrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// RunbookLine is a runbook in one line, as help and list show it.
func RunbookLine(r *runbooks.Runbook) string {
	line := r.Name + " (" + string(r.Kind)
	if r.NeedsApproval() {
		line += ", needs " + Plural(r.Approval.Required, "approval")
	}
	line += ")"
	if r.Description != "" {
		line += " — " + r.Description
	}
	return line
}

// ErrorText is what a person in chat reads for err: tebura's public
// sentence, so that chat, the console and the HTTP edges word an error
// alike. An internal error's own message is for the operators and stays in
// the log; the person gets the generic sentence.
func ErrorText(err error) string { return tebura.PublicMessage(err) }

// Subject is the access subject of a chat actor.
func Subject(a bot.Actor) access.Subject { return access.Subject{ID: a.ID, Groups: a.Groups} }

// Allowed reports whether p lets s do a on rb; a nil policy denies.
func Allowed(p *access.Policy, s access.Subject, a access.Action, rb *runbooks.Runbook) bool {
	return p != nil && p.Allowed(s, a, rb)
}

// Runnable lists the runbooks s may run.
func Runnable(reg *runbooks.Registry, p *access.Policy, s access.Subject) []string {
	var names []string
	for _, rb := range reg.List() {
		if Allowed(p, s, access.ActionRun, rb) {
			names = append(names, rb.Name)
		}
	}
	return names
}
