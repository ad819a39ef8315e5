package incident

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// DefaultChannelTemplate names new incident channels when
// incidents.channel_template is empty.
const DefaultChannelTemplate = "inc-{{ .Number }}-{{ .Slug }}"

// maxChannelName is the longest channel name Slack accepts (Discord allows
// 100): https://docs.slack.dev/reference/methods/conversations.create/
const maxChannelName = 80

// Service is the incident domain: ingest, lifecycle, timeline. It is safe
// for concurrent use; the store serializes writes.
type Service struct {
	store       Store
	cfg         config.Incidents
	rules       []Rule
	clock       func() time.Time
	log         *slog.Logger
	channelTmpl *template.Template
	guard       func(name string) (remediation, known bool)
	watchdog    *Watchdog
	mask        func(string) string
}

// Watch makes Ingest take the watchdog alert w matches out of every batch
// before anything is stored, recording it as a heartbeat: it opens no
// incident and runs no automation. A nil w watches nothing. Call it once
// while wiring, before the first Ingest.
func (s *Service) Watch(w *Watchdog) { s.watchdog = w }

// Watchdog is the watchdog given to Watch, or nil.
func (s *Service) Watchdog() *Watchdog { return s.watchdog }

// MaskWith makes Ingest pass every value an alert carries (the batch's
// title, every label and annotation value, links) through mask before
// anything is matched, stored or shown: a configured secret (redact.values,
// a token of the configuration) or a match of redact.patterns that a
// sender put in an alert is never at rest in the store, and reads as ***
// everywhere, rules' matchers and templates included. mask reads the
// current redaction (a reload applies). Call it once while wiring.
func (s *Service) MaskWith(mask func(string) string) { s.mask = mask }

// GuardDiagnostics makes Ingest check every diagnostics runbook at the
// moment it would start, with isRemediation (usually a closure over the
// current runbook registry; ValidateRules makes the same check at load):
// a runbook that became a remediation or needs approval is moved to
// Actions.Suggest (so it waits for its approvals), an unknown one is
// dropped; both are noted on the timeline. Call it once while wiring, before the first Ingest.
func (s *Service) GuardDiagnostics(isRemediation func(name string) (remediation, known bool)) {
	s.guard = isRemediation
}

