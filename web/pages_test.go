package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// TestIncidentPages: the list filters by status, severity and service;
// the page shows the card, alerts with labels, the timeline, the runs and
// the postmortem (escaped), and the Markdown downloads; people without a
// role are refused.
func TestIncidentPages(t *testing.T) {
	h := newWebHarness(t)
	ctx := t.Context()
	c1, err := h.Inc.Declare(ctx, "Checkout <script>alert(1)</script> down", "sev1", "console:bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Inc.Declare(ctx, "Search slow", "sev3", "console:bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Inc.Ack(ctx, c1.Incident.ID, "console:carol"); err != nil {
		t.Fatal(err)
	}
	if err := h.Inc.Note(ctx, c1.Incident.ID, "console:bob", "rolled back the <deploy>"); err != nil {
		t.Fatal(err)
	}
	b := h.signIn(alice)
	tests := []struct {
		query      string
		want, not_ []string
	}{
		{"", []string{"Search slow", "Checkout"}, nil},
		{"?severity=sev1", []string{"Checkout"}, []string{"Search slow"}},
		{"?status=triggered", []string{"Search slow"}, []string{"Checkout"}},
		{"?status=acknowledged", []string{"Checkout"}, []string{"Search slow"}},
		{"?status=resolved", []string{"No incidents match"}, []string{"Checkout", "Search slow"}},
		{"?service=nope", []string{"No incidents match"}, []string{"Checkout"}},
	}
	for _, tc := range tests {
		r := b.get("/ui/incidents" + tc.query)
		if r.StatusCode != 200 {
			t.Fatalf("GET /ui/incidents%s = %d", tc.query, r.StatusCode)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.Body, w) {
				t.Errorf("%s: missing %q", tc.query, w)
			}
		}
		for _, w := range tc.not_ {
			if strings.Contains(r.Body, w) {
				t.Errorf("%s: shows %q", tc.query, w)
			}
		}
	}
	if r := b.get("/ui/incidents?status=bogus"); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Body, "use open, triggered") {
		t.Errorf("bad status filter = %d:\n%s", r.StatusCode, r.Body)
	}

	page := b.get("/ui/incidents/1")
	if page.StatusCode != 200 {
		t.Fatalf("incident page = %d:\n%s", page.StatusCode, page.Body)
	}
	for _, w := range []string{"Checkout &lt;script&gt;alert(1)&lt;/script&gt; down", "acknowledged", "rolled back the &lt;deploy&gt;", "Postmortem", "MTTA"} {
		if !strings.Contains(page.Body, w) {
			t.Errorf("incident page lacks %q", w)
		}
	}
	if strings.Contains(page.Body, "<script>alert(1)") || strings.Contains(page.Body, "<deploy>") {
		t.Error("incident page carries unescaped text from outside")
	}
	md := b.get("/ui/incidents/1/postmortem.md")
	if md.StatusCode != 200 || !strings.HasPrefix(md.Body, "# Postmortem: #1") || !strings.Contains(md.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("postmortem download = %d %q:\n%.200s", md.StatusCode, md.Header.Get("Content-Disposition"), md.Body)
	}
	if r := b.get("/ui/incidents/99"); r.StatusCode != http.StatusNotFound {
		t.Errorf("missing incident = %d, want 404", r.StatusCode)
	}
	if r := b.get("/ui/incidents/x"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad incident number = %d, want 400", r.StatusCode)
	}

	d := h.signIn(dave)
	for _, p := range []string{"/ui/incidents", "/ui/incidents/1", "/ui/incidents/1/postmortem.md"} {
		if r := d.get(p); r.StatusCode != http.StatusForbidden {
			t.Errorf("dave (no role) GET %s = %d, want 403", p, r.StatusCode)
		}
	}
}

