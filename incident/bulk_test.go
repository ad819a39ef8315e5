package incident_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
)

// loaderStore is the in-memory store whose transactions answer AlertsOf
// and count the one-by-one Alert lookups ingest still makes.
type loaderStore struct {
	*incidenttest.Store
	bulk, single atomic.Int32
}

type loaderTx struct {
	incident.Tx
	s *loaderStore
}

func (t loaderTx) Alert(n int64, fp string) (*incident.AlertEntry, bool, error) {
	t.s.single.Add(1)
	return t.Tx.Alert(n, fp)
}

func (t loaderTx) AlertsOf(n int64, fps []string) (map[string]*incident.AlertEntry, error) {
	t.s.bulk.Add(1)
	out := map[string]*incident.AlertEntry{}
	for _, fp := range fps {
		if e, ok, err := t.Tx.Alert(n, fp); err != nil {
			return nil, err
		} else if ok {
			out[fp] = e
		}
	}
	return out, nil
}

func (s *loaderStore) UpdateIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	return s.Store.UpdateIncidents(ctx, func(tx incident.Tx) error { return fn(loaderTx{tx, s}) })
}

func (s *loaderStore) ViewIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	return s.Store.ViewIncidents(ctx, func(tx incident.Tx) error { return fn(loaderTx{tx, s}) })
}

// TestIngestLoadsAlertsAtOnce: with a Tx that can load many alerts at
// once, ingest (its read-only pre-check included) asks for a webhook's
// alerts in one call, never one by one, and classifies them as before.
func TestIngestLoadsAlertsAtOnce(t *testing.T) {
	st := &loaderStore{Store: incidenttest.NewStore()}
	c := newClock()
	svc, err := incident.New(st, defaultCfg, nil, c.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := c.Now()
	b := incident.Batch{Source: "alertmanager", GroupKey: "g", Labels: map[string]string{"alertname": "HighLatency"},
		Alerts: []incident.Alert{alert("a1", incident.AlertFiring, start), alert("a2", incident.AlertFiring, start)}}
	if res, err := svc.Ingest(t.Context(), b); err != nil || len(res.Changes) != 1 || !res.Changes[0].Opened {
		t.Fatalf("first ingest = %+v, %v", res, err)
	}
	if res, err := svc.Ingest(t.Context(), b); err != nil || len(res.Changes) != 0 {
		t.Fatalf("a repeated webhook = %+v, %v; want no change", res, err)
	}
	b.Alerts = append(b.Alerts, alert("a3", incident.AlertFiring, start))
	res, err := svc.Ingest(t.Context(), b)
	if err != nil || len(res.Changes) != 1 || len(res.Changes[0].NewAlerts) != 1 || res.Changes[0].NewAlerts[0].Fingerprint != "a3" {
		t.Fatalf("a webhook with one new alert = %+v, %v; want a3 new", res, err)
	}
	if st.single.Load() != 0 || st.bulk.Load() == 0 {
		t.Errorf("%d single Alert lookups and %d AlertsOf calls; want every lookup through AlertsOf", st.single.Load(), st.bulk.Load())
	}
}
