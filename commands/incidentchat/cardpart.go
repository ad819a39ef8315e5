package incidentchat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// CardPart adds to an incident's card what one feature knows about the
// incident: a call bridge, a ticket link, on-call people who could not be
// reached, resolution hints, a link to its web page. Each feature owns its
// part, so the card's own code does not grow with every feature.
//
// CardPart is called every time the card is drawn, under the incident's
// lock: it answers from memory or with one quick store read, never with a
// call to a remote service (those run in the background and ask for a
// redraw with Refresh when they have news).
type CardPart interface {
	CardPart(ctx context.Context, inc *incident.Incident) CardAddition
}

// CardAddition is what a CardPart adds: fields after the card's own,
// paragraphs after the annotations, links after the alert's, and runbooks
// to propose, each a button after the card's own while the incident is
// open.
type CardAddition struct {
	Fields  []bot.Field
	Text    []string
	Links   []bot.Link
	Suggest []Suggestion
	// Buttons carry callbacks the part stored once (they are drawn on
	// every redraw, so they are never stored per draw); they come last.
	Buttons []bot.Button
}

// Suggestion is a runbook a part proposes for the incident, such as the
// remediation that resolved the most similar past incident. Its button
// proposes it as an approval card like any suggestion, requested by the
// person who pressed it.
type Suggestion struct {
	// Label is the button's label ("Run the same: restart-api").
	Label   string
	Runbook string
	// Params are the run's params (never secret ones).
	Params map[string]string
}

// CardPartFunc adapts a function to CardPart.
type CardPartFunc func(ctx context.Context, inc *incident.Incident) CardAddition

// CardPart calls f.
func (f CardPartFunc) CardPart(ctx context.Context, inc *incident.Incident) CardAddition {
	return f(ctx, inc)
}

// addParts appends every part's addition to the card, keeps the parts'
// suggestions in st for the card's buttons and their callbacks, and
// returns the parts' own buttons for the caller to put after the card's.
func (i *Incidents) addParts(ctx context.Context, inc *incident.Incident, st *incState, msg *bot.Message) (buttons []bot.Button) {
	st.suggest = st.suggest[:0]
	for _, p := range i.parts {
		a := p.CardPart(ctx, inc)
		msg.Fields = append(msg.Fields, a.Fields...)
		msg.Text = append(msg.Text, a.Text...)
		msg.Links = append(msg.Links, a.Links...)
		buttons = append(buttons, a.Buttons...)
		for _, s := range a.Suggest {
			if !slices.ContainsFunc(st.proposals, func(p proposal) bool { return p.Runbook == s.Runbook }) {
				st.suggest = append(st.suggest, s)
			}
		}
	}
	return buttons
}

// Refresh redraws incident n's card (and reconciles the rest of its chat
// state): a feature whose background work finished (a ticket created, a
// page answered) calls it so the card shows the news.
func (i *Incidents) Refresh(ctx context.Context, n int64) {
	i.refresh(ctx, n)
}

// ruleHint is the rule name of a remediation proposed from a card part's
// suggestion: it is requested by the person who pressed the button, on
// behalf of the automation identity "automation:hint".
const ruleHint = "hint"

// proposeSuggestion answers a card part's suggestion button (such as [Run
// the same: X]): the runbook's approval card, requested by the person who
// pressed it, or a pointer to the card already waiting.
func (i *Incidents) proposeSuggestion(ctx context.Context, c *bot.Click, inc *incident.Incident, runbook, params string) error {
	if !inc.Status.Open() {
		return tebura.Errorf(tebura.ECONFLICT, "Incident %s is resolved; nothing is proposed for it any more.", inc.Ref())
	}
	var ps map[string]string
	if params != "" {
		if err := json.Unmarshal([]byte(params), &ps); err != nil {
			return tebura.Wrap(tebura.EINTERNAL, err, "decode suggested params")
		}
	}
	unlock := i.lock(inc.Number)
	defer unlock()
	st, err := i.state(ctx, inc)
	if err != nil {
		return err
	}
	return i.proposeHint(ctx, c, inc, st, runbook, ps)
}

// proposeHint proposes runbook with params for incident inc as the person
// who clicked; the incident's lock is held.
func (i *Incidents) proposeHint(ctx context.Context, c *bot.Click, inc *incident.Incident, st *incState, runbook string, params map[string]string) error {
	for _, p := range st.proposals {
		if p.Runbook != runbook {
			continue
		}
		if run, err := i.store.GetRun(ctx, p.Run); err == nil && run.State == runbooks.StatePendingApproval {
			return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf("%s is waiting for approval as run %s: its card with [Approve] and [Deny] is in this channel.", runbook, p.Run)}})
		}
	}
	if err := i.propose(ctx, inc, st, incident.RunbookAction{Rule: ruleHint, Runbook: runbook, Params: params}, &c.Actor); err != nil {
		return err
	}
	i.card(ctx, inc, st, true)
	i.record(ctx, c.Actor.ID, audit.ActionIncidentPropose, inc.ID, map[string]string{"runbook": runbook, "rule": ruleHint})
	return nil
}
