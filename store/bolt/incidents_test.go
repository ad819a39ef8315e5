package bolt

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tebura/tebura/incident"
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

// TestIncidentUpdatePanic: a panic inside the transaction does not leave
// the writer lock held.
func TestIncidentUpdatePanic(t *testing.T) {
	s, _, _ := openIncidentTest(t)
	func() {
		defer func() { recover() }()
		s.UpdateIncidents(t.Context(), func(tx incident.Tx) error {
			tx.NextNumber()
			panic("boom")
		})
	}()
	done := make(chan error, 1)
	go func() {
		done <- s.UpdateIncidents(t.Context(), func(tx incident.Tx) error {
			n, err := tx.NextNumber()
			if err == nil && n != 1 {
				err = fmt.Errorf("NextNumber = %d after a panicked transaction, want 1", n)
			}
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write lock is still held after a panic")
	}
}
