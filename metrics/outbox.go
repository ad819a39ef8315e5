package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tebura/tebura/bot"
)

// WatchOutbox exposes the chat outbox of platform (see bot.Outbox), read
// from stats at every scrape:
//
//   - tebura_chat_outbox_pending: messages kept or waiting for the platform
//     right now (a gauge to alert on when it stays above zero);
//   - tebura_chat_outbox_retries_total: failed attempts that were retried;
//   - tebura_chat_outbox_kept_total: messages answered before the platform
//     took them, delivered later (or dropped);
//   - tebura_chat_outbox_dropped_total: kept messages given up at
//     chat.delivery_deadline.
//
// Call it once per platform; stats must be quick and must not block.
func (m *Metrics) WatchOutbox(platform string, stats func() bot.OutboxStats) {
	labels := prometheus.Labels{"platform": platform}
	m.reg.MustRegister(&outboxCollector{
		stats: stats,
		pending: prometheus.NewDesc(namespace+"_chat_outbox_pending",
			"Chat messages waiting for the platform right now (kept during an outage, or in flight).", nil, labels),
		retries: prometheus.NewDesc(namespace+"_chat_outbox_retries_total",
			"Chat calls that failed transiently and were retried.", nil, labels),
		kept: prometheus.NewDesc(namespace+"_chat_outbox_kept_total",
			"Chat messages answered before the platform took them, kept in the store and delivered later.", nil, labels),
		dropped: prometheus.NewDesc(namespace+"_chat_outbox_dropped_total",
			"Kept chat messages dropped because the platform did not take them within chat.delivery_deadline.", nil, labels),
	})
}

// outboxCollector reads one platform's outbox counts at scrape time.
type outboxCollector struct {
	stats                           func() bot.OutboxStats
	pending, retries, kept, dropped *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.retries
	ch <- c.kept
	ch <- c.dropped
}

// Collect implements prometheus.Collector.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.Retries))
	ch <- prometheus.MustNewConstMetric(c.kept, prometheus.CounterValue, float64(s.Kept))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
}
