package source

import (
	"bytes"
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

// PagerDuty's paths besides /hooks/pagerduty (see Mount): the Events API v2
// clients post to <endpoint>/v2/enqueue (go-pagerduty's
// WithV2EventsAPIEndpoint), the Events API v1 ones to
// <endpoint>/generic/2010-04-15/create_event.json.
const (
	PagerDutyEventsV2Path = "/hooks/pagerduty/v2/enqueue"
	PagerDutyEventsV1Path = "/hooks/pagerduty/generic/2010-04-15/create_event.json"
)

// maxDedupKey is the Events API's limit on dedup_key
// (https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/02-Trigger-Events.md).
const maxDedupKey = 255

// PagerDuty receives three kinds of body, told apart by shape, on
// /hooks/pagerduty and on the Events API's own paths under it (see Mount):
//
//   - v3 webhooks ({"event": {...}}), signed with X-PagerDuty-Signature (one
//     or more "v1=" values during secret rotation);
//   - Events API v2 events ({"routing_key", "event_action", ...}), as
//     go-pagerduty and Alertmanager's pagerduty_configs send them;
//   - Events API v1 events ({"service_key", "event_type", ...}), as
//     Alertmanager sends them for a config with service_key.
//
// Events API bodies are authenticated by the configured routing key (the
// v1 service_key is the same integration key) and answered as PagerDuty
// answers them: 202 (200 for v1) with {"status":"success","message":
// "Event processed","dedup_key":…}, the dedup key Tebura made included
// when the sender gave none, so that the sender can resolve what it opened;
// refusals carry {"status":"invalid event","message":…,"errors":[…]}. An
// event's key is its dedup_key (v1: incident_key), one incident per key.
// When the event comes from Alertmanager (its custom_details, or v1
// details, list the alerts under "firing" and "resolved"), each listed
// alert becomes an alert of its own, with its labels, so that automations
// match alertname, service… as they do for the Alertmanager webhook.
//
// A v3 webhook is deduplicated on its signed event.id, not on the
// X-Webhook-Id header: the signature covers only the body, so a header can
// be changed by whoever captured a signed body, while a retry by PagerDuty
// repeats the body and with it the event.id. Its event.occurred_at must be
// within MaxPagerDutyEventAge, so a captured body cannot be replayed once
// its delivery ID is forgotten; events that change nothing (service.*, the
// incident.* types Tebura does not follow) are ignored before that check.
//
// PagerDuty reports state, not firing cycles: every batch is
// incident.Batch.StatusOnly, so repeating the state an alert is in (a
// second resolve, a trigger of an open key) changes nothing.
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

// pdKind is which of the bodies PagerDuty receives a body is.
type pdKind int

const (
	pdUnknown pdKind = iota
	pdWebhook
	pdEventsV2
	pdEventsV1
)

// pdShape decodes just enough to tell the bodies apart.
type pdShape struct {
	Event       json.RawMessage `json:"event"`
	RoutingKey  string          `json:"routing_key"`
	EventAction string          `json:"event_action"`
	ServiceKey  string          `json:"service_key"`
	EventType   string          `json:"event_type"`
}

func (s pdShape) kind() pdKind {
	switch {
	case len(s.Event) > 0:
		return pdWebhook
	case s.EventType != "": // Alertmanager's v1 bodies carry "event_action": "" too
		return pdEventsV1
	case s.EventAction != "":
		return pdEventsV2
	}
	return pdUnknown
}

func shapeOf(body []byte) (pdShape, error) {
	var s pdShape
	if err := json.Unmarshal(body, &s); err != nil {
		return s, badRequest("malformed JSON: %v", err)
	}
	if s.kind() == pdUnknown {
		return s, badRequest("neither a v3 webhook (event) nor an Events API body (event_action; event_type for v1)")
	}
	return s, nil
}

// Verify implements Source. Authentication comes before any parsing, so an
// unauthenticated sender learns nothing about what a valid body looks like:
// a v3 webhook's signature is checked over the raw body first; a body
// without one must be an Events API body carrying the configured routing
// key (routing_key, or service_key for v1), and a body that cannot be read
// as one is refused 401, with no parse detail, whenever a secret or routing
// key is configured. Only a sender that has authenticated (or an insecure
// source) is told why its body is malformed.
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
	if shape.kind() == pdWebhook {
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
	got, field := shape.RoutingKey, "routing_key"
	if shape.kind() == pdEventsV1 {
		got, field = shape.ServiceKey, "service_key"
	}
	if !secretEqual(got, key) {
		return unauthorized("bad " + field)
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

// Parse implements Source.
func (p *PagerDuty) Parse(_ http.Header, body []byte) (incident.Batch, error) {
	shape, err := shapeOf(body)
	if err != nil {
		return incident.Batch{}, err
	}
	switch shape.kind() {
	case pdWebhook:
		return p.parseWebhook(body)
	case pdEventsV1:
		return p.parseEventV1(body)
	default:
		return p.parseEventV2(body)
	}
}

type pdRef struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
	HTMLURL string `json:"html_url"`
}

type pdWebhookBody struct {
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

// urgencySeverity turns a PagerDuty incident's urgency into a severity:
// PagerDuty derives urgency from severity (critical and error page as high
// urgency, warning and info as low), so high reads back as critical and
// low as warning.
func urgencySeverity(urgency string) string {
	switch urgency {
	case "high":
		return "critical"
	case "low":
		return "warning"
	}
	return ""
}

func (p *PagerDuty) parseWebhook(body []byte) (incident.Batch, error) {
	var w pdWebhookBody
	if err := json.Unmarshal(body, &w); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	ev := w.Event
	if ev.ResourceType != "incident" {
		return incident.Batch{}, ErrIgnored
	}
	var status incident.AlertStatus
	switch ev.EventType {
	case "incident.triggered", "incident.reopened", "incident.unacknowledged":
		status = incident.AlertFiring
	case "incident.resolved":
		status = incident.AlertResolved
	case "incident.acknowledged":
	default:
		return incident.Batch{}, ErrIgnored
	}
	// Only an event that may change something needs what dedupe and the
	// replay window rely on.
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
	agent := "pagerduty"
	if ev.Agent != nil && ev.Agent.Summary != "" {
		agent = "pagerduty:" + ev.Agent.Summary
	}
	b := incident.Batch{
		Source: p.Name(), GroupKey: "incident/" + ev.Data.ID, DeliveryID: "event/" + ev.ID, StatusOnly: true,
		Title: ev.Data.Title, Severity: urgencySeverity(ev.Data.Urgency),
		Labels: map[string]string{"pagerduty_incident": ev.Data.ID},
	}
	for k, v := range map[string]string{"urgency": ev.Data.Urgency, "service": summaryOf(ev.Data.Service), "priority": summaryOf(ev.Data.Priority)} {
		if v != "" {
			b.Labels[k] = v
		}
	}
	if ev.Data.HTMLURL != "" {
		b.Links = []incident.Link{{Title: "PagerDuty", URL: ev.Data.HTMLURL}}
	}
	if status == "" { // acknowledged: no alert change, only the acknowledgement
		b.AckedBy = agent
		return b, nil
	}
	at := ev.OccurredAt.UTC()
	alert := incident.Alert{
		Source: p.Name(), Fingerprint: ev.Data.ID, Status: status, Labels: b.Labels, StartsAt: at, GeneratorURL: ev.Data.HTMLURL,
		Annotations: map[string]string{"summary": ev.Data.Title},
	}
	if status == incident.AlertResolved {
		alert.EndsAt, b.ResolvedBy = at, agent
	}
	b.Alerts = []incident.Alert{alert}
	return b, nil
}

func summaryOf(r *pdRef) string {
	if r == nil {
		return ""
	}
	return r.Summary
}

// pdLink is a link of an Events API v2 event.
type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pdEventV2 is an Events API v2 body
// (https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/02-Trigger-Events.md).
type pdEventV2 struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary   string          `json:"summary"`
		Source    string          `json:"source"`
		Severity  string          `json:"severity"`
		Timestamp *time.Time      `json:"timestamp"`
		Component string          `json:"component"`
		Group     string          `json:"group"`
		Class     string          `json:"class"`
		Custom    json.RawMessage `json:"custom_details"`
	} `json:"payload"`
	Client    string   `json:"client"`
	ClientURL string   `json:"client_url"`
	Links     []pdLink `json:"links"`
}

// pdEventV1 is an Events API v1 body, as Alertmanager's pagerduty_configs
// with a service_key send it (notify/pagerduty in Alertmanager).
type pdEventV1 struct {
	ServiceKey  string          `json:"service_key"`
	EventType   string          `json:"event_type"`
	IncidentKey string          `json:"incident_key"`
	Description string          `json:"description"`
	Details     json.RawMessage `json:"details"`
	Client      string          `json:"client"`
	ClientURL   string          `json:"client_url"`
}

// pdTrigger is what a trigger event says, in v2's terms.
type pdTrigger struct {
	summary, severity, clientURL string
	labels                       map[string]string // source, severity, component… (v2)
	startsAt                     time.Time
	links                        []incident.Link
}

func (p *PagerDuty) parseEventV2(body []byte) (incident.Batch, error) {
	var e pdEventV2
	if err := json.Unmarshal(body, &e); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	if e.RoutingKey == "" {
		return incident.Batch{}, badRequest("routing_key is missing")
	}
	var tr pdTrigger
	var details json.RawMessage
	if pl := e.Payload; pl != nil {
		details = pl.Custom
	}
	if e.EventAction == "trigger" {
		pl := e.Payload
		switch {
		case pl == nil:
			return incident.Batch{}, badRequest("payload is missing")
		case pl.Summary == "":
			return incident.Batch{}, badRequest("payload.summary is missing")
		case pl.Source == "":
			return incident.Batch{}, badRequest("payload.source is missing")
		case pl.Severity == "":
			return incident.Batch{}, badRequest("payload.severity is missing")
		}
		if e.DedupKey == "" {
			e.DedupKey = fingerprint(map[string]string{"summary": pl.Summary, "source": pl.Source})
		}
		// A severity outside critical, error, warning and info is not
		// refused: the incident gets the source's default_severity.
		tr = pdTrigger{summary: pl.Summary, severity: pl.Severity, clientURL: e.ClientURL,
			labels: map[string]string{"source": pl.Source, "severity": pl.Severity}}
		for k, v := range map[string]string{"component": pl.Component, "group": pl.Group, "class": pl.Class} {
			if v != "" {
				tr.labels[k] = v
			}
		}
		if pl.Timestamp != nil {
			tr.startsAt = pl.Timestamp.UTC()
		}
		for _, l := range e.Links {
			if l.Href != "" {
				tr.links = append(tr.links, incident.Link{Title: l.Text, URL: l.Href})
			}
		}
	}
	if err := checkEventKey(e.EventAction, e.DedupKey, "event_action", "dedup_key"); err != nil {
		return incident.Batch{}, err
	}
	return p.eventBatch(e.EventAction, e.DedupKey, tr, details, e.ClientURL)
}

func (p *PagerDuty) parseEventV1(body []byte) (incident.Batch, error) {
	var e pdEventV1
	if err := json.Unmarshal(body, &e); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	if e.ServiceKey == "" {
		return incident.Batch{}, badRequest("service_key is missing")
	}
	var tr pdTrigger
	if e.EventType == "trigger" {
		if e.Description == "" {
			return incident.Batch{}, badRequest("description is missing")
		}
		if e.IncidentKey == "" {
			e.IncidentKey = fingerprint(map[string]string{"summary": e.Description})
		}
		tr = pdTrigger{summary: e.Description, clientURL: e.ClientURL}
	}
	if err := checkEventKey(e.EventType, e.IncidentKey, "event_type", "incident_key"); err != nil {
		return incident.Batch{}, err
	}
	return p.eventBatch(e.EventType, e.IncidentKey, tr, e.Details, e.ClientURL)
}

// checkEventKey refuses what Events API v2 and v1 both refuse once a
// trigger's own fields are checked and its key defaulted: an action other
// than trigger, acknowledge and resolve, an acknowledge or resolve without
// the key of its trigger, and a key over maxDedupKey. actionField and
// keyField name the fields as the version spells them (event_action and
// dedup_key in v2, event_type and incident_key in v1).
func checkEventKey(action, key, actionField, keyField string) error {
	switch action {
	case "trigger":
	case "acknowledge", "resolve":
		if key == "" {
			return badRequest("%s is missing; %s needs the key of the triggered event", keyField, action)
		}
	default:
		return badRequest("%s %q is not trigger, acknowledge or resolve", actionField, action)
	}
	if len(key) > maxDedupKey {
		return badRequest("%s is longer than %d characters", keyField, maxDedupKey)
	}
	return nil
}

// eventBatch builds the batch of an Events API event (v2 or v1) whose
// action and key were checked: the alerts Alertmanager listed in its
// details, or else one alert keyed by the event's key.
func (p *PagerDuty) eventBatch(action, key string, tr pdTrigger, details json.RawMessage, clientURL string) (incident.Batch, error) {
	b := incident.Batch{Source: p.Name(), GroupKey: pdEventsKey + key, StatusOnly: true}
	if action == "acknowledge" {
		b.AckedBy = "pagerduty"
		return b, nil
	}
	if m, ok := alertmanagerDetails(details, clientURL); ok {
		m.GroupKey = b.GroupKey
		ab, err := m.batch(p.Name())
		if err != nil {
			return incident.Batch{}, err
		}
		ab.StatusOnly = true
		// The severity is the alerts' (their common label, else the first
		// alert's), as for the Alertmanager webhook; the config's severity
		// (Alertmanager's default "error") only when no alert has one.
		ab.Severity = ab.Labels["severity"]
		for _, a := range ab.Alerts {
			if ab.Severity == "" {
				ab.Severity = a.Labels["severity"]
			}
		}
		if ab.Severity == "" {
			ab.Severity = tr.severity
		}
		// The title is left to the labels ("HighLatency on api"), not taken
		// from the summary, which counts the alerts ("[FIRING:2] …").
		return ab, nil
	}
	alert := incident.Alert{Source: p.Name(), Fingerprint: key}
	if action == "resolve" {
		alert.Status = incident.AlertResolved
		b.Alerts = []incident.Alert{alert}
		return b, nil
	}
	alert.Status, alert.Labels, alert.StartsAt = incident.AlertFiring, tr.labels, tr.startsAt
	alert.Annotations = map[string]string{"summary": tr.summary}
	alert.GeneratorURL, alert.Links = tr.clientURL, tr.links
	b.Title, b.Severity, b.Labels = tr.summary, tr.severity, tr.labels
	b.Alerts = []incident.Alert{alert}
	return b, nil
}

// pdEventsKey prefixes the group key of Events API events; Answer takes it
// off to return the dedup key.
const pdEventsKey = "events/"

// alertmanagerDetails reads the alerts Alertmanager's pagerduty_configs
// list in an event's custom_details (v1: details) under "firing" and
// "resolved" (https://github.com/prometheus/alertmanager/blob/v0.31.1/notify/pagerduty/pagerduty.go,
// config DefaultPagerdutyDetails), in the forms Alertmanager sends:
//
//   - v0.30 and later, by default: a JSON array of alerts, each with
//     labels, annotations, startsAt, endsAt and generatorURL;
//   - v0.29 and earlier, and custom details: templates built on
//     pagerduty.default.instances: its text, "Labels:\n - k = v\n…
//     Annotations:\n …Source: url\n" per alert;
//   - that text re-read as YAML by v0.30 and later: an object
//     {"Labels": ["k = v", …], "Annotations": […], "Source": url}; YAML
//     keeps only the last of several alerts there.
//
// ok is false when the details list no alert with labels: the event is not
// Alertmanager's, or its details were replaced.
func alertmanagerDetails(details json.RawMessage, clientURL string) (m amMessage, ok bool) {
	var d struct {
		Firing   json.RawMessage `json:"firing"`
		Resolved json.RawMessage `json:"resolved"`
	}
	if len(details) == 0 || json.Unmarshal(details, &d) != nil {
		return m, false
	}
	for _, list := range []struct {
		raw    json.RawMessage
		status incident.AlertStatus
	}{{d.Firing, incident.AlertFiring}, {d.Resolved, incident.AlertResolved}} {
		for _, a := range detailAlerts(list.raw) {
			if len(a.Labels) == 0 {
				continue
			}
			a.Status = string(list.status)
			a.Fingerprint = "" // from the labels: the text forms have none
			m.Alerts = append(m.Alerts, a)
		}
	}
	if len(m.Alerts) == 0 {
		return m, false
	}
	m.CommonLabels = cloneLabels(m.Alerts[0].Labels)
	m.CommonAnnotations = cloneLabels(m.Alerts[0].Annotations)
	for _, a := range m.Alerts[1:] {
		keepCommon(m.CommonLabels, a.Labels)
		keepCommon(m.CommonAnnotations, a.Annotations)
	}
	m.ExternalURL = clientURL
	return m, true
}

// detailAlerts reads one of the lists alertmanagerDetails describes.
func detailAlerts(raw json.RawMessage) []amAlert {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '[':
		var alerts []amAlert
		if json.Unmarshal(raw, &alerts) == nil {
			return alerts
		}
	case '"':
		var text string
		if json.Unmarshal(raw, &text) == nil {
			return textAlerts(text)
		}
	case '{':
		var y struct {
			Labels      []string `json:"Labels"`
			Annotations []string `json:"Annotations"`
			Source      string   `json:"Source"`
		}
		if json.Unmarshal(raw, &y) == nil {
			return []amAlert{{Labels: pairs(y.Labels), Annotations: pairs(y.Annotations), GeneratorURL: y.Source}}
		}
	}
	return nil
}

