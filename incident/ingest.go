package incident

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// Batch is the normalized content of one webhook delivery: the alerts of
// one group. Sources in incident/source build it.
type Batch struct {
	Source   string // "alertmanager", "grafana", "pagerduty", "generic/<name>"
	GroupKey string // the group the alerts belong to; one incident per open group
	// DeliveryID is the source's delivery ID (the signed PagerDuty event.id): a
	// delivery seen before is ignored as a whole. Empty when there is none.
	DeliveryID  string
	Title       string            // optional; derived from labels when empty
	Severity    string            // optional; else labels["severity"]
	Labels      map[string]string // the group's common labels
	Annotations map[string]string // the group's common annotations
	Links       []Link
	Truncated   int // alerts the source left out (Alertmanager truncatedAlerts)
	// AckedBy is set when the source reports the incident acknowledged
	// (PagerDuty); an open, unacknowledged incident is then acknowledged.
	AckedBy string
	// ResolvedBy is set when the source reports who resolved the incident
	// (a PagerDuty webhook's agent): once no alert fires, the incident is
	// resolved and credited to them, whether or not auto_resolve is on.
	ResolvedBy string
	// StatusOnly marks a source that reports each alert's current state
	// rather than its firing cycles (PagerDuty: an alert is triggered until
	// it is resolved, and its times are those of the event): an alert is
	// resolved or fired again by its status alone, and an alert reported in
	// the status it already has changes nothing, whatever its times say.
	StatusOnly bool
	// DefaultSeverity is the severity an incident opened by this batch gets
	// when the batch's severity is not one of config.Severities (the
	// source's default_severity); the change is noted on the timeline.
	// Empty keeps any severity as sent.
	DefaultSeverity string
	Alerts          []Alert
}

func (b *Batch) validate() error {
	if b.Source == "" || b.GroupKey == "" {
		return tebura.Errorf(tebura.EINVALID, "The alert batch has no source or group key.")
	}
	for i, a := range b.Alerts {
		if a.Fingerprint == "" {
			return tebura.Errorf(tebura.EINVALID, "Alert %d has no fingerprint.", i)
		}
		if a.Status != AlertFiring && a.Status != AlertResolved {
			return tebura.Errorf(tebura.EINVALID, "Alert %d has status %q; want firing or resolved.", i, a.Status)
		}
	}
	return nil
}

// Result is what one Ingest did. The reaction layer walks Changes and acts
// on each (see Change).
type Result struct {
	// Duplicate is true when the delivery ID was seen before: nothing changed.
	Duplicate bool
	// Changes has one entry per incident the batch changed; empty when the
	// batch repeated what was known.
	Changes []Change
}

// Opened returns the incidents the batch opened.
func (r Result) Opened() []*Incident { return r.filter(func(c Change) bool { return c.Opened }) }

// Reopened returns the incidents the batch reopened.
func (r Result) Reopened() []*Incident { return r.filter(func(c Change) bool { return c.Reopened }) }

// Resolved returns the incidents the batch resolved.
func (r Result) Resolved() []*Incident { return r.filter(func(c Change) bool { return c.Resolved }) }

// Joined returns the open incidents that gained alerts without opening.
func (r Result) Joined() []*Incident {
	return r.filter(func(c Change) bool { return !c.Opened && !c.Reopened && len(c.NewAlerts)+len(c.Refired) > 0 })
}

func (r Result) filter(keep func(Change) bool) []*Incident {
	var out []*Incident
	for _, c := range r.Changes {
		if keep(c) {
			out = append(out, c.Incident)
		}
	}
	return out
}

// Change is what happened to one incident. The reaction layer:
//   - Actions.OpenChannel: create the channel (or use Actions.UseChannel),
//     call AttachChannel at once, then invite, announce, post the card;
//   - otherwise edit the card in Incident.Channel (counts, status changed);
//   - start Actions.Diagnostics, post Actions.Suggest as approval cards;
//   - Resolved: post "resolved automatically" and schedule the archive.
type Change struct {
	Incident     *Incident // after the change
	Opened       bool
	Reopened     bool
	Resolved     bool // resolved by this batch: every alert resolved with auto_resolve on (Incident.ResolvedBy is ActorTebura), or the source said who resolved it (Batch.ResolvedBy)
	Acknowledged bool // acknowledged by the source (PagerDuty)
	// NewAlerts were first seen, Refired fired again after a resolve,
	// ResolvedAlerts turned resolved.
	NewAlerts      []Alert
	Refired        []Alert
	ResolvedAlerts []Alert
	Actions        Actions
	// Folded is set when the batch's group was new but over the storm
	// limits (incidents.max_open, incidents.max_new_per_minute): it joined
	// the overflow incident (Incident), which it neither opened a channel
	// for nor ran automations in. Opened is also set when it was the first
	// group folded and so opened the overflow incident itself.
	Folded bool
}

