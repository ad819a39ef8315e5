package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// alertmanagerBinary finds a real Alertmanager for the end-to-end tests:
// $TEBURA_ALERTMANAGER, else `alertmanager` on PATH. v0.31.1 installs with
// `go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.31.1`
// (.ci/run does that). The tests skip under -short; without the binary they
// skip too, except in CI (CI=true, or 1), where a missing binary fails them so
// that CI cannot pass without having run them.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("real-Alertmanager test skipped in -short mode")
	}
	if p := os.Getenv("TEBURA_ALERTMANAGER"); p != "" {
		return p
	}
	p, err := exec.LookPath("alertmanager")
	if err != nil {
		const how = "no Alertmanager: set TEBURA_ALERTMANAGER to its binary or put alertmanager on PATH " +
			"(go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.31.1)"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(how)
		}
		t.Skip(how)
	}
	return p
}

// startAlertmanager runs bin with the configuration cfg on a free loopback
// port, without clustering, until the test ends, and returns its URL once
// it is ready. Its output is logged when the test fails.
func startAlertmanager(t *testing.T, bin, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "am.yml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=",
		"--storage.path="+filepath.Join(dir, "am-data"), "--log.level=warn")
	var amLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &amLog, &amLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", amLog.String())
		}
	})
	waitFor(t, "Alertmanager ready", 30*time.Second, func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return amURL
}

// postAlerts posts alerts to Alertmanager's API, as Prometheus does.
func postAlerts(t *testing.T, amURL string, alerts ...amPostAlert) {
	t.Helper()
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/v2/alerts: %d", resp.StatusCode)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type amPostAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// TestRealAlertmanager runs a real Alertmanager process against the
// webhook handler, the incident service and the bolt store: three alerts of
// one group open one incident, Alertmanager's repeats change nothing, and
// resolving them resolves the incident.
func TestRealAlertmanager(t *testing.T) {
	bin := alertmanagerBinary(t)
	ctx := t.Context()
	dir := t.TempDir()

	store, svc := openService(t, filepath.Join(dir, "tebura.db"))
	defer store.Close()
	var mu sync.Mutex
	var changes []incident.Change
	react := func(_ context.Context, r incident.Result) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, r.Changes...)
	}
	mux := http.NewServeMux()
	if _, err := source.Mount(mux, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "e2e-token"}},
		source.Ingester(svc.Ingest, react), nil, source.Limits{}); err != nil {
		t.Fatal(err)
	}
	var delivered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(rw, r)
		if rw.status == 0 || rw.status == 200 {
			delivered.Add(1)
		} else {
			t.Errorf("webhook answered %d", rw.status)
		}
	}))
	defer srv.Close()

	amURL := startAlertmanager(t, bin, webhookConfig(srv.URL, "Bearer"))

	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	mk := func(inst string, ends time.Time) amPostAlert {
		return amPostAlert{Labels: map[string]string{"alertname": "E2ELatency", "service": "api", "instance": inst, "severity": "critical"},
			Annotations: map[string]string{"summary": "latency on " + inst}, StartsAt: start, EndsAt: ends,
			GeneratorURL: "http://prometheus.example.com/graph"}
	}
	send := func(alerts ...amPostAlert) {
		t.Helper()
		postAlerts(t, amURL, alerts...)
	}
	open := func() []*incident.Incident {
		list, err := svc.List(ctx, incident.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}

	send(mk("api-1", time.Time{}), mk("api-2", time.Time{}), mk("api-3", time.Time{}))
	waitFor(t, "one incident with three alerts", 30*time.Second, func() bool {
		l := open()
		return len(l) == 1 && l[0].AlertCount == 3
	})
	seen := delivered.Load()
	waitFor(t, "two repeated notifications", 30*time.Second, func() bool { return delivered.Load() >= seen+2 })
	if l := open(); len(l) != 1 || l[0].AlertCount != 3 || l[0].Status != incident.StatusTriggered {
		t.Fatalf("after repeats: %+v", l)
	}

	ends := time.Now().UTC().Add(-time.Second)
	send(mk("api-1", ends), mk("api-2", ends), mk("api-3", ends))
	waitFor(t, "the incident resolved", 30*time.Second, func() bool {
		l := open()
		return len(l) == 1 && l[0].Status == incident.StatusResolved
	})

	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, c := range changes {
		switch {
		case c.Opened:
			kinds = append(kinds, "opened")
		case c.Resolved:
			kinds = append(kinds, "resolved")
		default:
			kinds = append(kinds, "joined")
		}
	}
	got := strings.Join(kinds, " ")
	if !strings.HasPrefix(got, "opened") || !strings.HasSuffix(got, "resolved") || strings.Count(got, "opened") != 1 {
		t.Errorf("changes %q: want one opened first and resolved last", got)
	}
	alerts, _ := svc.Alerts(ctx, "#1")
	var fps []string
	for _, a := range alerts {
		fps = append(fps, string(a.Status))
	}
	sort.Strings(fps)
	if strings.Join(fps, ",") != "resolved,resolved,resolved" {
		t.Errorf("alert statuses %v", fps)
	}
	t.Logf("alertmanager delivered %d webhooks; changes: %s", delivered.Load(), got)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// webhookLog keeps what a real sender posted to Tebura and what Tebura
// answered.
type webhookLog struct {
	mu    sync.Mutex
	calls []webhookCall
}

type webhookCall struct {
	path, scheme string // the Authorization scheme as sent
	status       int
	body         []byte
}

func (l *webhookLog) all() []webhookCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// teburaServer serves the sources of cfg over a service on a bolt store in
// a temporary directory, logging every call.
func teburaServer(t *testing.T, cfg config.Sources) (*incident.Service, *httptest.Server, *webhookLog) {
	t.Helper()
	store, svc := openService(t, filepath.Join(t.TempDir(), "tebura.db"))
	mux := http.NewServeMux()
	if _, err := source.Mount(mux, cfg, source.Ingester(svc.Ingest, nil), nil, source.Limits{}); err != nil {
		t.Fatal(err)
	}
	log := &webhookLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rw := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(rw, r)
		if rw.status == 0 {
			rw.status = 200
		}
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		log.mu.Lock()
		log.calls = append(log.calls, webhookCall{path: r.URL.Path, scheme: scheme, status: rw.status, body: body})
		log.mu.Unlock()
	}))
	t.Cleanup(func() {
		srv.Close()
		store.Close()
	})
	return svc, srv, log
}

