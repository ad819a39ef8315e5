package replica

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memLeases is a LeaseStore in memory with the semantics every store keeps
// (store/storetest checks the real ones), on the bubble's clock. cut holds
// the replicas partitioned from it: their calls fail; hang holds the
// replicas whose calls wait that long before being answered.
type memLeases struct {
	mu     sync.Mutex
	leases map[string]Lease
	cut    map[string]bool
	hang   map[string]time.Duration
}

func newMemLeases() *memLeases {
	return &memLeases{leases: map[string]Lease{}, cut: map[string]bool{}, hang: map[string]time.Duration{}}
}

var errCut = errors.New("connection refused")

func (m *memLeases) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	m.mu.Lock()
	cut, hang := m.cut[holder], m.hang[holder]
	m.mu.Unlock()
	if cut {
		return Lease{}, errCut
	}
	now := time.Now()
	m.mu.Lock()
	l := m.leases[name]
	switch {
	case l.Holder == holder && now.Before(l.Expires):
		l.Expires = now.Add(ttl)
	case l.Holder == "" || !now.Before(l.Expires):
		l = Lease{Name: name, Holder: holder, Token: l.Token + 1, Expires: now.Add(ttl)}
	}
	m.leases[name] = l
	m.mu.Unlock()
	if hang > 0 {
		time.Sleep(hang) // the answer is slow to come back; the store has already renewed
	}
	return l, nil
}

func (m *memLeases) ReleaseLease(_ context.Context, name, holder string, token uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cut[holder] {
		return errCut
	}
	if l := m.leases[name]; l.Holder == holder && l.Token == token {
		l.Holder, l.Expires = "", time.Now()
		m.leases[name] = l
	}
	return nil
}

func (m *memLeases) Lease(_ context.Context, name string) (Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if !ok {
		l.Name = name
	}
	return l, nil
}

func (m *memLeases) set(f func()) { m.mu.Lock(); defer m.mu.Unlock(); f() }

// replica is one elector running in the bubble, with its leader work: a
// loop that, every 100 ms, does one unit of work under Do; spans records
// when each term's work began and ended.
type replica struct {
	e    *Elector
	stop context.CancelFunc
	done chan struct{}

	mu    sync.Mutex
	spans []span
}

type span struct {
	token      uint64
	start, end time.Time
}

func startReplica(t *testing.T, st LeaseStore, id string) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{e: NewElector(Config{Store: st, ID: id}), stop: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.e.Run(ctx) }()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			r.e.Do(ctx, func(lctx context.Context) {
				tok, _ := r.e.Leading()
				s := span{token: tok, start: time.Now()}
				<-lctx.Done() // leader work runs until the term (or the process) ends
				s.end = time.Now()
				r.mu.Lock()
				r.spans = append(r.spans, s)
				r.mu.Unlock()
			})
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	go func() { wg.Wait(); close(r.done) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *replica) terms() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]span(nil), r.spans...)
}

// waitLeader waits (on the fake clock) until one of rs leads, at most
// within, and returns it.
func waitLeader(t *testing.T, within time.Duration, rs ...*replica) (*replica, time.Duration) {
	t.Helper()
	begin := time.Now()
	for time.Since(begin) <= within {
		for _, r := range rs {
			if _, ok := r.e.Leading(); ok {
				return r, time.Since(begin)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader within %s", within)
	return nil, 0
}

func TestOneLeaderAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemLeases()
		a := startReplica(t, st, "a")
		synctest.Wait()
		if tok, ok := a.e.Leading(); !ok || tok != 1 {
			t.Fatalf("a: Leading() = %d, %v; want token 1 at once", tok, ok)
		}
		b := startReplica(t, st, "b")
		time.Sleep(10500 * time.Millisecond) // ten renewals, and half an interval
		if _, ok := b.e.Leading(); ok {
			t.Fatal("b leads while a renews the lease")
		}
		if got := b.e.Leader(); got != "a" {
			t.Errorf("b sees leader %q, want a", got)
		}
		if ran := b.e.Do(t.Context(), func(context.Context) { t.Error("leader work ran on a follower") }); ran {
			t.Error("Do reported leader work run on a follower")
		}
		if age := a.e.LeaseAge(); age <= 0 || age > DefaultRenewInterval {
			t.Errorf("leader's lease age = %s, want in (0, %s]", age, DefaultRenewInterval)
		}
		if age := b.e.LeaseAge(); age != 0 {
			t.Errorf("follower's lease age = %s, want 0", age)
		}
	})
}

