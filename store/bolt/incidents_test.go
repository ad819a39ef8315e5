package bolt

import (
	"fmt"
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
			return incidentStores(reopen(t, s, clock, path), clock, path)
		},
	}
}

func TestIncidentConformance(t *testing.T) {
	storetest.RunIncidents(t, func(t *testing.T) storetest.IncidentStores {
		return incidentStores(openTest(t))
	})
}

// TestIncidentUpdatePanic: a panic inside the transaction does not leave
// the writer lock held.
func TestIncidentUpdatePanic(t *testing.T) {
	s, _, _ := openTest(t)
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
