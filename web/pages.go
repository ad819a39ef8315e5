package web

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// Page sizes: a page shows the newest this many; filters narrow it.
const (
	maxIncidentsShown = 200
	maxRunsScanned    = 2000
	maxAuditShown     = 500
)

// errNoRole is what a viewer without any role gets on incident pages.
func errNoRole() error {
	return tebura.Errorf(tebura.EFORBIDDEN, "Incident pages are for people who hold a role. Ask an admin for one; /tebura whoami shows the roles you have.")
}

func (s *Server) incidentsOn() error {
	if s.d.Incidents == nil {
		return tebura.Errorf(tebura.ENOTFOUND, "Incidents are not enabled on this bot.")
	}
	return nil
}

// incidentRow is one line of the incident list.
type incidentRow struct {
	*incident.Incident
	Service string
}

// incidents lists incidents, newest first, filtered by status, severity
// and service (the "service" label).
func (s *Server) incidents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if !v.hasRole() {
		return errNoRole()
	}
	if err := s.incidentsOn(); err != nil {
		return err
	}
	q := r.URL.Query()
	status, severity, service := q.Get("status"), q.Get("severity"), q.Get("service")
	switch status {
	case "", "open", string(incident.StatusTriggered), string(incident.StatusAcknowledged), string(incident.StatusResolved):
	default:
		return tebura.Errorf(tebura.EINVALID, "There is no incident status %q; use open, triggered, acknowledged or resolved.", status)
	}
	all, err := s.d.Incidents.List(r.Context(), incident.ListOptions{})
	if err != nil {
		return err
	}
	var rows []incidentRow
	severities, services := map[string]bool{}, map[string]bool{}
	for _, inc := range all {
		svc := inc.Labels["service"]
		if inc.Severity != "" {
			severities[inc.Severity] = true
		}
		if svc != "" {
			services[svc] = true
		}
		switch {
		case status == "open" && !inc.Status.Open(),
			status != "" && status != "open" && string(inc.Status) != status,
			severity != "" && inc.Severity != severity,
			service != "" && svc != service:
			continue
		}
		if len(rows) < maxIncidentsShown {
			rows = append(rows, incidentRow{Incident: inc, Service: svc})
		}
	}
	s.render(w, r, http.StatusOK, "incidents", v, map[string]any{
		"Incidents": rows, "Status": status, "Severity": severity, "Service": service,
		"Statuses":   []string{"open", string(incident.StatusTriggered), string(incident.StatusAcknowledged), string(incident.StatusResolved)},
		"Severities": slices.Sorted(maps.Keys(severities)), "Services": slices.Sorted(maps.Keys(services)),
	})
	return nil
}

// incidentOf reads incident {n} of the request, for a viewer with a role.
func (s *Server) incidentOf(r *http.Request, v *viewer) (*incident.Incident, error) {
	if !v.hasRole() {
		return nil, errNoRole()
	}
	if err := s.incidentsOn(); err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(r.PathValue("n"), "#"), 10, 64)
	if err != nil || n <= 0 {
		return nil, tebura.Errorf(tebura.EINVALID, "%q is not an incident number; incident pages are /ui/incidents/42.", r.PathValue("n"))
	}
	return s.d.Incidents.ByNumber(r.Context(), n)
}

// incidentRuns are the runs that belong to inc, newest first.
func (s *Server) incidentRuns(ctx context.Context, inc *incident.Incident) ([]*runbooks.Run, error) {
	runs, err := s.d.Runs.Store().ListRuns(ctx, runbooks.ListOptions{Limit: maxRunsScanned})
	if err != nil {
		return nil, err
	}
	var out []*runbooks.Run
	for _, r := range runs {
		if r.Origin.Incident == inc.ID {
			out = append(out, r)
		}
	}
	return out, nil
}

