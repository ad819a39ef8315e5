package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/store/bolt"
)

// pdRoutingKey is the integration key of the PagerDuty client tests.
const pdRoutingKey = "R0UT1NGKEY0000000000000000000000"

// pdServer serves the webhook routes as cmd/tebura wires them (Mount on a
// mux behind the metrics middleware, one Admission) over the real
// incident service and a bolt store, and keeps what it was sent.
type pdServer struct {
	*httptest.Server
	svc     *incident.Service
	metrics *metrics.Metrics
	adm     *source.Admission

	mu       sync.Mutex
	changes  []incident.Change
	requests []capture
}

// capture is one request the server answered.
type capture struct {
	path   string
	body   []byte
	status int
	answer string
}

func newPDServer(t *testing.T, cfg config.PagerDuty, autos ...config.Automation) *pdServer {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rules, err := incident.CompileRules(autos)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incident.New(store, config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}, rules, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &pdServer{svc: svc, metrics: metrics.New(metrics.BuildInfo{}), adm: source.NewAdmission(source.AdmitOptions{}, nil)}
	hooks := http.NewServeMux()
	react := func(_ context.Context, r incident.Result) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.changes = append(s.changes, r.Changes...)
	}
	if _, err := source.Mount(hooks, config.Sources{PagerDuty: cfg}, source.Ingester(svc.Ingest, react), nil,
		source.Limits{Admission: s.adm}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", s.metrics.Webhooks(hooks))
	mux.Handle("GET /metrics", s.metrics.Handler())
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		s.mu.Lock()
		s.requests = append(s.requests, capture{path: r.URL.Path, body: body, status: rec.Code, answer: rec.Body.String()})
		s.mu.Unlock()
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(s.Close)
	return s
}

// captured returns the webhook requests answered so far.
func (s *pdServer) captured() []capture {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []capture
	for _, c := range s.requests {
		if strings.HasPrefix(c.path, "/hooks/") {
			out = append(out, c)
		}
	}
	return out
}

// takeChanges returns the changes reacted to since the last call.
func (s *pdServer) takeChanges() []incident.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changes
	s.changes = nil
	return c
}

