package bolt

import (
	"fmt"
	"sync"

	bbolt "go.etcd.io/bbolt"
)

// Group commit of incident writes.
//
// Every webhook is one UpdateIncidents, and a bbolt commit costs an fsync
// (milliseconds). Serialized one by one, eight Alertmanager senders wait on
// each other's fsyncs and the p99 of a webhook grows with the queue. So
// concurrent UpdateIncidents share one write transaction: the first caller
// becomes the leader and runs its fn in a transaction; the callers that
// arrive while it commits queue up, and the next leader runs all of them in
// one transaction and one fsync. A lone caller never waits for company
// (unlike bbolt's DB.Batch, which holds every batch for MaxBatchDelay, 10ms
// by default, and would add that to each sequential webhook).
//
// The price is bbolt's: fn may run more than once. When one fn of a batch
// fails (or panics), the transaction is rolled back, the failing call is
// taken out and run alone (its result, error or not, is its own), and the
// others run again together. So fn must reset what it captures at its
// start and do nothing outside the transaction (incident.Store says so).
// One caller's error never fails another's write.

// batchCall is one queued UpdateIncidents.
type batchCall struct {
	fn func(tx *incidentTx) error
	// Set by the leader before done is closed.
	err      error
	panicked any
	done     chan struct{}
}

// batcher queues incident write transactions. Its zero value is ready.
type batcher struct {
	mu      sync.Mutex
	pending []*batchCall    // FIFO
	leading bool            // a leader is running a batch
	waiters []chan struct{} // callers waiting for the leader to finish
}

// maxBatch bounds how many calls share one transaction, so that one
// transaction (and a retry after a failure) stays short.
const maxBatch = 128

// run runs fn in a write transaction shared with the concurrent callers,
// and returns fn's error or the commit's. A panic in fn is re-raised in
// the caller's goroutine, after the transaction was rolled back.
func (b *batcher) run(db *bbolt.DB, fn func(tx *incidentTx) error) error {
	c := &batchCall{fn: fn, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	for b.leading {
		// Wait for the running batch: either it ran our call, or one of
		// the woken callers leads the next batch.
		wake := make(chan struct{})
		b.waiters = append(b.waiters, wake)
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.result()
		case <-wake:
		}
		b.mu.Lock()
	}
	b.leading = true
	// Lead until our own call ran: batches are taken in arrival order.
	for !c.finished() {
		n := min(len(b.pending), maxBatch)
		calls := b.pending[:n:n]
		b.pending = append([]*batchCall(nil), b.pending[n:]...)
		b.mu.Unlock()
		runBatch(db, calls)
		b.mu.Lock()
	}
	b.leading = false
	waiters := b.waiters
	b.waiters = nil
	b.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
	return c.result()
}

func (c *batchCall) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *batchCall) result() error {
	if c.panicked != nil {
		panic(c.panicked)
	}
	return c.err
}

// runBatch runs calls in one transaction. A call whose fn fails (or
// panics) is taken out and the others run again together; each call taken
// out then runs alone, and that run's outcome is its result. Every call's
// done is closed.
func runBatch(db *bbolt.DB, calls []*batchCall) {
	var solos []*batchCall
	for len(calls) > 1 {
		failed, err := attempt(db, calls)
		if failed < 0 {
			for _, c := range calls {
				c.err = err
				close(c.done)
			}
			calls = nil
			break
		}
		solos = append(solos, calls[failed])
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
	solos = append(solos, calls...)
	for _, c := range solos {
		_, c.err = attempt(db, []*batchCall{c})
		close(c.done)
	}
}

// attempt runs calls in one write transaction and commits it when any of
// them wrote. It returns the index of the first call whose fn failed or
// panicked (the transaction is then rolled back) with its error, or -1
// and the commit's error.
func attempt(db *bbolt.DB, calls []*batchCall) (failed int, err error) {
	btx, err := db.Begin(true)
	if err != nil {
		return -1, storageError(err, "begin incident update")
	}
	// Rolls back on an error or a panic; a no-op after Commit.
	defer func() { _ = btx.Rollback() }()
	dirty := false
	for i, c := range calls {
		c.panicked = nil
		tx := &incidentTx{tx: btx, writable: true}
		if err := callFn(c, tx); err != nil || c.panicked != nil {
			if err == nil {
				err = fmt.Errorf("bolt: incident update panicked: %v", c.panicked)
			}
			return i, storageError(err, "update incidents")
		}
		dirty = dirty || tx.dirty
	}
	if !dirty {
		return -1, nil // a repeated payload: no commit, no fsync
	}
	return -1, storageError(btx.Commit(), "commit incident update")
}

// callFn runs c.fn, turning a panic into c.panicked.
func callFn(c *batchCall, tx *incidentTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.panicked = p
		}
	}()
	return c.fn(tx)
}
