package source_test

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

var captureAM = flag.Bool("capture-alertmanager", false,
	"rewrite testdata/pagerduty_am*.json with what the real Alertmanager of TestRealAlertmanagerPagerDuty sends")

// realAlertmanager is alertmanagerBinary, except that in CI (CI=true) a
// missing binary fails the test: .ci/run installs it, so its absence there
// is a broken pipeline, not a machine without Alertmanager.
func realAlertmanager(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("real Alertmanager test skipped in -short mode")
	}
	if os.Getenv("CI") == "true" && os.Getenv("TEBURA_ALERTMANAGER") == "" {
		if _, err := exec.LookPath("alertmanager"); err != nil {
			t.Fatal("CI=true and no alertmanager on PATH: install it with " +
				"go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.31.1")
		}
	}
	return alertmanagerBinary(t)
}

// amVersion is the version of the binary, "0.31.1": the module version
// go install stamps in it, else what --version says (release builds).
func amVersion(t *testing.T, bin string) string {
	t.Helper()
	if info, err := buildinfo.ReadFile(bin); err == nil && strings.HasPrefix(info.Main.Version, "v") {
		return strings.TrimPrefix(info.Main.Version, "v")
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	m := regexp.MustCompile(`version (\d+\.\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no version in %q", out)
	}
	return string(m[1])
}

// connectProxy is an HTTP proxy that tunnels every CONNECT to target:
// Alertmanager sends Events API v1 bodies to PagerDuty's own host whatever
// its url says, so the test reaches it through http_config.proxy_url.
func connectProxy(t *testing.T, target string) *httptest.Server {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted before the hijack: once hijacked, the connection no
		// longer holds up srv.Close, and the cleanup waits on wg instead.
		wg.Add(1)
		defer wg.Done()
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(up, conn)
			up.Close()
		}()
		_, _ = io.Copy(conn, up)
		conn.Close()
		<-done
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return srv
}

// amAlert is an alert posted to Alertmanager's API. Its description spans
// two lines, except on the route "yaml": Alertmanager v0.30 and later
// re-read a rendered text detail as YAML, which succeeds only when no
// annotation spans lines.
func amAlert(via, instance, severity string, starts, ends time.Time) amPostAlert {
	a := amPostAlert{
		Labels:      map[string]string{"alertname": "HighLatency", "service": "api", "instance": instance, "severity": severity, "via": via},
		Annotations: map[string]string{"summary": "p99 latency above 2s on " + instance, "description": "p99 is 2.4s.\nThe SLO allows 2s."},
		StartsAt:    starts, EndsAt: ends, GeneratorURL: "http://prometheus.example.com/graph?g0.expr=latency",
	}
	if via == "yaml" {
		delete(a.Annotations, "description")
	}
	return a
}

// TestRealAlertmanagerPagerDuty runs a real Alertmanager with three
// pagerduty_configs receivers pointed at Tebura: Events API v2 with the
// default details (/hooks/pagerduty), v2 with details from the text
// template pagerduty.default.instances (/hooks/pagerduty/v2/enqueue; two
// groups, one of which Alertmanager v0.30+ turns into YAML), and
// v1 (service_key; Alertmanager sends it to PagerDuty's host, reached here
// through a proxy, on its create_event.json path). Each group of two
// alerts opens one incident whose alerts carry Alertmanager's labels (a
// rule on alertname and service matches), whose severity comes from the
// labels (critical, or "page" mapped to the default), whose title is not
// the summary's "[FIRING:2] …", and that resolves when its alerts do.
func TestRealAlertmanagerPagerDuty(t *testing.T) {
	bin := realAlertmanager(t)
	version := amVersion(t, bin)
	ctx := t.Context()
	dir := t.TempDir()

	srv := newPDServer(t, config.PagerDuty{RoutingKey: pdRoutingKey},
		config.Automation{Name: "api-latency", Match: []string{`alertname="HighLatency"`, `service="api"`}})
	// PagerDuty's host, as a reverse proxy in front of Tebura would map it.
	events := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/hooks/pagerduty" + r.URL.Path
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	events.StartTLS()
	t.Cleanup(events.Close)
	proxy := connectProxy(t, events.Listener.Addr().String())

	cfg := fmt.Sprintf(`route:
  receiver: v2
  group_by: [alertname, service, via]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - {matchers: ['via="v1"'], receiver: v1}
    - {matchers: ['via=~"text|yaml"'], receiver: text}
receivers:
  - name: v2
    pagerduty_configs:
      - routing_key: %[1]s
        url: %[2]s/hooks/pagerduty
  - name: text
    pagerduty_configs:
      - routing_key: %[1]s
        url: %[2]s/hooks/pagerduty/v2/enqueue
        details:
          firing: '{{ template "pagerduty.default.instances" .Alerts.Firing }}'
          resolved: '{{ template "pagerduty.default.instances" .Alerts.Resolved }}'
  - name: v1
    pagerduty_configs:
      - service_key: %[1]s
        http_config:
          proxy_url: %[3]s
          tls_config: {insecure_skip_verify: true}
`, pdRoutingKey, srv.URL, proxy.URL)
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "am.yml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=",
		"--web.external-url=http://alertmanager.example.com:9093",
		"--storage.path="+filepath.Join(dir, "am-data"), "--log.level=warn")
	var amLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &amLog, &amLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager %s output:\n%s", version, amLog.String())
		}
	}()
	waitFor(t, "Alertmanager ready", 30*time.Second, func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	send := func(alerts ...amPostAlert) {
		t.Helper()
		body, _ := json.Marshal(alerts)
		resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/v2/alerts: %d", resp.StatusCode)
		}
	}
	byVia := func() map[string]*incident.Incident {
		list, err := srv.svc.List(ctx, incident.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*incident.Incident{}
		for _, inc := range list {
			alerts, _ := srv.svc.Alerts(ctx, inc.ID)
			if len(alerts) > 0 {
				out[alerts[0].Labels["via"]] = inc
			}
		}
		return out
	}

	vias := []struct{ via, severity, wantSeverity string }{
		{"v2", "critical", "critical"},
		{"text", "critical", "critical"},
		{"yaml", "critical", "critical"},
		{"v1", "page", config.DefaultSeverity},
	}
	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	for _, v := range vias {
		send(amAlert(v.via, "api-1", v.severity, start, time.Time{}), amAlert(v.via, "api-2", v.severity, start, time.Time{}))
	}
	// The YAML form keeps only the last alert of a list (see
	// alertmanagerDetails): at least one alert there.
	waitFor(t, "an incident per route with its alerts", 30*time.Second, func() bool {
		m := byVia()
		return len(m) == 4 && m["v2"].AlertCount == 2 && m["v1"].AlertCount == 2 && m["text"].AlertCount == 2 && m["yaml"].AlertCount >= 1
	})
	for _, v := range vias {
		inc := byVia()[v.via]
		if inc.Title != "HighLatency on api" || inc.Severity != v.wantSeverity {
			t.Errorf("%s: incident %q severity %q, want \"HighLatency on api\" severity %q", v.via, inc.Title, inc.Severity, v.wantSeverity)
		}
		if inc.Labels["alertname"] != "HighLatency" || inc.Labels["service"] != "api" || len(inc.Fired) != 1 {
			t.Errorf("%s: labels %v, rules fired %v; want Alertmanager's labels and the api-latency rule", v.via, inc.Labels, inc.Fired)
		}
	}
	if inc := byVia()["v1"]; true {
		tl, _ := srv.svc.Timeline(ctx, inc.ID)
		if !hasEntry(tl, incident.KindSeverity, `"page"`) {
			t.Errorf("v1: the mapped severity is not on the timeline")
		}
	}

	ends := time.Now().UTC().Add(-time.Second)
	for _, v := range vias {
		send(amAlert(v.via, "api-1", v.severity, start, ends))
	}
	waitFor(t, "api-1 resolved in every incident", 30*time.Second, func() bool {
		m := byVia()
		for _, v := range vias {
			if m[v.via].FiringCount != 1 {
				return false
			}
		}
		return true
	})
	for _, v := range vias {
		send(amAlert(v.via, "api-2", v.severity, start, ends))
	}
	waitFor(t, "every incident resolved", 30*time.Second, func() bool {
		m := byVia()
		for _, v := range vias {
			if m[v.via].Status != incident.StatusResolved {
				return false
			}
		}
		return true
	})
	if n := len(byVia()); n != len(vias) {
		t.Errorf("%d incidents, want %d", n, len(vias))
	}
	for _, c := range srv.captured() {
		if c.status/100 != 2 {
			t.Errorf("Tebura answered %s %d: %s", c.path, c.status, c.answer)
		}
	}
	if *captureAM {
		saveCaptures(t, version, srv.captured())
	}
}

// viaLabel finds the route of a captured body: its alerts' label via, in
// JSON ("via":"v2") or in the text of pagerduty.default.instances.
var viaLabel = regexp.MustCompile(`via(?: = |":")([a-z0-9]+)`)

// saveCaptures writes the first body of each kind Alertmanager sent:
// testdata/pagerduty_am<version>_<route>_<firing|partly_resolved|resolved>.json.
func saveCaptures(t *testing.T, version string, got []capture) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range got {
		var e struct {
			Action  string `json:"event_action"`
			Type    string `json:"event_type"`
			Payload *struct {
				Custom map[string]json.RawMessage `json:"custom_details"`
			} `json:"payload"`
			Details map[string]json.RawMessage `json:"details"`
		}
		if err := json.Unmarshal(c.body, &e); err != nil {
			t.Fatal(err)
		}
		details := e.Details
		if e.Payload != nil {
			details = e.Payload.Custom
		}
		route := viaLabel.FindSubmatch(c.body) // in either form of the details
		if route == nil {
			t.Fatalf("no via label in %s", c.body)
		}
		stage := "firing"
		switch {
		case e.Action == "resolve" || e.Type == "resolve":
			stage = "resolved"
		case strings.Trim(string(details["num_resolved"]), `"`) != "0": // a string before v0.30
			stage = "partly_resolved"
		}
		name := fmt.Sprintf("pagerduty_am%s_%s_%s.json", version, route[1], stage)
		if seen[name] {
			continue
		}
		seen[name] = true
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, c.body, "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		if err := os.WriteFile(filepath.Join("testdata", name), pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("captured %s (%s)", name, c.path)
	}
}