type alertOp int

const (
	opNone alertOp = iota
	opNew
	opRefire
	opResolve
	opUpdate
)

// classify decides what alert a does to the stored entry e of the same
// fingerprint. An alert's life is its fingerprint and its status: a moves
// the entry only when the status differs (or a new cycle began), and the
// times serve only to tell a stale redelivery from a real change. They are
// compared as cycles, never for equality: Alertmanager keeps the earliest
// startsAt of the Prometheus replicas of an HA pair, so a later
// notification of the same cycle (the resolved one included) may carry an
// earlier startsAt than the first one did.
//
//   - firing over firing: nothing, unless a started after e (a new cycle
//     whose resolve never came: a re-fire). An earlier start is the same
//     cycle as seen by the other replica.
//   - resolved over firing: a resolve, unless a ended at or before e
//     started: that is the resolve of an older cycle delivered after the
//     re-fire. A resolve of e's own cycle (same start) always resolves,
//     even one ending in the second it started: senders stamp in whole
//     seconds.
//   - firing over resolved: a re-fire, unless a started before e ended:
//     that is the late firing notice of the cycle already resolved. Without
//     e's end (a source that sends none), a start not after e's means the
//     same.
//   - resolved over resolved: nothing, unless a ended later (or, without
//     ends, started later): a later cycle whose firing was missed; its times
//     are recorded quietly so that its own late firing notice stays stale.
//
// A zero time (generic sources send none, PagerDuty's Events API sends no
// end) never makes a delivery stale. The same alert again is opNone, so
// ingest writes nothing for it.
func classify(e *AlertEntry, ok bool, a Alert) alertOp {
	if !ok {
		return opNew
	}
	switch {
	case e.Status == AlertFiring && a.Status == AlertFiring:
		if a.StartsAt.After(e.StartsAt) {
			return opRefire
		}
		return opNone
	case e.Status == AlertFiring: // a resolved
		if !a.EndsAt.IsZero() && !e.StartsAt.IsZero() && !a.EndsAt.After(e.StartsAt) && !a.StartsAt.Equal(e.StartsAt) {
			return opNone
		}
		return opResolve
	case a.Status == AlertFiring: // e resolved
		if a.StartsAt.IsZero() {
			return opRefire
		}
		if !e.EndsAt.IsZero() {
			if a.StartsAt.Before(e.EndsAt) {
				return opNone
			}
			return opRefire
		}
		if !a.StartsAt.After(e.StartsAt) {
			return opNone
		}
		return opRefire
	default: // both resolved
		if !a.EndsAt.IsZero() && !e.EndsAt.IsZero() {
			if a.EndsAt.After(e.EndsAt) {
				return opUpdate
			}
			return opNone
		}
		if a.StartsAt.After(e.StartsAt) {
			return opUpdate
		}
		return opNone
	}
}

// classifyStatus decides what alert a does to the stored entry e for a
// source that reports state (Batch.StatusOnly): only the status counts.
func classifyStatus(ok bool, e *AlertEntry, a Alert) alertOp {
	switch {
	case !ok:
		return opNew
	case e.Status == a.Status:
		return opNone
	case a.Status == AlertFiring:
		return opRefire
	default:
		return opResolve
	}
}

