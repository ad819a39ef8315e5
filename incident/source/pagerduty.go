package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// PagerDuty headers (https://github.com/PagerDuty/developer-docs/blob/main/docs/webhooks/04-Signatures.md,
// 02-Behavior.md).
const (
	HeaderPagerDutySignature = "X-PagerDuty-Signature"
	HeaderWebhookID          = "X-Webhook-Id"
)

// MaxPagerDutyEventAge is how old a v3 webhook's event.occurred_at may be.
// PagerDuty retries a delivery for up to 48 hours
// (https://github.com/PagerDuty/developer-docs/blob/main/docs/webhooks/02-Behavior.md);
// anything older is a replay. The delivery IDs that ingest remembers
// (incident.DeliveryMemory, 72 h) outlive this window, so every body that
// is young enough to be accepted is also still remembered if seen before.
const MaxPagerDutyEventAge = 48 * time.Hour

// PagerDuty receives two kinds of body on one path, told apart by shape:
// v3 webhooks ({"event": {...}}, signed with X-PagerDuty-Signature, one or
// more "v1=" values during secret rotation) and Events API v2 events
// ({"routing_key", "event_action", ...}, authenticated by the configured
// routing key).
//
// A v3 webhook is deduplicated on its signed event.id, not on the
// X-Webhook-Id header: the signature covers only the body, so a header can
// be changed by whoever captured a signed body, while a retry by PagerDuty
// repeats the body and with it the event.id. Its event.occurred_at must be
// within MaxPagerDutyEventAge, so a captured body cannot be replayed once
// its delivery ID is forgotten.
type PagerDuty struct {
	cfg   config.PagerDuty
	clock func() time.Time
}

// NewPagerDuty returns the PagerDuty source; clock may be nil (time.Now).
func NewPagerDuty(cfg config.PagerDuty, clock func() time.Time) *PagerDuty {
	if clock == nil {
		clock = time.Now
	}
	return &PagerDuty{cfg: cfg, clock: clock}
}

// Name implements Source.
func (*PagerDuty) Name() string { return "pagerduty" }

// pdShape decodes just enough to tell the two bodies apart.
type pdShape struct {
	Event       json.RawMessage `json:"event"`
	RoutingKey  string          `json:"routing_key"`
	EventAction string          `json:"event_action"`
}

func shapeOf(body []byte) (pdShape, error) {
	var s pdShape
	if err := json.Unmarshal(body, &s); err != nil {
		return s, badRequest("malformed JSON: %v", err)
	}
	if len(s.Event) == 0 && s.EventAction == "" {
		return s, badRequest("neither a v3 webhook (event) nor an Events API v2 body (event_action)")
	}
	return s, nil
}

// Verify implements Source. Authentication comes before any parsing, so an
// unauthenticated sender learns nothing about what a valid body looks like:
// a v3 webhook's signature is checked over the raw body first; a body
// without one must be an Events API v2 body carrying the configured
// routing_key, and a body that cannot be read as one is refused 401, with
// no parse detail, whenever a secret or routing key is configured. Only a
// sender that has authenticated (or an insecure source) is told why its
// body is malformed.
func (p *PagerDuty) Verify(r *http.Request, body []byte) error {
	secret, key := p.cfg.WebhookSecret.Value(), p.cfg.RoutingKey.Value()
	sig := r.Header.Get(HeaderPagerDutySignature)
	if sig != "" && secret != "" {
		if err := verifyPagerDuty(sig, secret, body); err != nil {
			return err
		}
		_, err := shapeOf(body) // authenticated: the reason may be told
		return err
	}
	shape, err := shapeOf(body)
	if err != nil {
		if secret == "" && key == "" && p.cfg.Insecure {
			return err
		}
		return unauthorized("neither a valid " + HeaderPagerDutySignature + " nor the configured routing_key")
	}
	if len(shape.Event) > 0 {
		if secret == "" {
			if p.cfg.Insecure {
				return nil
			}
			return unauthorized("v3 webhooks are not configured (sources.pagerduty.webhook_secret)")
		}
		return verifyPagerDuty(sig, secret, body) // sig is empty: refused as missing
	}
	if key == "" {
		if p.cfg.Insecure {
			return nil
		}
		return unauthorized("Events API bodies are not configured (sources.pagerduty.routing_key)")
	}
	if !secretEqual(shape.RoutingKey, key) {
		return unauthorized("bad routing_key")
	}
	return nil
}

