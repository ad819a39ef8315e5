package source_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/store/bolt"
)

// openService opens a bolt store at path and the incident service over it,
// with the incidents config the webhook tests share: auto-resolve, reopen
// within an hour. The caller closes the store (the disk-full drill closes
// and reopens it).
func openService(tb testing.TB, path string) (*bolt.Store, *incident.Service) {
	tb.Helper()
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	svc, err := incident.New(store, config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}, nil, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return store, svc
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is an IngestFunc that keeps what it got.
type recorder struct {
	mu      sync.Mutex
	batches []incident.Batch
	err     error
}

func (r *recorder) ingest(_ context.Context, b incident.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.batches = append(r.batches, b)
	return nil
}

func post(h http.Handler, path string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

var bearer = map[string]string{"Authorization": "Bearer s3cret-token"}

func TestAlertmanagerFixtures(t *testing.T) {
	am := source.NewAlertmanager(config.Alertmanager{BearerToken: "s3cret-token"})
	const key = `{}:{alertname="HighLatency", service="api"}`
	tests := []struct {
		file    string
		key     string
		alerts  string // fingerprint:status …
		started string
	}{
		{"alertmanager_firing.json", key, "055f8b388da2667a:firing", "2026-11-26T14:59:19Z"},
		{"alertmanager_grouped.json", key, "055f8b388da2667a:firing 79a867af62fa774d:firing 7b656f01f8af5690:firing", ""},
		{"alertmanager_repeated.json", key, "055f8b388da2667a:firing 79a867af62fa774d:firing 7b656f01f8af5690:firing", ""},
		{"alertmanager_partly_resolved.json", key, "055f8b388da2667a:resolved 79a867af62fa774d:firing 7b656f01f8af5690:firing", ""},
		{"alertmanager_resolved.json", key, "79a867af62fa774d:resolved 7b656f01f8af5690:resolved", ""},
		{"alertmanager_other_group.json", `{}:{alertname="DiskFull", service="db"}`, "f025fc0a32958c17:firing", ""},
		{"alertmanager_refire.json", key, "055f8b388da2667a:firing", "2026-11-26T15:00:49Z"},
		{"alertmanager_ha_firing.json", key, "055f8b388da2667a:firing", "2026-11-26T14:59:49Z"},
		{"alertmanager_ha_firing_earliest.json", key, "055f8b388da2667a:firing", "2026-11-26T14:59:19Z"},
		{"alertmanager_ha_resolved.json", key, "055f8b388da2667a:resolved", "2026-11-26T14:59:19Z"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := am.Parse(nil, fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if b.Source != "alertmanager" || b.GroupKey != tt.key {
				t.Errorf("source %q key %q", b.Source, b.GroupKey)
			}
			var got []string
			for _, a := range b.Alerts {
				got = append(got, a.Fingerprint+":"+string(a.Status))
				if a.Status == incident.AlertFiring && !a.EndsAt.IsZero() {
					t.Errorf("firing alert with EndsAt %v", a.EndsAt)
				}
				if a.Status == incident.AlertResolved && a.EndsAt.IsZero() {
					t.Errorf("resolved alert without EndsAt")
				}
				if a.GeneratorURL == "" || a.Labels["alertname"] == "" {
					t.Errorf("alert lost fields: %+v", a)
				}
			}
			if s := strings.Join(got, " "); s != tt.alerts {
				t.Errorf("alerts %s, want %s", s, tt.alerts)
			}
			if tt.started != "" && b.Alerts[0].StartsAt.Format(time.RFC3339) != tt.started {
				t.Errorf("startsAt %v", b.Alerts[0].StartsAt)
			}
		})
	}
}

// TestAlertmanagerSequence replays the captured notifications, in the order
// Alertmanager sent them, through the handler into the incident service.
func TestAlertmanagerSequence(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	svc, err := incident.New(incidenttest.NewStore(), config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}, nil, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	var results []incident.Result
	h := source.Handler(source.NewAlertmanager(config.Alertmanager{BearerToken: "s3cret-token"}),
		source.Ingester(svc.Ingest, func(_ context.Context, r incident.Result) { results = append(results, r) }), source.Limits{}, nil)
	steps := []struct {
		file string
		want string // what the Result says
	}{
		{"alertmanager_firing.json", "opened #1 new=1"},
		{"alertmanager_grouped.json", "joined #1 new=2"},
		{"alertmanager_repeated.json", "nothing"},
		{"alertmanager_firing.json", "nothing"}, // a late retry of the first notification
		{"alertmanager_partly_resolved.json", "joined #1 resolved=1"},
		{"alertmanager_resolved.json", "resolved #1 resolved=2"},
		{"alertmanager_resolved.json", "nothing"},
		{"alertmanager_other_group.json", "opened #2 new=1"},
		{"alertmanager_refire.json", "reopened #1 refired=1"},
	}
	for i, st := range steps {
		now = now.Add(10 * time.Second)
		w := post(h, "/hooks/alertmanager", fixture(t, st.file), bearer)
		if w.Code != http.StatusOK {
			t.Fatalf("step %d %s: %d %s", i, st.file, w.Code, w.Body)
		}
		if got := describe(results[len(results)-1]); got != st.want {
			t.Errorf("step %d %s: %s, want %s", i, st.file, got, st.want)
		}
	}
}

// TestAlertmanagerHASequence replays what a real Alertmanager v0.31.1 sent
// for one alert of an HA pair of Prometheus: replica A's alert first
// (startsAt 14:59:49), then replica B's (14:59:19, earlier: Alertmanager
// keeps it from then on), then A's resolve, which Alertmanager sends with
// B's earlier startsAt. The incident must resolve, and nothing after that
// may change it.
func TestAlertmanagerHASequence(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	svc, err := incident.New(incidenttest.NewStore(), config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}, nil, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	var results []incident.Result
	h := source.Handler(source.NewAlertmanager(config.Alertmanager{BearerToken: "s3cret-token"}),
		source.Ingester(svc.Ingest, func(_ context.Context, r incident.Result) { results = append(results, r) }), source.Limits{}, nil)
	steps := []struct {
		file string
		want string
	}{
		{"alertmanager_ha_firing.json", "opened #1 new=1"},
		{"alertmanager_ha_firing_earliest.json", "nothing"}, // the repeat with B's startsAt
		{"alertmanager_ha_resolved.json", "resolved #1 resolved=1"},
		{"alertmanager_ha_resolved.json", "nothing"},
		{"alertmanager_ha_firing.json", "nothing"}, // a late retry of the first notification
	}
	for i, st := range steps {
		now = now.Add(10 * time.Second)
		w := post(h, "/hooks/alertmanager", fixture(t, st.file), bearer)
		if w.Code != http.StatusOK {
			t.Fatalf("step %d %s: %d %s", i, st.file, w.Code, w.Body)
		}
		if got := describe(results[len(results)-1]); got != st.want {
			t.Errorf("step %d %s: %s, want %s", i, st.file, got, st.want)
		}
	}
	if inc, err := svc.Get(t.Context(), "#1"); err != nil || inc.Status != incident.StatusResolved {
		t.Errorf("incident after the sequence: %+v %v", inc, err)
	}
}

func describe(r incident.Result) string {
	if len(r.Changes) == 0 {
		return "nothing"
	}
	c := r.Changes[0]
	verb := "joined"
	switch {
	case c.Opened:
		verb = "opened"
	case c.Reopened:
		verb = "reopened"
	case c.Resolved:
		verb = "resolved"
	}
	s := verb + " " + c.Incident.Ref()
	for _, x := range []struct {
		n    string
		list []incident.Alert
	}{{"new", c.NewAlerts}, {"refired", c.Refired}, {"resolved", c.ResolvedAlerts}} {
		if len(x.list) > 0 {
			s += " " + x.n + "=" + itoa(len(x.list))
		}
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestHandlerEdges(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := &recorder{}
	am := source.NewAlertmanager(config.Alertmanager{BearerToken: "s3cret-token", BasicAuth: config.BasicAuth{Username: "am", Password: "pw"}})
	h := source.Handler(am, rec.ingest, source.Limits{MaxBody: 4096}, logger)
	good := fixture(t, "alertmanager_firing.json")

	tests := []struct {
		name   string
		method string
		body   []byte
		hdr    map[string]string
		status int
		reason string
	}{
		{"ok bearer", "POST", good, bearer, 200, "ok"},
		{"ok basic", "POST", good, map[string]string{"Authorization": "Basic YW06cHc="}, 200, "ok"},
		{"no auth", "POST", good, nil, 401, "missing credentials"},
		{"bad bearer", "POST", good, map[string]string{"Authorization": "Bearer nope"}, 401, "bad credentials"},
		{"bad basic", "POST", good, map[string]string{"Authorization": "Basic YW06eHg="}, 401, "bad credentials"},
		{"too big", "POST", bytes.Repeat([]byte(" "), 5000), bearer, 413, "larger than 4096"},
		{"malformed", "POST", []byte(`{"version":`), bearer, 400, "malformed JSON"},
		{"wrong version", "POST", []byte(`{"version":"3","groupKey":"g","alerts":[]}`), bearer, 400, `version "3"`},
		{"no group key", "POST", []byte(`{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"}}]}`), bearer, 400, "groupKey is missing"},
		{"no alerts", "POST", []byte(`{"version":"4","groupKey":"g","alerts":[]}`), bearer, 400, "alerts is empty"},
		{"bad status", "POST", []byte(`{"version":"4","groupKey":"g","alerts":[{"status":"weird","labels":{"a":"b"}}]}`), bearer, 400, "neither firing nor resolved"},
		{"GET", "GET", nil, bearer, 405, "send POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/hooks/alertmanager", bytes.NewReader(tt.body))
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.reason) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body, tt.status, tt.reason)
			}
			if body := strings.TrimSpace(w.Body.String()); strings.Contains(body, "\n") {
				t.Errorf("reason must be one line: %q", body)
			}
		})
	}
	if len(rec.batches) != 2 {
		t.Errorf("ingested %d batches, want 2 (only the accepted requests)", len(rec.batches))
	}
	for _, leak := range []string{"s3cret-token", "pw", "p99 latency", "api-1"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log contains %q:\n%s", leak, logs.String())
		}
	}
}

