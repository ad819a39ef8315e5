package incident

import (
	"testing"
	"time"
)

// TestClassify walks the cycle rules of classify one delivery at a time:
// what a notification does to the stored entry of its fingerprint.
func TestClassify(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	// One cycle seen by an HA pair of Prometheus: replica B saw it first
	// (t0), replica A 30 s later; it ended at haEnd.
	haB, haA, haEnd := t0, t0.Add(30*time.Second), t0.Add(10*time.Minute)
	// Two cycles of one alert: [s1, e1) then [s2, e2).
	s1, e1 := t0, t0.Add(10*time.Minute)
	s2, e2 := t0.Add(20*time.Minute), t0.Add(30*time.Minute)

	firing := func(starts time.Time) Alert {
		return Alert{Fingerprint: "fp", Status: AlertFiring, StartsAt: starts}
	}
	resolved := func(starts, ends time.Time) Alert {
		return Alert{Fingerprint: "fp", Status: AlertResolved, StartsAt: starts, EndsAt: ends}
	}
	var zero time.Time
	tests := []struct {
		name   string
		stored *Alert // nil: not seen before
		a      Alert
		want   alertOp
	}{
		{"first sight", nil, firing(s1), opNew},
		{"first sight of a resolve", nil, resolved(s1, e1), opNew},

		{"same firing again", new(firing(haA)), firing(haA), opNone},
		{"same resolve again", new(resolved(haB, haEnd)), resolved(haB, haEnd), opNone},

		// The HA pair: Alertmanager moved startsAt back to the earliest.
		{"HA firing repeat with the earlier startsAt", new(firing(haA)), firing(haB), opNone},
		{"HA resolve with the earlier startsAt", new(firing(haA)), resolved(haB, haEnd), opResolve},
		{"HA resolve repeated with the later startsAt", new(resolved(haB, haEnd)), resolved(haA, haEnd), opNone},
		{"HA late firing with the later startsAt after the resolve", new(resolved(haB, haEnd)), firing(haA), opNone},

		// Two cycles and deliveries out of order.
		{"refire with a newer startsAt after the resolve", new(resolved(s1, e1)), firing(s2), opRefire},
		{"refire starting where the last cycle ended", new(resolved(s1, e1)), firing(e1), opRefire},
		{"late firing of the cycle already resolved", new(resolved(s1, e1)), firing(s1), opNone},
		{"stale resolve of the old cycle after the refire", new(firing(s2)), resolved(s1, e1), opNone},
		{"stale resolve ending as the new cycle began", new(firing(s2)), resolved(s1, s2), opNone},
		{"resolve of the new cycle", new(firing(s2)), resolved(s2, e2), opResolve},
		{"resolve of the same cycle within the second it fired", new(firing(s2)), resolved(s2, s2), opResolve},
		{"firing with a later start: a cycle whose resolve was missed", new(firing(s1)), firing(s2), opRefire},
		{"resolve of a later cycle whose firing was missed", new(resolved(s1, e1)), resolved(s2, e2), opUpdate},
		{"resolve of the old cycle after the new one resolved", new(resolved(s2, e2)), resolved(s1, e1), opNone},

		// Sources without times: generic JSON (none), PagerDuty Events API
		// (a resolve carries neither start nor end).
		{"resolve with zero startsAt", new(firing(zero)), resolved(zero, zero), opResolve},
		{"resolve without times over a dated firing", new(firing(s1)), resolved(zero, zero), opResolve},
		{"firing repeat with zero startsAt", new(firing(zero)), firing(zero), opNone},
		{"refire with zero startsAt", new(resolved(zero, zero)), firing(zero), opRefire},
		{"resolve repeat with zero times", new(resolved(zero, zero)), resolved(zero, zero), opNone},
		{"late firing, stored resolve without end", new(resolved(s1, zero)), firing(s1), opNone},
		{"refire, stored resolve without end", new(resolved(s1, zero)), firing(s2), opRefire},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *AlertEntry
			if tt.stored != nil {
				e = &AlertEntry{Alert: *tt.stored, Fires: 1}
			}
			if got := classify(e, e != nil, tt.a); got != tt.want {
				t.Errorf("classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func (op alertOp) String() string {
	return [...]string{opNone: "none", opNew: "new", opRefire: "refire", opResolve: "resolve", opUpdate: "update"}[op]
}
