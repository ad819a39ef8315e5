package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dbFamily times the queries of a database store (store.driver postgres).
// It is registered on first use, so that a bolt server does not export
// it.
type dbFamily struct {
	once    sync.Once
	queries *prometheus.HistogramVec
}

// dbBuckets spread from a quick indexed read on a local server (~0.2 ms)
// to a statement near store.postgres.statement_timeout's default (30 s).
func dbBuckets() []float64 {
	return []float64{0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

func (m *Metrics) dbQueries() *prometheus.HistogramVec {
	f := &m.db
	f.once.Do(func() {
		f.queries = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "db_query_duration_seconds",
			Help:    "Duration of the database store's queries, by result (ok, error). A slow database shows here before it shows in webhook latency.",
			Buckets: dbBuckets(),
		}, []string{"result"})
		f.queries.WithLabelValues("ok")
		f.queries.WithLabelValues("error")
		m.reg.MustRegister(f.queries)
	})
	return f.queries
}

// ObserveQuery records one query of the database store that took d and
// failed when failed is set. The PostgreSQL store calls it for every
// statement (store/postgres Options.ObserveQuery).
func (m *Metrics) ObserveQuery(d time.Duration, failed bool) {
	result := "ok"
	if failed {
		result = "error"
	}
	m.dbQueries().WithLabelValues(result).Observe(d.Seconds())
}

// PoolStats is a database connection pool's state at one moment.
type PoolStats struct {
	Acquired int // connections in use by a query or a transaction
	Idle     int // connections open and free
	Total    int // connections open (acquired, idle and being opened)
}

// poolCollector reads a pool's statistics at every scrape.
type poolCollector struct {
	stats func() PoolStats
	desc  *prometheus.Desc
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, v := range []struct {
		state string
		n     int
	}{{"acquired", s.Acquired}, {"idle", s.Idle}, {"total", s.Total}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v.n), v.state)
	}
}

// WatchPool exports tebura_db_pool_connections{state}, read from f at
// every scrape: the database store's connections acquired, idle and in
// total. Acquired staying at store.postgres.max_conns means requests queue
// for a connection. Call it once; f must be quick.
func (m *Metrics) WatchPool(f func() PoolStats) {
	m.reg.MustRegister(&poolCollector{stats: f, desc: prometheus.NewDesc(namespace+"_db_pool_connections",
		"Connections of the database store's pool, by state: acquired (in use), idle, total.", []string{"state"}, nil)})
}