// verifyPagerDuty accepts the body if any "v1=<hex>" value of the header is
// HMAC-SHA256(secret, body).
func verifyPagerDuty(header, secret string, body []byte) error {
	if header == "" {
		return unauthorized("missing " + HeaderPagerDutySignature)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	ok := false
	for _, part := range strings.Split(header, ",") {
		v, found := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !found {
			continue
		}
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			ok = true // keep going: the time taken does not depend on which value matched
		}
	}
	if !ok {
		return unauthorized("bad signature")
	}
	return nil
}

type pdRef struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
	HTMLURL string `json:"html_url"`
}

type pdWebhook struct {
	Event struct {
		ID           string    `json:"id"`
		EventType    string    `json:"event_type"`
		ResourceType string    `json:"resource_type"`
		OccurredAt   time.Time `json:"occurred_at"`
		Agent        *pdRef    `json:"agent"`
		Data         struct {
			ID        string    `json:"id"`
			Number    int64     `json:"number"`
			Title     string    `json:"title"`
			Status    string    `json:"status"`
			Urgency   string    `json:"urgency"`
			HTMLURL   string    `json:"html_url"`
			CreatedAt time.Time `json:"created_at"`
			Service   *pdRef    `json:"service"`
			Priority  *pdRef    `json:"priority"`
		} `json:"data"`
	} `json:"event"`
}

type pdEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary   string         `json:"summary"`
		Source    string         `json:"source"`
		Severity  string         `json:"severity"`
		Timestamp *time.Time     `json:"timestamp"`
		Component string         `json:"component"`
		Group     string         `json:"group"`
		Class     string         `json:"class"`
		Custom    map[string]any `json:"custom_details"`
	} `json:"payload"`
	Client    string `json:"client"`
	ClientURL string `json:"client_url"`
	Links     []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
}

// Parse implements Source.
func (p *PagerDuty) Parse(_ http.Header, body []byte) (incident.Batch, error) {
	shape, err := shapeOf(body)
	if err != nil {
		return incident.Batch{}, err
	}
	if len(shape.Event) > 0 {
		return p.parseWebhook(body)
	}
	return p.parseEvent(body)
}

func (p *PagerDuty) parseWebhook(body []byte) (incident.Batch, error) {
	var w pdWebhook
	if err := json.Unmarshal(body, &w); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	ev := w.Event
	if ev.ResourceType != "incident" {
		return incident.Batch{}, ErrIgnored
	}
	if ev.Data.ID == "" {
		return incident.Batch{}, badRequest("event.data.id is missing")
	}
	if ev.ID == "" {
		return incident.Batch{}, badRequest("event.id is missing")
	}
	if ev.OccurredAt.IsZero() {
		return incident.Batch{}, badRequest("event.occurred_at is missing")
	}
	if age := p.clock().Sub(ev.OccurredAt); age > MaxPagerDutyEventAge {
		return incident.Batch{}, badRequest("event.occurred_at %s is older than %s; PagerDuty does not retry that long, so this is a replay",
			ev.OccurredAt.UTC().Format(time.RFC3339), MaxPagerDutyEventAge)
	}
	b := incident.Batch{
		Source: p.Name(), GroupKey: "incident/" + ev.Data.ID, DeliveryID: "event/" + ev.ID,
		Title: ev.Data.Title, Severity: ev.Data.Urgency,
		Labels: map[string]string{"pagerduty_incident": ev.Data.ID},
	}
	if ev.Data.Priority != nil && ev.Data.Priority.Summary != "" {
		b.Severity = ev.Data.Priority.Summary
	}
	if ev.Data.Urgency != "" {
		b.Labels["urgency"] = ev.Data.Urgency
	}
	if ev.Data.Service != nil && ev.Data.Service.Summary != "" {
		b.Labels["service"] = ev.Data.Service.Summary
	}
	if ev.Data.HTMLURL != "" {
		b.Links = []incident.Link{{Title: "PagerDuty", URL: ev.Data.HTMLURL}}
	}
	at := ev.OccurredAt.UTC()
	alert := incident.Alert{
		Source: p.Name(), Fingerprint: ev.Data.ID, Labels: b.Labels, StartsAt: at, GeneratorURL: ev.Data.HTMLURL,
		Annotations: map[string]string{"summary": ev.Data.Title},
	}
	switch ev.EventType {
	case "incident.triggered", "incident.reopened", "incident.unacknowledged":
		alert.Status = incident.AlertFiring
	case "incident.resolved":
		alert.Status, alert.EndsAt = incident.AlertResolved, at
	case "incident.acknowledged":
		b.AckedBy = "pagerduty"
		if ev.Agent != nil && ev.Agent.Summary != "" {
			b.AckedBy = "pagerduty:" + ev.Agent.Summary
		}
		return b, nil // no alert change: only the acknowledgement
	default:
		return incident.Batch{}, ErrIgnored
	}
	b.Alerts = []incident.Alert{alert}
	return b, nil
}

