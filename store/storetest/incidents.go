package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// IncidentStores is one opened store as the incident suite sees it.
type IncidentStores struct {
	Store incident.Store
	// Clock is the clock the suite drives the incident service with.
	Clock *Clock
	// Reopen closes the store and opens it again on the same data; nil
	// skips the restart test.
	Reopen func(t *testing.T) IncidentStores
}

// RunIncidents is the conformance suite for incident.Store: the Tx
// primitives, all-or-nothing transactions, serialized writers, read-only
// views, an alert storm through the incident service, and a restart in the
// middle of an incident.
func RunIncidents(t *testing.T, open func(t *testing.T) IncidentStores) {
	t.Run("tx", func(t *testing.T) { testIncidentTx(t, open) })
	t.Run("rollback", func(t *testing.T) { testIncidentRollback(t, open) })
	t.Run("read_only", func(t *testing.T) { testIncidentReadOnly(t, open) })
	t.Run("serialized", func(t *testing.T) { testIncidentSerialized(t, open) })
	t.Run("storm", func(t *testing.T) { testIncidentStorm(t, open) })
	t.Run("restart", func(t *testing.T) { testIncidentRestart(t, open) })
	t.Run("open_count", func(t *testing.T) { testIncidentOpenCount(t, open) })
}

// testIncidentOpenCount: OpenCount follows every PutIncident, opening,
// resolving and reopening, and survives the transaction.
func testIncidentOpenCount(t *testing.T, open func(t *testing.T) IncidentStores) {
	st := open(t)
	ctx := t.Context()
	put := func(n int64, status incident.Status) {
		t.Helper()
		err := st.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
			return tx.PutIncident(&incident.Incident{ID: fmt.Sprintf("i%d", n), Number: n, Key: fmt.Sprintf("k%d", n), Status: status})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		var n int
		if err := st.Store.ViewIncidents(ctx, func(tx incident.Tx) error {
			var err error
			n, err = tx.OpenCount()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		n      int64
		status incident.Status
		want   int
	}{
		{1, incident.StatusTriggered, 1},
		{2, incident.StatusAcknowledged, 2},
		{3, incident.StatusResolved, 2},
		{1, incident.StatusResolved, 1},
		{1, incident.StatusResolved, 1},
		{3, incident.StatusTriggered, 2},
	}
	for i, s := range steps {
		put(s.n, s.status)
		if got := count(); got != s.want {
			t.Fatalf("step %d (#%d %s): OpenCount = %d, want %d", i, s.n, s.status, got, s.want)
		}
	}
}

func testIncidentTx(t *testing.T, open func(t *testing.T) IncidentStores) {
	st := open(t)
	ctx := t.Context()
	now := st.Clock.Now()
	err := st.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
		for want := int64(1); want <= 3; want++ {
			n, err := tx.NextNumber()
			if err != nil || n != want {
				return fmt.Errorf("NextNumber = %d, %v; want %d", n, err, want)
			}
			inc := &incident.Incident{ID: fmt.Sprintf("i%d", n), Number: n, Key: fmt.Sprintf("k%d", n), Title: "t",
				Status: incident.StatusTriggered, Labels: map[string]string{"n": fmt.Sprint(n)}, StartedAt: now}
			if err := tx.PutIncident(inc); err != nil {
				return err
			}
		}
		if err := tx.SetKeyIndex("am:{}:{a=\"b\"}", 2); err != nil {
			return err
		}
		if err := tx.SetChannelIndex("slack", "C1", 3); err != nil {
			return err
		}
		for _, n := range []int64{1, 2, 256} {
			for _, fp := range []string{"b", "a", "c"} {
				if err := tx.PutAlert(n, &incident.AlertEntry{Alert: incident.Alert{Fingerprint: fp + fmt.Sprint(n),
					Status: incident.AlertFiring, StartsAt: now}, Fires: 1}); err != nil {
					return err
				}
			}
			for i := range 3 {
				if err := tx.AppendTimeline(n, incident.TimelineEntry{Time: now, Kind: "k", Text: fmt.Sprintf("%d-%d", n, i)}); err != nil {
					return err
				}
			}
		}
		for i, name := range []string{"throttle/r/k", "delivery/pd/old", "delivery/pd/new", "deliveryx"} {
			if err := tx.SetMark(name, now.Add(time.Duration(i)*time.Minute)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Store.ViewIncidents(ctx, func(tx incident.Tx) error {
		inc, err := tx.Incident(2)
		if err != nil || inc.Key != "k2" || inc.Labels["n"] != "2" || !inc.StartedAt.Equal(now) {
			t.Errorf("Incident(2) = %+v, %v", inc, err)
		}
		if _, err := tx.Incident(9); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Errorf("Incident(9) = %v, want ENOTFOUND", err)
		}
		var order []int64
		if err := tx.Incidents(func(inc *incident.Incident) bool { order = append(order, inc.Number); return len(order) < 2 }); err != nil {
			t.Error(err)
		}
		if fmt.Sprint(order) != "[3 2]" {
			t.Errorf("Incidents order = %v, want newest first and stop when told: [3 2]", order)
		}
		if n, ok, err := tx.KeyIndex("am:{}:{a=\"b\"}"); n != 2 || !ok || err != nil {
			t.Errorf("KeyIndex = %d %v %v", n, ok, err)
		}
		if _, ok, _ := tx.KeyIndex("other"); ok {
			t.Error("KeyIndex found an unknown key")
		}
		if n, ok, err := tx.ChannelIndex("slack", "C1"); n != 3 || !ok || err != nil {
			t.Errorf("ChannelIndex = %d %v %v", n, ok, err)
		}
		if _, ok, _ := tx.ChannelIndex("discord", "C1"); ok {
			t.Error("ChannelIndex must be per platform")
		}
		alerts, err := tx.Alerts(1)
		if err != nil || len(alerts) != 3 || alerts[0].Fingerprint != "a1" || alerts[2].Fingerprint != "c1" {
			t.Errorf("Alerts(1) = %+v, %v; want a1 b1 c1", alerts, err)
		}
		if e, ok, err := tx.Alert(256, "b256"); !ok || err != nil || e.Fires != 1 {
			t.Errorf("Alert(256, b256) = %+v %v %v", e, ok, err)
		}
		if _, ok, _ := tx.Alert(1, "b256"); ok {
			t.Error("alerts must be scoped by incident")
		}
		tl, err := tx.Timeline(256)
		if err != nil || len(tl) != 3 || tl[0].Text != "256-0" || tl[2].Text != "256-2" {
			t.Errorf("Timeline(256) = %+v, %v", tl, err)
		}
		if m, ok, err := tx.Mark("throttle/r/k"); !ok || err != nil || !m.Equal(now) {
			t.Errorf("Mark = %v %v %v", m, ok, err)
		}
		if _, ok, _ := tx.Mark("nope"); ok {
			t.Error("Mark found an unknown name")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
		n, err := tx.PruneMarks("delivery/", now.Add(2*time.Minute))
		if err != nil || n != 1 {
			t.Errorf("PruneMarks = %d, %v; want 1 (delivery/pd/old)", n, err)
		}
		for name, want := range map[string]bool{"delivery/pd/old": false, "delivery/pd/new": true, "deliveryx": true, "throttle/r/k": true} {
			if _, ok, _ := tx.Mark(name); ok != want {
				t.Errorf("after prune, mark %s present = %v, want %v", name, ok, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testIncidentRollback(t *testing.T, open func(t *testing.T) IncidentStores) {
	st := open(t)
	ctx := t.Context()
	boom := errors.New("boom")
	err := st.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
		n, _ := tx.NextNumber()
		tx.PutIncident(&incident.Incident{ID: "i1", Number: n, Status: incident.StatusTriggered})
		tx.SetKeyIndex("k", n)
		tx.PutAlert(n, &incident.AlertEntry{Alert: incident.Alert{Fingerprint: "f"}})
		tx.AppendTimeline(n, incident.TimelineEntry{Kind: "k"})
		tx.SetMark("m", st.Clock.Now())
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateIncidents = %v, want the callback's error", err)
	}
	err = st.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
		if n, _ := tx.NextNumber(); n != 1 {
			t.Errorf("NextNumber after a rolled-back transaction = %d, want 1", n)
		}
		if _, err := tx.Incident(1); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Errorf("incident survived the rollback: %v", err)
		}
		if _, ok, _ := tx.KeyIndex("k"); ok {
			t.Error("key index survived the rollback")
		}
		if _, ok, _ := tx.Alert(1, "f"); ok {
			t.Error("alert survived the rollback")
		}
		if tl, _ := tx.Timeline(1); len(tl) != 0 {
			t.Error("timeline survived the rollback")
		}
		if _, ok, _ := tx.Mark("m"); ok {
			t.Error("mark survived the rollback")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testIncidentReadOnly(t *testing.T, open func(t *testing.T) IncidentStores) {
	st := open(t)
	err := st.Store.ViewIncidents(t.Context(), func(tx incident.Tx) error {
		if _, err := tx.NextNumber(); err == nil {
			t.Error("NextNumber in a view succeeded")
		}
		if err := tx.SetMark("m", st.Clock.Now()); err == nil {
			t.Error("SetMark in a view succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testIncidentSerialized: concurrent read-modify-write transactions never
// lose an update.
func testIncidentSerialized(t *testing.T, open func(t *testing.T) IncidentStores) {
	st := open(t)
	ctx := t.Context()
	if err := st.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
		n, _ := tx.NextNumber()
		return tx.PutIncident(&incident.Incident{ID: "i1", Number: n, Status: incident.StatusTriggered})
	}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := st.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
					inc, err := tx.Incident(1)
					if err != nil {
						return err
					}
					inc.AlertCount++
					return tx.PutIncident(inc)
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	st.Store.ViewIncidents(ctx, func(tx incident.Tx) error {
		if inc, err := tx.Incident(1); err != nil || inc.AlertCount != workers*each {
			t.Errorf("AlertCount = %d, %v; want %d", inc.AlertCount, err, workers*each)
		}
		return nil
	})
}

func newIncidentService(t *testing.T, st IncidentStores, autos []config.Automation) *incident.Service {
	t.Helper()
	rules, err := incident.CompileRules(autos)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incident.New(st.Store, config.Incidents{AutoResolve: true, ReopenWithin: 30 * time.Minute}, rules, st.Clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// StormBatch is webhook w (0..99) of the storm: 100 distinct alerts of group
// w%20, 5 webhooks per group.
func StormBatch(w int, startsAt time.Time) incident.Batch {
	g := w % 20
	name := fmt.Sprintf("Storm%d", g)
	b := incident.Batch{Source: "alertmanager", GroupKey: fmt.Sprintf("{}:{alertname=%q}", name),
		Labels: map[string]string{"alertname": name, "service": fmt.Sprintf("svc%d", g)}}
	for i := range 100 {
		n := (w/20)*100 + i
		b.Alerts = append(b.Alerts, incident.Alert{Source: "alertmanager", Fingerprint: fmt.Sprintf("%04x%012x", g, n),
			Status: incident.AlertFiring, StartsAt: startsAt,
			Labels: map[string]string{"alertname": name, "service": fmt.Sprintf("svc%d", g), "instance": fmt.Sprint(n)}})
	}
	return b
}

func testIncidentStorm(t *testing.T, open func(t *testing.T) IncidentStores) {
	st := open(t)
	svc := newIncidentService(t, st, []config.Automation{{Name: "diag", Match: []string{`alertname=~"Storm.*"`},
		Diagnostics: []string{"api-health"}, OnceWithin: time.Hour}})
	start := st.Clock.Now()
	opened, channels, diags := map[int64]bool{}, 0, map[int64]int{}
	for w := range 100 {
		b := StormBatch(w, start)
		for range 2 { // every webhook retried once
			res, err := svc.Ingest(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range res.Changes {
				if c.Opened {
					opened[c.Incident.Number] = true
				}
				if c.Actions.OpenChannel {
					channels++
				}
				diags[c.Incident.Number] += len(c.Actions.Diagnostics)
			}
		}
	}
	if len(opened) != 20 || channels != 20 {
		t.Fatalf("storm opened %d incidents and asked for %d channels; want 20 and 20", len(opened), channels)
	}
	for n, d := range diags {
		if d != 1 {
			t.Errorf("incident #%d: %d diagnostics starts, want 1", n, d)
		}
	}
	list, err := svc.List(t.Context(), incident.ListOptions{OpenOnly: true})
	if err != nil || len(list) != 20 {
		t.Fatalf("List = %d, %v; want 20 open", len(list), err)
	}
	for _, inc := range list {
		if inc.AlertCount != 500 {
			t.Errorf("%s has %d alerts, want 500", inc.Ref(), inc.AlertCount)
		}
	}
}

// testIncidentRestart: a restart in the middle of an incident keeps the
// incident, its channel, its timeline, the delivery IDs seen and the
// throttles; a re-fire after the restart joins the same incident.
func testIncidentRestart(t *testing.T, open func(t *testing.T) IncidentStores) {
	st := open(t)
	if st.Reopen == nil {
		t.Skip("the store under test cannot be reopened")
	}
	ctx := t.Context()
	autos := []config.Automation{{Name: "diag", Match: []string{`alertname="HighLatency"`}, Diagnostics: []string{"api-health"}, OnceWithin: time.Hour}}
	svc := newIncidentService(t, st, autos)
	start := st.Clock.Now()
	al := func(fp string, status incident.AlertStatus) incident.Alert {
		return incident.Alert{Source: "alertmanager", Fingerprint: fp, Status: status, StartsAt: start,
			Labels: map[string]string{"alertname": "HighLatency", "service": "api", "instance": fp}}
	}
	b := incident.Batch{Source: "alertmanager", GroupKey: "g", DeliveryID: "d1", Labels: map[string]string{"alertname": "HighLatency", "service": "api"},
		Alerts: []incident.Alert{al("a1", incident.AlertFiring)}}
	res, err := svc.Ingest(ctx, b)
	if err != nil || len(res.Changes) != 1 || !res.Changes[0].Opened {
		t.Fatalf("first ingest: %+v, %v", res, err)
	}
	if _, _, err := svc.AttachChannel(ctx, "#1", incident.Channel{Platform: "slack", ID: "C42", Name: "inc-1-highlatency-on-api"}); err != nil {
		t.Fatal(err)
	}
	st.Clock.Advance(time.Minute)
	if _, err := svc.Ack(ctx, "#1", "slack:U1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Note(ctx, "#1", "slack:U1", "looking at the API pods"); err != nil {
		t.Fatal(err)
	}
	before, _ := svc.Timeline(ctx, "#1")

	st = st.Reopen(t)
	svc = newIncidentService(t, st, autos)

	inc, err := svc.ByChannel(ctx, "slack", "C42")
	if err != nil || inc.Number != 1 || inc.Status != incident.StatusAcknowledged || inc.AckedBy != "slack:U1" || inc.Channel.Name != "inc-1-highlatency-on-api" {
		t.Fatalf("ByChannel after restart = %+v, %v", inc, err)
	}
	after, err := svc.Timeline(ctx, "#1")
	if err != nil || len(after) != len(before) || after[len(after)-1].Text != "looking at the API pods" {
		t.Fatalf("timeline after restart: %d entries (want %d), %v", len(after), len(before), err)
	}
	if res, err := svc.Ingest(ctx, b); err != nil || !res.Duplicate {
		t.Fatalf("redelivery after restart = %+v, %v; want a duplicate", res, err)
	}
	b.DeliveryID = "d2"
	b.Alerts = []incident.Alert{al("a1", incident.AlertFiring), al("a2", incident.AlertFiring)}
	st.Clock.Advance(time.Minute)
	res, err = svc.Ingest(ctx, b)
	if err != nil || len(res.Changes) != 1 {
		t.Fatalf("re-fire after restart: %+v, %v", res, err)
	}
	c := res.Changes[0]
	if c.Opened || c.Incident.Number != 1 || len(c.NewAlerts) != 1 || c.Actions.OpenChannel || len(c.Actions.Diagnostics) != 0 {
		t.Fatalf("a re-fire after restart must join #1 without repeating its actions: %+v", c)
	}
	d, err := svc.Declare(ctx, "Manual", "sev3", "slack:U1")
	if err != nil || d.Incident.Number != 2 {
		t.Fatalf("numbering after restart: %+v, %v; want #2", d.Incident, err)
	}
}
