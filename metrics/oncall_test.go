package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/oncall"
)

// TestOnCallMetrics: pages count per schedule and outcome; responder
// load is read on each scrape, and a failed read counts as a collect
// error instead of stale figures.
func TestOnCallMetrics(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	m.ObservePage(oncall.Page{Schedule: "primary", Reached: []oncall.Reached{{Identity: "slack:U1"}, {Identity: "slack:U2"}},
		Missed: []oncall.Missed{{Person: oncall.Person{Name: "Bob"}}}})
	m.ObservePage(oncall.Page{Schedule: "primary", Error: "PagerDuty could not be reached"})
	pages := series(t, m, "tebura_oncall_pages_total")
	for labels, want := range map[string]float64{"outcome=reached,schedule=primary": 2, "outcome=missed,schedule=primary": 1, "outcome=failed,schedule=primary": 1} {
		if pages[labels].Value != want {
			t.Errorf("pages{%s} = %v, want %v (all: %v)", labels, pages[labels].Value, want, pages)
		}
	}

	var fail bool
	m.WatchResponderLoad(func(context.Context) ([]oncall.Load, error) {
		if fail {
			return nil, errors.New("store closed")
		}
		return []oncall.Load{{Person: "slack:U1", Incidents: 2, Pages: 3, OutOfHours: 1, InOpen: 90 * time.Minute}}, nil
	})
	for name, want := range map[string]float64{"tebura_responder_incidents": 2, "tebura_responder_pages": 3,
		"tebura_responder_out_of_hours_pages": 1, "tebura_responder_open_incident_seconds": 5400} {
		if got := series(t, m, name)["person=slack:U1"].Value; got != want {
			t.Errorf("%s{person=slack:U1} = %v, want %v", name, got, want)
		}
	}
	fail = true
	if got := series(t, m, "tebura_responder_pages"); len(got) != 0 {
		t.Errorf("after a failed read the load is %v, want no series", got)
	}
	// One collect error per failed scrape. A scrape's own error may land
	// after the registry read the counter (collectors run concurrently),
	// so the j-th failed scrape reads j-1 or j, never less, never more.
	for j := 2; j <= 4; j++ {
		got := series(t, m, "tebura_metrics_collect_errors_total")["collector=responder_load"].Value
		if got != float64(j-1) && got != float64(j) {
			t.Errorf("collect errors for responder_load at failed scrape %d = %v, want %d or %d (one per failed scrape)", j, got, j-1, j)
		}
	}
}