func (p *PagerDuty) parseEvent(body []byte) (incident.Batch, error) {
	var e pdEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	if e.RoutingKey == "" {
		return incident.Batch{}, badRequest("routing_key is missing")
	}
	b := incident.Batch{Source: p.Name()}
	alert := incident.Alert{Source: p.Name()}
	switch e.EventAction {
	case "trigger":
		pl := e.Payload
		switch {
		case pl == nil:
			return b, badRequest("payload is missing")
		case pl.Summary == "":
			return b, badRequest("payload.summary is missing")
		case pl.Source == "":
			return b, badRequest("payload.source is missing")
		case pl.Severity == "":
			return b, badRequest("payload.severity is missing")
		}
		switch pl.Severity {
		case "critical", "error", "warning", "info":
		default:
			return b, badRequest("payload.severity %q is not critical, error, warning or info", pl.Severity)
		}
		if e.DedupKey == "" {
			e.DedupKey = fingerprint(map[string]string{"summary": pl.Summary, "source": pl.Source})
		}
		alert.Status = incident.AlertFiring
		alert.Labels = map[string]string{"source": pl.Source, "severity": pl.Severity}
		for k, v := range map[string]string{"component": pl.Component, "group": pl.Group, "class": pl.Class} {
			if v != "" {
				alert.Labels[k] = v
			}
		}
		alert.Annotations = map[string]string{"summary": pl.Summary}
		if pl.Timestamp != nil {
			alert.StartsAt = pl.Timestamp.UTC()
		}
		b.Title, b.Severity, b.Labels = pl.Summary, pl.Severity, alert.Labels
		alert.GeneratorURL = e.ClientURL
		for _, l := range e.Links {
			if l.Href != "" {
				alert.Links = append(alert.Links, incident.Link{Title: l.Text, URL: l.Href})
			}
		}
	case "acknowledge", "resolve":
		if e.DedupKey == "" {
			return b, badRequest("dedup_key is missing; %s needs the key of the triggered event", e.EventAction)
		}
		if e.EventAction == "acknowledge" {
			b.GroupKey, b.AckedBy = "events/"+e.DedupKey, "pagerduty"
			return b, nil
		}
		alert.Status = incident.AlertResolved
	default:
		return b, badRequest("event_action %q is not trigger, acknowledge or resolve", e.EventAction)
	}
	if len(e.DedupKey) > 255 {
		return b, badRequest("dedup_key is longer than 255 characters")
	}
	b.GroupKey = "events/" + e.DedupKey
	alert.Fingerprint = e.DedupKey
	b.Alerts = []incident.Alert{alert}
	return b, nil
}
