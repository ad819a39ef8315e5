package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/replica"
)

// testLeases checks the leader lease: one holder at a time by the store's
// clock, renewals keep the token, every change of hands (or a lapse)
// raises it, a release hands over at once, and a stale holder can neither
// renew nor release what another now holds.
func testLeases(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	if st.Leases == nil {
		t.Skip("store keeps no leases")
	}
	ctx := t.Context()
	const ttl = 3 * time.Second
	acquire := func(name, holder string) replica.Lease {
		t.Helper()
		l, err := st.Leases.AcquireLease(ctx, name, holder, ttl)
		if err != nil {
			t.Fatalf("AcquireLease(%s, %s): %v", name, holder, err)
		}
		return l
	}
	release := func(holder string, token uint64) {
		t.Helper()
		if err := st.Leases.ReleaseLease(ctx, "leader", holder, token); err != nil {
			t.Fatalf("ReleaseLease(%s, %d): %v", holder, token, err)
		}
	}
	steps := []struct {
		name       string
		advance    time.Duration
		do         func() replica.Lease
		wantHolder string
		wantToken  uint64
		wantExpiry time.Duration // after Epoch
	}{
		{"free lease taken", 0, func() replica.Lease { return acquire("leader", "a") }, "a", 1, ttl},
		{"held: other refused", time.Second, func() replica.Lease { return acquire("leader", "b") }, "a", 1, ttl},
		{"renewed: same token, later expiry", 0, func() replica.Lease { return acquire("leader", "a") }, "a", 1, time.Second + ttl},
		{"just before lapse: other refused", ttl - time.Nanosecond, func() replica.Lease { return acquire("leader", "b") }, "a", 1, time.Second + ttl},
		{"lapsed: other takes it, next token", time.Nanosecond, func() replica.Lease { return acquire("leader", "b") }, "b", 2, time.Second + 2*ttl},
		{"stale holder cannot renew", 0, func() replica.Lease { return acquire("leader", "a") }, "b", 2, time.Second + 2*ttl},
		{"stale release does nothing", 0, func() replica.Lease { release("a", 1); return acquire("leader", "c") }, "b", 2, time.Second + 2*ttl},
		{"wrong token release does nothing", 0, func() replica.Lease { release("b", 1); return acquire("leader", "c") }, "b", 2, time.Second + 2*ttl},
		{"released: taken at once, next token", time.Second, func() replica.Lease { release("b", 2); return acquire("leader", "c") }, "c", 3, 2*time.Second + 2*ttl},
		{"lapsed with no taker: same holder gets a new token", ttl, func() replica.Lease { return acquire("leader", "c") }, "c", 4, 2*time.Second + 3*ttl},
		{"other names are other leases", 0, func() replica.Lease { return acquire("other", "a") }, "a", 1, 2*time.Second + 3*ttl},
	}
	if l, err := st.Leases.Lease(ctx, "leader"); err != nil || l != (replica.Lease{Name: "leader"}) {
		t.Errorf("Lease of a lease never taken = %+v, %v; want the zero lease named leader", l, err)
	}
	for _, s := range steps {
		st.Clock.Advance(s.advance)
		l := s.do()
		want := Epoch().Add(s.wantExpiry)
		if l.Holder != s.wantHolder || l.Token != s.wantToken || !l.Expires.Equal(want) {
			t.Errorf("%s: got holder %q token %d expires %s; want %q, %d, %s",
				s.name, l.Holder, l.Token, l.Expires.Format(time.RFC3339Nano), s.wantHolder, s.wantToken, want.Format(time.RFC3339Nano))
		}
		read, err := st.Leases.Lease(ctx, l.Name)
		if err != nil || read.Holder != l.Holder || read.Token != l.Token || !read.Expires.Equal(l.Expires) {
			t.Errorf("%s: Lease(%s) = %+v, %v; want what AcquireLease returned, %+v", s.name, l.Name, read, err, l)
		}
	}
	t.Run("alive", func(t *testing.T) {
		st := open(t)
		const id = "tebura-1"
		alive := func() bool {
			t.Helper()
			ok, err := replica.Alive(t.Context(), st.Leases, id, st.Clock.Now())
			if err != nil {
				t.Fatalf("Alive: %v", err)
			}
			return ok
		}
		if alive() {
			t.Error("a replica that never beat is alive")
		}
		if _, err := st.Leases.AcquireLease(t.Context(), replica.HeartbeatLease(id), id, ttl); err != nil {
			t.Fatal(err)
		}
		if !alive() {
			t.Error("a replica whose heartbeat was just renewed is not alive")
		}
		st.Clock.Advance(ttl)
		if alive() {
			t.Error("a replica whose heartbeat lapsed is alive")
		}
	})

	t.Run("concurrent takers, one holder", func(t *testing.T) {
		st := open(t)
		const n = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			got   = make([]replica.Lease, n)
			errs  = make([]error, n)
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = st.Leases.AcquireLease(t.Context(), "leader", string(rune('a'+i)), ttl)
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("AcquireLease #%d: %v", i, errs[i])
			}
			if got[i].Holder != got[0].Holder || got[i].Token != 1 {
				t.Errorf("taker %d saw holder %q token %d; taker 0 saw %q: want one holder, token 1", i, got[i].Holder, got[i].Token, got[0].Holder)
			}
		}
	})
}
