package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// reconcileFamily counts the reconcile loop's work per incident. It is
// registered on first use, so that servers without the incident layer do
// not export it.
type reconcileFamily struct {
	once     sync.Once
	outcomes *prometheus.CounterVec
}

// ObserveReconcile counts one incident's reconciliation with the chat by
// outcome: done, unreachable (the chat did not answer in time or refused
// the connection; retried next round), failed (the chat refused the work),
// deferred (not tried: the round stopped because the chat is unreachable).
// The composition root plugs it into the incident layer. A steady rate of unreachable or
// deferred is a chat outage the incidents wait on.
func (m *Metrics) ObserveReconcile(outcome string) {
	f := &m.reconcile
	f.once.Do(func() {
		f.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "incident_reconcile_total",
			Help: "Incidents the reconcile loop brought in line with the chat, or tried to, by outcome: done, unreachable (retried next round), failed, deferred (the round stopped: the chat is unreachable).",
		}, []string{"outcome"})
		for _, o := range []string{"done", "unreachable", "failed", "deferred"} {
			f.outcomes.WithLabelValues(o) // zero from the start, so rate() sees the first one
		}
		m.reg.MustRegister(f.outcomes)
	})
	f.outcomes.WithLabelValues(outcome).Inc()
}

// WatchReconcilePending exports tebura_incident_reconcile_pending, read from
// f at every scrape: the open incidents not yet in line with the chat (the
// reconcile loop's backlog). It stays above zero while a chat outage holds
// incidents without a channel or card. f must be quick.
func (m *Metrics) WatchReconcilePending(f func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "incident_reconcile_pending",
		Help: "Open incidents not yet in line with the chat (no channel or card yet): the reconcile loop's backlog.",
	}, func() float64 { return float64(f()) }))
}

// WatchChatConnected exports tebura_chat_connected{platform}, read from ready at
// every scrape: 1 while the platform's connection is up (Slack Socket
// Mode, the Discord gateway; in HTTP mode, the token accepted), else 0.
// Call it once per platform; ready must be quick.
func (m *Metrics) WatchChatConnected(platform string, ready func() error) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "chat_connected",
		Help:        "1 while the chat platform's connection is up (Slack Socket Mode, Discord gateway; HTTP mode: the token accepted), else 0.",
		ConstLabels: prometheus.Labels{"platform": platform},
	}, func() float64 {
		if ready() != nil {
			return 0
		}
		return 1
	}))
}