// TestRealAlertmanagerHA is the HA pair of Prometheus against a real
// Alertmanager: replica A's alert (the later startsAt) is notified first and
// stored; replica B's (earlier) arrives and Alertmanager keeps its startsAt;
// A's resolve is then notified with B's earlier startsAt. The incident must
// resolve. The receiver writes the scheme in lower case, `type: bearer`, as
// users do.
func TestRealAlertmanagerHA(t *testing.T) {
	bin := alertmanagerBinary(t)
	svc, srv, log := teburaServer(t, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "e2e-token"}})
	amURL := startAlertmanager(t, bin, webhookConfig(srv.URL, "bearer"))

	now := time.Now().UTC().Truncate(time.Second)
	startA, startB := now.Add(-time.Minute), now.Add(-2*time.Minute)
	replica := func(starts, ends time.Time, prom string) amPostAlert {
		return amPostAlert{Labels: map[string]string{"alertname": "E2EHA", "service": "api", "instance": "api-1", "severity": "critical"},
			StartsAt: starts, EndsAt: ends, GeneratorURL: "http://" + prom + ".example.com/graph"}
	}
	stored := func() []*incident.AlertEntry {
		alerts, err := svc.Alerts(t.Context(), "#1")
		if err != nil {
			return nil
		}
		return alerts
	}

	postAlerts(t, amURL, replica(startA, time.Time{}, "prometheus-a"))
	waitFor(t, "the incident opened with replica A's startsAt", 30*time.Second, func() bool {
		a := stored()
		return len(a) == 1 && a[0].Status == incident.AlertFiring && a[0].StartsAt.Equal(startA)
	})
	postAlerts(t, amURL, replica(startB, time.Time{}, "prometheus-b"))
	postAlerts(t, amURL, replica(startA, now.Add(-time.Second), "prometheus-a"))
	waitFor(t, "the incident resolved", 30*time.Second, func() bool {
		inc, err := svc.Get(t.Context(), "#1")
		return err == nil && inc.Status == incident.StatusResolved
	})

	// The scenario really happened: the resolve carried the earlier startsAt.
	var resolvedStarts []string
	for _, c := range log.all() {
		if c.status != 200 {
			t.Errorf("webhook answered %d (scheme %q)", c.status, c.scheme)
		}
		var m struct {
			Alerts []struct {
				Status   string    `json:"status"`
				StartsAt time.Time `json:"startsAt"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(c.body, &m); err != nil {
			t.Fatal(err)
		}
		for _, a := range m.Alerts {
			if a.Status == "resolved" {
				resolvedStarts = append(resolvedStarts, a.StartsAt.UTC().Format(time.RFC3339))
			}
		}
	}
	if len(resolvedStarts) == 0 || resolvedStarts[0] != startB.Format(time.RFC3339) {
		t.Errorf("resolved notifications carried startsAt %v, want replica B's %s", resolvedStarts, startB.Format(time.RFC3339))
	}
	if list, _ := svc.List(t.Context(), incident.ListOptions{}); len(list) != 1 {
		t.Errorf("%d incidents, want 1", len(list))
	}
}

// TestRealAlertmanagerAuth: every way Alertmanager's http_config can
// authenticate to Tebura is accepted: the Authorization scheme in any case
// (it sends `type` as written) and basic auth. One alert goes to one
// receiver per way; each must be answered 200.
func TestRealAlertmanagerAuth(t *testing.T) {
	bin := alertmanagerBinary(t)
	_, srv, log := teburaServer(t, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "e2e-token",
		BasicAuth: config.BasicAuth{Username: "am", Password: "e2e-pass"}}})
	ways := map[string]string{
		"bearer": "authorization: {type: bearer, credentials: e2e-token}",
		"Bearer": "authorization: {credentials: e2e-token}", // Alertmanager's default type
		"BEARER": "authorization: {type: BEARER, credentials: e2e-token}",
		"Basic":  "basic_auth: {username: am, password: e2e-pass}",
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "route:\n  receiver: none\n  group_wait: 200ms\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n")
	names := slices.Sorted(maps.Keys(ways))
	for _, name := range names {
		fmt.Fprintf(&cfg, "    - receiver: %s\n      continue: true\n", name)
	}
	fmt.Fprintf(&cfg, "receivers:\n  - name: none\n")
	for _, name := range names {
		fmt.Fprintf(&cfg, "  - name: %s\n    webhook_configs:\n      - url: %s/hooks/alertmanager\n        http_config:\n          %s\n",
			name, srv.URL, ways[name])
	}
	amURL := startAlertmanager(t, bin, cfg.String())
	postAlerts(t, amURL, amPostAlert{Labels: map[string]string{"alertname": "E2EAuth", "instance": "api-1"}})

	waitFor(t, "one notification per receiver", 30*time.Second, func() bool {
		seen := map[string]bool{}
		for _, c := range log.all() {
			seen[c.scheme] = true
		}
		return len(seen) == len(ways)
	})
	for _, c := range log.all() {
		if c.status != 200 {
			t.Errorf("scheme %q: answered %d", c.scheme, c.status)
		}
	}
}

// TestRealAlertmanagerDocsConfig runs each Alertmanager configuration of
// docs/sources/alertmanager.md in a real Alertmanager, pointed at Tebura
// configured as the page says, and checks a notification is accepted: the
// documented sender side works as written. Only the URL, the secret files'
// directory and the grouping delays (so the test does not wait 30 s) are
// changed.
func TestRealAlertmanagerDocsConfig(t *testing.T) {
	bin := alertmanagerBinary(t)
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "sources", "alertmanager.md"))
	if err != nil {
		t.Fatal(err)
	}
	var configs []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(route:.*?)```").FindAllStringSubmatch(string(page), -1) {
		configs = append(configs, m[1])
	}
	if len(configs) < 2 {
		t.Fatalf("found %d Alertmanager configurations, want the bearer and the basic auth one", len(configs))
	}
	for i, cfg := range configs {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			_, srv, log := teburaServer(t, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "doc-token",
				BasicAuth: config.BasicAuth{Username: "alertmanager", Password: "doc-pass"}}})
			secrets := t.TempDir()
			for name, v := range map[string]string{"tebura-token": "doc-token", "tebura-password": "doc-pass"} {
				if err := os.WriteFile(filepath.Join(secrets, name), []byte(v+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg = strings.NewReplacer("https://tebura.example.com", srv.URL, "/etc/alertmanager/secrets", secrets,
				"route:\n", "route:\n  group_wait: 100ms\n  group_interval: 1s\n").Replace(cfg)
			amURL := startAlertmanager(t, bin, cfg)
			postAlerts(t, amURL, amPostAlert{Labels: map[string]string{"alertname": "E2EDocs", "service": "api"}})
			waitFor(t, "a notification", 30*time.Second, func() bool { return len(log.all()) > 0 })
			if c := log.all()[0]; c.status != 200 || c.path != "/hooks/alertmanager" {
				t.Errorf("%s answered %d (scheme %q)", c.path, c.status, c.scheme)
			}
		})
	}
}

// webhookConfig is an Alertmanager configuration that sends every alert,
// grouped by alertname and service with short waits, to Tebura's
// Alertmanager route at base, with the bearer token e2e-token under the
// authorization scheme written as scheme.
func webhookConfig(base, scheme string) string {
	return fmt.Sprintf(`route:
  receiver: tebura
  group_by: [alertname, service]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: tebura
    webhook_configs:
      - url: %s/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization: {type: %s, credentials: e2e-token}
`, base, scheme)
}