// Ingest applies one batch in one store transaction: grouping, dedupe,
// reopen, auto-resolve, automation matching and throttles all commit
// together or not at all.
func (s *Service) Ingest(ctx context.Context, b Batch) (Result, error) {
	if err := b.validate(); err != nil {
		return Result{}, err
	}
	if s.mask != nil {
		b = b.masked(s.mask)
	}
	now := s.clock().UTC()
	if s.watchdog != nil && s.watchdog.take(&b, now) && len(b.Alerts) == 0 {
		return Result{}, nil // a heartbeat only
	}
	if b.DeliveryID == "" {
		// Most deliveries repeat what is stored (Alertmanager re-sends a
		// group every group_interval; senders retry). Find that out in a
		// read-only transaction, which runs beside the one writer, and
		// spare the write transaction that every webhook queues for.
		quiet, err := s.quiet(ctx, &b, now)
		if err != nil {
			return Result{}, err
		}
		if quiet {
			return Result{}, nil
		}
	}
	var res Result
	err := s.store.UpdateIncidents(ctx, func(tx Tx) error {
		res = Result{}
		if b.DeliveryID != "" {
			name := "delivery/" + b.Source + "/" + b.DeliveryID
			if _, seen, err := tx.Mark(name); err != nil {
				return err
			} else if seen {
				res.Duplicate = true
				return nil
			}
			if err := tx.SetMark(name, now); err != nil {
				return err
			}
		}
		ch, err := s.ingest(tx, &b, now)
		if err != nil || ch == nil {
			return err
		}
		res.Changes = append(res.Changes, *ch)
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, c := range res.Changes {
		if c.Folded {
			s.log.Warn("alert group folded into the overflow incident", "source", b.Source, "incident", c.Incident.Number,
				"folded_groups", c.Incident.Folded)
		}
		s.log.Info("alerts ingested", "source", b.Source, "incident", c.Incident.Number,
			"opened", c.Opened, "reopened", c.Reopened, "resolved", c.Resolved,
			"new_alerts", len(c.NewAlerts), "refired", len(c.Refired), "resolved_alerts", len(c.ResolvedAlerts))
	}
	return res, nil
}

// quiet runs the ingest of b against a read-only view and reports whether
// it would change nothing. Seen from that view's snapshot the answer is
// exact: a batch that changes nothing there is a batch applied at that
// moment, which is a valid order for a webhook concurrent with others.
func (s *Service) quiet(ctx context.Context, b *Batch, now time.Time) (bool, error) {
	quiet := false
	err := s.store.ViewIncidents(ctx, func(tx Tx) error {
		ch, err := s.ingest(dryTx{tx}, b, now)
		switch {
		case errors.Is(err, errWouldWrite):
			quiet = false
			return nil
		case err != nil:
			return err
		}
		quiet = ch == nil
		return nil
	})
	return quiet, err
}

// errWouldWrite stops a dry run at its first write.
var errWouldWrite = errors.New("incident: the dry run would write")

// dryTx is a Tx whose writes fail with errWouldWrite.
type dryTx struct{ Tx }

func (dryTx) NextNumber() (int64, error)                  { return 0, errWouldWrite }
func (dryTx) PutIncident(*Incident) error                 { return errWouldWrite }
func (dryTx) SetKeyIndex(string, int64) error             { return errWouldWrite }
func (dryTx) SetChannelIndex(string, string, int64) error { return errWouldWrite }
func (dryTx) PutAlert(int64, *AlertEntry) error           { return errWouldWrite }
func (dryTx) AppendTimeline(int64, TimelineEntry) error   { return errWouldWrite }
func (dryTx) SetMark(string, time.Time) error             { return errWouldWrite }
func (dryTx) PruneMarks(string, time.Time) (int, error)   { return 0, errWouldWrite }

// fires reports whether any of alerts is firing.
func fires(alerts []Alert) bool {
	return slices.ContainsFunc(alerts, func(a Alert) bool { return a.Status == AlertFiring })
}

// dedupe keeps the last alert per fingerprint, in first-seen order.
func dedupe(alerts []Alert) []Alert {
	idx := make(map[string]int, len(alerts))
	out := make([]Alert, 0, len(alerts))
	for _, a := range alerts {
		if i, ok := idx[a.Fingerprint]; ok {
			out[i] = a
			continue
		}
		idx[a.Fingerprint] = len(out)
		out = append(out, a)
	}
	return out
}

func (s *Service) ingest(tx Tx, b *Batch, now time.Time) (*Change, error) {
	key := b.Source + ":" + b.GroupKey
	alerts := dedupe(b.Alerts)

	var inc *Incident
	if n, ok, err := tx.KeyIndex(key); err != nil {
		return nil, err
	} else if ok {
		if inc, err = tx.Incident(n); err != nil {
			return nil, err
		}
	}
	if inc != nil && inc.Key != key && !inc.Status.Open() {
		// The group was folded into an overflow incident that is over: it
		// starts afresh, like a group never seen.
		inc = nil
	}

	// Load the entries of the latest incident and classify every alert.
	type item struct {
		a  Alert
		e  *AlertEntry
		op alertOp
	}
	items := make([]item, len(alerts))
	var stored map[string]*AlertEntry
	if inc != nil {
		var err error
		if stored, err = alertsOf(tx, inc.Number, alerts); err != nil {
			return nil, err
		}
	}
	fresh := false // some alert fires anew
	for i, a := range alerts {
		items[i].a = a
		op := opNew
		if inc != nil {
			e, ok := stored[a.Fingerprint]
			items[i].e = e
			if b.StatusOnly {
				op = classifyStatus(ok, e, a)
			} else {
				op = classify(e, ok, a)
			}
		}
		items[i].op = op
		if a.Status == AlertFiring && (op == opNew || op == opRefire) {
			fresh = true
		}
	}

	ch := &Change{}
	switch {
	case inc != nil && inc.Status.Open():
	case inc != nil && !fresh:
		// Updates to a resolved incident (late resolved notices): apply quietly.
	case inc != nil && s.cfg.ReopenWithin > 0 && now.Sub(inc.ResolvedAt) <= s.cfg.ReopenWithin:
		inc.Status = StatusTriggered
		inc.Reopened++
		inc.AckedBy, inc.AckedAt = "", time.Time{}
		resolvedAt := inc.ResolvedAt
		inc.ResolvedBy, inc.ResolvedAt = "", time.Time{}
		inc.Fired = nil
		ch.Reopened = true
		// An archived channel must be unarchived (or replaced) by the reaction
		// layer; Actions.OpenChannel stays false because the channel is known.
		ch.Actions.UnarchiveChannel = !inc.ArchivedAt.IsZero()
		inc.ArchivedAt = time.Time{}
		if err := tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: ActorTebura, Kind: KindReopened,
			Text: fmt.Sprintf("Reopened: alerts fired again %s after the resolve", now.Sub(resolvedAt).Round(time.Second))}); err != nil {
			return nil, err
		}
	case !fresh:
		return nil, nil // resolved notices for nothing we know
	default:
		over, err := s.overLimits(tx, now)
		if err != nil {
			return nil, err
		}
		if over != "" {
			inc, err = s.fold(tx, ch, key, b, over, now)
			if err != nil {
				return nil, err
			}
			folded, err := alertsOf(tx, inc.Number, alerts)
			if err != nil {
				return nil, err
			}
			for i := range items {
				e, ok := folded[items[i].a.Fingerprint]
				items[i].e, items[i].op = e, classify(e, ok, items[i].a)
				if b.StatusOnly {
					items[i].op = classifyStatus(ok, e, items[i].a)
				}
			}
			break
		}
		n, err := tx.NextNumber()
		if err != nil {
			return nil, err
		}
		inc = s.newIncident(n, key, b, alerts, now)
		ch.Opened = true
		for i := range items {
			items[i].e, items[i].op = nil, opNew
		}
		if err := tx.SetKeyIndex(key, n); err != nil {
			return nil, err
		}
		text := fmt.Sprintf("Incident %s opened from %s: %s", inc.Ref(), b.Source, inc.Title)
		if err := tx.AppendTimeline(n, TimelineEntry{Time: now, Actor: ActorTebura, Kind: KindOpened, Text: text,
			Data: map[string]string{"source": b.Source, "key": b.GroupKey}}); err != nil {
			return nil, err
		}
		if sent := inc.Severity; b.DefaultSeverity != "" && sent != "" && !config.KnownSeverity(sent) {
			inc.Severity = b.DefaultSeverity
			if err := tx.AppendTimeline(n, TimelineEntry{Time: now, Actor: ActorTebura, Kind: KindSeverity,
				Text: fmt.Sprintf("Severity %q from %s is not one of %s; the incident is %s, the source's default_severity",
					sent, b.Source, strings.Join(config.Severities(), ", "), inc.Severity),
				Data: map[string]string{"sent": sent, "severity": inc.Severity}}); err != nil {
				return nil, err
			}
		}
	}

	changed := ch.Opened || ch.Reopened || ch.Folded
	if !ch.Opened && inc.Key != OverflowKey {
		// Labels and annotations stay the ones common to every alert seen:
		// a first notification with one alert carries all its labels.
		changed = intersect(inc.Labels, b.Labels) || changed
		changed = intersect(inc.Annotations, b.Annotations) || changed
		// A title the source words itself follows its latest firing
		// notification (a PagerDuty event's summary), so it is not frozen at
		// the first one's.
		if b.Title != "" && b.Title != inc.Title && inc.Status.Open() && fires(alerts) {
			inc.Title, changed = b.Title, true
		}
	}
	for _, it := range items {
		a, e := it.a, it.e
		switch it.op {
		case opNone:
			continue
		case opNew:
			e = &AlertEntry{Alert: a, Fires: 1, FirstSeen: now}
			inc.AlertCount++
			if a.Status == AlertFiring {
				inc.FiringCount++
				ch.NewAlerts = append(ch.NewAlerts, a)
			} else {
				ch.ResolvedAlerts = append(ch.ResolvedAlerts, a)
			}
		case opRefire:
			if e.Status == AlertResolved {
				inc.FiringCount++
			}
			e.Fires++
			e.Alert = a
			ch.Refired = append(ch.Refired, a)
		case opResolve:
			inc.FiringCount--
			e.Alert = keepKnown(e.Alert, a)
			ch.ResolvedAlerts = append(ch.ResolvedAlerts, e.Alert)
		case opUpdate:
			e.Alert = keepKnown(e.Alert, a)
		}
		e.Updated = now
		if err := tx.PutAlert(inc.Number, e); err != nil {
			return nil, err
		}
		changed = true
	}
	if b.Truncated > inc.Truncated {
		inc.Truncated = b.Truncated
		changed = true
	}
	if err := s.timelineAlerts(tx, inc, b.Source, ch, now); err != nil {
		return nil, err
	}

	if b.AckedBy != "" && inc.Status == StatusTriggered {
		inc.Status, inc.AckedBy, inc.AckedAt = StatusAcknowledged, b.AckedBy, now
		ch.Acknowledged, changed = true, true
		if err := tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: b.AckedBy, Kind: KindAcknowledged,
			Text: fmt.Sprintf("Acknowledged in %s by %s", b.Source, b.AckedBy)}); err != nil {
			return nil, err
		}
	}
	if !changed {
		return nil, nil
	}
	if b.ResolvedBy != "" && inc.Status.Open() && inc.FiringCount == 0 {
		resolve(inc, b.ResolvedBy, now)
		ch.Resolved = true
		if err := tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: b.ResolvedBy, Kind: KindResolved,
			Text: fmt.Sprintf("Resolved in %s by %s", b.Source, b.ResolvedBy)}); err != nil {
			return nil, err
		}
	}
	if s.cfg.AutoResolve && inc.Status.Open() && inc.AlertCount > 0 && inc.FiringCount == 0 {
		resolve(inc, ActorTebura, now)
		ch.Resolved = true
		if err := tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: ActorTebura, Kind: KindResolved,
			Text: fmt.Sprintf("All %d alerts resolved; incident resolved automatically", inc.AlertCount)}); err != nil {
			return nil, err
		}
	}

	if inc.Key == OverflowKey {
		// The overflow incident runs no automation: the storm's groups
		// would each start their rules' runbooks. It needs a channel only.
		if inc.Channel.IsZero() && (ch.Opened || ch.Reopened) {
			ch.Actions.OpenChannel = true
			ch.Actions.ChannelName, ch.Actions.UseChannel = s.channelFor(inc, nil, nil)
		}
	} else if inc.Status.Open() && (ch.Opened || ch.Reopened || len(ch.NewAlerts)+len(ch.Refired) > 0) {
		var sets []map[string]string
		for _, a := range slices.Concat(ch.NewAlerts, ch.Refired) {
			sets = append(sets, merge(inc.Labels, a.Labels))
		}
		if err := s.automate(tx, inc, ch, sets, now); err != nil {
			return nil, err
		}
	}
	if err := tx.PutIncident(inc); err != nil {
		return nil, err
	}
	ch.Incident = inc.Clone()
	return ch, nil
}