// TestFailoverFencing cuts the leader off the store (a dead process, or a
// partition: the lease simply stops being renewed) and checks that the
// other replica leads within 5 s, under a new token, and that the old
// leader's work had stopped before the new leader's began.
func TestFailoverFencing(t *testing.T) {
	tests := []struct {
		name string
		lose func(st *memLeases, r *replica)
	}{
		{"partitioned from the database", func(st *memLeases, r *replica) { st.set(func() { st.cut[r.e.ID()] = true }) }},
		{"database answers too late", func(st *memLeases, r *replica) { st.set(func() { st.hang[r.e.ID()] = 4 * time.Second }) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemLeases()
				a := startReplica(t, st, "a")
				synctest.Wait()
				b := startReplica(t, st, "b")
				time.Sleep(2500 * time.Millisecond)
				tt.lose(st, a)
				lost := time.Now()
				nb, took := waitLeader(t, 30*time.Second, b)
				if took > 5*time.Second {
					t.Errorf("b led %s after a lost the database; want within 5s", took)
				}
				tok, _ := nb.e.Leading()
				if tok != 2 {
					t.Errorf("new leader's token = %d, want 2", tok)
				}
				if _, ok := a.e.Leading(); ok {
					t.Error("a still leads after b took the lease")
				}
				time.Sleep(time.Second) // let b's work begin
				aTerms, bTerms := a.terms(), b.terms()
				if len(aTerms) != 1 || aTerms[0].token != 1 {
					t.Fatalf("a's terms = %+v, want one under token 1", aTerms)
				}
				if aTerms[0].end.Before(lost) {
					t.Errorf("a's work ended %s before it lost the database", lost.Sub(aTerms[0].end))
				}
				b.stop() // ends b's work, so its span is recorded
				<-b.done
				bTerms = b.terms()
				if len(bTerms) != 1 || bTerms[0].token != 2 {
					t.Fatalf("b's terms = %+v, want one under token 2", bTerms)
				}
				if !aTerms[0].end.Before(bTerms[0].start) {
					t.Errorf("a's work ended at +%s, b's began at +%s: both led at once",
						aTerms[0].end.Sub(lost), bTerms[0].start.Sub(lost))
				}
			})
		})
	}
}

// TestStopHandsOver checks that a replica stopping cleanly releases the
// lease, so the next one leads at its next try rather than when the lease
// would have lapsed.
func TestStopHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemLeases()
		a := startReplica(t, st, "a")
		synctest.Wait()
		b := startReplica(t, st, "b")
		time.Sleep(1500 * time.Millisecond)
		a.stop()
		<-a.done
		_, took := waitLeader(t, 30*time.Second, b)
		if took > DefaultRenewInterval {
			t.Errorf("b led %s after a stopped; want within one renew interval (%s)", took, DefaultRenewInterval)
		}
		if got := a.terms(); len(got) != 1 {
			t.Errorf("a's terms = %+v, want its one term ended", got)
		}
	})
}

// TestRegainAfterPartition checks that a leader that lost the database
// leads again, under a new token, once it is back and nobody else took
// the lease; its old work does not resume under the old token.
func TestRegainAfterPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemLeases()
		a := startReplica(t, st, "a")
		synctest.Wait()
		st.set(func() { st.cut["a"] = true })
		time.Sleep(5 * time.Second)
		if _, ok := a.e.Leading(); ok {
			t.Fatal("a leads while cut off from the database")
		}
		st.set(func() { delete(st.cut, "a") })
		time.Sleep(2 * time.Second)
		if tok, ok := a.e.Leading(); !ok || tok != 2 {
			t.Fatalf("a: Leading() = %d, %v; want token 2 once back", tok, ok)
		}
		a.stop()
		<-a.done
		got := a.terms()
		if len(got) != 2 || got[0].token != 1 || got[1].token != 2 || !got[0].end.Before(got[1].start) {
			t.Errorf("a's terms = %+v, want token 1 ended, then token 2", got)
		}
	})
}

// TestTryNowLeadsAtOnce: a lone replica leads after one try, before its
// renewal loop runs, and its term ends by itself when nothing renews it.
func TestTryNowLeadsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewElector(Config{Store: newMemLeases(), ID: "solo"})
		if _, ok := e.Leading(); ok {
			t.Fatal("leads before asking")
		}
		e.TryNow(t.Context())
		if tok, ok := e.Leading(); !ok || tok != 1 {
			t.Fatalf("Leading() = %d, %v after TryNow; want token 1", tok, ok)
		}
		ran := false
		e.Do(t.Context(), func(context.Context) { ran = true })
		if !ran {
			t.Error("Do did not run leader work on the leader")
		}
		time.Sleep(DefaultLeaseDuration)
		if _, ok := e.Leading(); ok {
			t.Error("still leads a whole lease after its only renewal")
		}
	})
}