// postmortemOf is the incident's Markdown postmortem, as /incident
// postmortem drafts it, with links to the runs' pages.
func (s *Server) postmortemOf(inc *incident.Incident, tl []incident.TimelineEntry, runs []*runbooks.Run) string {
	sums := make([]incident.RunSummary, 0, len(runs))
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		sum := incident.RunSummary{ID: r.ID, Runbook: r.Runbook, Kind: string(r.Kind), State: string(r.State), RequestedBy: r.RequestedBy,
			StartedAt: r.StartedAt, EndedAt: r.EndedAt, ExitCode: r.ExitCode, Reason: r.Reason, LogURL: s.RunURL(r.ID)}
		for _, a := range r.Approvals {
			sum.ApprovedBy = append(sum.ApprovedBy, a.By)
		}
		sums = append(sums, sum)
	}
	return incident.Postmortem(inc, tl, sums)
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	inc, err := s.incidentOf(r, v)
	if err != nil {
		return err
	}
	ctx := r.Context()
	alerts, err := s.d.Incidents.Alerts(ctx, inc.ID)
	if err != nil {
		return err
	}
	tl, err := s.d.Incidents.Timeline(ctx, inc.ID)
	if err != nil {
		return err
	}
	runs, err := s.incidentRuns(ctx, inc)
	if err != nil {
		return err
	}
	shown := make([]incident.TimelineEntry, 0, len(tl))
	for _, e := range tl {
		if !incident.Bookkeeping(e.Kind) {
			shown = append(shown, e)
		}
	}
	s.render(w, r, http.StatusOK, "incident", v, map[string]any{
		"Inc": inc, "Alerts": alerts, "Timeline": shown, "Runs": runs,
		"Postmortem": markdownHTML(s.postmortemOf(inc, tl, runs)),
	})
	return nil
}

func (s *Server) postmortemDownload(w http.ResponseWriter, r *http.Request, v *viewer) error {
	inc, err := s.incidentOf(r, v)
	if err != nil {
		return err
	}
	tl, err := s.d.Incidents.Timeline(r.Context(), inc.ID)
	if err != nil {
		return err
	}
	runs, err := s.incidentRuns(r.Context(), inc)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("incident-%d-postmortem.md", inc.Number)))
	_, err = w.Write([]byte(s.postmortemOf(inc, tl, runs)))
	return nil
}

// runOf reads run {id} for a viewer who may see it; others get the same
// "not found" as a run that does not exist (as /runbook status answers).
func (s *Server) runOf(ctx context.Context, id string, actor bot.Actor) (*runbooks.Run, error) {
	run, err := s.d.Runs.Store().GetRun(ctx, id)
	if tebura.ErrorCode(err) == tebura.ENOTFOUND || (err == nil && !s.d.Flows.CanView(actor, run)) {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no run %s you may see.", id)
	}
	return run, err
}

// planText is the run's plan drawn again from its runbook, masked as chat
// masks it; secret values no longer held are shown as a mask.
func (s *Server) planText(run *runbooks.Run) string {
	rb, ok := s.d.Registry().Get(run.Runbook)
	if !ok {
		return "The runbook " + run.Runbook + " is no longer loaded, so its plan cannot be drawn."
	}
	given, err := s.d.Runs.Values(run)
	if err != nil {
		given = maps.Clone(run.Params)
		if given == nil {
			given = map[string]string{}
		}
		for _, name := range run.Secret {
			if _, ok := given[name]; !ok {
				given[name] = secretMask
			}
		}
	}
	vals, err := rb.Bind(given)
	if err != nil {
		return "The plan cannot be drawn again: " + tebura.PublicMessage(err)
	}
	plan, err := rb.Plan(vals)
	if err != nil {
		return "The plan cannot be drawn again: " + tebura.PublicMessage(err)
	}
	m := s.d.Runs.Masker(run)
	if m == nil {
		return plan.String()
	}
	return m.Mask(plan.String())
}

// secretMask stands for a secret value, as in chat.
const secretMask = "••••••"

func (s *Server) runPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	run, err := s.runOf(r.Context(), r.PathValue("id"), v.Actor)
	if err != nil {
		return err
	}
	rb, _ := s.d.Registry().Get(run.Runbook)
	pending := run.State == runbooks.StatePendingApproval
	mayApprove := rb != nil && allowed(v, access.ActionApprove, rb)
	data := map[string]any{
		"Run":        run,
		"Params":     runbooks.ParamsText(run.Params, run.Secret, s.d.Runs.Masker(run)),
		"Plan":       s.planText(run),
		"CanApprove": pending && mayApprove,
		"CanDeny":    pending && (mayApprove || v.Actor.ID == run.RequestedBy || v.IsAdmin()),
		"CanCancel":  !run.State.Final() && !pending && (mayApprove || v.Actor.ID == run.RequestedBy || v.IsAdmin() || (rb != nil && allowed(v, access.ActionCancel, rb))),
		"Note":       r.URL.Query().Get("note"),
		"Approvers":  "",
	}
	if rb != nil {
		data["Approvers"] = strings.Join(rb.Approval.Approvers, ", ")
	}
	s.render(w, r, http.StatusOK, "run", v, data)
	return nil
}