// textAlerts parses the text of Alertmanager's template __text_alert_list
// (template/default.tmpl): per alert, "Labels:", " - name = value" lines,
// "Annotations:", more such lines, "Source: <generator URL>". A line of an
// annotation that spans lines continues the value before it.
func textAlerts(text string) []amAlert {
	var out []amAlert
	var cur map[string]string
	last := ""
	for _, line := range strings.Split(text, "\n") {
		n := len(out) - 1
		switch {
		case line == "Labels:":
			out = append(out, amAlert{Labels: map[string]string{}, Annotations: map[string]string{}})
			cur, last = out[len(out)-1].Labels, ""
		case n < 0:
		case line == "Annotations:":
			cur, last = out[n].Annotations, ""
		case strings.HasPrefix(line, "Source:"):
			out[n].GeneratorURL = strings.TrimSpace(strings.TrimPrefix(line, "Source:"))
			cur, last = nil, ""
		case cur == nil:
		case strings.HasPrefix(line, " - ") && strings.Contains(line, " = "):
			k, v, _ := strings.Cut(line[len(" - "):], " = ")
			cur[k], last = v, k
		case last != "":
			cur[last] += "\n" + line
		}
	}
	return out
}

// pairs turns ["name = value", …] into a map.
func pairs(lines []string) map[string]string {
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, " = "); ok {
			m[k] = v
		}
	}
	return m
}

