package metrics

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tebura/tebura/oncall"
)

// oncallFamily counts pages and reports responder load.
type oncallFamily struct {
	once  sync.Once
	pages *prometheus.CounterVec
	load  sync.Once
}

func (m *Metrics) pagesCounter() *prometheus.CounterVec {
	f := &m.oncall
	f.once.Do(func() {
		f.pages = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "oncall_pages_total",
			Help: "People paged from an on-call schedule, by schedule and outcome: reached (invited in chat), missed (named on the card, not matched to a chat account), failed (the schedule could not be read).",
		}, []string{"schedule", "outcome"})
		m.reg.MustRegister(f.pages)
	})
	return f.pages
}

// ObservePage counts one page of a schedule: each person reached or
// missed, or the page's failure.
func (m *Metrics) ObservePage(pg oncall.Page) {
	c := m.pagesCounter()
	if pg.Error != "" {
		c.WithLabelValues(pg.Schedule, "failed").Inc()
	}
	c.WithLabelValues(pg.Schedule, "reached").Add(float64(len(pg.Reached)))
	c.WithLabelValues(pg.Schedule, "missed").Add(float64(len(pg.Missed)))
}

// WatchResponderLoad reports f's responder load (over oncall.load_window)
// on every scrape: who carries the pager, and how often at night.
func (m *Metrics) WatchResponderLoad(f func(ctx context.Context) ([]oncall.Load, error)) {
	m.oncall.load.Do(func() { m.reg.MustRegister(&loadCollector{m: m, f: f}) })
}

var (
	loadIncidents = prometheus.NewDesc(namespace+"_responder_incidents",
		"Incidents each responder was paged into or joined, over oncall.load_window.", []string{"person"}, nil)
	loadPages = prometheus.NewDesc(namespace+"_responder_pages",
		"Pages each responder received, over oncall.load_window.", []string{"person"}, nil)
	loadOutOfHours = prometheus.NewDesc(namespace+"_responder_out_of_hours_pages",
		"Pages each responder received outside oncall.working_hours, over oncall.load_window.", []string{"person"}, nil)
	loadOpen = prometheus.NewDesc(namespace+"_responder_open_incident_seconds",
		"Time each responder spent in open incidents (from their page to the resolve), over oncall.load_window.", []string{"person"}, nil)
)

type loadCollector struct {
	m *Metrics
	f func(ctx context.Context) ([]oncall.Load, error)
}

// Describe implements prometheus.Collector.
func (c *loadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- loadIncidents
	ch <- loadPages
	ch <- loadOutOfHours
	ch <- loadOpen
}

// Collect implements prometheus.Collector.
func (c *loadCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	loads, err := c.f(ctx)
	if err != nil {
		c.m.collectErrors.WithLabelValues("responder_load").Inc()
		return
	}
	for _, l := range loads {
		ch <- prometheus.MustNewConstMetric(loadIncidents, prometheus.GaugeValue, float64(l.Incidents), l.Person)
		ch <- prometheus.MustNewConstMetric(loadPages, prometheus.GaugeValue, float64(l.Pages), l.Person)
		ch <- prometheus.MustNewConstMetric(loadOutOfHours, prometheus.GaugeValue, float64(l.OutOfHours), l.Person)
		ch <- prometheus.MustNewConstMetric(loadOpen, prometheus.GaugeValue, l.InOpen.Seconds(), l.Person)
	}
}