// keepKnown returns a with what it lacks taken from the stored old: a
// resolve notice (PagerDuty Events API) may carry no labels and no start.
func keepKnown(old, a Alert) Alert {
	if a.StartsAt.IsZero() {
		a.StartsAt = old.StartsAt
	}
	if len(a.Labels) == 0 {
		a.Labels = old.Labels
	}
	if len(a.Annotations) == 0 {
		a.Annotations = old.Annotations
	}
	if a.GeneratorURL == "" {
		a.GeneratorURL = old.GeneratorURL
	}
	if len(a.Links) == 0 {
		a.Links = old.Links
	}
	return a
}

func (s *Service) newIncident(n int64, key string, b *Batch, alerts []Alert, now time.Time) *Incident {
	ls := cloneMap(b.Labels)
	if len(ls) == 0 && len(alerts) > 0 {
		ls = cloneMap(alerts[0].Labels)
	}
	ann := cloneMap(b.Annotations)
	inc := &Incident{
		ID: idOf(n), Number: n, Key: key, Status: StatusTriggered, Source: b.Source,
		Labels: ls, Annotations: ann, Links: append([]Link(nil), b.Links...),
		StartedAt: now, DetectedAt: now,
	}
	inc.Title = b.Title
	if inc.Title == "" {
		inc.Title = deriveTitle(ls, ann, alerts)
	}
	inc.Severity = b.Severity
	if inc.Severity == "" {
		inc.Severity = ls["severity"]
	}
	if inc.Severity == "" && len(alerts) > 0 {
		inc.Severity = alerts[0].Labels["severity"]
	}
	for _, a := range alerts {
		if !a.StartsAt.IsZero() && a.StartsAt.Before(inc.DetectedAt) {
			inc.DetectedAt = a.StartsAt.UTC()
		}
	}
	return inc
}

