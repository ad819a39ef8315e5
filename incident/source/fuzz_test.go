package source_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// FuzzParse feeds arbitrary bodies to every source: parsing never panics,
// and whatever parses is a batch the incident service accepts.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	ex, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.json"))
	for _, name := range append(files, ex...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(grafanaBody))
	f.Add([]byte(`{"routing_key":"k","event_action":"resolve","dedup_key":"d"}`))
	f.Add([]byte(`{"event":{"event_type":"incident.acknowledged","resource_type":"incident","data":{"id":"P1"}}}`))
	f.Add([]byte(`{"version":"4","groupKey":"g","alerts":[{"status":"firing","labels":{"a":"b"}}]}`))
	f.Add([]byte(`null`))
	generic, err := source.NewGeneric("f", config.GenericSource{Insecure: true, Key: "{{ .id }}", Status: "{{ .state }}", Labels: map[string]string{"x": "{{ .x }}"}})
	if err != nil {
		f.Fatal(err)
	}
	srcs := []source.Source{
		source.NewAlertmanager(config.Alertmanager{Insecure: true}),
		source.NewGrafana(config.Grafana{Insecure: true}, nil),
		source.NewPagerDuty(config.PagerDuty{Insecure: true}, nil),
		generic,
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, src := range srcs {
			b, err := src.Parse(http.Header{"X-Webhook-Id": {"w"}}, body)
			if err != nil {
				continue
			}
			if b.Source == "" || b.GroupKey == "" {
				t.Fatalf("%s parsed a batch without source or key: %+v", src.Name(), b)
			}
			for _, a := range b.Alerts {
				if a.Fingerprint == "" || (a.Status != incident.AlertFiring && a.Status != incident.AlertResolved) {
					t.Fatalf("%s parsed an alert the service refuses: %+v", src.Name(), a)
				}
			}
		}
	})
}
