package source_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/incident/source"
)

func sign(secret string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// grafanaBody is Grafana's documented webhook example (PLATFORM.md 3.2).
const grafanaBody = `{"receiver":"My Webhook","status":"firing","orgId":1,"alerts":[{"status":"firing","labels":{"alertname":"High memory","team":"blue"},"annotations":{"summary":"Memory above 90%"},"startsAt":"2026-11-26T14:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"https://grafana.example.com/alerting/grafana/abc/view","fingerprint":"c6eadffa33fcdf37","silenceURL":"https://grafana.example.com/alerting/silence/new","dashboardURL":"https://grafana.example.com/d/mem","panelURL":"https://grafana.example.com/d/mem?viewPanel=2","values":{"B":44.2,"C":1}}],"groupLabels":{},"commonLabels":{"team":"blue"},"commonAnnotations":{},"externalURL":"https://grafana.example.com/","version":"1","groupKey":"{}:{}","truncatedAlerts":0,"title":"[FIRING:1]  (blue)","state":"alerting","message":"**Firing**"}`

func TestGrafanaSignatures(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ts := strconv.FormatInt(now.Unix(), 10)
	stale := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	future := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	plain := config.Grafana{HMACSecret: "gsecret"}
	stamped := config.Grafana{HMACSecret: "gsecret", TimestampHeader: "X-Grafana-Alerting-Signature-Timestamp"}
	custom := config.Grafana{HMACSecret: "gsecret", SignatureHeader: "X-My-Sig"}
	tests := []struct {
		name   string
		cfg    config.Grafana
		hdr    map[string]string
		status int
	}{
		{"valid documented header", plain, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", grafanaBody)}, 200},
		{"valid library header", plain, map[string]string{"X-Grafana-Alert-Signature": sign("gsecret", grafanaBody)}, 200},
		{"valid configured header", custom, map[string]string{"X-My-Sig": sign("gsecret", grafanaBody)}, 200},
		{"invalid signature", plain, map[string]string{"X-Grafana-Alerting-Signature": sign("other", grafanaBody)}, 401},
		{"not hex", plain, map[string]string{"X-Grafana-Alerting-Signature": "zz"}, 401},
		{"missing signature", plain, nil, 401},
		{"valid with timestamp", stamped, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", ts, ":", grafanaBody),
			"X-Grafana-Alerting-Signature-Timestamp": ts}, 200},
		{"timestamp not signed", stamped, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", grafanaBody),
			"X-Grafana-Alerting-Signature-Timestamp": ts}, 401},
		{"stale timestamp", stamped, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", stale, ":", grafanaBody),
			"X-Grafana-Alerting-Signature-Timestamp": stale}, 401},
		{"future timestamp", stamped, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", future, ":", grafanaBody),
			"X-Grafana-Alerting-Signature-Timestamp": future}, 401},
		{"missing timestamp", stamped, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", grafanaBody)}, 401},
		{"bearer and hmac", config.Grafana{HMACSecret: "gsecret", BearerToken: "tok"}, map[string]string{
			"X-Grafana-Alerting-Signature": sign("gsecret", grafanaBody), "Authorization": "Bearer tok"}, 200},
		{"bearer missing", config.Grafana{HMACSecret: "gsecret", BearerToken: "tok"}, map[string]string{
			"X-Grafana-Alerting-Signature": sign("gsecret", grafanaBody)}, 401},
		{"insecure", config.Grafana{Insecure: true}, nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h := source.Handler(source.NewGrafana(tt.cfg, clock), rec.ingest, source.Limits{}, nil)
			if w := post(h, "/hooks/grafana", []byte(grafanaBody), tt.hdr); w.Code != tt.status {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.status)
			}
		})
	}
}

