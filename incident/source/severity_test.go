package source_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// TestDefaultSeverityEverySource: each mounted source hands its
// default_severity to ingest, so a severity outside critical, error,
// warning and info is mapped (and noted on the timeline) instead of
// refused, whichever source sent it.
func TestDefaultSeverityEverySource(t *testing.T) {
	store, svc := openService(t, filepath.Join(t.TempDir(), "tebura.db"))
	defer store.Close()
	mux := http.NewServeMux()
	cfg := config.Sources{
		Alertmanager: config.Alertmanager{Insecure: true, DefaultSeverity: "critical"},
		Grafana:      config.Grafana{Insecure: true, DefaultSeverity: "error"},
		PagerDuty:    config.PagerDuty{Insecure: true, DefaultSeverity: "info"},
		Generic: map[string]config.GenericSource{"ci": {Insecure: true, Key: "{{ .id }}", Title: "{{ .title }}",
			Status: "{{ .state }}", Severity: "{{ .level }}"}}, // default_severity left out: warning
	}
	if _, err := source.Mount(mux, cfg, source.Ingester(svc.Ingest, nil), nil); err != nil {
		t.Fatal(err)
	}
	amBody := func(group, severity string) string {
		return `{"version":"4","groupKey":"` + group + `","status":"firing","commonLabels":{"alertname":"` + group + `","severity":"` + severity + `"},` +
			`"alerts":[{"status":"firing","labels":{"alertname":"` + group + `","severity":"` + severity + `"},"startsAt":"2026-11-26T14:00:00Z","fingerprint":"` + group + `"}]}`
	}
	tests := []struct {
		name, path, body string
		title            string
		want             string
		mapped           bool
	}{
		{"alertmanager", "/hooks/alertmanager", amBody("DiskFull", "page"), "DiskFull", "critical", true},
		{"alertmanager, known severity", "/hooks/alertmanager", amBody("CPUHigh", "info"), "CPUHigh", "info", false},
		{"grafana", "/hooks/grafana", `{"version":"1","orgId":1,"groupKey":"g","status":"firing","commonLabels":{"alertname":"MemHigh","severity":"P1"},` +
			`"alerts":[{"status":"firing","labels":{"alertname":"MemHigh","severity":"P1"},"startsAt":"2026-11-26T14:00:00Z","fingerprint":"m1"}]}`, "MemHigh", "error", true},
		{"pagerduty", "/hooks/pagerduty", `{"routing_key":"any","event_action":"trigger","dedup_key":"lag","payload":{"summary":"Lag","source":"db","severity":"page"}}`, "Lag", "info", true},
		{"generic", "/hooks/generic/ci", `{"id":"b-17","title":"Build broken","state":"firing","level":"sev1"}`, "Build broken", config.DefaultSeverity, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := post(mux, tt.path, []byte(tt.body), nil); w.Code/100 != 2 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			list, err := svc.List(t.Context(), incident.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var inc *incident.Incident
			for _, i := range list {
				if i.Title == tt.title {
					inc = i
				}
			}
			if inc == nil {
				t.Fatalf("no incident %q", tt.title)
			}
			if inc.Severity != tt.want {
				t.Errorf("severity %q, want %q", inc.Severity, tt.want)
			}
			tl, err := svc.Timeline(t.Context(), inc.ID)
			if err != nil {
				t.Fatal(err)
			}
			noted := false
			for _, e := range tl {
				noted = noted || (e.Kind == incident.KindSeverity && strings.Contains(e.Text, "the incident is "+tt.want))
			}
			if noted != tt.mapped {
				t.Errorf("timeline notes the mapping: %v, want %v (%+v)", noted, tt.mapped, tl)
			}
		})
	}
}
