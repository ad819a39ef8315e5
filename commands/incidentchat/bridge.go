package incidentchat

import (
	"context"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/incident"
)

// labelBridge is the call bridge's link on the card and the announcement.
const labelBridge = "Join the call"

// bridgeLinks is inc's call bridge (incidents.bridge_url) as a link, or
// nothing when none is configured or the template gave no https URL on
// the configured host (logged: an alert's labels fill the template).
func (i *Incidents) bridgeLinks(inc *incident.Incident) []bot.Link {
	if i.cfg.BridgeURL == "" {
		return nil
	}
	b, err := incident.NewBridge(i.cfg.BridgeURL)
	if err != nil {
		i.log.Warn("call bridge template refused", "incident", inc.Number, "err", err)
		return nil
	}
	u, ok := b.URL(inc)
	if !ok {
		i.log.Warn("call bridge not shown: the template gave no https URL on its host", "incident", inc.Number)
		return nil
	}
	return []bot.Link{{Label: labelBridge, URL: u}}
}

// bridgePart is the call bridge's part of the card.
func (i *Incidents) bridgePart(_ context.Context, inc *incident.Incident) CardAddition {
	if !inc.Status.Open() {
		return CardAddition{}
	}
	return CardAddition{Links: i.bridgeLinks(inc)}
}