// New returns a Service. rules come from CompileRules; clock may be nil
// (time.Now).
func New(store Store, cfg config.Incidents, rules []Rule, clock func() time.Time, logger *slog.Logger) (*Service, error) {
	if clock == nil {
		clock = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	text := cfg.ChannelTemplate
	if text == "" {
		text = DefaultChannelTemplate
	}
	t, err := parseTemplate("channel_template", text)
	if err != nil {
		return nil, fmt.Errorf("incidents.channel_template: %w", err)
	}
	return &Service{store: store, cfg: cfg, rules: rules, clock: clock, log: logger, channelTmpl: t}, nil
}

// Rules returns the compiled automation rules the service matches.
func (s *Service) Rules() []Rule { return s.rules }

// ParseRef turns "#42", "42" or "i42" into 42.
func ParseRef(ref string) (int64, error) {
	r := strings.TrimSpace(ref)
	r = strings.TrimPrefix(r, "#")
	r = strings.TrimPrefix(r, "i")
	n, err := strconv.ParseInt(r, 10, 64)
	if err != nil || n <= 0 {
		return 0, tebura.Errorf(tebura.EINVALID, "%q is not an incident; name it by number, like #42.", ref)
	}
	return n, nil
}

func idOf(n int64) string { return "i" + strconv.FormatInt(n, 10) }

// Declare opens an incident by hand. The returned Change carries the same
// actions as an alert-opened incident (OpenChannel, matched rules).
func (s *Service) Declare(ctx context.Context, title, severity, actor string) (Change, error) {
	title = strings.TrimSpace(title)
	if title == "" {
		return Change{}, tebura.Errorf(tebura.EINVALID, "Give the incident a title, like: declare \"Checkout is failing\" sev=2.")
	}
	now := s.clock().UTC()
	var ch Change
	err := s.store.UpdateIncidents(ctx, func(tx Tx) error {
		n, err := tx.NextNumber()
		if err != nil {
			return err
		}
		inc := &Incident{
			ID: idOf(n), Number: n, Key: "declared:" + strconv.FormatInt(n, 10), Title: title,
			Severity: strings.TrimSpace(severity), Status: StatusTriggered, Source: "declared",
			Labels: map[string]string{}, StartedAt: now, DetectedAt: now, Commander: actor,
		}
		if inc.Severity != "" {
			inc.Labels["severity"] = inc.Severity
		}
		if actor != "" {
			inc.Responders = []string{actor}
		}
		ch = Change{Opened: true}
		if err := tx.AppendTimeline(n, TimelineEntry{Time: now, Actor: actor, Kind: KindOpened,
			Text: fmt.Sprintf("Incident %s declared: %s", inc.Ref(), title)}); err != nil {
			return err
		}
		if err := s.automate(tx, inc, &ch, []map[string]string{inc.Labels}, now); err != nil {
			return err
		}
		if err := tx.SetKeyIndex(inc.Key, n); err != nil {
			return err
		}
		if err := tx.PutIncident(inc); err != nil {
			return err
		}
		ch.Incident = inc.Clone()
		return nil
	})
	if err != nil {
		return Change{}, err
	}
	s.log.Info("incident declared", "incident", ch.Incident.Number, "actor", actor)
	return ch, nil
}

// update loads incident id, calls fn and stores the result in one
// transaction.
func (s *Service) update(ctx context.Context, id string, fn func(tx Tx, inc *Incident, now time.Time) error) (*Incident, error) {
	n, err := ParseRef(id)
	if err != nil {
		return nil, err
	}
	now := s.clock().UTC()
	var out *Incident
	err = s.store.UpdateIncidents(ctx, func(tx Tx) error {
		inc, err := tx.Incident(n)
		if err != nil {
			return err
		}
		if err := fn(tx, inc, now); err != nil {
			return err
		}
		if err := tx.PutIncident(inc); err != nil {
			return err
		}
		out = inc.Clone()
		return nil
	})
	return out, err
}

// Ack acknowledges an open incident.
func (s *Service) Ack(ctx context.Context, id, actor string) (*Incident, error) {
	return s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		switch inc.Status {
		case StatusResolved:
			return tebura.Errorf(tebura.ECONFLICT, "Incident %s is already resolved.", inc.Ref())
		case StatusAcknowledged:
			return tebura.Errorf(tebura.ECONFLICT, "Incident %s was already acknowledged by %s.", inc.Ref(), inc.AckedBy)
		}
		inc.Status, inc.AckedBy, inc.AckedAt = StatusAcknowledged, actor, now
		inc.Responders = addUnique(inc.Responders, actor)
		return tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: actor, Kind: KindAcknowledged,
			Text: "Acknowledged by " + actor})
	})
}

// Resolve resolves an open incident, with an optional note.
func (s *Service) Resolve(ctx context.Context, id, actor, note string) (*Incident, error) {
	return s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		if inc.Status == StatusResolved {
			return tebura.Errorf(tebura.ECONFLICT, "Incident %s is already resolved (by %s).", inc.Ref(), inc.ResolvedBy)
		}
		resolve(inc, actor, now)
		text := "Resolved by " + actor
		var data map[string]string
		if note = strings.TrimSpace(note); note != "" {
			text += ": " + note
			// kept apart too: resolution hints show it beside similar
			// incidents
			data = map[string]string{"note": note}
		}
		return tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: actor, Kind: KindResolved, Text: text, Data: data})
	})
}

func resolve(inc *Incident, actor string, now time.Time) {
	inc.Status, inc.ResolvedBy, inc.ResolvedAt = StatusResolved, actor, now
}

