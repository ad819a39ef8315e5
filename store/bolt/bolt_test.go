package bolt

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/store/storetest"
)

// openTest opens a fresh store in a temporary dir on a manual clock.
func openTest(t *testing.T) (*Store, *storetest.Clock, string) {
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

// stores presents s to the conformance suite.
func stores(s *Store, clock *storetest.Clock, path string) storetest.Stores {
	return storetest.Stores{
		Runs: s, Audit: s, Dedupe: s, Callbacks: s, Meta: s, Outbox: s, Changes: s, Leases: s, Logs: s, Clock: clock,
		Reopen: func(t *testing.T) storetest.Stores {
			t.Helper()
			return stores(reopen(t, s, clock, path), clock, path)
		},
	}
}

// reopen closes s and opens its file at path again on the same clock, as
// the conformance suites' persistence tests ask.
func reopen(t *testing.T, s *Store, clock *storetest.Clock, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(path, Options{Clock: clock.Now})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		return stores(openTest(t))
	})
}

func TestOpenInUseFailsFast(t *testing.T) {
	_, _, path := openTest(t)
	tests := []struct {
		name    string
		timeout time.Duration // passed to Open
		want    time.Duration // how long Open should wait
	}{
		{"explicit timeout", 200 * time.Millisecond, 200 * time.Millisecond},
		{"default timeout", 0, DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s2, err := Open(path, Options{Timeout: tt.timeout})
			elapsed := time.Since(start)
			if err == nil {
				s2.Close()
				t.Fatal("a second Open of a file in use succeeded")
			}
			if tebura.ErrorCode(err) != tebura.ECONFLICT {
				t.Errorf("code = %q, want %q", tebura.ErrorCode(err), tebura.ECONFLICT)
			}
			msg := tebura.ErrorMessage(err)
			if !strings.Contains(msg, "The data dir "+filepath.Dir(path)+" is in use by another tebura process") {
				t.Errorf("message %q does not say the data dir is in use", msg)
			}
			// bbolt retries the lock every 50 ms and stops one retry short
			// of the timeout, so it gives up a little early.
			if elapsed < tt.want-100*time.Millisecond || elapsed > tt.want+2*time.Second {
				t.Errorf("Open gave up after %v; want about %v", elapsed, tt.want)
			}
		})
	}
}
