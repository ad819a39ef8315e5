package metrics_test

import (
	"testing"
	"time"

	"github.com/tebura/tebura/metrics"
)

// TestDBFamilies: a bolt server exports no database families; once a
// database store reports, the query histogram counts by result and the
// pool gauges read the pool at every scrape.
func TestDBFamilies(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	if got := series(t, m, "tebura_db_query_duration_seconds"); len(got) != 0 {
		t.Fatalf("query histogram exported before any query: %v", got)
	}
	m.ObserveQuery(2*time.Millisecond, false)
	m.ObserveQuery(3*time.Millisecond, false)
	m.ObserveQuery(time.Second, true)
	q := series(t, m, "tebura_db_query_duration_seconds")
	if q["result=ok"].Count != 2 || q["result=error"].Count != 1 || q["result=error"].Sum != 1 {
		t.Errorf("query histogram = %+v; want 2 ok and 1 error of 1s", q)
	}
	stats := metrics.PoolStats{Acquired: 3, Idle: 2, Total: 5}
	m.WatchPool(func() metrics.PoolStats { return stats })
	p := series(t, m, "tebura_db_pool_connections")
	if p["state=acquired"].Value != 3 || p["state=idle"].Value != 2 || p["state=total"].Value != 5 {
		t.Errorf("pool gauges = %+v", p)
	}
	stats = metrics.PoolStats{Acquired: 1, Idle: 4, Total: 5}
	if p := series(t, m, "tebura_db_pool_connections"); p["state=acquired"].Value != 1 {
		t.Errorf("pool gauges after a change = %+v; want them read at the scrape", p)
	}
}