// decided redirects back to the run page, with what chat would have said.
func decided(w http.ResponseWriter, r *http.Request, id, note string) {
	u := "/ui/runs/" + id
	if note != "" {
		u += "?note=" + url.QueryEscape(note)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	note, err := s.d.Flows.ApproveAs(r.Context(), v.Actor, id)
	if err != nil {
		return err
	}
	decided(w, r, id, cmp.Or(note, "Approved."))
	return nil
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	if err := s.d.Flows.DenyAs(r.Context(), v.Actor, id); err != nil {
		return err
	}
	decided(w, r, id, "Denied.")
	return nil
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	note, err := s.d.Flows.CancelAs(r.Context(), v.Actor, id)
	if err != nil {
		return err
	}
	decided(w, r, id, cmp.Or(note, "Cancel requested."))
	return nil
}

// runbookRow is one runbook of the catalog.
type runbookRow struct {
	*runbooks.Runbook
	Approval string
}

// runbooksPage is the catalog of the runbooks the viewer may run.
func (s *Server) runbooksPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	var rows []runbookRow
	for _, rb := range s.d.Registry().List() {
		if allowed(v, access.ActionRun, rb) {
			rows = append(rows, runbookRow{Runbook: rb, Approval: approvalText(rb)})
		}
	}
	s.render(w, r, http.StatusOK, "runbooks", v, map[string]any{"Runbooks": rows, "Incident": r.URL.Query().Get("incident")})
	return nil
}

func approvalText(rb *runbooks.Runbook) string {
	if !rb.NeedsApproval() {
		return "none: it starts at once"
	}
	t := fmt.Sprintf("%d from %s", rb.Approval.Required, strings.Join(rb.Approval.Approvers, ", "))
	if !rb.Approval.AllowSelf {
		t += ", not the requester"
	}
	return t
}

// runnable is runbook {name} if the viewer may run it; others get "not
// found", as in chat.
func (s *Server) runnable(r *http.Request, v *viewer) (*runbooks.Runbook, error) {
	rb, ok := s.d.Registry().Get(r.PathValue("name"))
	if !ok || !allowed(v, access.ActionRun, rb) {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no runbook %q you may run; the catalog lists the ones you may.", r.PathValue("name"))
	}
	return rb, nil
}

func (s *Server) runbookForm(w http.ResponseWriter, r *http.Request, v *viewer) error {
	rb, err := s.runnable(r, v)
	if err != nil {
		return err
	}
	s.renderForm(w, r, v, rb, http.StatusOK, r.URL.Query().Get("incident"), nil, "")
	return nil
}

// formTTL bounds how long a request form may be sent after it was drawn.
const formTTL = time.Hour

func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, v *viewer, rb *runbooks.Runbook, status int, inc string, values map[string]string, problem string) {
	// Each drawing of the form may be sent once: a double click, or the
	// browser sending it again, requests nothing twice.
	once := newToken()
	if err := s.d.Sessions.PutSession(r.Context(), storeKey("form", once), []byte(v.Actor.ID), s.now().Add(formTTL)); err != nil {
		s.fail(w, r, v, err)
		return
	}
	s.render(w, r, status, "runbook", v, map[string]any{
		"RB": runbookRow{Runbook: rb, Approval: approvalText(rb)}, "Incident": inc, "Values": values, "Problem": problem, "Once": once,
	})
}

