package bolt

import (
	"path/filepath"
	"testing"

	"github.com/tebura/tebura/store/storetest"
)

// incidentStores presents s to the incident conformance suite.
func incidentStores(s *Store, clock *storetest.Clock, path string) storetest.IncidentStores {
	return storetest.IncidentStores{
		Store: s, Clock: clock,
		Reopen: func(t *testing.T) storetest.IncidentStores {
			t.Helper()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s2, err := Open(path, Options{Clock: clock.Now})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			t.Cleanup(func() { s2.Close() })
			return incidentStores(s2, clock, path)
		},
	}
}

func TestIncidentConformance(t *testing.T) {
	storetest.RunIncidents(t, func(t *testing.T) storetest.IncidentStores {
		return incidentStores(openIncidentTest(t))
	})
}

func openIncidentTest(t *testing.T) (*Store, *storetest.Clock, string) {
	t.Helper()
	clock := storetest.NewClock(storetest.Epoch())
	path := filepath.Join(t.TempDir(), "tebura.db")
	s, err := Open(path, Options{Clock: clock.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock, path
}
