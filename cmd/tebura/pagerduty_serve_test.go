package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PagerDuty/go-pagerduty"
)

// TestServePagerDutyEventsAPI: tebura serve takes go-pagerduty's Events
// API calls on /hooks/pagerduty/v2/enqueue, and Events API v1 on its own
// path, through the same wiring as every webhook (metrics by source).
func TestServePagerDutyEventsAPI(t *testing.T) {
	cleanEnv(t)
	const key = "R0UT1NGKEY0000000000000000000000"
	cfg := baseConfig("sources:\n  pagerduty: {routing_key: " + key + "}\nincidents: {announce_channel: console}\n")
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": cfg})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.in.Close()

	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(ts.base+"/hooks/pagerduty"))
	resp, err := client.ManageEventWithContext(t.Context(), &pagerduty.V2Event{RoutingKey: key, Action: "trigger",
		Payload: &pagerduty.V2Payload{Summary: "Disk 95% full on db-1", Source: "db-1", Severity: "warning"}})
	if err != nil || resp.Status != "success" || resp.DedupKey == "" {
		t.Fatalf("trigger: %+v, %v", resp, err)
	}
	if _, err := client.ManageEventWithContext(t.Context(), &pagerduty.V2Event{RoutingKey: key, Action: "resolve", DedupKey: resp.DedupKey}); err != nil {
		t.Fatalf("resolve with the returned key: %v", err)
	}
	v1 := `{"service_key":"` + key + `","event_type":"trigger","incident_key":"k1","description":"Replication lag on db-2"}`
	if code := post(t, ts.base+"/hooks/pagerduty/generic/2010-04-15/create_event.json", []byte(v1)); code != http.StatusOK {
		t.Errorf("Events API v1 answered %d", code)
	}

	r, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{
		`tebura_webhook_requests_total{code="202",source="pagerduty"} 2`,
		`tebura_webhook_requests_total{code="200",source="pagerduty"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