// Note adds a note to the timeline.
func (s *Service) Note(ctx context.Context, id, actor, text string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return tebura.Errorf(tebura.EINVALID, "Write the note after the command, like: note rolled back the deploy.")
	}
	_, err := s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		return tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: actor, Kind: KindNote, Text: text})
	})
	return err
}

// SetCommander names the incident commander; they join the responders.
func (s *Service) SetCommander(ctx context.Context, id, actor, commander string) (*Incident, error) {
	if strings.TrimSpace(commander) == "" {
		return nil, tebura.Errorf(tebura.EINVALID, "Name the commander, like: commander @alice.")
	}
	return s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		inc.Commander = commander
		inc.Responders = addUnique(inc.Responders, commander)
		return tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: actor, Kind: KindCommander,
			Text: commander + " is the incident commander"})
	})
}

// AddResponders records who was invited or joined; already known ones are
// skipped, and nothing is written when nobody is new.
func (s *Service) AddResponders(ctx context.Context, id, actor string, members []string) (*Incident, error) {
	return s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		before := len(inc.Responders)
		inc.Responders = addUnique(inc.Responders, members...)
		added := inc.Responders[before:]
		if len(added) == 0 {
			return nil
		}
		return tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: actor, Kind: KindResponders,
			Text: "Responders added: " + strings.Join(added, ", ")})
	})
}

// AttachChannel stores the incident's channel. Call it right after the
// channel exists and before posting anything, so a retry finds and reuses
// it. If the incident already has a channel, nothing changes: attached is
// false and inc.Channel is the one to use (the caller may archive the
// channel it just created). Attaching the same channel again is a no-op.
// A channel that is the incident's own may belong to one incident only
// (ECONFLICT otherwise); a Shared one (Actions.UseChannel, the console) may
// serve several.
func (s *Service) AttachChannel(ctx context.Context, id string, c Channel) (inc *Incident, attached bool, err error) {
	if c.ID == "" || c.Platform == "" {
		return nil, false, tebura.Errorf(tebura.EINVALID, "A channel needs a platform and an ID.")
	}
	inc, err = s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		attached = false // fn may run again (see Store)
		if !inc.Channel.IsZero() {
			return nil
		}
		inc.Channel = c
		attached = true
		if !c.Shared {
			if n, ok, err := tx.ChannelIndex(c.Platform, c.ID); err != nil {
				return err
			} else if ok && n != inc.Number {
				return tebura.Errorf(tebura.ECONFLICT, "That channel already belongs to incident #%d.", n)
			}
			if err := tx.SetChannelIndex(c.Platform, c.ID, inc.Number); err != nil {
				return err
			}
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		text := "Channel " + name + " on " + c.Platform
		if c.Shared {
			text = "Posting in " + name + " on " + c.Platform + ", a channel shared with other incidents"
		}
		return tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: ActorTebura, Kind: KindChannel,
			Text: text, Data: map[string]string{"channel": c.ID, "platform": c.Platform, "url": c.URL}})
	})
	return inc, attached, err
}

// ArchiveDue returns the resolved incidents whose channel is due for
// archiving: resolved at least incidents.archive_after ago (zero disables
// archiving), with a channel of their own (never a Shared one), not
// archived yet. The reaction layer archives
// each channel and then calls MarkArchived.
func (s *Service) ArchiveDue(ctx context.Context) ([]*Incident, error) {
	if s.cfg.ArchiveAfter <= 0 {
		return nil, nil
	}
	now := s.clock()
	var out []*Incident
	err := s.store.ViewIncidents(ctx, func(tx Tx) error {
		return tx.Incidents(func(inc *Incident) bool {
			if inc.Status == StatusResolved && !inc.Channel.IsZero() && !inc.Channel.Shared && inc.ArchivedAt.IsZero() &&
				now.Sub(inc.ResolvedAt) >= s.cfg.ArchiveAfter {
				out = append(out, inc)
			}
			return true
		})
	})
	return out, err
}

