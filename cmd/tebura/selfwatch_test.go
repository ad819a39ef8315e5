package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// metricsText reads GET /metrics.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeWatchesItself: serve prunes run logs past runbooks.log_retention
// at start and counts them; the configured watchdog alert opens no
// incident and shows in the watchdog metrics.
func TestServeWatchesItself(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{
		"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"tebura.yaml":        baseConfig(incidentConfig + "watchdog: {source: alertmanager, match: ['alertname=\"Watchdog\"'], missing_after: 1h}\n"),
		"data/logs/r900.log": strings.Repeat("old\n", 100),
		"data/logs/r901.log": "recent\n",
	})
	old := filepath.Join(dir, "data", "logs", "r900.log")
	past := time.Now().Add(-40 * 24 * time.Hour) // beyond the default 30 days
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.in.Close()

	eventually(t, "the old log pruned", func() bool { _, err := os.Stat(old); return os.IsNotExist(err) })
	if _, err := os.Stat(filepath.Join(dir, "data", "logs", "r901.log")); err != nil {
		t.Errorf("the recent log: %v", err)
	}
	eventually(t, "pruning counted", func() bool {
		return strings.Contains(metricsText(t, ts.base), "tebura_run_logs_pruned_files_total 1\n")
	})
	if text := metricsText(t, ts.base); !strings.Contains(text, "tebura_run_logs_pruned_bytes_total 400\n") ||
		!strings.Contains(text, "tebura_watchdog_last_seen_timestamp_seconds 0\n") || !strings.Contains(text, "tebura_watchdog_missing 0\n") {
		t.Fatalf("metrics before the watchdog alert:\n%s", grepLines(text, "tebura_run_logs_pruned", "tebura_watchdog"))
	}

	payload, _ := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "tebura", "groupKey": `{}:{alertname="Watchdog"}`,
		"commonLabels": map[string]string{"alertname": "Watchdog"},
		"alerts": []map[string]any{{"status": "firing", "labels": map[string]string{"alertname": "Watchdog", "severity": "none"},
			"startsAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "fingerprint": "wd1"}},
	})
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	text := metricsText(t, ts.base)
	if strings.Contains(text, "tebura_watchdog_last_seen_timestamp_seconds 0\n") || strings.Contains(text, "tebura_incidents_opened_total") {
		t.Errorf("after the watchdog alert:\n%s", grepLines(text, "tebura_watchdog", "tebura_incidents_opened"))
	}
}

// grepLines keeps the lines of text that contain one of subs.
func grepLines(text string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, s := range subs {
			if strings.Contains(l, s) && !strings.HasPrefix(l, "#") {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
