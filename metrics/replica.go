package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WatchLeader exports tebura_replica_leader and
// tebura_replica_lease_age_seconds, read at every scrape: whether this
// replica leads (1) or follows (0), and how long ago it last confirmed its
// lease (0 on a follower). With several replicas, sum(tebura_replica_leader)
// is 1 in a healthy cluster; a lease age on the leader approaching the
// lease duration means renewals are failing and leadership is about to
// move. Call it once; both functions must be quick.
func (m *Metrics) WatchLeader(leading func() bool, leaseAge func() time.Duration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "replica_leader",
		Help: "1 while this replica holds the leader lease (it does the work that must happen once: expiry, archiving, reconcile rounds), else 0.",
	}, func() float64 {
		if leading() {
			return 1
		}
		return 0
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "replica_lease_age_seconds",
		Help: "Seconds since this replica last confirmed its leader lease; 0 when it does not lead.",
	}, func() float64 { return leaseAge().Seconds() }))
}