func deriveTitle(ls, ann map[string]string, alerts []Alert) string {
	name := ls["alertname"]
	if name == "" {
		if s := ann["summary"]; s != "" {
			return s
		}
		if len(alerts) > 0 {
			return alerts[0].Name()
		}
		return "Alert"
	}
	if svc := ls["service"]; svc != "" {
		return name + " on " + svc
	}
	if job := ls["job"]; job != "" {
		return name + " on " + job
	}
	return name
}

// timelineAlerts writes one timeline entry per kind of alert change in the
// batch (not one per alert: a storm stays readable).
func (s *Service) timelineAlerts(tx Tx, inc *Incident, source string, ch *Change, now time.Time) error {
	groups := []struct {
		kind, verb string
		alerts     []Alert
	}{
		{KindAlertsFired, "fired", ch.NewAlerts},
		{KindAlertsRefired, "fired again", ch.Refired},
		{KindAlertsResolve, "resolved", ch.ResolvedAlerts},
	}
	for _, g := range groups {
		if len(g.alerts) == 0 {
			continue
		}
		if err := tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: source, Kind: g.kind,
			Text: alertSummary(g.alerts, g.verb), Data: map[string]string{"count": fmt.Sprint(len(g.alerts))}}); err != nil {
			return err
		}
	}
	return nil
}

