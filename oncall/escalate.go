package oncall

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// Incidents is what escalation and responder load read and write of the
// incidents. *incident.Service implements it.
type Incidents interface {
	List(ctx context.Context, opt incident.ListOptions) ([]*incident.Incident, error)
	Timeline(ctx context.Context, id string) ([]incident.TimelineEntry, error)
	AddTimeline(ctx context.Context, id string, e incident.TimelineEntry) error
}

// Pager invites invite entries ("oncall:primary-db", "role:sre-leads")
// into an incident's channel and records whom they reached. It fails when
// the incident has no channel to invite into yet. The incident chat flows
// implement it.
type Pager interface {
	Page(ctx context.Context, number int64, entries []string) error
}

// Escalator pages an automation rule's escalation levels: the first when
// the incident opens, each next one when nobody acknowledged within
// `after` of the previous. It keeps no state of its own: which levels are
// due follows from when the incident (re)opened and whether it is
// acknowledged, and which were paged from its timeline, so a restart
// carries on where the last process stopped, and a level is paged once
// (at least once, if a crash falls between the invite and its entry).
type Escalator struct {
	incidents Incidents
	pager     Pager
	rules     func() map[string]config.Escalation
	now       func() time.Time
	log       *slog.Logger
	interval  time.Duration
}

// EscalatorDeps are what an Escalator is built from.
type EscalatorDeps struct {
	Incidents Incidents
	Pager     Pager
	// Rules are the automation rules' escalate blocks by rule name, read
	// on every round.
	Rules  func() map[string]config.Escalation
	Clock  func() time.Time
	Logger *slog.Logger
	// Interval is how often Run checks (default 15s): a level is paged at
	// most that late.
	Interval time.Duration
}

// NewEscalator builds an Escalator.
func NewEscalator(d EscalatorDeps) *Escalator {
	e := &Escalator{incidents: d.Incidents, pager: d.Pager, rules: d.Rules, now: d.Clock, log: d.Logger, interval: d.Interval}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.interval <= 0 {
		e.interval = 15 * time.Second
	}
	return e
}

// Rules collects the escalate blocks of automation rules.
func Rules(autos []config.Automation) map[string]config.Escalation {
	out := map[string]config.Escalation{}
	for _, a := range autos {
		if len(a.Escalate.Levels) > 0 {
			out[a.Name] = a.Escalate
		}
	}
	return out
}

// Run checks every Interval until ctx ends.
func (e *Escalator) Run(ctx context.Context) {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("escalation round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick pages every level that is due and not paged yet.
func (e *Escalator) Tick(ctx context.Context) error {
	rules := e.rules()
	if len(rules) == 0 {
		return nil
	}
	open, err := e.incidents.List(ctx, incident.ListOptions{OpenOnly: true})
	if err != nil {
		return err
	}
	for _, inc := range open {
		if inc.Status != incident.StatusTriggered {
			continue // acknowledged: someone has it
		}
		var fired []string
		for _, r := range inc.Fired {
			if _, ok := rules[r]; ok {
				fired = append(fired, r)
			}
		}
		if len(fired) == 0 {
			continue
		}
		if err := e.escalate(ctx, inc, fired, rules); err != nil && ctx.Err() == nil {
			e.log.Warn("escalation deferred", "incident", inc.Number, "err", err)
		}
	}
	return ctx.Err()
}

func (e *Escalator) escalate(ctx context.Context, inc *incident.Incident, fired []string, rules map[string]config.Escalation) error {
	tl, err := e.incidents.Timeline(ctx, inc.ID)
	if err != nil {
		return err
	}
	// The clock starts when this cycle opened; levels paged in an earlier
	// cycle are paged again if the incident reopens unacknowledged.
	base, done := inc.StartedAt, map[string]bool{}
	for _, en := range tl {
		switch en.Kind {
		case incident.KindOpened, incident.KindReopened:
			base, done = en.Time, map[string]bool{}
		case KindEscalated:
			done[en.Data["rule"]+"|"+en.Data["level"]] = true
		}
	}
	now := e.now()
	for _, rule := range fired {
		esc := rules[rule]
		for k, level := range esc.Levels {
			due := base.Add(time.Duration(k) * esc.After)
			if due.After(now) {
				break
			}
			key := rule + "|" + strconv.Itoa(k+1)
			if done[key] {
				continue
			}
			if err := e.pager.Page(ctx, inc.Number, []string{level}); err != nil {
				return err
			}
			text := fmt.Sprintf("Escalation of rule %s: paging level 1, %s", rule, level)
			if k > 0 {
				text = fmt.Sprintf("Nobody acknowledged within %s: escalating to level %d, %s (rule %s)", esc.After*time.Duration(k), k+1, level, rule)
			}
			entry := incident.TimelineEntry{Time: now, Actor: incident.ActorTebura, Kind: KindEscalated, Text: text,
				Data: map[string]string{"rule": rule, "level": strconv.Itoa(k + 1), "entry": level}}
			if err := e.incidents.AddTimeline(ctx, inc.ID, entry); err != nil {
				return err
			}
			done[key] = true
			e.log.Info("escalation level paged", "incident", inc.Number, "rule", rule, "level", k+1)
		}
	}
	return nil
}
