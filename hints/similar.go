package hints

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/tebura/tebura/incident"
)

// Past is a resolved incident like the one at hand, with what resolved it.
type Past struct {
	Incident *incident.Incident
	// Score is how alike the two are, from 0 to 1 (see Score).
	Score float64
	// Runs are the runbooks that ran for it and how they ended, in order.
	Runs []RunOutcome
	// Note is what the resolver wrote when resolving, if anything.
	Note string
	// TimeToResolve is from its start to its (last) resolve.
	TimeToResolve time.Duration
	// Same is the remediation that resolved it: the last one that
	// succeeded. nil when none did (it resolved by itself or by hand).
	Same *RunOutcome
}

// RunOutcome is one run of a past incident.
type RunOutcome struct {
	Run, Runbook, State string
}

// Scoring weights: what makes two incidents alike, in the order people
// look at them. The same service and the same alert say most; the same
// automation rule and a similar title add to it.
const (
	weightService   = 0.35
	weightAlertname = 0.35
	weightRules     = 0.15
	weightTitle     = 0.15
	// minScore keeps out incidents that share only a word of the title
	// or a rule: one of service or alertname must match, or both the
	// rules and most of the title.
	minScore = 0.35
	// scanIncidents bounds how far back the search goes.
	scanIncidents = 1000
)

// Score is how alike two incidents are, from 0 to 1: the same "service"
// label, the same "alertname", the share of automation rules that fired for
// both, and the share of title words they have in common.
func Score(a, b *incident.Incident) float64 {
	s := 0.0
	if v := a.Labels["service"]; v != "" && v == b.Labels["service"] {
		s += weightService
	}
	if v := a.Labels["alertname"]; v != "" && v == b.Labels["alertname"] {
		s += weightAlertname
	}
	s += weightRules * jaccard(a.Fired, b.Fired)
	s += weightTitle * jaccard(words(a.Title), words(b.Title))
	return s
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func jaccard(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	in := map[string]bool{}
	for _, x := range a {
		in[x] = true
	}
	both, union := 0, len(in)
	seen := map[string]bool{}
	for _, y := range b {
		if seen[y] {
			continue
		}
		seen[y] = true
		if in[y] {
			both++
		} else {
			union++
		}
	}
	return float64(both) / float64(union)
}

// Incidents is what Similar reads of the incident store.
type Incidents interface {
	List(ctx context.Context, opt incident.ListOptions) ([]*incident.Incident, error)
	Timeline(ctx context.Context, id string) ([]incident.TimelineEntry, error)
}

// Similar returns at most n resolved incidents most like inc, best first
// (the newer of two equal ones first), each with what resolved it.
// isRemediation tells which runbooks change things: only a remediation that
// succeeded counts as what resolved an incident (a diagnostic only looked).
func Similar(ctx context.Context, incs Incidents, inc *incident.Incident, n int, isRemediation func(runbook string) bool) ([]Past, error) {
	if n <= 0 {
		return nil, nil
	}
	all, err := incs.List(ctx, incident.ListOptions{Limit: scanIncidents})
	if err != nil {
		return nil, err
	}
	var cands []Past
	for _, o := range all {
		if o.ID == inc.ID || o.Status != incident.StatusResolved {
			continue
		}
		if s := Score(inc, o); s >= minScore {
			cands = append(cands, Past{Incident: o, Score: s})
		}
	}
	slices.SortStableFunc(cands, func(a, b Past) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(b.Incident.Number, a.Incident.Number)
	})
	cands = cands[:min(n, len(cands))]
	for i := range cands {
		p := &cands[i]
		tl, err := incs.Timeline(ctx, p.Incident.ID)
		if err != nil {
			return nil, err
		}
		outcomes(p, tl, isRemediation)
		if d, ok := p.Incident.MTTR(); ok {
			p.TimeToResolve = d
		}
	}
	return cands, nil
}

// outcomes fills in the runs and the resolve note from a past incident's
// timeline.
func outcomes(p *Past, tl []incident.TimelineEntry, isRemediation func(string) bool) {
	for _, e := range tl {
		switch e.Kind {
		case incident.KindRun:
			r := RunOutcome{Run: e.Data["run"], Runbook: e.Data["runbook"], State: e.Data["state"]}
			if r.Runbook == "" {
				continue
			}
			p.Runs = append(p.Runs, r)
			if r.State == "succeeded" && isRemediation != nil && isRemediation(r.Runbook) {
				same := r
				p.Same = &same
			}
		case incident.KindResolved:
			p.Note = e.Data["note"]
		case incident.KindReopened:
			p.Note = ""
		}
	}
}
