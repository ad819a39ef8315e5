package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// alertmanagerBinary finds a real Alertmanager for the end-to-end test:
// $TEBURA_ALERTMANAGER, else `alertmanager` on PATH. v0.31.1 installs with
// `go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.31.1`.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if p := os.Getenv("TEBURA_ALERTMANAGER"); p != "" {
		return p
	}
	p, err := exec.LookPath("alertmanager")
	if err != nil {
		t.Skip("no Alertmanager: set TEBURA_ALERTMANAGER to its binary or put alertmanager on PATH " +
			"(go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.31.1)")
	}
	return p
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

	cfg := fmt.Sprintf(`route:
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
          authorization: {type: Bearer, credentials: e2e-token}
`, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "am.yml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=",
		"--storage.path="+filepath.Join(dir, "am-data"), "--log.level=warn")
	var amLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &amLog, &amLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", amLog.String())
		}
	}()
	waitFor(t, "Alertmanager ready", 30*time.Second, func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	mk := func(inst string, ends time.Time) amPostAlert {
		return amPostAlert{Labels: map[string]string{"alertname": "E2ELatency", "service": "api", "instance": inst, "severity": "critical"},
			Annotations: map[string]string{"summary": "latency on " + inst}, StartsAt: start, EndsAt: ends,
			GeneratorURL: "http://prometheus.example.com/graph"}
	}
	send := func(alerts ...amPostAlert) {
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
