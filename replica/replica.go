// Package replica is what lets several `tebura serve` processes share one
// database: each process's identity, and one leader among them for the work
// that must happen once (expiring approvals, archiving channels, the
// incident reconcile rounds, pruning), elected through a lease row in the
// store with a fencing token. Every replica serves HTTP; the database's
// constraints and transactions make each delivery count once, so only the
// periodic work needs a leader.
//
// The store implements LeaseStore (store/bolt, where one process holds the
// file and the lease is always its own, and store/postgres); the Elector
// renews the lease and runs leader work only while it is sure nobody else
// can hold it (see Elector).
package replica

import (
	"context"
	"fmt"
	"os"
	"time"
)

// LeaderLease is the name of the lease that elects the leader.
const LeaderLease = "leader"

// Lease is one lease row as the store holds it.
type Lease struct {
	// Name says what the lease is for (LeaderLease).
	Name string
	// Holder is the ID of the replica holding it; "" when it was released.
	Holder string
	// Token is the fencing token: it grows every time the lease changes
	// hands (or is taken again after it lapsed), never on a renewal, so
	// that work done under an old token can be told from the current
	// holder's.
	Token uint64
	// Expires is when the lease lapses, by the store's clock, unless its
	// holder renews it.
	Expires time.Time
}

// LeaseStore keeps leases. The store's own clock decides expiry, so that
// replicas whose clocks disagree still agree on who holds a lease.
type LeaseStore interface {
	// AcquireLease takes lease name for holder for ttl, or renews it when
	// holder holds it and it has not lapsed (same Token, Expires moved to
	// now+ttl). A lease that is free, released or lapsed is taken with the
	// next Token. A lease another holder holds unlapsed is left alone. In
	// every case it returns the lease as it stands after the call, so the
	// caller learns who leads.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease frees the lease when holder holds it with token (a
	// replica stopping cleanly hands over at once instead of after the
	// lease lapses); otherwise it does nothing.
	ReleaseLease(ctx context.Context, name, holder string, token uint64) error
	// Lease reads lease name as it stands; a lease never taken is the zero
	// Lease with that Name.
	Lease(ctx context.Context, name string) (Lease, error)
}

// HeartbeatLease is the name of the lease replica id holds while it runs:
// its heartbeat. The runs it executes are its own; when the heartbeat
// lapses the leader marks them interrupted (see Alive).
func HeartbeatLease(id string) string { return "replica/" + id }

// Alive reports whether replica id's heartbeat lease is held by it and
// unlapsed at now.
func Alive(ctx context.Context, st LeaseStore, id string, now time.Time) (bool, error) {
	l, err := st.Lease(ctx, HeartbeatLease(id))
	if err != nil {
		return false, err
	}
	return l.Holder == id && now.Before(l.Expires), nil
}

// DefaultID names this process when replica.id is not configured: the host
// name and the process ID, unique among the replicas of one database as
// long as no two share a host name and a PID (Kubernetes pods have their
// own host names).
func DefaultID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
