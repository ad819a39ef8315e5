package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/replica"
	"github.com/tebura/tebura/store/postgres/pgtest"
)

// electing is one replica's elector on its own connection pool, recording
// when its leader work began and ended.
type electing struct {
	e    *replica.Elector
	s    *Store
	stop context.CancelFunc
	done chan struct{}

	mu          sync.Mutex
	began, quit time.Time
}

func elect(t *testing.T, dsn, id string) *electing {
	t.Helper()
	s, err := Open(t.Context(), dsn, Options{MaxConns: 2}) // the real clock
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &electing{e: replica.NewElector(replica.Config{Store: s, ID: id, LeaseDuration: 3 * time.Second, RenewInterval: time.Second}),
		s: s, stop: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.e.Run(ctx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			r.e.Do(ctx, func(lctx context.Context) {
				r.mu.Lock()
				r.began = time.Now()
				r.mu.Unlock()
				<-lctx.Done()
				r.mu.Lock()
				r.quit = time.Now()
				r.mu.Unlock()
			})
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	go func() { wg.Wait(); close(r.done) }()
	t.Cleanup(func() { cancel(); <-r.done; s.Close() })
	return r
}

func (r *electing) span() (began, quit time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.began, r.quit
}

// TestLeaderFailoverOnPostgres: two replicas elect one leader through the
// leases table; when the leader loses the database (its pool closed: every
// renewal fails, as for a dead process or a partition) the other leads
// within 5 s under the next token, and the old leader's work had stopped
// before the new leader's began. A clean stop hands over at the next try.
func TestLeaderFailoverOnPostgres(t *testing.T) {
	pgtest.Need(t)
	dsn := pgtest.DSN(t)
	a := elect(t, dsn, "a")
	waitFor(t, 30*time.Second, "a leads", func() bool { _, ok := a.e.Leading(); return ok })
	b := elect(t, dsn, "b")
	time.Sleep(1500 * time.Millisecond)
	if _, ok := b.e.Leading(); ok {
		t.Fatal("b leads while a renews")
	}

	a.s.Close() // a loses the database
	lost := time.Now()
	waitFor(t, 30*time.Second, "b leads", func() bool { _, ok := b.e.Leading(); return ok })
	took := time.Since(lost)
	t.Logf("b led %s after a lost the database", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("b led %s after a lost the database; want within 5s", took)
	}
	if tok, _ := b.e.Leading(); tok != 2 {
		t.Errorf("b's token = %d, want 2", tok)
	}
	waitFor(t, 10*time.Second, "b's work begins", func() bool { began, _ := b.span(); return !began.IsZero() })
	_, aQuit := a.span()
	bBegan, _ := b.span()
	if aQuit.IsZero() || !aQuit.Before(bBegan) {
		t.Errorf("a's work stopped at %v, b's began at %v: both led at once", aQuit, bBegan)
	}

	c := elect(t, dsn, "c")
	time.Sleep(500 * time.Millisecond)
	b.stop()
	<-b.done
	stopped := time.Now()
	waitFor(t, 30*time.Second, "c leads", func() bool { _, ok := c.e.Leading(); return ok })
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("c led %s after b stopped cleanly; want within one renew interval or so", took)
	}
	if tok, _ := c.e.Leading(); tok != 3 {
		t.Errorf("c's token = %d, want 3", tok)
	}
}

// waitFor polls cond every 10ms until it holds, failing after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
