package incidentchat_test

import (
	"context"
	"testing"
	"time"

	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
)

// TestIncidentCardGolden pins the console rendering of the incident card
// as it opens (with its suggestion's button), once acknowledged, and once
// resolved (no buttons).
func TestIncidentCardGolden(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Clock: clock, Incidents: config.Incidents{ArchiveAfter: 24 * time.Hour}})
	s.deliver(alertBatch("g", "api", 0, 3, clock.Now().Add(-5*time.Minute)))
	inc, err := s.Svc.ByNumber(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	card := chat.cards(inc.Channel.ID)[0]
	golden(t, "incident_card_triggered", card.Last())
	clock.Advance(3 * time.Minute)
	s.press(carol, chat, card, "Acknowledge")
	golden(t, "incident_card_acknowledged", card.Last())
	clock.Advance(20 * time.Minute)
	s.say(chat, bob, inc.Channel.ID, "/incident resolve rolled back")
	golden(t, "incident_card_resolved", card.Last())
	s.waitRuns(byRunbook("check-api"))
}
