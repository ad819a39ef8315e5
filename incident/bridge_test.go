package incident_test

import (
	"strings"
	"testing"

	"github.com/tebura/tebura/incident"
)

func TestBridge(t *testing.T) {
	inc := &incident.Incident{Number: 12, Title: "API answers 502!", Labels: map[string]string{"team": "payments"}}
	for _, c := range []struct {
		name, tmpl, want, err string
	}{
		{"none", "", "", ""},
		{"fixed room", "https://zoom.us/j/123456", "https://zoom.us/j/123456", ""},
		{"jitsi from slug", "https://meet.jit.si/tebura-{{ .Number }}-{{ .Slug }}", "https://meet.jit.si/tebura-12-api-answers-502", ""},
		{"label in path", "https://meet.example/{{ .Labels.team }}/{{ .Number }}", "https://meet.example/payments/12", ""},
		{"http", "http://meet.example/{{ .Slug }}", "", "https://"},
		{"host from a label", "https://{{ .Labels.team }}.zoom.us/j/1", "", "host literally"},
		{"host half written", "https://meet.{{ .Labels.team }}/x", "", "host literally"},
		{"bad template", "https://meet.example/{{ .Number", "", "template"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := incident.NewBridge(c.tmpl)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("NewBridge(%q) = %v, want an error about %q", c.tmpl, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := b.URL(inc)
			if got != c.want || !ok {
				t.Errorf("URL = %q, %v; want %q", got, ok, c.want)
			}
		})
	}
}
