package incidentchat_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/tickets"
)

func hasLink(links []bot.Link, label, url string) bool {
	return slices.ContainsFunc(links, func(l bot.Link) bool { return l.Label == label && l.URL == url })
}

// TestBridge: incidents.bridge_url, rendered for the incident, is on its
// card and its announcement; the card drops it once the incident
// resolved.
func TestBridge(t *testing.T) {
	chat := newCMChat()
	cfg := config.Default().Incidents
	cfg.AnnounceChannel = "incidents"
	cfg.BridgeURL = "https://meet.jit.si/tebura-{{ .Number }}-{{ .Labels.service }}"
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Incidents: cfg})
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	want := "https://meet.jit.si/tebura-1-api"
	card := chat.cards(inc.Channel.ID)[0]
	if !hasLink(card.Last().Links, "Join the call", want) {
		t.Errorf("card links = %+v, want the bridge %s", card.Last().Links, want)
	}
	ann := chat.inChannel("incidents")
	if len(ann) != 1 || !hasLink(ann[0].Last().Links, "Join the call", want) {
		t.Fatalf("announcement = %+v, want one with the bridge", ann)
	}
	if _, err := s.Svc.Resolve(context.Background(), inc.ID, "console:alice", ""); err != nil {
		t.Fatal(err)
	}
	s.Inc.Refresh(context.Background(), 1)
	if hasLink(card.Last().Links, "Join the call", want) {
		t.Errorf("resolved card still offers the call: %+v", card.Last().Links)
	}
}

// viewer is a TicketViewer whose answer the test sets.
type viewer struct {
	mu sync.Mutex
	v  tickets.View
}

func (f *viewer) View(context.Context, *incident.Incident) tickets.View {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v
}

func (f *viewer) set(v tickets.View) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v = v
}

// TestTicketPart: the card says the ticket is pending (and why it is
// retried), then shows its key linked to the ticketing system after the
// Refresh that the ticket service asks for; an incident without a ticket
// shows nothing about tickets.
func TestTicketPart(t *testing.T) {
	v := &viewer{v: tickets.View{System: "Jira", Pending: true, Failure: "Jira is unavailable (503)."}}
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, CardParts: []incidentchat.CardPart{incidentchat.TicketPart(v)}})
	s.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	card := chat.cards(inc.Channel.ID)[0]
	mustContain(t, "pending card", bottest.Text(card.Last()), "Jira ticket: pending (retrying: Jira is unavailable (503).)")

	v.set(tickets.View{System: "Jira", Ticket: tickets.Ticket{Key: "OPS-7", URL: "https://example.atlassian.net/browse/OPS-7"}})
	s.Inc.Refresh(context.Background(), 1)
	mustContain(t, "card", bottest.Text(card.Last()), "Jira ticket: OPS-7")
	if !hasLink(card.Last().Links, "OPS-7", "https://example.atlassian.net/browse/OPS-7") {
		t.Errorf("card links = %+v, want the ticket", card.Last().Links)
	}

	v.set(tickets.View{System: "Jira", None: true})
	s.Inc.Refresh(context.Background(), 1)
	if txt := bottest.Text(card.Last()); strings.Contains(txt, "ticket") {
		t.Errorf("card of an incident without a ticket mentions one: %q", txt)
	}
}
