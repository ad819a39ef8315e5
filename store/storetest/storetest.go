// Package storetest is the conformance suite every Tebura store passes:
// store/bolt today, a PostgreSQL store later. It checks the behaviour the
// domain packages rely on and cannot see from their side: sequence numbers,
// atomic read-modify-write under concurrency, atomic locks and dedupe keys,
// an audit chain that never forks, and data that survives a restart.
//
// A store's own test calls Run with a function that opens a fresh, empty
// store on a Clock the suite controls.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/replica"
	"github.com/tebura/tebura/runbooks"
)

// Callbacks stores what a button's opaque callback ID stands for.
type Callbacks interface {
	PutCallback(ctx context.Context, cb bot.Callback) error
	// GetCallback returns a tebura ENOTFOUND error for an unknown ID.
	GetCallback(ctx context.Context, id string) (bot.Callback, error)
}

// Meta is a small key-value space for bookkeeping (last config hash,
// registered command versions).
type Meta interface {
	// GetMeta returns nil and no error for an absent key.
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, v []byte) error
}

// Stores is one opened store seen through every interface the suite checks.
// Usually all fields are the same value.
type Stores struct {
	Runs      runbooks.Store
	Audit     audit.Store
	Dedupe    bot.Deduper
	Callbacks Callbacks
	Meta      Meta
	// Outbox keeps chat messages not delivered yet; nil skips its tests.
	Outbox bot.OutboxStore
	// Leases keeps the leader lease (replica.LeaseStore); nil skips its
	// tests.
	Leases replica.LeaseStore
	// Logs keeps run logs in chunks (runbooks.LogStore); nil skips its
	// tests.
	Logs runbooks.LogStore
	// Changes keeps the changes to services (hints); nil skips its tests.
	Changes hints.ChangeStore
	// Clock is the clock the store was opened with; the suite advances it
	// to expire dedupe keys.
	Clock *Clock
	// Reopen closes the store and opens it again on the same data with the
	// same Clock, returning the reopened store. The suite calls it at most
	// once per store; nil skips the persistence test.
	Reopen func(t *testing.T) Stores
}

// Clock is a manual clock for stores under test. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; pass it as the store's clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Epoch returns a fixed time, in UTC, that stores under test can start
// their Clock at.
func Epoch() time.Time { return time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC) }

// Run runs the conformance suite. open must return a fresh, empty store each
// time it is called, opened on a Clock; cleanup is registered on t.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	t.Run("runs", func(t *testing.T) { testRuns(t, open) })
	t.Run("update_run", func(t *testing.T) { testUpdateRun(t, open) })
	t.Run("list_runs", func(t *testing.T) { testListRuns(t, open) })
	t.Run("locks", func(t *testing.T) { testLocks(t, open) })
	t.Run("dedupe", func(t *testing.T) { testDedupe(t, open) })
	t.Run("callbacks", func(t *testing.T) { testCallbacks(t, open) })
	t.Run("meta", func(t *testing.T) { testMeta(t, open) })
	t.Run("outbox", func(t *testing.T) { testOutbox(t, open) })
	t.Run("changes", func(t *testing.T) { testChanges(t, open) })
	t.Run("audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("reopen", func(t *testing.T) { testReopen(t, open) })
	t.Run("leases", func(t *testing.T) { testLeases(t, open) })
	t.Run("logs", func(t *testing.T) { testLogs(t, open) })
}