func (s *pdServer) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestGoPagerDutyClient drives Tebura with PagerDuty's official Go client,
// unchanged, pointed at it with WithV2EventsAPIEndpoint: it posts to
// <endpoint>/v2/enqueue and decodes the JSON answer (202) or an APIError.
func TestGoPagerDutyClient(t *testing.T) {
	srv := newPDServer(t, config.PagerDuty{RoutingKey: pdRoutingKey})
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(srv.URL+"/hooks/pagerduty"))
	ctx := t.Context()
	incidentOf := func(key string) *incident.Incident {
		t.Helper()
		list, err := srv.svc.List(ctx, incident.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range list {
			if inc.Key == "pagerduty:events/"+key {
				return inc
			}
		}
		t.Fatalf("no incident for dedup key %q", key)
		return nil
	}
	trigger := func(key, summary, severity string) *pagerduty.V2Event {
		return &pagerduty.V2Event{RoutingKey: pdRoutingKey, Action: "trigger", DedupKey: key,
			Payload: &pagerduty.V2Payload{Summary: summary, Source: "db-1", Severity: severity, Component: "postgres",
				Details: map[string]any{"free_bytes": 1024}}}
	}
	action := func(a, key string) *pagerduty.V2Event {
		return &pagerduty.V2Event{RoutingKey: pdRoutingKey, Action: a, DedupKey: key}
	}
	send := func(e *pagerduty.V2Event) *pagerduty.V2EventResponse {
		t.Helper()
		resp, err := client.ManageEventWithContext(ctx, e)
		if err != nil {
			t.Fatalf("%s %q: %v", e.Action, e.DedupKey, err)
		}
		if resp.Status != "success" || resp.Message != "Event processed" {
			t.Errorf("%s %q: answer %+v, want success / Event processed", e.Action, e.DedupKey, resp)
		}
		return resp
	}

	t.Run("with dedup_key", func(t *testing.T) {
		steps := []struct {
			event      *pagerduty.V2Event
			wantStatus incident.Status
			wantChange bool
		}{
			{trigger("disk-db-1", "Disk 95% on db-1", "warning"), incident.StatusTriggered, true},
			{trigger("disk-db-1", "Disk 95% on db-1", "warning"), incident.StatusTriggered, false}, // PagerDuty dedupes a trigger of an open key
			{action("acknowledge", "disk-db-1"), incident.StatusAcknowledged, true},
			{action("acknowledge", "disk-db-1"), incident.StatusAcknowledged, false},
			{action("resolve", "disk-db-1"), incident.StatusResolved, true},
			{action("resolve", "disk-db-1"), incident.StatusResolved, false},
		}
		for i, st := range steps {
			resp := send(st.event)
			if resp.DedupKey != "disk-db-1" {
				t.Errorf("step %d (%s): dedup_key %q, want disk-db-1", i, st.event.Action, resp.DedupKey)
			}
			inc := incidentOf("disk-db-1")
			if inc.Status != st.wantStatus {
				t.Errorf("step %d (%s): incident %s, want %s", i, st.event.Action, inc.Status, st.wantStatus)
			}
			if got := len(srv.takeChanges()) > 0; got != st.wantChange {
				t.Errorf("step %d (%s): changed %v, want %v", i, st.event.Action, got, st.wantChange)
			}
		}
		if inc := incidentOf("disk-db-1"); inc.Title != "Disk 95% on db-1" || inc.Severity != "warning" || inc.Labels["component"] != "postgres" {
			t.Errorf("incident %q severity %q labels %v", inc.Title, inc.Severity, inc.Labels)
		}
	})

	t.Run("without dedup_key", func(t *testing.T) {
		resp := send(trigger("", "Replication lag on db-2", "critical"))
		key := resp.DedupKey
		if key == "" {
			t.Fatal("no dedup_key in the answer to a trigger without one: the sender cannot resolve what it opened")
		}
		if inc := incidentOf(key); inc.Status != incident.StatusTriggered || inc.Title != "Replication lag on db-2" {
			t.Fatalf("incident of the returned key: %s %q", inc.Status, inc.Title)
		}
		if again := send(trigger("", "Replication lag on db-2", "critical")); again.DedupKey != key {
			t.Errorf("the same trigger again answered key %q, want %q", again.DedupKey, key)
		}
		send(action("acknowledge", key))
		if inc := incidentOf(key); inc.Status != incident.StatusAcknowledged {
			t.Errorf("after acknowledge with the returned key: %s", inc.Status)
		}
		send(action("resolve", key))
		if inc := incidentOf(key); inc.Status != incident.StatusResolved {
			t.Errorf("after resolve with the returned key: %s", inc.Status)
		}
	})

	t.Run("severity outside the set", func(t *testing.T) {
		send(trigger("cpu-web-1", "CPU on web-1", "page"))
		inc := incidentOf("cpu-web-1")
		if inc.Severity != config.DefaultSeverity {
			t.Errorf("severity %q, want the default %q", inc.Severity, config.DefaultSeverity)
		}
		tl, err := srv.svc.Timeline(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !hasEntry(tl, incident.KindSeverity, `"page"`) {
			t.Errorf("timeline does not note the mapped severity: %+v", tl)
		}
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name   string
			event  *pagerduty.V2Event
			status int
			reason string
		}{
			{"no summary", trigger("k", "", "info"), http.StatusBadRequest, "payload.summary is missing"},
			{"unknown action", action("snooze", "k"), http.StatusBadRequest, `event_action "snooze" is not trigger, acknowledge or resolve`},
			{"resolve without key", action("resolve", ""), http.StatusBadRequest, "dedup_key is missing; resolve needs the key of the triggered event"},
			{"wrong routing key", &pagerduty.V2Event{RoutingKey: "nope", Action: "resolve", DedupKey: "k"}, http.StatusUnauthorized, "bad routing_key"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := client.ManageEventWithContext(ctx, tt.event)
				var apiErr pagerduty.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %T %v, want a pagerduty.APIError", err, err)
				}
				if apiErr.StatusCode != tt.status || !apiErr.APIError.Valid {
					t.Fatalf("APIError status %d valid %v (%v), want %d with the error object", apiErr.StatusCode, apiErr.APIError.Valid, err, tt.status)
				}
				if errs := apiErr.APIError.ErrorObject.Errors; len(errs) != 1 || errs[0] != tt.reason {
					t.Errorf("errors %q, want [%q]", errs, tt.reason)
				}
				if !strings.Contains(err.Error(), tt.reason) {
					t.Errorf("the client's message %q does not tell the reason %q", err, tt.reason)
				}
			})
		}
	})

	// The Events API route counts as the pagerduty source and is behind
	// the same admission control as the others.
	text := srv.scrape(t)
	for _, want := range []string{
		`tebura_webhook_requests_total{code="202",source="pagerduty"} 11`,
		`tebura_webhook_requests_total{code="400",source="pagerduty"} 3`,
		`tebura_webhook_requests_total{code="401",source="pagerduty"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if got := srv.adm.Stats().Admitted; got != 15 {
		t.Errorf("admission control admitted %d requests, want every one of the 15", got)
	}
}

func hasEntry(tl []incident.TimelineEntry, kind, text string) bool {
	for _, e := range tl {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

// TestPagerDutyAnswers: Events API bodies (and what cannot be told apart
// from one) are answered in PagerDuty's JSON, v3 webhooks in the handler's
// text, with the handler's status (202 instead of 200 for v2).
func TestPagerDutyAnswers(t *testing.T) {
	rec := &recorder{}
	h := source.Handler(source.NewPagerDuty(config.PagerDuty{RoutingKey: "RK", WebhookSecret: "pdsecret"}, nil),
		rec.ingest, source.Limits{MaxBody: 300}, nil)
	trigger := `{"routing_key":"RK","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}}`
	tests := []struct {
		name, method, path, body string
		status                   int
		json                     string // the answer's fields that matter, as JSON; "" for a text answer
	}{
		{"v2 trigger", "POST", source.PagerDutyEventsV2Path, trigger, 202,
			`{"status":"success","message":"Event processed","dedup_key":"` + mustKey(t, h, trigger) + `"}`},
		{"v1 trigger", "POST", source.PagerDutyEventsV1Path, `{"service_key":"RK","event_type":"trigger","incident_key":"k1","description":"d"}`, 200,
			`{"status":"success","message":"Event processed","incident_key":"k1"}`},
		{"v1 refused", "POST", "/hooks/pagerduty", `{"service_key":"RK","event_type":"resolve"}`, 400,
			`{"status":"invalid event","message":"Event object is invalid","errors":["incident_key is missing; resolve needs the key of the triggered event"],` +
				`"error":{"message":"Event object is invalid","errors":["incident_key is missing; resolve needs the key of the triggered event"]}}`},
		{"v2 bad key", "POST", source.PagerDutyEventsV2Path, `{"routing_key":"nope","event_action":"resolve","dedup_key":"k"}`, 401,
			`{"status":"invalid event","message":"Unauthorized","errors":["bad routing_key"],"error":{"message":"Unauthorized","errors":["bad routing_key"]}}`},
		{"too large", "POST", source.PagerDutyEventsV2Path, `{"routing_key":"RK","event_action":"trigger","dedup_key":"` + strings.Repeat("k", 300) + `"}`, 413,
			`{"status":"invalid event","message":"Request Entity Too Large","errors":["body larger than 300 bytes"],"error":{"message":"Request Entity Too Large","errors":["body larger than 300 bytes"]}}`},
		{"GET", "GET", source.PagerDutyEventsV2Path, "", 405,
			`{"status":"invalid event","message":"Method Not Allowed","errors":["method not allowed; send POST"],"error":{"message":"Method Not Allowed","errors":["method not allowed; send POST"]}}`},
		{"v3 unsigned", "POST", "/hooks/pagerduty", `{"event":{"id":"E1","event_type":"incident.triggered"}}`, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			ct := w.Header().Get("Content-Type")
			if tt.json == "" {
				if !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type %q, want the handler's text", ct)
				}
				return
			}
			if ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got, want map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("answer %q: %v", w.Body, err)
			}
			_ = json.Unmarshal([]byte(tt.json), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("answer %s\nwant   %s", w.Body, tt.json)
			}
		})
	}
	if allow := func() string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", source.PagerDutyEventsV2Path, nil))
		return w.Header().Get("Allow")
	}(); allow != "POST" {
		t.Errorf("Allow %q, want POST", allow)
	}
}

// mustKey is the dedup key Tebura makes for a trigger without one: what it
// answers once, so the table can say the answer repeats it.
func mustKey(t *testing.T, h http.Handler, body string) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", source.PagerDutyEventsV2Path, strings.NewReader(body)))
	var ans struct {
		DedupKey string `json:"dedup_key"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil || ans.DedupKey == "" {
		t.Fatalf("no dedup_key in %q", w.Body)
	}
	return ans.DedupKey
}