// MarkArchived records that the incident's channel was archived. If the
// incident reopened in the meantime it refuses with ECONFLICT.
func (s *Service) MarkArchived(ctx context.Context, id string) (*Incident, error) {
	return s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		if inc.Status.Open() {
			return tebura.Errorf(tebura.ECONFLICT, "Incident %s is open again; its channel stays.", inc.Ref())
		}
		if !inc.ArchivedAt.IsZero() {
			return nil
		}
		inc.ArchivedAt = now
		return tx.AppendTimeline(inc.Number, TimelineEntry{Time: now, Actor: ActorTebura, Kind: KindChannel, Text: "Channel archived"})
	})
}

// DeliveryMemory is how long delivery IDs (the signed PagerDuty event.id) are
// remembered: PagerDuty retries for up to 48 hours
// (https://github.com/PagerDuty/developer-docs/blob/main/docs/webhooks/02-Behavior.md).
const DeliveryMemory = 72 * time.Hour

// PruneMarks forgets delivery IDs older than DeliveryMemory and once_within
// throttles that have run out, so the store does not grow forever. Run it
// now and then (hourly is plenty).
func (s *Service) PruneMarks(ctx context.Context) (int, error) {
	now := s.clock()
	var longest time.Duration
	for _, r := range s.rules {
		longest = max(longest, r.OnceWithin)
	}
	total := 0
	err := s.store.UpdateIncidents(ctx, func(tx Tx) error {
		total = 0
		n, err := tx.PruneMarks("delivery/", now.Add(-DeliveryMemory))
		if err != nil {
			return err
		}
		m, err := tx.PruneMarks("throttle/", now.Add(-longest))
		total = n + m
		return err
	})
	return total, err
}

// Get returns an incident by reference ("#42", "42", "i42").
func (s *Service) Get(ctx context.Context, id string) (*Incident, error) {
	n, err := ParseRef(id)
	if err != nil {
		return nil, err
	}
	return s.ByNumber(ctx, n)
}

// ByNumber returns incident n or a tebura ENOTFOUND error.
func (s *Service) ByNumber(ctx context.Context, n int64) (*Incident, error) {
	var inc *Incident
	err := s.store.ViewIncidents(ctx, func(tx Tx) error {
		var err error
		inc, err = tx.Incident(n)
		return err
	})
	return inc, err
}

// ByChannel returns the incident a command typed in this channel is about,
// or ENOTFOUND: the commands use it so that inside an incident channel the
// incident is the channel's. See ChannelIncidents.
func (s *Service) ByChannel(ctx context.Context, platform, channel string) (*Incident, error) {
	inc, _, err := s.ChannelIncidents(ctx, platform, channel)
	return inc, err
}

// ChannelOwner returns the incident that owns the channel (one created for
// it), or ENOTFOUND; shared channels have no owner. It reads one index.
func (s *Service) ChannelOwner(ctx context.Context, platform, channel string) (*Incident, error) {
	var inc *Incident
	err := s.store.ViewIncidents(ctx, func(tx Tx) error {
		n, ok, err := tx.ChannelIndex(platform, channel)
		if err != nil {
			return err
		}
		if !ok {
			return tebura.Errorf(tebura.ENOTFOUND, "This channel belongs to no incident.")
		}
		inc, err = tx.Incident(n)
		return err
	})
	return inc, err
}