func TestHandlerIngestFailures(t *testing.T) {
	const retry = "could not store the alerts; retry later\n"
	tests := []struct {
		err    error
		status int
		reason string
	}{
		{tebura.Errorf(tebura.ETRANSIENT, "disk full"), 503, retry},
		{tebura.Errorf(tebura.EINVALID, "The alert batch has no source or group key."), 400, "The alert batch has no source or group key.\n"},
		// Only invalid batches are the sender's fault: a conflict in the
		// store is ours (500), not a 409 the sender would not retry.
		{tebura.Errorf(tebura.ECONFLICT, "Incident #4 is already resolved."), 500, retry},
		{errors.New("boom"), 500, retry},
	}
	for _, tt := range tests {
		rec := &recorder{err: tt.err}
		h := source.Handler(source.NewAlertmanager(config.Alertmanager{Insecure: true}), rec.ingest, source.Limits{}, nil)
		w := post(h, "/", fixture(t, "alertmanager_firing.json"), nil)
		if w.Code != tt.status || w.Body.String() != tt.reason {
			t.Errorf("ingest error %v: %d %q, want %d %q", tt.err, w.Code, w.Body, tt.status, tt.reason)
		}
		if strings.Contains(w.Body.String(), "boom") {
			t.Errorf("internal detail leaked: %q", w.Body)
		}
	}
}

