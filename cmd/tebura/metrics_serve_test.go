package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeMetrics: tebura serve exposes GET /metrics with build info and
// the families fed by a webhook, its incident and the diagnostic it ran.
func TestServeMetrics(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{
		"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"tebura.yaml": baseConfig(incidentConfig),
	})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.in.Close()
	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "alertmanager", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	if code := post(t, ts.base+"/hooks/nope", payload); code != http.StatusNotFound {
		t.Fatalf("unknown hook answered %d", code)
	}
	waitEvent(t, ts.out, "the diagnostic's final frame", headerIs("check-api — succeeded"))
	// The stream's counts arrive when its Close returns, just after the
	// final frame was shown: read until they are there.
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(ts.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		text = string(body)
		if !strings.Contains(text, "tebura_stream_frames_sent_total 0\n") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		`tebura_build_info{commit="unknown",go_version="`,
		`tebura_webhook_requests_total{code="200",source="alertmanager"} 1`,
		`tebura_webhook_requests_total{code="404",source="unknown"} 1`,
		`tebura_incidents_opened_total{severity="critical"} 1`,
		`tebura_incidents_open{severity="critical"} 1`,
		`tebura_runs_total{runbook="check-api",state="succeeded"} 1`,
		"tebura_run_queue_depth 0", "tebura_locks_held ",
		`tebura_approvals_total{outcome="approved"} 0`,
		"tebura_replica_leader 1\n", // alone on its store, it leads
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "tebura_stream_frames_sent_total 0\n") {
		t.Error("no stream frame counted: commands.Deps.StreamObserver is not wired")
	}
}
