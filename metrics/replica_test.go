package metrics_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/metrics"
)

// TestWatchLeader: the leader gauge and the lease age follow what the
// elector says at scrape time.
func TestWatchLeader(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	var leading atomic.Bool
	var age atomic.Int64
	m.WatchLeader(leading.Load, func() time.Duration { return time.Duration(age.Load()) })
	tests := []struct {
		name     string
		leading  bool
		age      time.Duration
		wantLead float64
	}{
		{"follower", false, 0, 0},
		{"leader, renewed", true, 400 * time.Millisecond, 1},
		{"leader, renewals failing", true, 2500 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		leading.Store(tt.leading)
		age.Store(int64(tt.age))
		if got := value(t, m, "tebura_replica_leader", ""); got != tt.wantLead {
			t.Errorf("%s: tebura_replica_leader = %v, want %v", tt.name, got, tt.wantLead)
		}
		if got := value(t, m, "tebura_replica_lease_age_seconds", ""); got != tt.age.Seconds() {
			t.Errorf("%s: tebura_replica_lease_age_seconds = %v, want %v", tt.name, got, tt.age.Seconds())
		}
	}
}
