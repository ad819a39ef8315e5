package bolt

import (
	"testing"
	"time"
)

// TestOpenFreesLeases: a lease left held by a process that died is freed
// when the file is opened again (only one process can hold it), so the
// restarted server leads at once, under a new token.
func TestOpenFreesLeases(t *testing.T) {
	s, clock, path := openTest(t)
	ctx := t.Context()
	l, err := s.AcquireLease(ctx, "leader", "host-100", time.Minute)
	if err != nil || l.Holder != "host-100" || l.Token != 1 {
		t.Fatalf("AcquireLease = %+v, %v", l, err)
	}
	s = reopen(t, s, clock, path) // the holder is gone; its lease has 59s left
	l, err = s.AcquireLease(ctx, "leader", "host-200", time.Minute)
	if err != nil || l.Holder != "host-200" || l.Token != 2 {
		t.Fatalf("after reopen AcquireLease = %+v, %v; want host-200 with token 2", l, err)
	}
}

// TestLeaseRenewalWritesNothing: the elector renews its lease every second
// for as long as Tebura runs; with bolt (one process per file) a renewal
// by the holder must not cost a disk commit, while a lease changing hands
// is written, so its token never goes back.
func TestLeaseRenewalWritesNothing(t *testing.T) {
	s, clock, path := openTest(t)
	ctx := t.Context()
	if _, err := s.AcquireLease(ctx, "leader", "host-1", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	st := s.db.Stats()
	writes := st.TxStats.GetWrite()
	for range 100 {
		clock.Advance(time.Second)
		l, err := s.AcquireLease(ctx, "leader", "host-1", 3*time.Second)
		if err != nil || l.Holder != "host-1" || l.Token != 1 {
			t.Fatalf("renewal = %+v, %v", l, err)
		}
	}
	st = s.db.Stats()
	if got := st.TxStats.GetWrite(); got != writes {
		t.Errorf("100 renewals wrote %d pages, want none", got-writes)
	}
	if err := s.ReleaseLease(ctx, "leader", "host-1", 1); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, clock, path)
	l, err := s.AcquireLease(ctx, "leader", "host-2", 3*time.Second)
	if err != nil || l.Token != 2 {
		t.Fatalf("after release and reopen = %+v, %v; want token 2", l, err)
	}
}
