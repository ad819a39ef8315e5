package incidentchat_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/incident"
)

// TestCardParts: each feature's part lands on the card, and Refresh redraws
// the card when a part has news (a ticket created in the background).
func TestCardParts(t *testing.T) {
	var mu sync.Mutex
	ticket := "pending"
	part := incidentchat.CardPartFunc(func(_ context.Context, inc *incident.Incident) incidentchat.CardAddition {
		mu.Lock()
		defer mu.Unlock()
		return incidentchat.CardAddition{
			Fields: []bot.Field{{Label: "Ticket", Value: ticket}},
			Links:  []bot.Link{{Label: "Bridge", URL: "https://meet.example/" + inc.Ref()[1:]}},
		}
	})
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, CardParts: []incidentchat.CardPart{part}})
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	card := chat.cards(inc.Channel.ID)[0]
	mustContain(t, "card", bottest.Text(card.Last()), "Ticket: pending")
	found := false
	for _, l := range card.Last().Links {
		found = found || l.URL == "https://meet.example/1"
	}
	if !found {
		t.Errorf("bridge link missing: %+v", card.Last().Links)
	}
	mu.Lock()
	ticket = "OPS-7"
	mu.Unlock()
	s.Inc.Refresh(context.Background(), 1)
	mustContain(t, "card after Refresh", bottest.Text(card.Last()), "Ticket: OPS-7")
}