func alertSummary(alerts []Alert, verb string) string {
	const show = 5
	names := make([]string, 0, show)
	for i, a := range alerts {
		if i == show {
			break
		}
		names = append(names, a.Name())
	}
	noun := "alert"
	if len(alerts) > 1 {
		noun = "alerts"
	}
	text := fmt.Sprintf("%d %s %s: %s", len(alerts), noun, verb, strings.Join(names, ", "))
	if len(alerts) > show {
		text += fmt.Sprintf(" and %d more", len(alerts)-show)
	}
	return text
}

// intersect deletes from have what want lacks or holds differently, and
// reports whether it deleted anything. An empty want (a source that sends
// no common labels) changes nothing.
func intersect(have, want map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	deleted := false
	for k, v := range have {
		if w, ok := want[k]; !ok || w != v {
			delete(have, k)
			deleted = true
		}
	}
	return deleted
}

func merge(base, over map[string]string) map[string]string {
	m := make(map[string]string, len(base)+len(over))
	maps.Copy(m, base)
	maps.Copy(m, over)
	return m
}

// automate matches the rules against the label sets of what is new and
// fills ch.Actions. A rule fires once per incident (until it reopens) and
// at most once per once_within per group key; both are stored in the same
// transaction as the ingest.
func (s *Service) automate(tx Tx, inc *Incident, ch *Change, sets []map[string]string, now time.Time) error {
	if len(sets) == 0 {
		sets = []map[string]string{inc.Labels}
	}
	act := &ch.Actions
	var channelRule *Rule
	var channelSet map[string]string
	for i := range s.rules {
		r := &s.rules[i]
		var matched map[string]string
		for _, ls := range sets {
			if r.Matches(ls) {
				matched = ls
				break
			}
		}
		if matched == nil {
			continue
		}
		if slices.Contains(inc.Fired, r.Name) {
			if !r.Continue {
				break
			}
			continue
		}
		if r.OnceWithin > 0 {
			name := "throttle/" + r.Name + "/" + inc.Key
			last, ok, err := tx.Mark(name)
			if err != nil {
				return err
			}
			if ok && now.Sub(last) < r.OnceWithin {
				act.Throttled = append(act.Throttled, r.Name)
				if !r.Continue {
					break
				}
				continue
			}
			if err := tx.SetMark(name, now); err != nil {
				return err
			}
		}
		inc.Fired = append(inc.Fired, r.Name)
		act.Rules = append(act.Rules, r.Name)
		if r.Severity != "" && (ch.Opened || ch.Reopened) {
			inc.Severity = r.Severity
		}
		if r.Channel != "" && channelRule == nil {
			channelRule, channelSet = r, matched
		}
		act.Invite = addUnique(act.Invite, r.Invite...)
		diags, suggs, notes := s.ruleRunbooks(r, templateData(inc, matched, inc.Annotations))
		act.Diagnostics = append(act.Diagnostics, diags...)
		act.Suggest = append(act.Suggest, suggs...)
		for _, note := range notes {
			if err := tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: "automation:" + r.Name, Kind: KindAutomation, Text: note}); err != nil {
				return err
			}
		}
		var parts []string
		if r.Severity != "" && (ch.Opened || ch.Reopened) {
			parts = append(parts, "severity "+r.Severity)
		}
		if len(r.Diagnostics) > 0 {
			parts = append(parts, "diagnostics "+strings.Join(r.Diagnostics, ", "))
		}
		if len(r.Suggest) > 0 {
			parts = append(parts, "suggest "+strings.Join(r.Suggest, ", "))
		}
		text := "Rule " + r.Name + " matched"
		if len(parts) > 0 {
			text += ": " + strings.Join(parts, "; ")
		}
		if err := tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: "automation:" + r.Name, Kind: KindAutomation, Text: text}); err != nil {
			return err
		}
		if !r.Continue {
			break
		}
	}
	if inc.Channel.IsZero() && (ch.Opened || ch.Reopened) {
		act.OpenChannel = true
		act.ChannelName, act.UseChannel = s.channelFor(inc, channelRule, channelSet)
	}
	return nil
}

