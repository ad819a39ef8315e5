package metrics

import "github.com/prometheus/client_golang/prometheus"

// Tickets registers the ticket service's metrics for system ("Jira",
// "ServiceNow") and returns the observer of its attempts:
// tebura_ticket_attempts_total{system, step, outcome} counts each call
// (step create, comment or resolve; outcome done or failed), and
// tebura_tickets_pending, read from pending at every scrape, is how many
// incidents wait for their ticket. A ticketing outage shows as failed
// attempts and a pending count that does not fall. Call it once.
func (m *Metrics) Tickets(system string, pending func() int) func(step, outcome string) {
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "ticket_attempts_total",
		Help:        "Calls to the ticketing system by step (create, comment, resolve) and outcome (done, failed; failed ones are retried with backoff).",
		ConstLabels: prometheus.Labels{"system": system},
	}, []string{"step", "outcome"})
	for _, s := range []string{"create", "comment", "resolve"} {
		for _, o := range []string{"done", "failed"} {
			attempts.WithLabelValues(s, o) // zero from the start, so rate() sees the first one
		}
	}
	m.reg.MustRegister(attempts, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "tickets_pending",
		Help:        "Incidents whose ticket is not created yet (being retried in the background).",
		ConstLabels: prometheus.Labels{"system": system},
	}, func() float64 { return float64(pending()) }))
	return func(step, outcome string) { attempts.WithLabelValues(step, outcome).Inc() }
}
