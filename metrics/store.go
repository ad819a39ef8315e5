package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// Approval outcomes, the values of tebura_approvals_total{outcome}.
const (
	outcomeApproved = "approved"
	outcomeDenied   = "denied"
	outcomeExpired  = "expired"
	outcomeRefused  = "refused"
)

// Store is the method set of store/bolt's Store that the rest of Tebura
// uses: runs and locks, button callbacks, small metadata, the audit chain,
// delivery dedupe and incidents. *bolt.Store implements it.
type Store interface {
	runbooks.Store
	// StartingStore: the run service writes a run with its audit entries
	// (and a run that starts at once with its lock) in one transaction
	// through the instrumented store too.
	runbooks.StartingStore
	audit.Store
	incident.Store
	bot.Deduper
	PutCallback(ctx context.Context, cb bot.Callback) error
	GetCallback(ctx context.Context, id string) (bot.Callback, error)
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, v []byte) error
}

// InstrumentedStore is a Store whose incident and dedupe operations feed
// the metrics; everything else passes straight through. Runs are counted
// from the run service's transitions (ObserveRun), not here. It satisfies
// every interface *bolt.Store is handed to (runbooks.Store,
// commands.Store, incident.Store, audit.Store, bot.Deduper, discord's
// MetaStore), so the composition root can hand it out instead.
type InstrumentedStore struct {
	Store
	incidents incident.Store
	dedupe    bot.Deduper
}

// Store wraps s so that its transactions feed the metrics: see
// IncidentStore and Deduper for what is counted.
func (m *Metrics) Store(s Store) *InstrumentedStore {
	return &InstrumentedStore{Store: s, incidents: m.IncidentStore(s), dedupe: m.Deduper(s)}
}

// UpdateIncidents implements incident.Store, counting what the
// transaction changed once it committed.
func (s *InstrumentedStore) UpdateIncidents(ctx context.Context, fn func(tx incident.Tx) error) error {
	return s.incidents.UpdateIncidents(ctx, fn)
}

// Mark implements bot.Deduper, counting hits and misses.
func (s *InstrumentedStore) Mark(ctx context.Context, scope, key string, ttl time.Duration) (bool, error) {
	return s.dedupe.Mark(ctx, scope, key, ttl)
}

// ObserveRun counts a run transition published by the run service (a
// subscriber: wire it with runbooks.ServiceConfig.Subscribers):
//   - a run entering a final state counts in tebura_runs_total{runbook,
//     state} and, if it had started, its EndedAt-StartedAt goes to
//     tebura_run_duration_seconds;
//   - an approval counts as approved (one per approver), a denial as
//     denied, a pending run turning expired as expired;
//   - a decision refused on a pending run (self-approval, the same
//     approver twice, a changed plan) counts as refused.
//
// These are exact: the service publishes every change of a run, whoever
// makes it (chat, the CLI, automations, the executor, expiry, recovery).
func (m *Metrics) ObserveRun(t runbooks.Transition) {
	switch {
	case t.Refused:
		m.approvals.WithLabelValues(outcomeRefused).Inc()
		return
	case t.Approved():
		m.approvals.WithLabelValues(outcomeApproved).Inc()
	case t.To == runbooks.StateDenied && t.From != runbooks.StateDenied:
		m.approvals.WithLabelValues(outcomeDenied).Inc()
	case t.To == runbooks.StateExpired && t.From != runbooks.StateExpired:
		m.approvals.WithLabelValues(outcomeExpired).Inc()
	}
	if t.From.Final() || !t.To.Final() {
		return
	}
	run := t.Run
	m.runs.WithLabelValues(run.Runbook, string(t.To)).Inc()
	if !run.StartedAt.IsZero() && !run.EndedAt.IsZero() {
		m.runDuration.WithLabelValues(run.Runbook).Observe(max(0, run.EndedAt.Sub(run.StartedAt).Seconds()))
	}
}

// dedupeStore counts Mark's answers.
type dedupeStore struct {
	bot.Deduper
	m *Metrics
}

// Deduper wraps d so that each Mark counts in tebura_dedupe_checks_total
// by scope ("slack-event", "slack-envelope", Discord's interaction scope):
// first=true is a miss (a first delivery), first=false a hit (a
// redelivery that is skipped).
func (m *Metrics) Deduper(d bot.Deduper) bot.Deduper {
	return &dedupeStore{Deduper: d, m: m}
}

// Mark implements bot.Deduper.
func (d *dedupeStore) Mark(ctx context.Context, scope, key string, ttl time.Duration) (bool, error) {
	first, err := d.Deduper.Mark(ctx, scope, key, ttl)
	d.m.observeDedupe(scope, first, err)
	return first, err
}

func (m *Metrics) observeDedupe(scope string, first bool, err error) {
	result := "miss"
	switch {
	case err != nil:
		result = "error"
	case !first:
		result = "hit"
	}
	m.dedupe.WithLabelValues(scope, result).Inc()
}

// incidentStore watches incident transactions.
type incidentStore struct {
	incident.Store
	m *Metrics
}

