package incident

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// RunSummary is a runbook run as the postmortem shows it. The reaction
// layer fills it from its runbooks.Run records (this package does not
// depend on the runbook engine).
type RunSummary struct {
	ID          string
	Runbook     string
	Kind        string // diagnostic | remediation
	State       string // succeeded, failed, …
	RequestedBy string
	ApprovedBy  []string
	StartedAt   time.Time
	EndedAt     time.Time
	ExitCode    int
	Reason      string
	LogURL      string
	// LogCommand is how to read the log in chat ("/runbook logs r2"), shown
	// when there is no LogURL.
	LogCommand string
}

const timeLayout = "2006-01-02 15:04:05"

// Postmortem renders the incident as a Markdown postmortem: summary, impact
// window, detection, MTTA and MTTR, the timeline, the runbooks run, and the
// sections people fill in. The output is deterministic for a given input.
func Postmortem(inc *Incident, timeline []TimelineEntry, runs []RunSummary) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Postmortem: %s %s\n\n", inc.Ref(), inc.Title)
	p("## Summary\n\n")
	p("| | |\n|---|---|\n")
	p("| Incident | %s |\n", inc.Ref())
	p("| Title | %s |\n", cell(inc.Title))
	p("| Severity | %s |\n", cell(orDash(inc.Severity)))
	p("| Status | %s |\n", inc.Status)
	p("| Source | %s |\n", cell(orDash(inc.Source)))
	if svc := inc.Labels["service"]; svc != "" {
		p("| Service | %s |\n", cell(svc))
	}
	p("| Commander | %s |\n", cell(orDash(inc.Commander)))
	p("| Responders | %s |\n", cell(orDash(strings.Join(inc.Responders, ", "))))
	p("| Alerts | %d |\n", inc.AlertCount)
	if inc.Reopened > 0 {
		p("| Reopened | %d times |\n", inc.Reopened)
	}
	if !inc.Channel.IsZero() {
		name := inc.Channel.Name
		if name == "" {
			name = inc.Channel.ID
		}
		p("| Channel | %s (%s) |\n", cell(name), inc.Channel.Platform)
	}
	p("\n_What happened, who was affected, how it was fixed — two or three sentences._\n\n")

	p("## Impact window\n\n")
	p("- Impact started: %s\n", fmtTime(inc.DetectedAt))
	if inc.Status == StatusResolved {
		p("- Impact ended: %s\n", fmtTime(inc.ResolvedAt))
		p("- Duration: %s\n", fmtDur(inc.ResolvedAt.Sub(inc.DetectedAt)))
	} else {
		p("- Impact ended: not yet (the incident is %s)\n", inc.Status)
	}
	p("\n## Detection\n\n")
	if inc.Source == "declared" {
		p("Declared by hand at %s.\n", fmtTime(inc.StartedAt))
	} else {
		p("Opened from %s at %s, %s after the first alert started.\n", inc.Source, fmtTime(inc.StartedAt), fmtDur(inc.StartedAt.Sub(inc.DetectedAt)))
		if len(inc.Labels) > 0 {
			var ls []string
			for _, k := range slices.Sorted(maps.Keys(inc.Labels)) {
				ls = append(ls, k+"="+inc.Labels[k])
			}
			p("Alert labels: `%s`.\n", strings.Join(ls, ", "))
		}
		for _, k := range []string{"runbook_url", "dashboard"} {
			if v := inc.Annotations[k]; v != "" {
				p("%s: %s\n", k, v)
			}
		}
	}

	p("\n## Response\n\n")
	if d, ok := inc.MTTA(); ok {
		p("- MTTA (time to acknowledge): %s, by %s\n", fmtDur(d), inc.AckedBy)
	} else {
		p("- MTTA (time to acknowledge): not acknowledged\n")
	}
	if d, ok := inc.MTTR(); ok {
		p("- MTTR (time to resolve): %s, by %s\n", fmtDur(d), inc.ResolvedBy)
	} else {
		p("- MTTR (time to resolve): not resolved\n")
	}

	p("\n## Timeline\n\n")
	p("| Time (UTC) | Actor | Event | Details |\n|---|---|---|---|\n")
	for _, e := range timeline {
		if Bookkeeping(e.Kind) {
			continue
		}
		detail := e.Text
		if u := e.Data["log"]; u != "" {
			detail += " ([log](" + u + "))"
		}
		p("| %s | %s | %s | %s |\n", fmtTime(e.Time), cell(e.Actor), cell(e.Kind), cell(detail))
	}

	p("\n## Runbooks run\n\n")
	if len(runs) == 0 {
		p("None.\n")
	} else {
		p("| Run | Runbook | Kind | Requested by | Approved by | Result | Duration | Log |\n|---|---|---|---|---|---|---|---|\n")
		for _, r := range runs {
			result := r.State
			if r.Reason != "" {
				result += ": " + r.Reason
			} else if r.State != "succeeded" && r.ExitCode != 0 {
				result += fmt.Sprintf(" (exit %d)", r.ExitCode)
			}
			dur := "-"
			if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
				dur = fmtDur(r.EndedAt.Sub(r.StartedAt))
			}
			log := "-"
			switch {
			case r.LogURL != "":
				log = "[log](" + r.LogURL + ")"
			case r.LogCommand != "":
				log = "`" + r.LogCommand + "`"
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(r.ID), cell(r.Runbook), cell(orDash(r.Kind)),
				cell(orDash(r.RequestedBy)), cell(orDash(strings.Join(r.ApprovedBy, ", "))), cell(result), dur, log)
		}
	}

	p("\n## Open questions\n\n")
	p("- [ ] What was the root cause?\n")
	p("- [ ] Why did it start then, and could we have seen it coming?\n")
	p("- [ ] Did the alerts and the runbooks help? What was missing?\n")
	if inc.Reopened > 0 {
		p("- [ ] Why did it come back after being resolved?\n")
	}
	p("\n## Action items\n\n")
	p("| Action | Owner | Due | Ticket |\n|---|---|---|---|\n|  |  |  |  |\n")
	return b.String()
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

