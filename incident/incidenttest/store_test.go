package incidenttest_test

import (
	"testing"

	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/store/storetest"
)

// TestConformance keeps the in-memory store honest: it passes the same
// suite as store/bolt, so tests built on it see real store behaviour.
func TestConformance(t *testing.T) {
	storetest.RunIncidents(t, func(t *testing.T) storetest.IncidentStores {
		return storetest.IncidentStores{Store: incidenttest.NewStore(), Clock: storetest.NewClock(storetest.Epoch())}
	})
}
