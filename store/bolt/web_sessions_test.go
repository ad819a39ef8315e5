package bolt

import (
	"testing"

	"github.com/tebura/tebura/store/storetest"
)

// sessionStores presents s to the session conformance suite.
func sessionStores(s *Store, clock *storetest.Clock, path string) storetest.SessionStores {
	return storetest.SessionStores{
		Sessions: s, Clock: clock,
		Reopen: func(t *testing.T) storetest.SessionStores {
			t.Helper()
			return sessionStores(reopen(t, s, clock, path), clock, path)
		},
	}
}

func TestSessionConformance(t *testing.T) {
	storetest.RunSessions(t, func(t *testing.T) storetest.SessionStores {
		return sessionStores(openTest(t))
	})
}
