package main

import (
	"context"
	"net/http"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/tickets"
	"github.com/tebura/tebura/tickets/jira"
	"github.com/tebura/tebura/tickets/servicenow"
)

// wireTickets builds the ticket service when tickets.jira or
// tickets.servicenow is configured, adds it to app's services, and returns
// the card parts that show its tickets (none when tickets are off). Call
// it after s.svc is built and before s.inc: the card part goes into the
// incident layer, which the ticket service asks to redraw cards.
func (s *server) wireTickets(app *App, cfg config.Config) ([]incidentchat.CardPart, error) {
	sys, err := ticketSystem(cfg.Tickets)
	if sys == nil || err != nil {
		return nil, err
	}
	bridge, err := incident.NewBridge(cfg.Incidents.BridgeURL)
	if err != nil {
		return nil, err
	}
	var svc *tickets.Service
	observe := app.Metrics.Tickets(sys.Name(), func() int {
		if svc == nil {
			return 0
		}
		return svc.Pending()
	})
	svc, err = tickets.New(tickets.Deps{
		System: sys, Incidents: s.svc, Logger: s.log, Observe: observe,
		RetryMin: cfg.Tickets.RetryMin, RetryMax: cfg.Tickets.RetryMax, Timeout: cfg.Tickets.Timeout,
		Postmortem: func(ctx context.Context, id string) (string, error) {
			return incidentchat.Postmortem(ctx, s.svc, app.Data, id)
		},
		Bridge: func(inc *incident.Incident) string {
			u, _ := bridge.URL(inc)
			return u
		},
		Refresh: func(ctx context.Context, n int64) {
			if s.inc != nil {
				s.inc.Refresh(ctx, n)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	app.AddService(Service{Name: "tickets", Run: func(ctx context.Context) error { app.whileLeading(ctx, svc.Run); return nil }})
	s.log.Info("tickets on", "system", sys.Name())
	return []incidentchat.CardPart{incidentchat.TicketPart(svc)}, nil
}

// ticketSystem is the configured ticketing system, or nil.
func ticketSystem(cfg config.Tickets) (tickets.System, error) {
	client := &http.Client{Timeout: cfg.Timeout}
	switch {
	case cfg.Jira.Enabled() && cfg.ServiceNow.Enabled():
		return nil, tebura.Errorf(tebura.EINVALID, "tickets: choose Jira or ServiceNow, not both; run `tebura validate`.")
	case cfg.Jira.Enabled():
		return jira.New(cfg.Jira, client, nil)
	case cfg.ServiceNow.Enabled():
		return servicenow.New(cfg.ServiceNow, client, nil)
	}
	return nil, nil
}

// checkTickets is `tebura doctor`'s check of the ticketing system: one
// harmless call with the configured credentials. None when tickets are off.
func checkTickets(ctx context.Context, cfg config.Config) []bot.Check {
	sys, err := ticketSystem(cfg.Tickets)
	switch {
	case err != nil:
		return []bot.Check{{Name: "tickets", Detail: message(err)}}
	case sys == nil:
		return nil
	}
	name := "tickets: " + sys.Name()
	c, ok := sys.(tickets.Checker)
	if !ok {
		return []bot.Check{{Name: name, OK: true, Detail: "configured (no check for this system)"}}
	}
	detail, err := c.Check(ctx)
	if err != nil {
		return []bot.Check{{Name: name, Detail: message(err)}}
	}
	return []bot.Check{{Name: name, OK: true, Detail: detail}}
}
