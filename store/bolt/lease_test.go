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