// IncidentStore wraps s so that each committed UpdateIncidents is
// compared, incident by incident, with what the transaction started from:
// a new incident counts in tebura_incidents_opened_total; an incident
// becoming acknowledged observes AckedAt-StartedAt (MTTA), one becoming
// resolved ResolvedAt-StartedAt (MTTR), both by severity, the same figures
// the postmortem prints. Webhook delivery IDs the transaction checks
// (PagerDuty's) count as dedupe scope "delivery/<source>".
//
// This is the exact source for incidents: acknowledgements and resolves
// from chat, from PagerDuty and from alerts all commit here, with the
// incident's severity and times.
func (m *Metrics) IncidentStore(s incident.Store) incident.Store {
	return &incidentStore{Store: s, m: m}
}

// incidentEvent is one observation, applied after the commit.
type incidentEvent struct {
	opened, acked, resolved bool
	folded                  int // alert groups newly folded into an overflow incident
	severity                string
	mtta, mttr              time.Duration
	dedupeScope             string
	dedupeFirst             bool
}

// UpdateIncidents implements incident.Store.
func (s *incidentStore) UpdateIncidents(ctx context.Context, fn func(tx incident.Tx) error) error {
	var events []incidentEvent
	err := s.Store.UpdateIncidents(ctx, func(tx incident.Tx) error {
		events = events[:0] // a store that retries fn starts over
		return fn(&watchTx{Tx: tx, events: &events})
	})
	if err != nil {
		return err
	}
	for _, e := range events {
		s.m.applyIncident(e)
	}
	return nil
}

func (m *Metrics) applyIncident(e incidentEvent) {
	if e.dedupeScope != "" {
		m.observeDedupe(e.dedupeScope, e.dedupeFirst, nil)
		return
	}
	sev := m.severity(e.severity)
	if e.opened {
		m.incidentsOpened.WithLabelValues(sev).Inc()
	}
	if e.folded > 0 {
		m.health.groupsFolded.Add(float64(e.folded))
	}
	if e.acked {
		m.mtta.WithLabelValues(sev).Observe(e.mtta.Seconds())
	}
	if e.resolved {
		m.mttr.WithLabelValues(sev).Observe(e.mttr.Seconds())
	}
}

// ObserveIncident records an incident's time to acknowledge and to resolve
// by severity, for callers that learn of them outside the store (a
// negative duration is skipped). IncidentStore already observes every
// acknowledgement and resolve it commits; do not feed the same incident
// twice.
func (m *Metrics) ObserveIncident(severity string, mtta, mttr time.Duration) {
	sev := m.severity(severity)
	if mtta >= 0 {
		m.mtta.WithLabelValues(sev).Observe(mtta.Seconds())
	}
	if mttr >= 0 {
		m.mttr.WithLabelValues(sev).Observe(mttr.Seconds())
	}
}

// watchTx records what a transaction does to incidents and delivery marks.
type watchTx struct {
	incident.Tx
	events *[]incidentEvent
}

// PutIncident compares inc with the stored version before writing it.
func (t *watchTx) PutIncident(inc *incident.Incident) error {
	prev, perr := t.Incident(inc.Number)
	if err := t.Tx.PutIncident(inc); err != nil {
		return err
	}
	if perr != nil && tebura.ErrorCode(perr) != tebura.ENOTFOUND {
		return nil // cannot tell what changed; metrics never fail a write
	}
	if perr != nil {
		prev = nil
	}
	if e, ok := diffIncident(prev, inc); ok {
		*t.events = append(*t.events, e)
	}
	return nil
}

// Mark notes delivery-ID checks ("delivery/<source>/<id>"). The scope is
// the source's first path element: delivery IDs may hold slashes
// ("event/<id>"), and one scope per source kind keeps the label bounded.
func (t *watchTx) Mark(name string) (time.Time, bool, error) {
	at, seen, err := t.Tx.Mark(name)
	if err == nil {
		if rest, ok := strings.CutPrefix(name, "delivery/"); ok {
			if i := strings.IndexByte(rest, '/'); i > 0 {
				*t.events = append(*t.events, incidentEvent{dedupeScope: "delivery/" + rest[:i], dedupeFirst: !seen})
			}
		}
	}
	return at, seen, err
}

// diffIncident says what changed from prev (nil: new) to inc.
func diffIncident(prev, inc *incident.Incident) (incidentEvent, bool) {
	e := incidentEvent{severity: inc.Severity}
	e.opened = prev == nil && inc.Status.Open()
	if !inc.AckedAt.IsZero() && (prev == nil || prev.AckedAt.IsZero()) {
		e.acked, e.mtta = true, max(0, inc.AckedAt.Sub(inc.StartedAt))
	}
	if inc.Status == incident.StatusResolved && !inc.ResolvedAt.IsZero() && (prev == nil || prev.Status != incident.StatusResolved) {
		e.resolved, e.mttr = true, max(0, inc.ResolvedAt.Sub(inc.StartedAt))
	}
	e.folded = inc.Folded
	if prev != nil {
		e.folded -= prev.Folded
	}
	return e, e.opened || e.acked || e.resolved || e.folded > 0
}