func TestGrafanaParse(t *testing.T) {
	b, err := source.NewGrafana(config.Grafana{Insecure: true}, nil).Parse(nil, []byte(grafanaBody))
	if err != nil {
		t.Fatal(err)
	}
	if b.Source != "grafana" || b.GroupKey != "1/{}:{}" || len(b.Alerts) != 1 {
		t.Fatalf("batch %+v", b)
	}
	a := b.Alerts[0]
	if a.Fingerprint != "c6eadffa33fcdf37" || a.Status != incident.AlertFiring || len(a.Links) != 3 || a.Links[0].Title != "Dashboard" {
		t.Errorf("alert %+v", a)
	}
	if _, err := source.NewGrafana(config.Grafana{}, nil).Parse(nil, []byte(`{"version":"4"}`)); err == nil {
		t.Error("version 4 body accepted as Grafana")
	}
}

// pdNow is the clock of the PagerDuty tests: an hour after the events of
// pdWebhook.
var pdNow = func() time.Time { return time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC) }

// pdWebhook is a v3 webhook body; its event.id differs per event type and
// time, as PagerDuty's does per event.
func pdWebhook(eventType, at string) string {
	return `{"event":{"id":"01` + sign("id", eventType, at)[:10] + `","event_type":"` + eventType + `","resource_type":"incident","occurred_at":"` + at + `",` +
		`"agent":{"id":"PAGENT","summary":"Alice","type":"user_reference"},"data":{"id":"PGR0VU2","type":"incident","number":42,` +
		`"title":"API 5xx above 5%","status":"triggered","urgency":"high","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2",` +
		`"created_at":"2026-11-26T14:00:00Z","service":{"id":"PSVC","summary":"checkout-api"}}}}`
}

func TestPagerDutySignatures(t *testing.T) {
	body := pdWebhook("incident.triggered", "2026-11-26T14:00:00Z")
	good := "v1=" + sign("pdsecret", body)
	old := "v1=" + sign("rotated-out", body)
	cfg := config.PagerDuty{WebhookSecret: "pdsecret", RoutingKey: "R0UTINGKEY"}
	tests := []struct {
		name   string
		cfg    config.PagerDuty
		body   string
		sig    string
		status int
	}{
		{"valid", cfg, body, good, 200},
		{"multiple, second valid", cfg, body, old + "," + good, 200},
		{"multiple with spaces, first valid", cfg, body, good + ", " + old, 200},
		{"invalid", cfg, body, "v1=" + sign("pdsecret", body+" "), 401},
		{"stale secret only", cfg, body, old, 401},
		{"wrong version tag", cfg, body, "v0=" + sign("pdsecret", body), 401},
		{"missing", cfg, body, "", 401},
		{"not configured", config.PagerDuty{RoutingKey: "R0UTINGKEY"}, body, good, 401},
		{"insecure", config.PagerDuty{Insecure: true}, body, "", 200},
		{"events v2 good key", cfg, `{"routing_key":"R0UTINGKEY","event_action":"trigger","dedup_key":"k1","payload":{"summary":"s","source":"h","severity":"critical"}}`, "", 202},
		{"events v2 bad key", cfg, `{"routing_key":"nope","event_action":"trigger","dedup_key":"k1","payload":{"summary":"s","source":"h","severity":"critical"}}`, "", 401},
		// Authentication comes first: an unauthenticated sender gets 401 and
		// no parse reason; a signed one is told why its body is malformed.
		{"neither shape, unauthenticated", cfg, `{"hello":1}`, "", 401},
		{"malformed, signature of another body", cfg, `{"event":`, good, 401},
		{"malformed, unsigned", cfg, `{"event":`, "", 401},
		{"malformed, bad signature", cfg, `{"event":`, "v1=" + sign("wrong", `{"event":`), 401},
		{"malformed, events key only", config.PagerDuty{RoutingKey: "R0UTINGKEY"}, `{"routing_key":"R0UTINGKEY",`, "", 401},
		{"malformed, nothing configured", config.PagerDuty{}, `{"event":`, "", 401},
		{"malformed, signed", cfg, `{"event":`, "v1=" + sign("pdsecret", `{"event":`), 400},
		{"neither shape, signed", cfg, `{"hello":1}`, "v1=" + sign("pdsecret", `{"hello":1}`), 400},
		{"malformed, insecure", config.PagerDuty{Insecure: true}, `{"event":`, "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h := source.Handler(source.NewPagerDuty(tt.cfg, pdNow), rec.ingest, source.Limits{}, nil)
			w := post(h, "/hooks/pagerduty", []byte(tt.body), map[string]string{"X-PagerDuty-Signature": tt.sig})
			if w.Code != tt.status {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.status)
			}
			if w.Code == http.StatusUnauthorized && (strings.Contains(w.Body.String(), "JSON") || strings.Contains(w.Body.String(), "shape") || strings.Contains(w.Body.String(), "event_action")) {
				t.Errorf("401 tells a parse detail: %q", w.Body.String())
			}
			if w.Code/100 != 2 && len(rec.batches) != 0 {
				t.Errorf("a refused body was ingested")
			}
		})
	}
}

