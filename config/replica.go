package config

import (
	"strings"
	"time"
	"unicode"
)

// Replica is this process's part when several `tebura serve` share one
// database (docs/replicas.md): its name among them and how it takes part
// in electing the one leader that does the work that must happen once.
type Replica struct {
	// ID names this replica in the lease, on the runs it executes and in
	// messages about a lost replica; empty means host name and process ID.
	ID string `mapstructure:"id"`
	// LeaseDuration is how long the leader holds the lease after a
	// renewal: a leader that dies is replaced within LeaseDuration plus
	// RenewInterval.
	LeaseDuration time.Duration `mapstructure:"lease_duration"`
	// RenewInterval is how often the leader renews the lease and the
	// others try to take it.
	RenewInterval time.Duration `mapstructure:"renew_interval"`
}

// maxReplicaID bounds replica.id: it is shown in chat messages.
const maxReplicaID = 100

func (c Config) validateReplica(p *problems) {
	r := c.Replica
	switch {
	case len(r.ID) > maxReplicaID:
		p.add("replica.id", "is %d characters long; keep it to %d", len(r.ID), maxReplicaID)
	case strings.IndexFunc(r.ID, func(c rune) bool { return unicode.IsSpace(c) || !unicode.IsPrint(c) }) >= 0:
		p.add("replica.id", "contains spaces or control characters; use letters, digits, '.', '-' or '_' (such as the pod name)")
	}
	p.positive("replica.lease_duration", r.LeaseDuration)
	p.positive("replica.renew_interval", r.RenewInterval)
	if r.RenewInterval > 0 && r.LeaseDuration > 0 && r.LeaseDuration < 2*r.RenewInterval {
		p.add("replica.lease_duration", "(%s) must be at least twice replica.renew_interval (%s), so that one slow renewal does not hand leadership over", r.LeaseDuration, r.RenewInterval)
	}
}
