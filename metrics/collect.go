package metrics

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// scrapeTimeout bounds each scrape-time read (a store scan).
const scrapeTimeout = 5 * time.Second

// watchers are the scrape-time sources the composition root registered.
type watchers struct {
	mu        sync.Mutex
	executor  func() (queued, running int)
	locks     func(ctx context.Context) ([]runbooks.Lock, error)
	incidents func(ctx context.Context) (map[string]int, error)
}

// WatchExecutor makes tebura_run_queue_depth and tebura_runs_running read
// f at every scrape, typically:
//
//	m.WatchExecutor(func() (int, int) { s := exec.Stats(); return s.Queued, s.Running })
//
// Until it is called the two gauges are not exposed. f must be quick and
// must not block.
func (m *Metrics) WatchExecutor(f func() (queued, running int)) {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	m.watch.executor = f
}

// WatchLocks makes tebura_locks_held read f (usually the store's Locks) at
// every scrape.
func (m *Metrics) WatchLocks(f func(ctx context.Context) ([]runbooks.Lock, error)) {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	m.watch.locks = f
}

// WatchIncidents makes tebura_incidents_open read f at every scrape: the
// number of open incidents by severity (the raw severity; it is
// normalized and bounded here). Severities seen before and absent from the
// map are reported as 0, so a series drops to 0 instead of vanishing.
func (m *Metrics) WatchIncidents(f func(ctx context.Context) (open map[string]int, err error)) {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	m.watch.incidents = f
}

// scrapeCollector reads the watched sources when Prometheus scrapes.
type scrapeCollector struct {
	m                                    *Metrics
	queue, running, locks, incidentsOpen *prometheus.Desc
}

func newScrapeCollector(m *Metrics) *scrapeCollector {
	return &scrapeCollector{
		m: m,
		queue: prometheus.NewDesc(namespace+"_run_queue_depth",
			"Runs waiting for a free executor slot (runbooks.max_concurrent).", nil, nil),
		running: prometheus.NewDesc(namespace+"_runs_running",
			"Runs holding an executor slot.", nil, nil),
		locks: prometheus.NewDesc(namespace+"_locks_held",
			"Runbook locks held right now.", nil, nil),
		incidentsOpen: prometheus.NewDesc(namespace+"_incidents_open",
			"Incidents not resolved (triggered or acknowledged), by severity.", []string{"severity"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queue
	ch <- c.running
	ch <- c.locks
	ch <- c.incidentsOpen
}

// Collect implements prometheus.Collector.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.m.watch
	w.mu.Lock()
	executor, locks, incidents := w.executor, w.locks, w.incidents
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()

	if executor != nil {
		queued, running := executor()
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(queued))
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(running))
	}
	if locks != nil {
		if held, err := locks(ctx); err != nil {
			c.m.collectErrors.WithLabelValues("locks").Inc()
		} else {
			ch <- prometheus.MustNewConstMetric(c.locks, prometheus.GaugeValue, float64(len(held)))
		}
	}
	if incidents != nil {
		open, err := incidents(ctx)
		if err != nil {
			c.m.collectErrors.WithLabelValues("incidents").Inc()
			return
		}
		bySev := map[string]int{}
		for sev, n := range open {
			bySev[c.m.severity(sev)] += n
		}
		for _, sev := range c.m.severities.values() {
			if _, ok := bySev[sev]; !ok {
				bySev[sev] = 0
			}
		}
		sevs := make([]string, 0, len(bySev))
		for s := range bySev {
			sevs = append(sevs, s)
		}
		sort.Strings(sevs)
		for _, sev := range sevs {
			ch <- prometheus.MustNewConstMetric(c.incidentsOpen, prometheus.GaugeValue, float64(bySev[sev]), sev)
		}
	}
}

// maxSeverityLen cuts absurd severity values.
const maxSeverityLen = 32

// severity normalizes a severity for the label: lower case, "none" when
// empty, at most maxSeverities distinct values (then "other").
func (m *Metrics) severity(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		s = "none"
	}
	if len(s) > maxSeverityLen {
		s = s[:maxSeverityLen]
	}
	return m.severities.value(s)
}

// IncidentLister lists incidents; (*incident.Service) implements it.
type IncidentLister interface {
	List(ctx context.Context, opt incident.ListOptions) ([]*incident.Incident, error)
}

// OpenIncidents is a WatchIncidents source: it counts the open incidents l
// lists, by severity. It reads every incident record at each scrape.
func OpenIncidents(l IncidentLister) func(ctx context.Context) (map[string]int, error) {
	return func(ctx context.Context) (map[string]int, error) {
		open, err := l.List(ctx, incident.ListOptions{OpenOnly: true})
		if err != nil {
			return nil, err
		}
		out := map[string]int{}
		for _, inc := range open {
			out[inc.Severity]++
		}
		return out, nil
	}
}
