package source_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// TestExamples keeps the curl-able payloads in examples/ valid: each one
// passes its source's verification (signed as examples/README.md shows)
// and parses into a batch with alerts.
func TestExamples(t *testing.T) {
	pd := source.NewPagerDuty(config.PagerDuty{WebhookSecret: "pd-secret", RoutingKey: "R0UT1NGKEY0000000000000000000000"},
		func() time.Time { return time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC) }) // an hour after the example event
	uptime, err := source.NewGeneric("uptime", config.GenericSource{BearerToken: "uptime-token", Preset: "uptime-kuma"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file   string
		src    source.Source
		hdr    func(body []byte) map[string]string
		status incident.AlertStatus // of the first alert; "" for none
	}{
		{"alertmanager/firing.json", source.NewAlertmanager(config.Alertmanager{BearerToken: "s3cret-token"}),
			func([]byte) map[string]string { return bearer }, incident.AlertFiring},
		{"alertmanager/resolved.json", source.NewAlertmanager(config.Alertmanager{BearerToken: "s3cret-token"}),
			func([]byte) map[string]string { return bearer }, incident.AlertResolved},
		{"grafana/firing.json", source.NewGrafana(config.Grafana{HMACSecret: "grafana-secret"}, nil),
			func(b []byte) map[string]string {
				return map[string]string{"X-Grafana-Alerting-Signature": hexMAC("grafana-secret", b)}
			}, incident.AlertFiring},
		{"pagerduty/webhook-triggered.json", pd, func(b []byte) map[string]string {
			return map[string]string{"X-PagerDuty-Signature": "v1=" + hexMAC("pd-secret", b), "X-Webhook-Id": "w1"}
		}, incident.AlertFiring},
		{"pagerduty/events-trigger.json", pd, func([]byte) map[string]string { return nil }, incident.AlertFiring},
		{"pagerduty/events-resolve.json", pd, func([]byte) map[string]string { return nil }, incident.AlertResolved},
		{"generic/uptime-down.json", uptime, func([]byte) map[string]string {
			return map[string]string{"Authorization": "Bearer uptime-token"}
		}, incident.AlertFiring},
		{"generic/uptime-up.json", uptime, func([]byte) map[string]string {
			return map[string]string{"Authorization": "Bearer uptime-token"}
		}, incident.AlertResolved},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "..", "examples", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			w := post(source.Handler(tt.src, rec.ingest, source.Limits{}, nil), "/", body, tt.hdr(body))
			if w.Code/100 != 2 || len(rec.batches) != 1 { // 202 for PagerDuty Events API bodies
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			b := rec.batches[0]
			if len(b.Alerts) == 0 || b.Alerts[0].Status != tt.status {
				t.Errorf("batch %+v", b)
			}
		})
	}
}