// Figures are MTTA and MTTR over a set of incidents. MTTA averages the
// acknowledged ones, MTTR the resolved ones, both from StartedAt.
type Figures struct {
	Count    int           `json:"count"`
	Acked    int           `json:"acked"`
	Resolved int           `json:"resolved"`
	MTTA     time.Duration `json:"mtta"`
	MTTR     time.Duration `json:"mttr"`

	ackSum, resSum time.Duration
}

func (f *Figures) add(inc *Incident) {
	f.Count++
	if d, ok := inc.MTTA(); ok {
		f.Acked++
		f.ackSum += d
		f.MTTA = (f.ackSum / time.Duration(f.Acked)).Round(time.Second)
	}
	if d, ok := inc.MTTR(); ok {
		f.Resolved++
		f.resSum += d
		f.MTTR = (f.resSum / time.Duration(f.Resolved)).Round(time.Second)
	}
}

// Stats are MTTA/MTTR over the incidents started since a time, overall and
// by severity and by service (label "service"); "-" collects the ones
// without.
type Stats struct {
	Since      time.Time          `json:"since"`
	Open       int                `json:"open"`
	All        Figures            `json:"all"`
	BySeverity map[string]Figures `json:"by_severity"`
	ByService  map[string]Figures `json:"by_service"`
}

// Stats computes MTTA and MTTR for incidents started at or after since.
func (s *Service) Stats(ctx context.Context, since time.Time) (Stats, error) {
	st := Stats{Since: since, BySeverity: map[string]Figures{}, ByService: map[string]Figures{}}
	err := s.store.ViewIncidents(ctx, func(tx Tx) error {
		return tx.Incidents(func(inc *Incident) bool {
			if inc.StartedAt.Before(since) {
				return true
			}
			if inc.Status.Open() {
				st.Open++
			}
			st.All.add(inc)
			for _, kv := range []struct {
				m map[string]Figures
				k string
			}{{st.BySeverity, orDash(inc.Severity)}, {st.ByService, orDash(inc.Labels["service"])}} {
				f := kv.m[kv.k]
				f.add(inc)
				kv.m[kv.k] = f
			}
			return true
		})
	})
	return st, err
}

// Keys returns the map's keys sorted, for stable rendering of Stats.
func Keys(m map[string]Figures) []string { return slices.Sorted(maps.Keys(m)) }
