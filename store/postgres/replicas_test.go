package postgres

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/postgres/pgtest"
	"github.com/tebura/tebura/store/storetest"
)

// twoReplicas opens two stores on one fresh database, as two tebura
// processes would: they share nothing but the database.
func twoReplicas(t *testing.T) ([2]*Store, *storetest.Clock) {
	t.Helper()
	dsn := pgtest.DSN(t)
	clock := storetest.NewClock(storetest.Epoch())
	return [2]*Store{openDSN(t, dsn, clock), openDSN(t, dsn, clock)}, clock
}

// TestApprovalsAcrossReplicas: 50 concurrent approvals of one run, spread
// over two replicas, make one winner; the others see it approved.
func TestApprovalsAcrossReplicas(t *testing.T) {
	rs, clock := twoReplicas(t)
	ctx := t.Context()
	run := &runbooks.Run{Runbook: "restart", State: runbooks.StatePendingApproval, Required: 1}
	if err := rs[0].CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	errTaken := errors.New("already approved")
	const n = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	var winners []string
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			by := fmt.Sprintf("slack:U%d", i)
			_, err := rs[i%2].UpdateRun(ctx, run.ID, func(r *runbooks.Run) error {
				if r.State != runbooks.StatePendingApproval {
					return errTaken
				}
				r.Approvals = append(r.Approvals, runbooks.Decision{By: by, At: clock.Now()})
				r.State = runbooks.StateApproved
				return nil
			})
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, by)
				mu.Unlock()
			case !errors.Is(err, errTaken):
				t.Errorf("UpdateRun: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("winners %q; want exactly one", winners)
	}
	got, err := rs[1].GetRun(ctx, run.ID)
	if err != nil || len(got.Approvals) != 1 || got.Approvals[0].By != winners[0] {
		t.Errorf("stored %+v, %v; want one approval by %s", got, err, winners[0])
	}
}

// TestLockRaceAcrossReplicas: two replicas racing for one lock: one holds
// it, and the other is told who.
func TestLockRaceAcrossReplicas(t *testing.T) {
	rs, _ := twoReplicas(t)
	ctx := t.Context()
	for round := range 20 {
		key := fmt.Sprintf("deploy-%d", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		got := make([]runbooks.Lock, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = rs[i].AcquireLock(ctx, runbooks.Lock{Key: key, RunID: fmt.Sprintf("r%d", i+1), Holder: fmt.Sprintf("slack:U%d", i+1)})
			}()
		}
		close(start)
		wg.Wait()
		win, lose := 0, 1
		if errs[0] != nil {
			win, lose = 1, 0
		}
		if errs[win] != nil || tebura.ErrorCode(errs[lose]) != tebura.ECONFLICT {
			t.Fatalf("round %d: errors %v; want one winner and one ECONFLICT", round, errs)
		}
		if want := fmt.Sprintf("r%d", win+1); got[lose].RunID != want || got[lose].Holder != fmt.Sprintf("slack:U%d", win+1) {
			t.Fatalf("round %d: the loser was told %+v; want %s", round, got[lose], want)
		}
	}
}