// ruleRunbooks renders rule r's diagnostics and suggestions for d. With
// GuardDiagnostics set, a diagnostic that needs approval is moved to the
// suggestions and an unknown one is dropped; notes say so, for the
// timeline.
func (s *Service) ruleRunbooks(r *Rule, d TemplateData) (diags, suggs []RunbookAction, notes []string) {
	for _, ra := range r.runbookActions(r.Diagnostics, d) {
		if s.guard == nil {
			diags = append(diags, ra)
			continue
		}
		rem, known := s.guard(ra.Runbook)
		switch {
		case !known:
			notes = append(notes, "Diagnostics runbook "+ra.Runbook+" does not exist; skipped")
		case rem:
			suggs = append(suggs, ra)
			notes = append(notes, "Runbook "+ra.Runbook+" needs approval; proposed instead of run")
		default:
			diags = append(diags, ra)
		}
	}
	suggs = append(suggs, r.runbookActions(r.Suggest, d)...)
	return diags, suggs, notes
}

// channelFor names the channel of inc: the template of rule r (the first
// fired rule with a channel), r's existing channel (use), or
// incidents.channel_template over ls.
func (s *Service) channelFor(inc *Incident, r *Rule, ls map[string]string) (name, use string) {
	switch {
	case r != nil && r.channelTmpl != nil:
		return s.channelName(r.channelTmpl, inc, ls, inc.Annotations), ""
	case r != nil:
		return "", r.Channel
	}
	return s.channelName(s.channelTmpl, inc, inc.Labels, inc.Annotations), ""
}

// Actions re-derives, from the incident as stored, what its fired rules
// (Incident.Fired, stored in the ingest's transaction) asked for: the
// channel to open or use, whom to invite, the diagnostics and the
// suggestions. The reaction layer calls it when the Change that carried
// the actions was lost (a crash between the webhook's answer and the
// reaction), and for [Run diagnostics]. It writes nothing: no timeline,
// no throttle; OpenChannel is set when the incident has no channel.
//
// Parameters are rendered from the incident's labels (the group's common
// labels), not from the labels of the one alert that matched; for rules
// over common labels that is the same.
func (s *Service) Actions(inc *Incident) Actions {
	var act Actions
	var channelRule *Rule
	d := templateData(inc, inc.Labels, inc.Annotations)
	for _, name := range inc.Fired {
		r := s.rule(name)
		if r == nil {
			continue // the rule was removed from the config since
		}
		act.Rules = append(act.Rules, r.Name)
		if r.Channel != "" && channelRule == nil {
			channelRule = r
		}
		act.Invite = addUnique(act.Invite, r.Invite...)
		diags, suggs, _ := s.ruleRunbooks(r, d)
		act.Diagnostics = append(act.Diagnostics, diags...)
		act.Suggest = append(act.Suggest, suggs...)
	}
	if inc.Channel.IsZero() {
		act.OpenChannel = true
		act.ChannelName, act.UseChannel = s.channelFor(inc, channelRule, inc.Labels)
	}
	return act
}

func (s *Service) rule(name string) *Rule {
	for i := range s.rules {
		if s.rules[i].Name == name {
			return &s.rules[i]
		}
	}
	return nil
}

