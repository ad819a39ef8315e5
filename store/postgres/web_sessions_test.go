package postgres

import (
	"testing"

	"github.com/tebura/tebura/store/storetest"
)

// sessionStores presents s to the session conformance suite.
func sessionStores(s *Store, clock *storetest.Clock, dsn string) storetest.SessionStores {
	return storetest.SessionStores{
		Sessions: s, Clock: clock,
		Reopen: func(t *testing.T) storetest.SessionStores {
			t.Helper()
			s.Close()
			return sessionStores(openDSN(t, dsn, clock), clock, dsn)
		},
	}
}

func TestSessionConformance(t *testing.T) {
	storetest.RunSessions(t, func(t *testing.T) storetest.SessionStores { return sessionStores(openTest(t)) })
}
