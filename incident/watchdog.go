package incident

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/tebura/tebura/config"
)

// Watchdog watches an always-firing alert (Alertmanager's Watchdog, or any
// alert a source sends on a schedule): while it arrives, alerts reach
// Tebura; when it stops for longer than watchdog.missing_after, something
// between the monitoring and Tebura is broken and nobody would know.
//
// The watchdog alert is a heartbeat, not an incident: Service.Ingest takes
// it out of every batch (see Service.Watch), so it opens nothing, runs no
// automation and is not stored. What it last did lives in memory: after a
// restart the watchdog waits missing_after from the start before it calls
// the alert missing.
type Watchdog struct {
	source       string
	match        []string // as configured, for messages
	matchers     labels.Matchers
	missingAfter time.Duration

	mu        sync.Mutex
	started   time.Time
	lastSeen  time.Time
	announced bool // missing was reported by Check, and not yet its return
}

// NewWatchdog returns the watchdog cfg describes, or nil when cfg.Match is
// empty (no watchdog alert configured). now is the start of the first
// missing_after window.
func NewWatchdog(cfg config.Watchdog, now time.Time) (*Watchdog, error) {
	if len(cfg.Match) == 0 {
		return nil, nil
	}
	w := &Watchdog{source: cfg.Source, match: cfg.Match, missingAfter: cfg.MissingAfter, started: now}
	for _, m := range cfg.Match {
		ms, err := labels.ParseMatchers(m)
		if err != nil {
			return nil, fmt.Errorf("watchdog.match: %q: %w", m, err)
		}
		w.matchers = append(w.matchers, ms...)
	}
	if w.missingAfter <= 0 {
		return nil, fmt.Errorf("watchdog.missing_after must be positive")
	}
	return w, nil
}

// Describe names the watchdog alert for people: its matchers and source.
func (w *Watchdog) Describe() string {
	d := strings.Join(w.match, ", ")
	if w.source != "" {
		d += " from " + w.source
	}
	return d
}

// take removes the watchdog's alerts from b and reports whether b held
// any, firing ones counting as a heartbeat at now. A resolved watchdog
// alert (a sender that says it stopped) is removed but is no heartbeat.
func (w *Watchdog) take(b *Batch, now time.Time) (took bool) {
	if w.source != "" && b.Source != w.source {
		return false
	}
	var rest []Alert
	for _, a := range b.Alerts {
		if !w.matches(merge(b.Labels, a.Labels)) {
			rest = append(rest, a)
			continue
		}
		took = true
		if a.Status == AlertFiring {
			w.mu.Lock()
			if now.After(w.lastSeen) {
				w.lastSeen = now
			}
			w.mu.Unlock()
		}
	}
	if took {
		b.Alerts = rest
	}
	return took
}

func (w *Watchdog) matches(ls map[string]string) bool {
	for _, m := range w.matchers {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// Status is when the watchdog alert last arrived (zero: not since start)
// and whether it is missing at now.
func (w *Watchdog) Status(now time.Time) (lastSeen time.Time, missing bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSeen, w.missingLocked(now)
}

func (w *Watchdog) missingLocked(now time.Time) bool {
	from := w.lastSeen
	if from.IsZero() {
		from = w.started
	}
	return now.Sub(from) > w.missingAfter
}

// WatchdogChange is what Check found changed since its last call.
type WatchdogChange int

// Watchdog changes.
const (
	WatchdogSame    WatchdogChange = iota
	WatchdogMissing                // the alert stopped arriving: announce it
	WatchdogBack                   // it arrives again after it was announced missing
)

// Check reports a change worth announcing, once each: the alert went
// missing, or came back after it was announced missing. Call it now and
// then (the incident loop does, every 30 s).
func (w *Watchdog) Check(now time.Time) WatchdogChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	missing := w.missingLocked(now)
	switch {
	case missing && !w.announced:
		w.announced = true
		return WatchdogMissing
	case !missing && w.announced:
		w.announced = false
		return WatchdogBack
	}
	return WatchdogSame
}

// MissingAfter is the configured watchdog.missing_after.
func (w *Watchdog) MissingAfter() time.Duration { return w.missingAfter }