// OverflowKey is the group key of the overflow incident: the one incident
// that new alert groups join while opening their own would break
// incidents.max_open or incidents.max_new_per_minute.
const OverflowKey = "tebura:overflow"

// stormWindow is the window of incidents.max_new_per_minute.
const stormWindow = time.Minute

// overLimits says which storm limit a new group would break ("" for none).
// The overflow incident counts toward neither: it is what a storm opens
// instead. Opened incidents are counted newest first, so the count stops
// at the first one older than a minute.
func (s *Service) overLimits(tx Tx, now time.Time) (string, error) {
	if s.cfg.MaxOpen > 0 {
		open, err := tx.OpenCount()
		if err != nil {
			return "", err
		}
		if n, ok, err := tx.KeyIndex(OverflowKey); err != nil {
			return "", err
		} else if ok {
			if o, err := tx.Incident(n); err != nil {
				return "", err
			} else if o.Status.Open() {
				open--
			}
		}
		if open >= s.cfg.MaxOpen {
			return fmt.Sprintf("incidents.max_open (%d open)", s.cfg.MaxOpen), nil
		}
	}
	if s.cfg.MaxNewPerMinute > 0 {
		recent := 0
		err := tx.Incidents(func(inc *Incident) bool {
			if !inc.StartedAt.After(now.Add(-stormWindow)) {
				return false
			}
			if inc.Key != OverflowKey {
				recent++
			}
			return recent < s.cfg.MaxNewPerMinute
		})
		if err != nil {
			return "", err
		}
		if recent >= s.cfg.MaxNewPerMinute {
			return fmt.Sprintf("incidents.max_new_per_minute (%d opened in the last minute)", s.cfg.MaxNewPerMinute), nil
		}
	}
	return "", nil
}

// fold points group key at the open overflow incident, opening one when
// none is open (ch.Opened), and counts the group in it. The caller then
// applies b's alerts to it like to any incident.
func (s *Service) fold(tx Tx, ch *Change, key string, b *Batch, limit string, now time.Time) (*Incident, error) {
	var inc *Incident
	if n, ok, err := tx.KeyIndex(OverflowKey); err != nil {
		return nil, err
	} else if ok {
		if inc, err = tx.Incident(n); err != nil {
			return nil, err
		}
		if !inc.Status.Open() {
			inc = nil
		}
	}
	if inc == nil {
		n, err := tx.NextNumber()
		if err != nil {
			return nil, err
		}
		inc = &Incident{ID: idOf(n), Number: n, Key: OverflowKey, Status: StatusTriggered, Source: ActorTebura,
			Title: "Alert storm: new alert groups over the limits", Severity: "critical",
			Labels: map[string]string{}, StartedAt: now, DetectedAt: now}
		ch.Opened = true
		if err := tx.SetKeyIndex(OverflowKey, n); err != nil {
			return nil, err
		}
		if err := tx.AppendTimeline(n, TimelineEntry{Time: now, Actor: ActorTebura, Kind: KindOpened,
			Text: fmt.Sprintf("Incident %s opened for an alert storm: new alert groups beyond %s join it instead of opening their own incidents", inc.Ref(), limit),
			Data: map[string]string{"source": b.Source, "key": b.GroupKey, "limit": limit}}); err != nil {
			return nil, err
		}
	}
	inc.Folded++
	ch.Folded = true
	if err := tx.SetKeyIndex(key, inc.Number); err != nil {
		return nil, err
	}
	return inc, nil
}

// masked returns b with its title and every value of its and its alerts'
// labels, annotations and links passed through mask (Service.MaskWith).
// Keys are names, not values, and stay. b's maps are not changed: the
// caller's batch is its own.
func (b Batch) masked(mask func(string) string) Batch {
	values := func(m map[string]string) map[string]string {
		if m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = mask(v)
		}
		return out
	}
	links := func(ls []Link) []Link {
		if ls == nil {
			return nil
		}
		out := make([]Link, len(ls))
		for i, l := range ls {
			out[i] = Link{Title: mask(l.Title), URL: mask(l.URL)}
		}
		return out
	}
	b.Title = mask(b.Title)
	b.Labels, b.Annotations, b.Links = values(b.Labels), values(b.Annotations), links(b.Links)
	alerts := make([]Alert, len(b.Alerts))
	for i, a := range b.Alerts {
		a.Labels, a.Annotations, a.Links = values(a.Labels), values(a.Annotations), links(a.Links)
		a.GeneratorURL = mask(a.GeneratorURL)
		alerts[i] = a
	}
	b.Alerts = alerts
	return b
}
