package incidentchat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// TestResolvedBySourceAgent: an incident a PagerDuty agent resolved says
// so in its channel and on its card, instead of "resolved automatically"
// and "resolved by tebura".
func TestResolvedBySourceAgent(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Automations: []config.Automation{},
		Incidents: config.Incidents{AutoResolve: true}})
	at := time.Now().Add(-time.Minute).UTC()
	alert := incident.Alert{Source: "pagerduty", Fingerprint: "PGR0VU2", Status: incident.AlertFiring,
		Labels: map[string]string{"service": "checkout-api"}, StartsAt: at}
	b := incident.Batch{Source: "pagerduty", GroupKey: "incident/PGR0VU2", Title: "API 5xx above 5%", StatusOnly: true,
		Alerts: []incident.Alert{alert}}
	s.deliver(b)
	alert.Status, alert.EndsAt = incident.AlertResolved, at.Add(30*time.Second)
	b.Alerts, b.ResolvedBy = []incident.Alert{alert}, "pagerduty:Alice"
	if res := s.deliver(b); len(res.Resolved()) != 1 {
		t.Fatalf("not resolved: %+v", res)
	}
	inc, err := s.Svc.ByNumber(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range chat.inChannel(inc.Channel.ID) {
		texts = append(texts, bottest.Text(m.Last()))
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "Incident #1 resolved in pagerduty by pagerduty:Alice.") || strings.Contains(all, "automatically") {
		t.Errorf("channel does not credit the agent:\n%s", all)
	}
	cards := chat.cards(inc.Channel.ID)
	if len(cards) != 1 || !strings.Contains(bottest.Text(cards[0].Last()), "Status: resolved by pagerduty:Alice") {
		t.Errorf("card does not credit the agent: %d cards\n%s", len(cards), all)
	}
}
