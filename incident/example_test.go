package incident_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
)

// Example shows how the reaction layer (commands) consumes a Result: open
// or reuse the channel and attach it before posting anything, invite, start
// diagnostics (after validating their params with the runbook's Bind),
// propose suggestions, and edit the card for everything else.
func Example() {
	ctx := context.Background()
	rules, _ := incident.CompileRules([]config.Automation{{
		Name: "api-latency", Match: []string{`alertname="HighLatency"`},
		Invite: []string{"sre"}, Diagnostics: []string{"api-health"}, Suggest: []string{"restart-api"},
		Params: map[string]string{"service": "{{ .Labels.service }}"}, OnceWithin: 30 * time.Minute,
	}})
	now := func() time.Time { return time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC) }
	svc, _ := incident.New(incidenttest.NewStore(), config.Incidents{AutoResolve: true, ReopenWithin: 30 * time.Minute}, rules, now, nil)

	res, _ := svc.Ingest(ctx, incident.Batch{Source: "alertmanager", GroupKey: `{}:{alertname="HighLatency"}`,
		Labels: map[string]string{"alertname": "HighLatency", "service": "api", "severity": "critical"},
		Alerts: []incident.Alert{{Fingerprint: "055f8b388da2667a", Status: incident.AlertFiring, StartsAt: now(),
			Labels: map[string]string{"alertname": "HighLatency", "service": "api", "instance": "api-1"}}}})

	for _, c := range res.Changes {
		inc := c.Incident
		if c.Actions.OpenChannel {
			// chat.(bot.ChannelManager).CreateChannel(ctx, bot.ChannelSpec{Name: c.Actions.ChannelName}), then at once:
			inc, _, _ = svc.AttachChannel(ctx, inc.ID, incident.Channel{Platform: "slack", ID: "C042", Name: c.Actions.ChannelName})
			fmt.Println("channel", inc.Channel.Name)
		}
		for _, who := range c.Actions.Invite {
			fmt.Println("invite role", who) // access.Members(role) → ChannelManager.Invite, then svc.AddResponders
		}
		for _, d := range c.Actions.Diagnostics {
			// rb.Bind(d.Params) like user input, then StartRun as d.Identity.
			fmt.Println("run", d.Runbook, d.Params, "as", d.Identity)
		}
		for _, s := range c.Actions.Suggest {
			fmt.Println("propose", s.Runbook, s.Params)
		}
	}
	// Output:
	// channel inc-1-highlatency-on-api
	// invite role sre
	// run api-health map[service:api] as automation:api-latency
	// propose restart-api map[service:api]
}