// TestPagerDutyLifecycle runs v3 webhooks (with a retried delivery) and
// Events API v2 bodies through the handler into the service.
func TestPagerDutyLifecycle(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	svc, err := incident.New(incidenttest.NewStore(), config.Incidents{AutoResolve: true}, nil, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last incident.Result
	h := source.Handler(source.NewPagerDuty(config.PagerDuty{WebhookSecret: "pdsecret", RoutingKey: "RK"}, pdNow),
		source.Ingester(svc.Ingest, func(_ context.Context, r incident.Result) { last = r }), source.Limits{}, nil)
	send := func(body, webhookID string) {
		t.Helper()
		hdr := map[string]string{}
		if strings.HasPrefix(body, `{"event"`) {
			hdr["X-PagerDuty-Signature"] = "v1=" + sign("pdsecret", body)
			hdr["X-Webhook-Id"] = webhookID
		}
		last = incident.Result{}
		want := http.StatusAccepted // the Events API's answer
		if strings.HasPrefix(body, `{"event"`) {
			want = http.StatusOK
		}
		if w := post(h, "/hooks/pagerduty", []byte(body), hdr); w.Code != want {
			t.Fatalf("%d %s, want %d", w.Code, w.Body, want)
		}
	}

	send(pdWebhook("incident.triggered", "2026-11-26T14:00:00Z"), "wh-1")
	if c := last.Changes; len(c) != 1 || !c[0].Opened || c[0].Incident.Title != "API 5xx above 5%" || c[0].Incident.Labels["service"] != "checkout-api" {
		t.Fatalf("triggered: %+v", last)
	}
	send(pdWebhook("incident.triggered", "2026-11-26T14:00:00Z"), "wh-1")
	if !last.Duplicate {
		t.Fatalf("retried delivery must be a duplicate: %+v", last)
	}
	send(pdWebhook("incident.acknowledged", "2026-11-26T14:01:00Z"), "wh-2")
	if c := last.Changes; len(c) != 1 || !c[0].Acknowledged || c[0].Incident.AckedBy != "pagerduty:Alice" {
		t.Fatalf("acknowledged: %+v", last)
	}
	send(pdWebhook("incident.annotated", "2026-11-26T14:01:30Z"), "wh-3")
	send(pdWebhook("incident.resolved", "2026-11-26T14:02:00Z"), "wh-4")
	if c := last.Changes; len(c) != 1 || !c[0].Resolved {
		t.Fatalf("resolved: %+v", last)
	}

	ev := func(action, extra string) string {
		return `{"routing_key":"RK","event_action":"` + action + `","dedup_key":"disk-db-1"` + extra + `}`
	}
	payload := `,"payload":{"summary":"Disk 95% on db-1","source":"db-1","severity":"warning"}`
	send(ev("trigger", payload), "")
	if c := last.Changes; len(c) != 1 || !c[0].Opened || c[0].Incident.Number != 2 || c[0].Incident.Severity != "warning" {
		t.Fatalf("events trigger: %+v", last)
	}
	send(ev("trigger", payload), "")
	if len(last.Changes) != 0 {
		t.Fatalf("repeated trigger changed something: %+v", last)
	}
	send(ev("acknowledge", ""), "")
	if c := last.Changes; len(c) != 1 || !c[0].Acknowledged {
		t.Fatalf("events acknowledge: %+v", last)
	}
	send(ev("resolve", ""), "")
	if c := last.Changes; len(c) != 1 || !c[0].Resolved || c[0].ResolvedAlerts[0].Labels["source"] != "db-1" {
		t.Fatalf("events resolve: %+v", last)
	}
}

func TestPagerDutyEventsInvalid(t *testing.T) {
	p := source.NewPagerDuty(config.PagerDuty{Insecure: true}, pdNow)
	tests := map[string]string{
		`{"routing_key":"RK","event_action":"trigger"}`:                                             "payload is missing",
		`{"routing_key":"RK","event_action":"trigger","payload":{"source":"h","severity":"info"}}`:  "payload.summary is missing",
		`{"routing_key":"RK","event_action":"trigger","payload":{"summary":"s","severity":"info"}}`: "payload.source is missing",
		`{"routing_key":"RK","event_action":"trigger","payload":{"summary":"s","source":"h"}}`:      "payload.severity is missing",
		`{"routing_key":"RK","event_action":"resolve"}`:                                             "dedup_key is missing",
		`{"routing_key":"RK","event_action":"explode","dedup_key":"k"}`:                             "is not trigger, acknowledge or resolve",
		`{"event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}}`:       "routing_key is missing",
		`{"service_key":"RK","event_type":"trigger"}`:                                               "description is missing",
		`{"event_type":"trigger","description":"d"}`:                                                "service_key is missing",
		`{"service_key":"RK","event_type":"resolve","event_action":""}`:                             "incident_key is missing; resolve needs the key",
		`{"service_key":"RK","event_type":"snooze","incident_key":"k"}`:                             `event_type "snooze" is not trigger, acknowledge or resolve`,
		`{"event":{"event_type":"incident.triggered","resource_type":"incident","data":{}}}`:        "event.data.id is missing",
	}
	long := strings.Repeat("k", 256)
	tests[`{"routing_key":"RK","event_action":"acknowledge","dedup_key":"`+long+`"}`] = "dedup_key is longer than 255 characters"
	tests[`{"service_key":"RK","event_type":"trigger","description":"d","incident_key":"`+long+`"}`] = "incident_key is longer than 255 characters"
	for body, want := range tests {
		_, err := p.Parse(http.Header{}, []byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", body, err, want)
		}
	}
	if _, err := p.Parse(http.Header{}, []byte(`{"event":{"event_type":"service.updated","resource_type":"service","data":{"id":"S"}}}`)); err != source.ErrIgnored {
		t.Errorf("service event: %v, want ErrIgnored", err)
	}
}

func TestGeneric(t *testing.T) {
	cfg := config.GenericSource{Insecure: true, Key: "{{ .check.id }}", Title: "{{ .check.name }} is {{ .state }}",
		Status: "{{ .state }}", Severity: "{{ .level }}", Labels: map[string]string{"service": "{{ .check.service }}", "team": "web"}}
	g, err := source.NewGeneric("uptime", cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Parse(nil, []byte(`{"check":{"id":"c-17","name":"Homepage","service":"www"},"state":"SIDEWAYS","level":"critical"}`))
	if err == nil || !strings.Contains(err.Error(), `status: "SIDEWAYS" is neither firing nor resolved; accepted: firing words firing, triggered`) {
		t.Fatalf("unknown status word: %v", err)
	}
	b, err = g.Parse(nil, []byte(`{"check":{"id":"c-17","name":"Homepage","service":"www"},"state":"alerting","level":"critical"}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Source != "generic/uptime" || b.GroupKey != "c-17" || b.Title != "Homepage is alerting" || b.Severity != "critical" ||
		b.Labels["service"] != "www" || b.Labels["team"] != "web" || b.Alerts[0].Status != incident.AlertFiring || b.Alerts[0].Fingerprint != "c-17" {
		t.Errorf("batch %+v", b)
	}
	b, err = g.Parse(nil, []byte(`{"check":{"id":"c-17","name":"Homepage","service":"www"},"state":"OK","level":"critical"}`))
	if err != nil || b.Alerts[0].Status != incident.AlertResolved {
		t.Errorf("resolved: %+v %v", b, err)
	}
	for body, want := range map[string]string{
		`{"state":"ok"}`:                   `map has no entry for key "check"`,
		`{"check":{"id":""},"state":"ok"}`: "rendered an empty key",
		`[1,2]`:                            "want an object",
	} {
		if _, err := g.Parse(nil, []byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", body, err, want)
		}
	}
	h := source.Handler(mustGeneric(t, "api", config.GenericSource{BearerToken: "tok", Key: "{{ .id }}"}), (&recorder{}).ingest, source.Limits{}, nil)
	if w := post(h, "/hooks/generic/api", []byte(`{"id":"x"}`), map[string]string{"Authorization": "Bearer tok"}); w.Code != 200 {
		t.Errorf("generic with token: %d %s", w.Code, w.Body)
	}
	if w := post(h, "/hooks/generic/api", []byte(`{"id":"x"}`), nil); w.Code != 401 {
		t.Errorf("generic without token: %d", w.Code)
	}
	if _, err := source.NewGeneric("bad", config.GenericSource{Key: "{{ .id"}); err == nil {
		t.Error("bad template accepted")
	}
}

func mustGeneric(t *testing.T, name string, cfg config.GenericSource) *source.Generic {
	t.Helper()
	g, err := source.NewGeneric(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestAuthSchemes: every source that takes a token accepts the
// Authorization scheme in any case (RFC 9110 section 11.1; Alertmanager
// sends its authorization.type as written) and basic auth, the other thing
// Alertmanager's http_config and Grafana's contact point can send.
func TestAuthSchemes(t *testing.T) {
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	creds := config.BasicAuth{Username: "user", Password: "pw"}
	am := source.NewAlertmanager(config.Alertmanager{BearerToken: "tok", BasicAuth: creds})
	amBody := fixture(t, "alertmanager_firing.json")
	gfTok := source.NewGrafana(config.Grafana{BearerToken: "tok"}, nil)
	gfBasic := source.NewGrafana(config.Grafana{BasicAuth: creds}, nil)
	gfBasicHMAC := source.NewGrafana(config.Grafana{BasicAuth: creds, HMACSecret: "gsecret"}, nil)
	genTok := mustGeneric(t, "api", config.GenericSource{BearerToken: "tok", Key: "{{ .id }}"})
	genBasic := mustGeneric(t, "api", config.GenericSource{BasicAuth: creds, Key: "{{ .id }}"})
	genBody := []byte(`{"id":"x"}`)
	sig := sign("gsecret", grafanaBody)
	tests := []struct {
		name   string
		src    source.Source
		body   []byte
		hdr    map[string]string
		status int
	}{
		{"alertmanager Bearer", am, amBody, map[string]string{"Authorization": "Bearer tok"}, 200},
		{"alertmanager bearer", am, amBody, map[string]string{"Authorization": "bearer tok"}, 200},
		{"alertmanager BEARER", am, amBody, map[string]string{"Authorization": "BEARER tok"}, 200},
		{"alertmanager bearer, two spaces", am, amBody, map[string]string{"Authorization": "bearer  tok"}, 200},
		{"alertmanager basic", am, amBody, map[string]string{"Authorization": basic("user", "pw")}, 200},
		{"alertmanager basic lower case", am, amBody, map[string]string{"Authorization": "basic " + basic("user", "pw")[len("Basic "):]}, 200},
		{"alertmanager another scheme", am, amBody, map[string]string{"Authorization": "Token tok"}, 401},
		{"alertmanager no space", am, amBody, map[string]string{"Authorization": "Bearertok"}, 401},
		{"alertmanager wrong token", am, amBody, map[string]string{"Authorization": "bearer nope"}, 401},
		{"grafana bearer", gfTok, []byte(grafanaBody), map[string]string{"Authorization": "bearer tok"}, 200},
		{"grafana basic", gfBasic, []byte(grafanaBody), map[string]string{"Authorization": basic("user", "pw")}, 200},
		{"grafana basic wrong", gfBasic, []byte(grafanaBody), map[string]string{"Authorization": basic("user", "no")}, 401},
		{"grafana basic missing", gfBasic, []byte(grafanaBody), nil, 401},
		{"grafana basic and signature", gfBasicHMAC, []byte(grafanaBody), map[string]string{
			"Authorization": basic("user", "pw"), "X-Grafana-Alerting-Signature": sig}, 200},
		{"grafana signature without basic", gfBasicHMAC, []byte(grafanaBody), map[string]string{"X-Grafana-Alerting-Signature": sig}, 401},
		{"grafana basic without signature", gfBasicHMAC, []byte(grafanaBody), map[string]string{"Authorization": basic("user", "pw")}, 401},
		{"generic bearer", genTok, genBody, map[string]string{"Authorization": "bearer tok"}, 200},
		{"generic basic", genBasic, genBody, map[string]string{"Authorization": basic("user", "pw")}, 200},
		{"generic basic wrong", genBasic, genBody, map[string]string{"Authorization": basic("other", "pw")}, 401},
		{"generic basic missing", genBasic, genBody, nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			w := post(source.Handler(tt.src, rec.ingest, source.Limits{}, nil), "/", tt.body, tt.hdr)
			if w.Code != tt.status {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.status)
			}
			if (w.Code == 200) != (len(rec.batches) == 1) {
				t.Errorf("answered %d with %d batches ingested", w.Code, len(rec.batches))
			}
		})
	}
}

// TestMountBasicAuthOnly: basic auth alone is enough to mount Grafana and
// a generic source.
func TestMountBasicAuthOnly(t *testing.T) {
	creds := config.BasicAuth{Username: "user", Password: "pw"}
	paths, err := source.Mount(http.NewServeMux(), config.Sources{Grafana: config.Grafana{BasicAuth: creds},
		Generic: map[string]config.GenericSource{"ci": {BasicAuth: creds, Key: "{{ .id }}"}}}, (&recorder{}).ingest, nil)
	if err != nil || strings.Join(paths, " ") != "/hooks/grafana /hooks/generic/ci" {
		t.Fatalf("paths %v, err %v", paths, err)
	}
}

// TestGrafanaSignatureReasons: a refused signature says what was expected,
// so the side that differs can be fixed from Grafana's contact point test:
// the headers looked at, and whether a signed timestamp was required.
func TestGrafanaSignatureReasons(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ts := strconv.FormatInt(now.Unix(), 10)
	const tsHeader = "X-Grafana-Alerting-Signature-Timestamp"
	plain := config.Grafana{HMACSecret: "gsecret"}
	custom := config.Grafana{HMACSecret: "gsecret", SignatureHeader: "x-my-sig"}
	stamped := config.Grafana{HMACSecret: "gsecret", TimestampHeader: tsHeader}
	tests := []struct {
		name string
		cfg  config.Grafana
		hdr  map[string]string
		want []string
	}{
		{"missing", plain, nil, []string{"missing signature", "in X-Grafana-Alerting-Signature or X-Grafana-Alert-Signature",
			"no timestamp header"}},
		{"bad, configured header", custom, map[string]string{"X-My-Sig": sign("other", grafanaBody)}, []string{"bad signature in X-My-Sig",
			"in X-My-Sig or X-Grafana-Alerting-Signature or X-Grafana-Alert-Signature", "no timestamp header"}},
		{"signed without the timestamp Tebura requires", stamped, map[string]string{"X-Grafana-Alert-Signature": sign("gsecret", grafanaBody),
			tsHeader: ts}, []string{"bad signature in X-Grafana-Alert-Signature", `"<timestamp>:<body>"`, "timestamp in header " + tsHeader}},
		{"signed with a timestamp Tebura does not expect", plain, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", ts, ":", grafanaBody),
			tsHeader: ts}, []string{"bad signature", "of the body (no timestamp header: timestamp_header is not set)"}},
		{"timestamp missing", stamped, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", grafanaBody)},
			[]string{"signature timestamp", "Unix seconds in header " + tsHeader}},
		{"timestamp stale", stamped, map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", "1", ":", grafanaBody), tsHeader: "1"},
			[]string{"stale signature timestamp in header " + tsHeader, "5m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := post(source.Handler(source.NewGrafana(tt.cfg, clock), (&recorder{}).ingest, source.Limits{}, nil), "/hooks/grafana",
				[]byte(grafanaBody), tt.hdr)
			body := strings.TrimSpace(w.Body.String())
			if w.Code != 401 {
				t.Fatalf("status %d (%s), want 401", w.Code, body)
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("reason %q does not say %q", body, s)
				}
			}
			if strings.Contains(body, "gsecret") {
				t.Errorf("reason leaks the secret: %q", body)
			}
		})
	}
}

// TestGrafanaCustomPayload: a body written by a custom payload template
// (Grafana 12) carries Grafana's alerts but no version, group key or
// top-level org; it is accepted, and a body that is not Grafana's is
// refused with a reason that says why.
func TestGrafanaCustomPayload(t *testing.T) {
	body := fixture(t, "grafana_custom_payload.json")
	g := source.NewGrafana(config.Grafana{HMACSecret: "gsecret"}, nil)
	rec := &recorder{}
	if w := post(source.Handler(g, rec.ingest, source.Limits{}, nil), "/hooks/grafana", body,
		map[string]string{"X-Grafana-Alerting-Signature": sign("gsecret", string(body))}); w.Code != 200 || len(rec.batches) != 1 {
		t.Fatalf("custom payload: %d %s", w.Code, w.Body)
	}
	b := rec.batches[0]
	if !strings.HasPrefix(b.GroupKey, "1/") || len(b.Alerts) != 1 || b.Alerts[0].Fingerprint != "c6eadffa33fcdf37" ||
		b.Alerts[0].Status != incident.AlertFiring || b.Labels["team"] != "blue" || len(b.Alerts[0].Links) < 3 {
		t.Errorf("batch %+v", b)
	}
	// The key is stable per group: the same group again, resolved, lands
	// on the same key.
	again, err := g.Parse(nil, []byte(strings.ReplaceAll(string(body), `"firing"`, `"resolved"`)))
	if err != nil || again.GroupKey != b.GroupKey || again.Alerts[0].Status != incident.AlertResolved {
		t.Errorf("resolved custom payload: key %q (want %q), %v", again.GroupKey, b.GroupKey, err)
	}

	for body, want := range map[string]string{
		`{"version":"4","groupKey":"g","alerts":[{"status":"firing","labels":{"a":"b"}}]}`: "Alertmanager webhook; point Alertmanager at /hooks/alertmanager",
		`{"version":"2","alerts":[{"status":"firing","labels":{"a":"b"}}]}`:                `version "2" is not a Grafana webhook`,
		`{"ruleName":"CPU","state":"alerting","evalMatches":[]}`:                           `no "version" and no "alerts" list`,
		`{"alerts":[]}`:                                                    "alerts is empty",
		`{"alerts":[{"labels":{"a":"b"}}]}`:                                `alerts[0].status "" is neither firing nor resolved`,
		`{"alerts":[{"status":"firing"}]}`:                                 "alerts[0] has no labels",
		`[{"status":"firing","labels":{}}]`:                                "malformed JSON",
		`{"text":"CPU high","alerts":"CPU"} `:                              "malformed JSON",
		`{"version":"1","alerts":null,"x":1}`:                              "alerts is empty",
		`{"alerts":[{"status":"firing","labels":{"a":"b"}}],"version":""}`: "",
	} {
		_, err := g.Parse(nil, []byte(body))
		switch {
		case want == "" && err != nil:
			t.Errorf("Parse(%s) = %v, want it accepted", body, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("Parse(%s) = %v, want %q", body, err, want)
		}
	}
}
