package incidentchat

import (
	"context"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/incident"
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
// paragraphs after the annotations, and links after the alert's.
type CardAddition struct {
	Fields []bot.Field
	Text   []string
	Links  []bot.Link
	// Buttons carry callbacks the part stored once (they are drawn on
	// every redraw, so they are never stored per draw).
	Buttons []bot.Button
}

// CardPartFunc adapts a function to CardPart.
type CardPartFunc func(ctx context.Context, inc *incident.Incident) CardAddition

// CardPart calls f.
func (f CardPartFunc) CardPart(ctx context.Context, inc *incident.Incident) CardAddition {
	return f(ctx, inc)
}

// addParts appends every part's addition to the card, and returns the
// parts' buttons for the caller to put after the card's own.
func (i *Incidents) addParts(ctx context.Context, inc *incident.Incident, msg *bot.Message) (buttons []bot.Button) {
	for _, p := range i.parts {
		a := p.CardPart(ctx, inc)
		msg.Fields = append(msg.Fields, a.Fields...)
		msg.Text = append(msg.Text, a.Text...)
		msg.Links = append(msg.Links, a.Links...)
		buttons = append(buttons, a.Buttons...)
	}
	return buttons
}

// Refresh redraws incident n's card (and reconciles the rest of its chat
// state): a feature whose background work finished (a ticket created, a
// page answered) calls it so the card shows the news.
func (i *Incidents) Refresh(ctx context.Context, n int64) {
	i.refresh(ctx, n)
}
