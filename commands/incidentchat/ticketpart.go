package incidentchat

import (
	"context"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/tickets"
)

// TicketViewer is what the ticket's card part reads: where the incident's
// ticket stands. *tickets.Service implements it.
type TicketViewer interface {
	View(ctx context.Context, inc *incident.Incident) tickets.View
}

// TicketPart is the ticket's part of the card: its key linked to the
// ticketing system, or "pending" (with the last failure) while it is being
// created in the background.
func TicketPart(v TicketViewer) CardPart {
	return CardPartFunc(func(ctx context.Context, inc *incident.Incident) CardAddition {
		tv := v.View(ctx, inc)
		switch {
		case tv.None:
			return CardAddition{}
		case tv.Pending:
			value := "pending"
			if tv.Failure != "" {
				// Field values are shown verbatim by every renderer: the
				// quoted answer of the ticketing system formats nothing.
				value += " (retrying: " + tv.Failure + ")"
			}
			return CardAddition{Fields: []bot.Field{{Label: tv.System + " ticket", Value: value}}}
		}
		a := CardAddition{Fields: []bot.Field{{Label: tv.System + " ticket", Value: tv.Ticket.Key}}}
		if tv.Ticket.URL != "" {
			a.Links = []bot.Link{{Label: tv.Ticket.Key, URL: tv.Ticket.URL}}
		}
		return a
	})
}