// requestRun takes the form: the same request as /runbook run, through
// runbookchat's flows. A remediation's approval card goes to its
// incident's channel, else to web.approvals_channel.
func (s *Server) requestRun(w http.ResponseWriter, r *http.Request, v *viewer) error {
	rb, err := s.runnable(r, v)
	if err != nil {
		return err
	}
	if by, err := s.d.Sessions.TakeSession(r.Context(), storeKey("form", r.PostFormValue("once"))); err != nil || string(by) != v.Actor.ID {
		return tebura.Errorf(tebura.ECONFLICT, "This form was sent already (or is older than an hour), so nothing was requested again. Your runs are on their pages; open the runbook again for a new request.")
	}
	params := map[string]string{}
	for _, p := range rb.Params {
		if val := r.PostFormValue("p_" + p.Name); val != "" {
			params[p.Name] = val
		}
	}
	incRef := strings.TrimSpace(r.PostFormValue("incident"))
	req := runbookchat.DoorRequest{Actor: v.Actor, Runbook: rb.Name, Params: params, Via: runbooks.ViaWeb}
	if err := s.placeRequest(r.Context(), &req, incRef); err != nil {
		return err
	}
	run, err := s.d.Flows.RequestFrom(r.Context(), req)
	if run == nil && err != nil {
		if code := tebura.ErrorCode(err); code == tebura.EINVALID || code == tebura.ECONFLICT || code == tebura.EFORBIDDEN {
			shown := maps.Clone(params)
			for _, p := range rb.Params {
				if p.Secret {
					delete(shown, p.Name) // never echoed back into a page
				}
			}
			s.renderForm(w, r, v, rb, tebura.HTTPStatus(code), incRef, shown, tebura.PublicMessage(err))
			return nil
		}
		return err
	}
	if err != nil {
		s.log.Warn("web request stored with an error", "run_id", run.ID, "err", err)
	}
	http.Redirect(w, r, "/ui/runs/"+run.ID, http.StatusSeeOther)
	return nil
}

// placeRequest says where a request's messages go: the channel of the
// incident it belongs to (its approval card or its live message), else,
// for a runbook that needs approval, web.approvals_channel; else nowhere
// (the run page shows it, and can approve it).
func (s *Server) placeRequest(ctx context.Context, req *runbookchat.DoorRequest, incRef string) error {
	if incRef != "" && s.d.Incidents != nil {
		n, err := incident.ParseRef(incRef)
		if err != nil {
			return tebura.Errorf(tebura.EINVALID, "%q is not an incident; give its number, such as 42.", incRef)
		}
		inc, err := s.d.Incidents.ByNumber(ctx, n)
		if err != nil {
			return err
		}
		req.Incident = inc.ID
		if !inc.Channel.IsZero() {
			req.Platform, req.Target = inc.Channel.Platform, bot.Target{Channel: inc.Channel.ID}
			return nil
		}
	}
	rb, ok := s.d.Registry().Get(req.Runbook)
	if p, c, found := s.d.Config.ApprovalsTarget(); found && ok && rb.NeedsApproval() {
		req.Platform, req.Target = p, bot.Target{Channel: c}
	}
	return nil
}

// auditRow is one entry of the chain as the page shows it.
type auditRow struct {
	audit.Entry
	Details []pair
}

// auditPage shows the chain (admins only), filtered by actor and action,
// with its verify status and head hash.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if !v.IsAdmin() {
		return tebura.Errorf(tebura.EFORBIDDEN, "The audit chain is for admins (access.admins).")
	}
	q := r.URL.Query()
	actor, action := strings.TrimSpace(q.Get("actor")), strings.TrimSpace(q.Get("action"))
	var rows []auditRow
	var head audit.Entry
	total := 0
	err := s.d.AuditStore.AuditEntries(r.Context(), func(e audit.Entry) error {
		total++
		head = e
		if (actor == "" || e.Actor == actor) && (action == "" || string(e.Action) == action || strings.HasPrefix(string(e.Action), action+".")) {
			rows = append(rows, auditRow{Entry: e, Details: sortedPairs(e.Detail)})
			if len(rows) > maxAuditShown {
				rows = rows[1:]
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Reverse(rows)
	verified, verr := audit.Verify(r.Context(), s.d.AuditStore)
	status := fmt.Sprintf("intact: %d entries verified", verified)
	if verr != nil {
		status = "BROKEN: " + verr.Error()
	}
	s.render(w, r, http.StatusOK, "audit", v, map[string]any{
		"Rows": rows, "Actor": actor, "Action": action, "Total": total, "Head": head.Hash, "OK": verr == nil, "Status": status,
	})
	return nil
}
