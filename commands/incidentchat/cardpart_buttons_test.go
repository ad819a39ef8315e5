package incidentchat_test

import (
	"context"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/incident"
)

// TestCardPartButtonsGoLast: a part's button comes after the card's own
// actions, so a chat with room for fewer buttons drops it first.
func TestCardPartButtonsGoLast(t *testing.T) {
	part := incidentchat.CardPartFunc(func(context.Context, *incident.Incident) incidentchat.CardAddition {
		return incidentchat.CardAddition{Buttons: []bot.Button{{Label: "Sign in", ActionID: "web.login", CallbackID: "web-login"}}}
	})
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, CardParts: []incidentchat.CardPart{part}})
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	bs := chat.cards(inc.Channel.ID)[0].Last().Buttons
	if len(bs) < 2 || bs[len(bs)-1].CallbackID != "web-login" {
		t.Fatalf("buttons %+v: want the part's last, after the card's own", bs)
	}
}
