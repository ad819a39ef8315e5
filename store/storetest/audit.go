package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tebura/tebura/audit"
)

// entries reads the whole chain.
func entries(t *testing.T, s audit.Store) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	if err := s.AuditEntries(t.Context(), func(e audit.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatalf("AuditEntries: %v", err)
	}
	return out
}

func testAudit(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	if n, err := audit.Verify(ctx, st.Audit); n != 0 || err != nil {
		t.Fatalf("Verify on an empty chain = %d, %v", n, err)
	}
	log := audit.New(st.Audit, nil, st.Clock.Now)
	actions := []audit.Action{audit.ActionRunRequest, audit.ActionRunApprove, audit.ActionRunStart}
	for _, a := range actions {
		if err := log.Record(ctx, "slack:U1", a, "r1", map[string]string{"runbook": "restart"}); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	got := entries(t, st.Audit)
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || e.Action != actions[i] || e.Detail["runbook"] != "restart" || !e.Time.Equal(st.Clock.Now()) {
			t.Errorf("entry %d = %+v", i, e)
		}
		if i > 0 && e.Prev != got[i-1].Hash {
			t.Errorf("entry %d does not link to entry %d", e.Seq, got[i-1].Seq)
		}
	}

	t.Run("fn error writes nothing", func(t *testing.T) {
		errStop := errors.New("stop")
		if _, err := st.Audit.AppendAudit(ctx, func(last *audit.Entry) (audit.Entry, error) {
			if last == nil || last.Seq != 3 {
				t.Errorf("last = %+v, want seq 3", last)
			}
			return audit.Entry{}, errStop
		}); !errors.Is(err, errStop) {
			t.Errorf("AppendAudit = %v, want the fn's error", err)
		}
		if n := len(entries(t, st.Audit)); n != 3 {
			t.Errorf("%d entries after a failed append, want 3", n)
		}
	})

	t.Run("a fork is refused", func(t *testing.T) {
		for _, seq := range []uint64{0, 2, 3, 5} {
			_, err := st.Audit.AppendAudit(ctx, func(last *audit.Entry) (audit.Entry, error) {
				e := audit.Entry{Seq: seq, Time: st.Clock.Now(), Actor: "system", Action: "x", Prev: last.Hash}
				e.Hash = audit.Hash(e)
				return e, nil
			})
			if err == nil {
				t.Errorf("AppendAudit with seq %d after 3 succeeded", seq)
			}
		}
		if n, err := audit.Verify(ctx, st.Audit); n != 3 || err != nil {
			t.Errorf("Verify = %d, %v; want 3, nil", n, err)
		}
	})

	t.Run("fn's error stops iteration", func(t *testing.T) {
		errStop := errors.New("stop")
		calls := 0
		err := st.Audit.AuditEntries(ctx, func(audit.Entry) error { calls++; return errStop })
		if !errors.Is(err, errStop) || calls != 1 {
			t.Errorf("AuditEntries = %v after %d calls; want the error after 1", err, calls)
		}
	})

	t.Run("concurrent appends keep one chain", func(t *testing.T) {
		const n = 30
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := log.Record(ctx, fmt.Sprintf("slack:U%d", i), audit.ActionRunApprove, "r2", nil); err != nil {
					t.Errorf("Record: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		count, err := audit.Verify(ctx, st.Audit)
		if err != nil || count != 3+n {
			t.Fatalf("Verify = %d, %v; want %d, nil", count, err, 3+n)
		}
		actors := map[string]bool{}
		for _, e := range entries(t, st.Audit)[3:] {
			actors[e.Actor] = true
		}
		if len(actors) != n {
			t.Errorf("%d distinct actors in the chain, want %d", len(actors), n)
		}
	})
}