// TestIncidentPageWithAlerts: alerts show their labels.
func TestIncidentPageWithAlerts(t *testing.T) {
	h := newWebHarness(t)
	_, err := h.Inc.Ingest(t.Context(), incident.Batch{Source: "alertmanager", GroupKey: "g1", Labels: map[string]string{"service": "checkout"}, Alerts: []incident.Alert{{
		Source: "alertmanager", Fingerprint: "fp1", Status: incident.AlertFiring,
		Labels: map[string]string{"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	b := h.signIn(bob)
	r := b.get("/ui/incidents?service=checkout")
	if !strings.Contains(r.Body, "HighLatency") && !strings.Contains(r.Body, "/ui/incidents/1") {
		t.Fatalf("service filter misses the alert's incident:\n%s", r.Body)
	}
	page := b.get("/ui/incidents/1")
	for _, w := range []string{"HighLatency", "service=checkout", "alertname=HighLatency"} {
		if !strings.Contains(page.Body, w) {
			t.Errorf("incident page lacks %q", w)
		}
	}
}

// TestRequestAndApproveFromWeb: a request from the form goes through
// chat's flow: validated, audited as via web, its approval card posted to
// web.approvals_channel; the requester may not approve it, an approver
// may, from the page; the run then starts and succeeds.
func TestRequestAndApproveFromWeb(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	form := "/ui/runbooks/restart-api"

	bad := a.post(form, form, url.Values{"p_env": {"moon"}})
	if bad.StatusCode != http.StatusBadRequest || !strings.Contains(bad.Body, "moon") {
		t.Fatalf("invalid param = %d, want 400 naming the value:\n%s", bad.StatusCode, bad.Body)
	}
	r := a.post(form, form, url.Values{"p_env": {"staging"}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/ui/runs/r") {
		t.Fatalf("request = %d to %q, want 303 to the run page:\n%s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	runPath := r.Header.Get("Location")
	run := h.LastRun()

	// The same form sent twice (a double click) requests once.
	formPage := a.get(form).Body
	once := onceField.FindStringSubmatch(formPage)[1]
	csrf := csrfField.FindStringSubmatch(formPage)[1]
	first := a.do("POST", form, url.Values{"p_env": {"prod"}, "csrf": {csrf}, "once": {once}})
	again := a.do("POST", form, url.Values{"p_env": {"prod"}, "csrf": {csrf}, "once": {once}})
	if first.StatusCode != http.StatusSeeOther || again.StatusCode != http.StatusConflict || !strings.Contains(again.Body, "sent already") {
		t.Fatalf("double submit: %d then %d, want 303 then 409:\n%s", first.StatusCode, again.StatusCode, again.Body)
	}
	if n := len(h.Runs()); n != 2 {
		t.Fatalf("%d runs after a request and a double submit, want 2", n)
	}
	if run.State != runbooks.StatePendingApproval || run.RequestedBy != "console:alice" {
		t.Fatalf("run = %s by %s, want pending by alice", run.State, run.RequestedBy)
	}
	if !h.auditHas("console:alice", audit.ActionRunRequest, "via", "web") {
		t.Error("the request is not audited as via web")
	}
	var card *bottest.Msg
	for _, m := range h.Chat.Messages() {
		if m.Ref.Channel == "approvals" {
			card = m
		}
	}
	if card == nil || !strings.Contains(bottest.Text(card.Last()), "restart-api") {
		t.Fatalf("no approval card in the approvals channel: %v", h.Chat.Messages())
	}

	page := a.get(runPath)
	if !strings.Contains(page.Body, "pending approval") || strings.Contains(page.Body, `id="approve"`) {
		t.Fatalf("alice's run page: want pending without Approve:\n%s", page.Body)
	}
	if !strings.Contains(page.Body, "restarting api in staging") {
		t.Errorf("run page lacks the plan:\n%s", page.Body)
	}
	if r := a.post(runPath, runPath+"/approve", nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("alice approving her own = %d, want 403:\n%s", r.StatusCode, r.Body)
	}

	b := h.signIn(bob)
	if !strings.Contains(b.get(runPath).Body, `id="approve"`) {
		t.Fatal("bob (sre) sees no Approve button")
	}
	if r := b.post(runPath, runPath+"/approve", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob approving = %d:\n%s", r.StatusCode, r.Body)
	}
	final := h.WaitFinal(run.ID)
	if final.State != runbooks.StateSucceeded || len(final.Approvals) != 1 || final.Approvals[0].By != "console:bob" {
		t.Fatalf("run = %s approved by %v, want succeeded by bob", final.State, final.Approvals)
	}
	if r := b.post(runPath, runPath+"/approve", nil); r.StatusCode != http.StatusConflict {
		t.Errorf("approving again = %d, want 409", r.StatusCode)
	}
	done := b.get(runPath)
	if !strings.Contains(done.Body, "succeeded") || !strings.Contains(done.Body, "bob") {
		t.Errorf("final run page lacks state or approver:\n%s", done.Body)
	}
	log := b.get(runPath + "/log")
	if !strings.Contains(log.Body, "restarting api in staging") {
		t.Errorf("log download = %d %q", log.StatusCode, log.Body)
	}
}

// TestRequestForIncidentGoesToItsChannel: a request naming an incident is
// recorded on the run and its card goes to the incident's channel.
func TestRequestForIncidentGoesToItsChannel(t *testing.T) {
	h := newWebHarness(t)
	ch, err := h.Inc.Declare(t.Context(), "Checkout down", "sev1", "console:bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Inc.AttachChannel(t.Context(), ch.Incident.ID, incident.Channel{Platform: bottest.Platform, ID: "inc-1"}); err != nil {
		t.Fatal(err)
	}
	a := h.signIn(alice)
	form := "/ui/runbooks/restart-api"
	if r := a.post(form+"?incident=1", form, url.Values{"p_env": {"prod"}, "incident": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("request = %d:\n%s", r.StatusCode, r.Body)
	}
	run := h.LastRun()
	if run.Origin.Incident != ch.Incident.ID || run.Origin.Channel != "inc-1" {
		t.Fatalf("run origin = %+v, want incident %s in inc-1", run.Origin, ch.Incident.ID)
	}
	if !strings.Contains(a.get("/ui/incidents/1").Body, "/ui/runs/"+run.ID) {
		t.Error("the incident page does not list the run")
	}
}

// TestRunPagePermission: a run is seen by those who may view its runbook;
// others get "not found", for the page, the log and the stream alike.
func TestRunPagePermission(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	form := "/ui/runbooks/restart-api"
	a.post(form, form, url.Values{"p_env": {"staging"}})
	id := h.LastRun().ID
	d := h.signIn(dave)
	for _, p := range []string{"/ui/runs/" + id, "/ui/runs/" + id + "/log", "/ui/runs/" + id + "/events"} {
		if r := d.get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("dave GET %s = %d, want 404", p, r.StatusCode)
		}
	}
	if r := d.post("/ui/runbooks", "/ui/runs/"+id+"/approve", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("dave approving = %d, want 404", r.StatusCode)
	}
	if r := d.get(form); r.StatusCode != http.StatusNotFound {
		t.Errorf("dave opening a runbook he may not run = %d, want 404", r.StatusCode)
	}
	if r := d.get("/ui/runbooks"); !strings.Contains(r.Body, "You may not run any runbook") {
		t.Errorf("dave's catalog is not empty:\n%s", r.Body)
	}
	if r := a.get("/ui/runbooks"); !strings.Contains(r.Body, "restart-api") || !strings.Contains(r.Body, "Restart the API deployment") {
		t.Errorf("alice's catalog lacks restart-api:\n%s", r.Body)
	}
}

// TestSecretsMasked: a secret param never reaches a page, the log, the
// stream or the API in clear.
func TestSecretsMasked(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	form := "/ui/runbooks/with-secret"
	const secret = "hunter2-very-secret"
	r := a.post(form, form, url.Values{"p_token": {secret}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("request = %d:\n%s", r.StatusCode, r.Body)
	}
	id := h.LastRun().ID
	h.WaitFinal(id)
	for _, p := range []string{"/ui/runs/" + id, "/ui/runs/" + id + "/log", "/ui/runs/" + id + "/events"} {
		body := a.get(p).Body
		if strings.Contains(body, secret) {
			t.Errorf("%s shows the secret", p)
		}
		if p != "/ui/runs/"+id && !strings.Contains(body, "token is") {
			t.Errorf("%s lacks the (masked) output line:\n%s", p, body)
		}
	}
}

// TestAuditPage: admins see the chain with its verify status and head,
// filtered by actor and action; others are refused.
func TestAuditPage(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	form := "/ui/runbooks/restart-api"
	a.post(form, form, url.Values{"p_env": {"staging"}})
	r := h.signIn(root)
	all := r.get("/ui/audit")
	if all.StatusCode != 200 || !strings.Contains(all.Body, "intact") || !strings.Contains(all.Body, "run.request") {
		t.Fatalf("audit page = %d:\n%s", all.StatusCode, all.Body)
	}
	entries := h.AuditEntries()
	if head := entries[len(entries)-1].Hash; !strings.Contains(all.Body, head) {
		t.Errorf("audit page lacks the head hash %s", head)
	}
	byActor := r.get("/ui/audit?actor=console:alice&action=run")
	if !strings.Contains(byActor.Body, "run.request") || strings.Contains(byActor.Body, "web.login<") {
		t.Errorf("filtered page:\n%s", byActor.Body)
	}
	if strings.Contains(byActor.Body, "console:root</td>") {
		t.Error("actor filter shows root's entries")
	}
	if got := a.get("/ui/audit"); got.StatusCode != http.StatusForbidden {
		t.Errorf("alice (not admin) GET /ui/audit = %d, want 403", got.StatusCode)
	}
}

// TestLogout ends the session on the server.
func TestLogout(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	if r := a.post("/ui/runbooks", "/ui/logout", nil); r.StatusCode != 200 {
		t.Fatalf("logout = %d", r.StatusCode)
	}
	if r := a.get("/ui/runbooks"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout = %d, want 401", r.StatusCode)
	}
}

// TestDiagnosticFromWebPostsNowhere: a runbook that needs no approval,
// requested from the web outside any incident, runs without a chat
// message (its page is where it is watched): the approvals channel gets
// approval cards only.
func TestDiagnosticFromWebPostsNowhere(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	form := "/ui/runbooks/with-secret"
	if r := a.post(form, form, url.Values{"p_token": {"x-secret-value"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("request = %d", r.StatusCode)
	}
	h.WaitFinal(h.LastRun().ID)
	for _, m := range h.Chat.Messages() {
		t.Errorf("a message was posted in %s: %s", m.Ref.Channel, bottest.Text(m.Last()))
	}
}
