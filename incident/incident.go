// Package incident turns alerts into incidents: it deduplicates and groups
// the normalized alerts every source delivers, runs the incident lifecycle
// (triggered, acknowledged, resolved, reopened), matches automation rules,
// keeps the timeline and writes the postmortem.
//
// It knows nothing about HTTP, chat platforms or storage engines: sources in
// incident/source hand it a Batch, the Store interface declared here is
// implemented in store/bolt, and the chat layer (commands) reacts to the
// Result of each Ingest.
package incident

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
)

// Status is where an incident is in its life.
type Status string

// Incident statuses.
const (
	StatusTriggered    Status = "triggered"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// Open reports whether the incident is not resolved.
func (s Status) Open() bool { return s == StatusTriggered || s == StatusAcknowledged }

// AlertStatus is the status of one alert as the source reports it.
type AlertStatus string

// Alert statuses.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// Link is an extra link an alert carries: a dashboard, a silence, a panel.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Alert is one normalized alert, whatever source sent it. Fingerprint is
// stable per label set (Alertmanager's, Grafana's, a PagerDuty dedup key).
type Alert struct {
	Source       string            `json:"source"`
	Fingerprint  string            `json:"fingerprint"`
	Status       AlertStatus       `json:"status"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       time.Time         `json:"ends_at,omitzero"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	Links        []Link            `json:"links,omitempty"`
}

// Name is a short human name for the alert: alertname plus instance when
// there is one.
func (a Alert) Name() string {
	name := a.Labels["alertname"]
	if name == "" {
		name = a.Annotations["summary"]
	}
	if name == "" {
		name = a.Fingerprint
	}
	if inst := a.Labels["instance"]; inst != "" {
		name += " (" + inst + ")"
	}
	return name
}

// AlertEntry is an alert as stored in an incident: the latest version the
// sources sent plus the bookkeeping that makes ingest idempotent.
type AlertEntry struct {
	Alert
	// Fires counts how often the alert fired in this incident: 1 on first
	// sight, +1 on every re-fire (a new cycle: firing after a resolve, or
	// firing with a later start than the cycle it holds).
	Fires     int       `json:"fires"`
	FirstSeen time.Time `json:"first_seen"`
	Updated   time.Time `json:"updated"`
}

// Channel is the chat channel of an incident.
type Channel struct {
	Platform string `json:"platform"`
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	URL      string `json:"url,omitempty"`
	// Shared marks a channel that is not the incident's own (an existing
	// channel named by a rule, or the console's one channel): several
	// incidents may use it, it takes no channel index, it is never
	// archived, and ChannelIncidents resolves it to the most recent open
	// incident using it.
	Shared bool `json:"shared,omitempty"`
}

// IsZero reports whether no channel is attached.
func (c Channel) IsZero() bool { return c.ID == "" }

// Incident is one incident. The alerts live beside it in the store (see
// Tx.Alerts); the incident keeps their counts so that cards need no scan.
type Incident struct {
	ID       string            `json:"id"`     // "i42"
	Number   int64             `json:"number"` // 42, shown as #42
	Key      string            `json:"key"`    // source-qualified group key
	Title    string            `json:"title"`
	Severity string            `json:"severity,omitempty"`
	Status   Status            `json:"status"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Annotations are the group's common annotations (summary, runbook_url…).
	Annotations map[string]string `json:"annotations,omitempty"`
	Links       []Link            `json:"links,omitempty"`
	Source      string            `json:"source,omitempty"` // "alertmanager", "declared", …

	AlertCount  int `json:"alert_count"`  // distinct fingerprints
	FiringCount int `json:"firing_count"` // of those, firing now
	// Truncated is the number of alerts the source said it left out.
	Truncated int `json:"truncated,omitempty"`

	Channel    Channel  `json:"channel,omitzero"`
	Responders []string `json:"responders,omitempty"`
	Commander  string   `json:"commander,omitempty"`

	StartedAt  time.Time `json:"started_at"`
	DetectedAt time.Time `json:"detected_at"` // earliest alert StartsAt (impact start), or StartedAt
	AckedBy    string    `json:"acked_by,omitempty"`
	AckedAt    time.Time `json:"acked_at,omitzero"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	Reopened   int       `json:"reopened,omitempty"`
	// ArchivedAt is when the reaction layer archived the channel.
	ArchivedAt time.Time `json:"archived_at,omitzero"`

	// Fired lists the automation rules that already fired for this incident
	// since it (re)opened, so a rule's actions happen once per incident.
	Fired []string `json:"fired,omitempty"`

	// Folded counts the alert groups folded into this incident, the
	// overflow incident (Key OverflowKey), by the storm limits.
	Folded int `json:"folded,omitempty"`
}

// MTTA is the incident's time to acknowledge: from when it opened
// (StartedAt) to its acknowledgement. ok is false while it is not
// acknowledged (a reopen clears the acknowledgement). Stats, the
// postmortem and the metrics all count it this way.
func (inc *Incident) MTTA() (d time.Duration, ok bool) {
	if inc.AckedAt.IsZero() {
		return 0, false
	}
	return max(inc.AckedAt.Sub(inc.StartedAt), 0), true
}

// MTTR is the incident's time to resolve: from when it opened (StartedAt)
// to its resolve. ok is false while it is open.
func (inc *Incident) MTTR() (d time.Duration, ok bool) {
	if inc.Status != StatusResolved || inc.ResolvedAt.IsZero() {
		return 0, false
	}
	return max(inc.ResolvedAt.Sub(inc.StartedAt), 0), true
}

// Ref is how people name the incident: "#42".
func (inc *Incident) Ref() string { return "#" + strconv.FormatInt(inc.Number, 10) }

// Slug is the title reduced to lowercase letters, digits and hyphens, at
// most 40 characters, for channel names.
func (inc *Incident) Slug() string { return tebura.Slug(inc.Title, 40) }

// Clone returns a deep copy, so callers never share maps with the store.
func (inc *Incident) Clone() *Incident {
	if inc == nil {
		return nil
	}
	c := *inc
	c.Labels = cloneMap(inc.Labels)
	c.Annotations = cloneMap(inc.Annotations)
	c.Links = append([]Link(nil), inc.Links...)
	c.Responders = append([]string(nil), inc.Responders...)
	c.Fired = append([]string(nil), inc.Fired...)
	return &c
}

// Timeline entry kinds. Entries from the reaction layer may use any kind;
// these are the ones this package writes or the postmortem understands.
const (
	KindOpened        = "incident.opened"
	KindReopened      = "incident.reopened"
	KindAcknowledged  = "incident.acknowledged"
	KindResolved      = "incident.resolved"
	KindSeverity      = "incident.severity"
	KindAlertsFired   = "alerts.fired"
	KindAlertsRefired = "alerts.refired"
	KindAlertsResolve = "alerts.resolved"
	KindNote          = "note"
	KindCommander     = "commander"
	KindResponders    = "responders"
	KindChannel       = "channel"
	KindAutomation    = "automation"
	KindCommand       = "command"
	KindApproval      = "approval"
	KindDenial        = "denial"
	KindRun           = "run"
)

// KindBookkeeping starts the kinds of timeline entries that are the
// reaction layer's memory rather than events (where the card was posted,
// which channel it uses, that it announced): "reaction.card". They stay on
// the stored timeline, and the postmortem and the chat timeline leave them
// out.
const KindBookkeeping = "reaction."

// Bookkeeping reports whether entries of kind are bookkeeping (see
// KindBookkeeping), not events people read.
func Bookkeeping(kind string) bool { return strings.HasPrefix(kind, KindBookkeeping) }

// TimelineEntry is one line of an incident's timeline. Actor is an identity
// ("slack:U1"), "automation:<rule>", or "tebura" for the bot itself.
type TimelineEntry struct {
	Time  time.Time         `json:"time"`
	Actor string            `json:"actor"`
	Kind  string            `json:"kind"`
	Text  string            `json:"text"`
	Data  map[string]string `json:"data,omitempty"`
}

// ActorTebura is the actor of what the bot does by itself.
const ActorTebura = "tebura"

// Store is what the incident service needs from storage. store/bolt
// implements it; store/storetest.RunIncidents is its conformance suite.
//
// Every multi-step change runs inside one UpdateIncidents call, which is one
// storage transaction: a crash never leaves half an ingest behind.
type Store interface {
	// UpdateIncidents runs fn in one read-write transaction. If fn returns an
	// error nothing of it is written. Calls are serialized, but a store may
	// group concurrent calls into one commit and then run fn more than once
	// (store/bolt does): fn must reset everything it captures at its start
	// and have no effect outside tx. One call's error never fails another.
	UpdateIncidents(ctx context.Context, fn func(tx Tx) error) error
	// ViewIncidents runs fn in one read-only transaction; writes through the
	// Tx fail.
	ViewIncidents(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is the storage primitives inside one transaction. Values passed in and
// returned are copies: callers may keep and modify them freely.
type Tx interface {
	// NextNumber returns the next incident number (1, 2, …), never reused.
	NextNumber() (int64, error)
	// Incident returns incident number n, or a tebura ENOTFOUND error.
	Incident(n int64) (*Incident, error)
	// PutIncident stores inc under inc.Number.
	PutIncident(inc *Incident) error
	// Incidents calls fn for every incident, newest first, until fn returns
	// false.
	Incidents(fn func(*Incident) bool) error

	// OpenCount returns how many incidents are open (triggered or
	// acknowledged) as stored in this transaction.
	OpenCount() (int, error)

	// KeyIndex returns the number of the latest incident for a group key.
	KeyIndex(key string) (n int64, ok bool, err error)
	// SetKeyIndex points a group key at an incident.
	SetKeyIndex(key string, n int64) error
	// ChannelIndex returns the incident attached to a chat channel.
	ChannelIndex(platform, channel string) (n int64, ok bool, err error)
	// SetChannelIndex points a chat channel at an incident.
	SetChannelIndex(platform, channel string, n int64) error

	// Alert returns the entry for fingerprint in incident n.
	Alert(n int64, fingerprint string) (e *AlertEntry, ok bool, err error)
	// PutAlert stores an alert entry of incident n.
	PutAlert(n int64, e *AlertEntry) error
	// Alerts returns incident n's alerts ordered by fingerprint.
	Alerts(n int64) ([]*AlertEntry, error)

	// AppendTimeline appends an entry to incident n's timeline.
	AppendTimeline(n int64, e TimelineEntry) error
	// Timeline returns incident n's timeline in the order it was appended.
	Timeline(n int64) ([]TimelineEntry, error)

	// Mark returns the time stored under name (throttles, delivery IDs).
	Mark(name string) (t time.Time, ok bool, err error)
	// SetMark stores t under name.
	SetMark(name string, t time.Time) error
	// PruneMarks deletes the marks whose name starts with prefix and whose
	// time is before before, and returns how many it deleted.
	PruneMarks(prefix string, before time.Time) (int, error)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