// TestAlertmanagerPagerDutyCaptures replays what real Alertmanagers sent
// TestRealAlertmanagerPagerDuty (v0.31.1, and v0.29.0 for the text details
// older releases send by default) through the handler into the incident
// service: each group opens one incident with Alertmanager's labels, its
// alerts resolve one by one, and the last resolve resolves the incident.
func TestAlertmanagerPagerDutyCaptures(t *testing.T) {
	const description = "p99 is 2.4s.\nThe SLO allows 2s."
	tests := []struct {
		version, route string
		path           string
		status         int // of the answer
		keyField       string
		alerts         int // after the firing notification
		severity       string
		description    bool // the alerts carry the two-line description
	}{
		{"0.31.1", "v2", "/hooks/pagerduty", 202, "dedup_key", 2, "critical", true},
		{"0.31.1", "text", source.PagerDutyEventsV2Path, 202, "dedup_key", 2, "critical", true},
		{"0.31.1", "yaml", source.PagerDutyEventsV2Path, 202, "dedup_key", 1, "critical", false}, // YAML kept the last alert only
		{"0.31.1", "v1", source.PagerDutyEventsV1Path, 200, "incident_key", 2, config.DefaultSeverity, true},
		{"0.29.0", "v2", "/hooks/pagerduty", 202, "dedup_key", 2, "critical", true},
		{"0.29.0", "text", source.PagerDutyEventsV2Path, 202, "dedup_key", 2, "critical", true},
		{"0.29.0", "yaml", source.PagerDutyEventsV2Path, 202, "dedup_key", 2, "critical", false},
		{"0.29.0", "v1", source.PagerDutyEventsV1Path, 200, "incident_key", 2, config.DefaultSeverity, true},
	}
	for _, tt := range tests {
		t.Run(tt.version+"/"+tt.route, func(t *testing.T) {
			srv := newPDServer(t, config.PagerDuty{RoutingKey: pdRoutingKey},
				config.Automation{Name: "api-latency", Match: []string{`alertname="HighLatency"`, `service="api"`}})
			post := func(stage string) (key string) {
				t.Helper()
				body := fixture(t, fmt.Sprintf("pagerduty_am%s_%s_%s.json", tt.version, tt.route, stage))
				resp, err := http.Post(srv.URL+tt.path, "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var ans map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != tt.status || ans["status"] != "success" {
					t.Fatalf("%s: %d %v (%v), want %d success", stage, resp.StatusCode, ans, err, tt.status)
				}
				var sent map[string]any
				_ = json.Unmarshal(body, &sent)
				if ans[tt.keyField] != sent[tt.keyField] {
					t.Errorf("%s: answered %s %v, want the one sent, %v", stage, tt.keyField, ans[tt.keyField], sent[tt.keyField])
				}
				return fmt.Sprint(sent[tt.keyField])
			}
			key := post("firing")
			inc, err := srv.svc.Get(t.Context(), "1")
			if err != nil {
				t.Fatal(err)
			}
			if inc.Key != "pagerduty:events/"+key || inc.Title != "HighLatency on api" || inc.Severity != tt.severity || inc.AlertCount != tt.alerts {
				t.Errorf("incident %s %q severity %q with %d alerts; want key events/%s, \"HighLatency on api\", %q, %d alerts",
					inc.Key, inc.Title, inc.Severity, inc.AlertCount, key, tt.severity, tt.alerts)
			}
			if inc.Labels["alertname"] != "HighLatency" || inc.Labels["service"] != "api" || inc.Labels["via"] != tt.route || len(inc.Fired) != 1 {
				t.Errorf("labels %v, rules fired %v; want Alertmanager's labels and the api-latency rule", inc.Labels, inc.Fired)
			}
			alerts, _ := srv.svc.Alerts(t.Context(), inc.ID)
			for _, a := range alerts {
				if !strings.HasPrefix(a.Labels["instance"], "api-") || a.GeneratorURL != "http://prometheus.example.com/graph?g0.expr=latency" ||
					!strings.HasPrefix(a.Annotations["summary"], "p99 latency above 2s on api-") || (a.Annotations["description"] == description) != tt.description {
					t.Errorf("alert %+v: want its labels, annotations and source link", a.Alert)
				}
			}

			post("partly_resolved")
			inc, _ = srv.svc.Get(t.Context(), "1")
			if inc.Status != incident.StatusTriggered || inc.AlertCount != 2 || inc.FiringCount != 1 {
				t.Errorf("after one resolved: %s, %d alerts, %d firing; want triggered, 2, 1", inc.Status, inc.AlertCount, inc.FiringCount)
			}
			post("resolved")
			inc, _ = srv.svc.Get(t.Context(), "1")
			if inc.Status != incident.StatusResolved || inc.FiringCount != 0 {
				t.Errorf("after the resolve: %s, %d firing; want resolved", inc.Status, inc.FiringCount)
			}
			if list, _ := srv.svc.List(t.Context(), incident.ListOptions{}); len(list) != 1 {
				t.Errorf("%d incidents, want 1", len(list))
			}
		})
	}
}
