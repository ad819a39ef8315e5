package storetest

import (
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/runbooks"
)

func testReopen(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	if st.Reopen == nil {
		t.Skip("the store under test cannot be reopened")
	}
	ctx := t.Context()
	now := st.Clock.Now()

	r := newRun(now, "restart", runbooks.StateRunning)
	if err := st.Runs.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Runs.AcquireLock(ctx, runbooks.Lock{Key: "restart-api", RunID: r.ID, Holder: r.RequestedBy}); err != nil {
		t.Fatal(err)
	}
	if err := st.Callbacks.PutCallback(ctx, bot.Callback{ID: "cb1", Action: "cancel", Subject: r.ID, Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.Meta.PutMeta(ctx, "commands_version", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Dedupe.Mark(ctx, "slack-event", "Ev1", time.Hour); err != nil {
		t.Fatal(err)
	}
	log := audit.New(st.Audit, nil, st.Clock.Now)
	if err := log.Record(ctx, "slack:U1", audit.ActionRunStart, r.ID, nil); err != nil {
		t.Fatal(err)
	}

	st = st.Reopen(t)

	if got, err := st.Runs.GetRun(ctx, r.ID); err != nil || got.State != runbooks.StateRunning {
		t.Errorf("GetRun after reopen = %+v, %v", got, err)
	}
	next := newRun(now, "restart", runbooks.StatePendingApproval)
	if err := st.Runs.CreateRun(ctx, next); err != nil || next.ID != "r2" {
		t.Errorf("CreateRun after reopen assigned %q (%v); want r2: the sequence must survive", next.ID, err)
	}
	if locks, err := st.Runs.Locks(ctx); err != nil || len(locks) != 1 || locks[0].RunID != r.ID {
		t.Errorf("Locks after reopen = %+v, %v", locks, err)
	}
	if cb, err := st.Callbacks.GetCallback(ctx, "cb1"); err != nil || cb.Subject != r.ID {
		t.Errorf("GetCallback after reopen = %+v, %v", cb, err)
	}
	if v, err := st.Meta.GetMeta(ctx, "commands_version"); err != nil || string(v) != "3" {
		t.Errorf("GetMeta after reopen = %q, %v", v, err)
	}
	if first, err := st.Dedupe.Mark(ctx, "slack-event", "Ev1", time.Hour); err != nil || first {
		t.Errorf("Mark after reopen = %v, %v; want the key remembered", first, err)
	}
	log = audit.New(st.Audit, nil, st.Clock.Now)
	if err := log.Record(ctx, "slack:U1", audit.ActionRunEnd, r.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := audit.Verify(ctx, st.Audit); n != 2 || err != nil {
		t.Errorf("Verify after reopen = %d, %v; want 2, nil", n, err)
	}
}