// TestHandlerAnswersAfterIngest: the 200 is written only once ingest
// returned; a blocked ingest keeps the sender waiting.
func TestHandlerAnswersAfterIngest(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	ingest := func(ctx context.Context, b incident.Batch) error {
		close(entered)
		<-release
		return nil
	}
	srv := httptest.NewServer(source.Handler(source.NewAlertmanager(config.Alertmanager{Insecure: true}), ingest, source.Limits{}, nil))
	defer srv.Close()
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(fixture(t, "alertmanager_firing.json")))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	select {
	case code := <-done:
		t.Fatalf("answered %d before ingest returned", code)
	default:
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("status %d", code)
	}
}

func TestMount(t *testing.T) {
	rec := &recorder{}
	tests := []struct {
		name    string
		cfg     config.Sources
		paths   string
		wantErr string
	}{
		{"nothing configured", config.Sources{}, "", ""},
		{"all", config.Sources{
			Alertmanager: config.Alertmanager{BearerToken: "t"},
			Grafana:      config.Grafana{HMACSecret: "s"},
			PagerDuty:    config.PagerDuty{WebhookSecret: "s"},
			Generic: map[string]config.GenericSource{
				"datadog": {BearerToken: "t", Key: "{{ .id }}"},
				"uptime":  {Insecure: true, Key: "{{ .check }}"},
			},
		}, "/hooks/alertmanager /hooks/grafana /hooks/pagerduty /hooks/pagerduty/v2/enqueue /hooks/pagerduty/generic/2010-04-15/create_event.json /hooks/generic/datadog /hooks/generic/uptime", ""},
		{"insecure only", config.Sources{Alertmanager: config.Alertmanager{Insecure: true}}, "/hooks/alertmanager", ""},
		{"generic without auth", config.Sources{Generic: map[string]config.GenericSource{"x": {Key: "{{ .id }}"}}}, "", "sources.generic.x: set bearer_token, basic_auth or hmac_secret"},
		{"generic without key", config.Sources{Generic: map[string]config.GenericSource{"x": {Insecure: true}}}, "", "sources.generic.x.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			paths, err := source.Mount(mux, tt.cfg, rec.ingest, nil, source.Limits{})
			if got := strings.Join(paths, " "); got != tt.paths {
				t.Errorf("paths %q, want %q", got, tt.paths)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	mux := http.NewServeMux()
	if _, err := source.Mount(mux, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "s3cret-token"}}, rec.ingest, nil, source.Limits{}); err != nil {
		t.Fatal(err)
	}
	if w := post(mux, "/hooks/alertmanager", fixture(t, "alertmanager_firing.json"), bearer); w.Code != 200 {
		t.Errorf("mounted handler: %d %s", w.Code, w.Body)
	}
	if w := post(mux, "/hooks/grafana", []byte(`{}`), nil); w.Code != 404 {
		t.Errorf("unconfigured grafana: %d", w.Code)
	}
}
