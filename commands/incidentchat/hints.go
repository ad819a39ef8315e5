package incidentchat

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// maxChangesShown bounds the changes listed on a card; the rest are
// counted.
const maxChangesShown = 5

// HintsDeps are what the card's resolution hints are read from.
type HintsDeps struct {
	Incidents hints.Incidents
	Changes   hints.ChangeStore
	// Runs returns a past run, for the params of [Run the same].
	Runs func(ctx context.Context, id string) (*runbooks.Run, error)
	// Registry is read once per use, so a config reload swaps it.
	Registry func() *runbooks.Registry
	// Config is read once per use, so a config reload swaps it.
	Config func() config.Hints
	Logger *slog.Logger
}

// Hints is the incident card's part with the resolution hints: the
// resolved incidents most like this one with what resolved them (and a
// [Run the same: X] button for the remediation that resolved the closest),
// and the recent changes to the incident's service.
type Hints struct {
	d   HintsDeps
	log *slog.Logger

	mu sync.Mutex
	// similar caches the similar incidents of an incident per open cycle:
	// history changes slowly, and the card is drawn on every change.
	similar map[string]similarEntry
}

type similarEntry struct {
	cycle int
	past  []hints.Past
}

// maxCached bounds the similar-incidents cache; it is dropped whole when
// full (it is only a cache).
const maxCached = 1000

// NewHints returns the hints card part.
func NewHints(d HintsDeps) *Hints {
	l := d.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Hints{d: d, log: l, similar: map[string]similarEntry{}}
}

// CardPart draws the hints. A store error leaves the hints out of this
// drawing (logged): hints never stop the card.
func (h *Hints) CardPart(ctx context.Context, inc *incident.Incident) CardAddition {
	cfg := h.d.Config()
	var a CardAddition
	past, err := h.pastOf(ctx, inc, cfg.Similar)
	if err != nil {
		h.log.Warn("similar incidents not read", "incident", inc.Number, "err", err)
	}
	if len(past) > 0 {
		lines := []string{"*Similar past incidents*"}
		for _, p := range past {
			lines = append(lines, pastLine(p))
		}
		a.Text = append(a.Text, strings.Join(lines, "\n"))
		if s, ok := h.same(ctx, past); ok && inc.Status.Open() {
			a.Suggest = append(a.Suggest, s)
		}
	}
	if svc := inc.Labels["service"]; svc != "" && h.d.Changes != nil {
		to := inc.StartedAt
		cs, err := h.d.Changes.Changes(ctx, svc, to.Add(-cfg.ChangesWindow), to, maxChangesShown+1)
		if err != nil {
			h.log.Warn("recent changes not read", "incident", inc.Number, "err", err)
		}
		if len(cs) > 0 {
			lines := []string{fmt.Sprintf("*Changes to %s in the %s before*", bot.Verbatim(svc), commands.Human(cfg.ChangesWindow))}
			for k, c := range cs {
				if k == maxChangesShown {
					lines = append(lines, "and more: see the changes' sources")
					break
				}
				lines = append(lines, changeLine(c, to))
				if c.URL != "" {
					a.Links = append(a.Links, bot.Link{Label: strings.TrimSpace("Change " + c.Service + " " + c.Version), URL: c.URL})
				}
			}
			a.Text = append(a.Text, strings.Join(lines, "\n"))
		}
	}
	return a
}

// pastOf returns inc's similar incidents, computed once per open cycle.
func (h *Hints) pastOf(ctx context.Context, inc *incident.Incident, n int) ([]hints.Past, error) {
	if n <= 0 || h.d.Incidents == nil {
		return nil, nil
	}
	h.mu.Lock()
	e, ok := h.similar[inc.ID]
	h.mu.Unlock()
	if ok && e.cycle == inc.Reopened && len(e.past) <= n {
		return e.past, nil
	}
	reg := h.d.Registry()
	isRemediation := func(name string) bool {
		rb, ok := reg.Get(name)
		return ok && rb.Kind == runbooks.KindRemediation
	}
	past, err := hints.Similar(ctx, h.d.Incidents, inc, n, isRemediation)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if len(h.similar) >= maxCached {
		clear(h.similar)
	}
	h.similar[inc.ID] = similarEntry{cycle: inc.Reopened, past: past}
	h.mu.Unlock()
	return past, nil
}

// same is [Run the same: X] for the closest past incident that a
// remediation resolved, with that run's params, while the runbook exists.
func (h *Hints) same(ctx context.Context, past []hints.Past) (Suggestion, bool) {
	for _, p := range past {
		if p.Same == nil {
			continue
		}
		if _, ok := h.d.Registry().Get(p.Same.Runbook); !ok {
			continue
		}
		var params map[string]string
		if h.d.Runs != nil {
			if run, err := h.d.Runs(ctx, p.Same.Run); err == nil {
				params = run.Params
			}
		}
		return Suggestion{Label: "Run the same: " + p.Same.Runbook, Runbook: p.Same.Runbook, Params: params}, true
	}
	return Suggestion{}, false
}

// pastLine is one similar incident: what it was, how long it took, what
// ran and what the resolver wrote.
func pastLine(p hints.Past) string {
	inc := p.Incident
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: resolved in %s", inc.Ref(), bot.Verbatim(inc.Title), commands.Human(p.TimeToResolve))
	if p.Same != nil {
		fmt.Fprintf(&b, " after `%s`", p.Same.Runbook)
	}
	if len(p.Runs) > 0 {
		var runs []string
		for _, r := range p.Runs {
			runs = append(runs, r.Runbook+" "+r.State)
		}
		fmt.Fprintf(&b, "; ran %s", bot.Verbatim(strings.Join(runs, ", ")))
	}
	if p.Note != "" {
		fmt.Fprintf(&b, "; note: %s", bot.Verbatim(p.Note))
	}
	return b.String()
}

// changeLine is one change: what, by whom, how long before the incident.
func changeLine(c hints.Change, incidentAt time.Time) string {
	what := c.Version
	if what == "" {
		what = "a change"
	}
	s := bot.Verbatim(what)
	if c.By != "" {
		s += " by " + bot.Verbatim(c.By)
	}
	s += ", " + commands.Human(incidentAt.Sub(c.At)) + " before"
	src := c.Source
	if c.Environment != "" {
		src += ", " + c.Environment
	}
	s += " (" + bot.Verbatim(src) + ")"
	if c.Description != "" {
		s += ": " + bot.Verbatim(c.Description)
	}
	return s
}