// ChannelIncidents returns the incident of a channel and, for a shared
// channel, the other open incidents using it. A channel an incident owns
// (created for it) is that incident's. A Shared channel (the console's one
// channel, an existing channel a rule names) may serve several: inc is
// the most recent open incident attached to it, or the most recent one
// when none is open; others are the other open ones, newest first, so the
// caller can say which one it chose. ENOTFOUND when no incident uses the
// channel.
//
// Shared channels are found by a scan of the incidents (newest first):
// fine for a command, not for a hot path.
func (s *Service) ChannelIncidents(ctx context.Context, platform, channel string) (inc *Incident, others []*Incident, err error) {
	err = s.store.ViewIncidents(ctx, func(tx Tx) error {
		inc, others = nil, nil
		n, ok, err := tx.ChannelIndex(platform, channel)
		if err != nil {
			return err
		}
		if ok {
			inc, err = tx.Incident(n)
			return err
		}
		var latest *Incident
		err = tx.Incidents(func(c *Incident) bool {
			if !c.Channel.Shared || c.Channel.Platform != platform || c.Channel.ID != channel {
				return true
			}
			if latest == nil {
				latest = c
			}
			if c.Status.Open() {
				if inc == nil {
					inc = c
				} else {
					others = append(others, c)
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		if inc == nil {
			inc = latest
		}
		if inc == nil {
			return tebura.Errorf(tebura.ENOTFOUND, "This channel belongs to no incident; name one by number, like #42.")
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return inc, others, nil
}

// ListOptions filters List.
type ListOptions struct {
	OpenOnly bool
	Limit    int // 0 = all
}

// List returns incidents newest first.
func (s *Service) List(ctx context.Context, opt ListOptions) ([]*Incident, error) {
	var out []*Incident
	err := s.store.ViewIncidents(ctx, func(tx Tx) error {
		return tx.Incidents(func(inc *Incident) bool {
			if opt.OpenOnly && !inc.Status.Open() {
				return true
			}
			out = append(out, inc)
			return opt.Limit <= 0 || len(out) < opt.Limit
		})
	})
	return out, err
}

// Alerts returns the incident's alerts ordered by fingerprint.
func (s *Service) Alerts(ctx context.Context, id string) ([]*AlertEntry, error) {
	return read(ctx, s, id, Tx.Alerts)
}

// Timeline returns the incident's timeline, oldest first.
func (s *Service) Timeline(ctx context.Context, id string) ([]TimelineEntry, error) {
	return read(ctx, s, id, Tx.Timeline)
}

// read returns get's result for incident id (ENOTFOUND when there is no
// such incident) from a read-only transaction.
func read[T any](ctx context.Context, s *Service, id string, get func(tx Tx, n int64) (T, error)) (T, error) {
	var out T
	n, err := ParseRef(id)
	if err != nil {
		return out, err
	}
	err = s.store.ViewIncidents(ctx, func(tx Tx) error {
		if _, err := tx.Incident(n); err != nil {
			return err
		}
		var err error
		out, err = get(tx, n)
		return err
	})
	return out, err
}

// AddTimeline appends an entry from the reaction layer: a command, an
// approval or denial, a run with its result and log link. A zero Time is
// set to now.
func (s *Service) AddTimeline(ctx context.Context, id string, e TimelineEntry) error {
	if e.Kind == "" {
		return tebura.Errorf(tebura.EINVALID, "A timeline entry needs a kind.")
	}
	_, err := s.update(ctx, id, func(tx Tx, inc *Incident, now time.Time) error {
		if e.Time.IsZero() {
			e.Time = now
		}
		return tx.AppendTimeline(inc.Number, e)
	})
	return err
}

// channelName renders the channel template for inc.
func (s *Service) channelName(t *template.Template, inc *Incident, ls, ann map[string]string) string {
	name, err := render(t, templateData(inc, ls, ann))
	if err != nil || name == "" {
		s.log.Warn("channel template failed", "incident", inc.Number, "err", err)
		name = "inc-" + strconv.FormatInt(inc.Number, 10)
	}
	return tebura.Slug(name, maxChannelName)
}

func templateData(inc *Incident, ls, ann map[string]string) TemplateData {
	return TemplateData{Number: inc.Number, Slug: inc.Slug(), Title: inc.Title, Severity: inc.Severity,
		Labels: ls, Annotations: ann, Incident: inc}
}