// TestAuditChainAcrossReplicas: appenders on two replicas write one chain
// that verifies.
func TestAuditChainAcrossReplicas(t *testing.T) {
	rs, clock := twoReplicas(t)
	ctx := t.Context()
	const n = 40
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			log := audit.New(rs[i%2], nil, clock.Now)
			if err := log.Record(ctx, fmt.Sprintf("slack:U%d", i), audit.ActionRunApprove, "r1", nil); err != nil {
				t.Errorf("Record: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if count, err := audit.Verify(ctx, rs[1]); err != nil || count != n {
		t.Fatalf("Verify = %d, %v; want %d, nil", count, err, n)
	}
}

// TestIngestAcrossReplicas: the same alert storm sent to two replicas at
// once (every webhook to both, as a retry through another replica would)
// opens each incident once and counts each alert once.
func TestIngestAcrossReplicas(t *testing.T) {
	rs, clock := twoReplicas(t)
	ctx := t.Context()
	var svcs [2]*incident.Service
	for i, s := range rs {
		rules, err := incident.CompileRules([]config.Automation{{Name: "diag", Match: []string{`alertname=~"Storm.*"`}, Diagnostics: []string{"api-health"}, OnceWithin: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		svcs[i], err = incident.New(s, config.Incidents{AutoResolve: true, ReopenWithin: 30 * time.Minute}, rules, clock.Now, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	opened, diags := map[int64]int{}, 0
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range 40 {
				res, err := svcs[i].Ingest(ctx, storetest.StormBatch(w, clock.Now()))
				if err != nil {
					t.Errorf("Ingest: %v", err)
					return
				}
				mu.Lock()
				for _, c := range res.Changes {
					if c.Opened {
						opened[c.Incident.Number]++
					}
					diags += len(c.Actions.Diagnostics)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(opened) != 20 || diags != 20 {
		t.Fatalf("opened %v and %d diagnostics; want 20 incidents opened once each, one diagnostics each", opened, diags)
	}
	for n, c := range opened {
		if c != 1 {
			t.Errorf("incident #%d opened %d times", n, c)
		}
	}
	list, err := svcs[1].List(ctx, incident.ListOptions{OpenOnly: true})
	if err != nil || len(list) != 20 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	for _, inc := range list {
		if inc.AlertCount != 200 {
			t.Errorf("%s has %d alerts, want 200", inc.Ref(), inc.AlertCount)
		}
	}
}

// TestKeysWithNUL: keys that come from outside keep a NUL byte, which
// PostgreSQL text cannot hold.
func TestKeysWithNUL(t *testing.T) {
	s, clock, _ := openTest(t)
	ctx := t.Context()
	err := s.UpdateIncidents(ctx, func(tx incident.Tx) error {
		if err := tx.SetKeyIndex("am:\x00{}", 7); err != nil {
			return err
		}
		if err := tx.SetMark("delivery/\x00d", clock.Now()); err != nil {
			return err
		}
		return tx.PutAlert(7, &incident.AlertEntry{Alert: incident.Alert{Fingerprint: "f\x00p", Labels: map[string]string{"a": "b\x00c"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.ViewIncidents(ctx, func(tx incident.Tx) error {
		if n, ok, err := tx.KeyIndex("am:\x00{}"); n != 7 || !ok || err != nil {
			t.Errorf("KeyIndex = %d %v %v", n, ok, err)
		}
		if _, ok, err := tx.KeyIndex("am:"); ok || err != nil {
			t.Errorf("KeyIndex of the prefix before the NUL = %v %v; want none", ok, err)
		}
		if _, ok, err := tx.Mark("delivery/\x00d"); !ok || err != nil {
			t.Errorf("Mark = %v %v", ok, err)
		}
		e, ok, err := tx.Alert(7, "f\x00p")
		if !ok || err != nil || e.Labels["a"] != "b\x00c" {
			t.Errorf("Alert = %+v %v %v", e, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDatabaseRestart: while the server is down every write fails with
// ETRANSIENT (a webhook answers 5xx and is retried, nothing is claimed
// stored), and once it is back the same store works again by itself.
func TestDatabaseRestart(t *testing.T) {
	srv := pgtest.Shared(t)
	if srv == nil {
		t.Skip("the tests use " + pgtest.EnvDSN + ", a server they cannot restart")
	}
	s, _, _ := openTest(t)
	ctx := t.Context()
	if _, err := s.Mark(ctx, "s", "before", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := srv.Halt(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			srv.Restart()
		}
	})
	_, err := s.Mark(ctx, "s", "down", time.Hour)
	if tebura.ErrorCode(err) != tebura.ETRANSIENT {
		t.Fatalf("Mark with the server down = %v, want ETRANSIENT", err)
	}
	if err := s.UpdateIncidents(ctx, func(tx incident.Tx) error { _, err := tx.NextNumber(); return err }); tebura.ErrorCode(err) != tebura.ETRANSIENT {
		t.Fatalf("UpdateIncidents with the server down = %v, want ETRANSIENT", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// The pool replaces the connections the restart cut: each failure
	// costs at most one of them.
	var first bool
	for attempt := 0; ; attempt++ {
		first, err = s.Mark(ctx, "s", "down", time.Hour)
		if err == nil {
			break
		}
		if attempt > 8 {
			t.Fatalf("Mark still fails after the restart: %v", err)
		}
	}
	if !first {
		t.Error("the key marked while the server was down is remembered; want it new")
	}
	if again, err := s.Mark(ctx, "s", "before", time.Hour); err != nil || again {
		t.Errorf("Mark(before) after the restart = %v, %v; want remembered", again, err)
	}
}

// TestIncidentTxSeesItsOwnWrites: the writes an incident transaction
// queues are seen by its own reads, whether a read answers from what is
// pending or sends it first.
func TestIncidentTxSeesItsOwnWrites(t *testing.T) {
	s, clock, _ := openTest(t)
	now := clock.Now()
	err := s.UpdateIncidents(t.Context(), func(tx incident.Tx) error {
		n, err := tx.NextNumber()
		if err != nil {
			return err
		}
		if err := tx.PutIncident(&incident.Incident{ID: "i1", Number: n, Key: "k", Status: incident.StatusTriggered}); err != nil {
			return err
		}
		if inc, err := tx.Incident(n); err != nil || inc.Key != "k" {
			t.Errorf("Incident before a flush = %+v, %v", inc, err)
		}
		tx.SetKeyIndex("k", n)
		if got, ok, err := tx.KeyIndex("k"); got != n || !ok || err != nil {
			t.Errorf("KeyIndex = %d %v %v", got, ok, err)
		}
		tx.SetChannelIndex("slack", "C1", n)
		if got, ok, err := tx.ChannelIndex("slack", "C1"); got != n || !ok || err != nil {
			t.Errorf("ChannelIndex = %d %v %v", got, ok, err)
		}
		tx.SetMark("m", now)
		if at, ok, err := tx.Mark("m"); !ok || err != nil || !at.Equal(now) {
			t.Errorf("Mark = %v %v %v", at, ok, err)
		}
		tx.PutAlert(n, &incident.AlertEntry{Alert: incident.Alert{Fingerprint: "f1"}, Fires: 1})
		if e, ok, err := tx.Alert(n, "f1"); !ok || err != nil || e.Fires != 1 {
			t.Errorf("Alert = %+v %v %v", e, ok, err)
		}
		if got, err := tx.(incident.AlertLoader).AlertsOf(n, []string{"f1", "f2"}); err != nil || len(got) != 1 || got["f1"].Fires != 1 {
			t.Errorf("AlertsOf = %+v, %v", got, err)
		}
		tx.AppendTimeline(n, incident.TimelineEntry{Kind: "k", Text: "one"})
		if tl, err := tx.Timeline(n); err != nil || len(tl) != 1 {
			t.Errorf("Timeline = %+v, %v", tl, err)
		}
		// After that flush, the reads come from the database.
		tx.PutAlert(n, &incident.AlertEntry{Alert: incident.Alert{Fingerprint: "f2"}, Fires: 2})
		if got, err := tx.(incident.AlertLoader).AlertsOf(n, []string{"f1", "f2"}); err != nil || len(got) != 2 || got["f2"].Fires != 2 {
			t.Errorf("AlertsOf across a flush = %+v, %v", got, err)
		}
		if c, err := tx.OpenCount(); err != nil || c != 1 {
			t.Errorf("OpenCount = %d, %v", c, err)
		}
		if as, err := tx.Alerts(n); err != nil || len(as) != 2 {
			t.Errorf("Alerts = %d, %v", len(as), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