func cloneLabels(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// keepCommon deletes from common what other lacks or holds differently.
func keepCommon(common, other map[string]string) {
	for k, v := range common {
		if o, ok := other[k]; !ok || o != v {
			delete(common, k)
		}
	}
}

// pdAnswer is the Events API's answer
// (https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/01-Overview.md).
// Error repeats a refusal's message and errors in the shape go-pagerduty's
// Client decodes into its APIError ({"error": {"message", "errors"}}), so
// that its callers see the reason too.
type pdAnswer struct {
	Status      string         `json:"status"`
	Message     string         `json:"message"`
	DedupKey    string         `json:"dedup_key,omitempty"`
	IncidentKey string         `json:"incident_key,omitempty"`
	Errors      []string       `json:"errors,omitempty"`
	Error       *pdAnswerError `json:"error,omitempty"`
}

type pdAnswerError struct {
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
}

// Answer implements Answerer: Events API bodies (and bodies that are not
// v3 webhooks, which cannot be told apart) are answered in JSON as
// PagerDuty answers them, v3 webhooks by the handler's text. Success is
// 202 for v2 and 200 for v1, with the event's key; a refusal keeps the
// handler's status.
func (p *PagerDuty) Answer(w http.ResponseWriter, r *http.Request, body []byte, a Answer) bool {
	var shape pdShape
	_ = json.Unmarshal(body, &shape) // an unreadable body answers as its path says
	kind := shape.kind()
	if kind == pdWebhook {
		return false
	}
	if kind == pdUnknown && strings.HasSuffix(r.URL.Path, "/create_event.json") {
		kind = pdEventsV1
	}
	status, ans := a.Status, pdAnswer{Status: "success", Message: "Event processed"}
	switch {
	case a.Status < 300:
		key, _ := strings.CutPrefix(a.Batch.GroupKey, pdEventsKey)
		if kind == pdEventsV1 {
			ans.IncidentKey = key
		} else {
			status, ans.DedupKey = http.StatusAccepted, key
		}
	default:
		ans.Status, ans.Message = "invalid event", "Event object is invalid"
		if a.Status != http.StatusBadRequest {
			ans.Message = http.StatusText(a.Status)
		}
		if a.Status >= 500 {
			ans.Status = "error"
		}
		ans.Errors = []string{a.Reason}
		ans.Error = &pdAnswerError{Message: ans.Message, Errors: ans.Errors}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ans)
	return true
}

var _ Answerer = (*PagerDuty)(nil)
