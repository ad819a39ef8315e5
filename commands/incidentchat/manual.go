package incidentchat

import (
	"context"
	"fmt"

	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// recordAnswer writes a person's answer to a manual step of a run of an
// incident on its timeline, from the run service's transition that
// recorded it (published once per answer).
func (i *Incidents) recordAnswer(ctx context.Context, t runbooks.Transition) {
	run := i.link(ctx, t.Run)
	if run.Origin.Incident == "" {
		return
	}
	n, err := incident.ParseRef(run.Origin.Incident)
	if err != nil {
		return
	}
	unlock := i.lock(n)
	defer unlock()
	inc, err := i.svc.ByNumber(ctx, n)
	if err != nil {
		return
	}
	a := t.Answer
	text := fmt.Sprintf("%s answered %s to step %d (%s) of run %s (%s)", commands.Who(a.By, a.ByName), a.Answer.Label(), a.Step, a.Name, run.ID, run.Runbook)
	e := incident.TimelineEntry{Time: a.At, Actor: a.By, Kind: incident.KindRun, Text: text, Data: map[string]string{
		"run": run.ID, "runbook": run.Runbook, "step": fmt.Sprint(a.Step), "answer": string(a.Answer)}}
	if err := i.svc.AddTimeline(ctx, inc.ID, e); err != nil {
		i.log.Error("timeline entry not written", "incident", inc.Number, "kind", e.Kind, "err", err)
	}
}
