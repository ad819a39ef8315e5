package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/oncall/pagerduty/pagerdutytest"
)

// TestOnCallThroughServe: the real server with the fake Slack and the
// fake PagerDuty: an alert whose rule invites oncall:primary-db opens a
// channel, reads who is on call from GET /oncalls, finds Alice's Slack
// account with users.lookupByEmail and invites her, and names Bob (no
// Slack account with his email) on the card.
func TestOnCallThroughServe(t *testing.T) {
	cleanEnv(t)
	api := slacktest.New()
	t.Cleanup(api.Close)
	api.AddChannel("C1", "incidents", true)
	api.SetUserEmail("alice@example.com", "U0ALICE")
	pd := pagerdutytest.New("pd-token-1")
	t.Cleanup(pd.Close)
	now := time.Now()
	for _, who := range []string{"alice", "bob"} {
		pd.Add(pagerdutytest.OnCall{ScheduleID: "PDB", UserID: "P" + who, Name: strings.ToUpper(who[:1]) + who[1:], Email: who + "@example.com",
			Start: now.Add(-time.Hour), End: now.Add(time.Hour)})
	}
	cfg := baseConfig(`sources:
  alertmanager: {bearer_token: am-bearer-token-1}
incidents: {announce_channel: C1}
automations:
  - name: db
    match: ['service="db"']
    invite: [oncall:primary-db]
oncall:
  schedules:
    primary-db:
      pagerduty: {token: pd-token-1, schedule_id: PDB, api_url: "` + pd.URL + `"}
slack: {enabled: true, mode: http, bot_token: ` + slacktest.BotToken + `, signing_secret: oncall-signing-secret, api_url: ` + api.URL + `}
`)
	dir := writeTree(t, map[string]string{"rb/.keep": "", "tebura.yaml": cfg})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "error")

	alert := map[string]any{"status": "firing", "labels": map[string]string{"alertname": "ReplicationLag", "service": "db"},
		"annotations": map[string]string{"summary": "replica behind"}, "startsAt": now.Add(-time.Minute).Format(time.RFC3339),
		"endsAt": "0001-01-01T00:00:00Z", "fingerprint": "0db0db0db0db0db0"}
	body, err := json.Marshal(map[string]any{"version": "4", "groupKey": `{}:{service="db"}`, "status": "firing", "receiver": "tebura",
		"groupLabels": map[string]string{"service": "db"}, "commonLabels": alert["labels"], "alerts": []any{alert}})
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", body, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitSlack(t, api, "Bob named on the card", "Not reached in chat, call them: Bob")
	var invited []string
	for _, c := range api.Calls() {
		if c.Method == "conversations.invite" {
			invited = append(invited, strings.Split(c.Form.Get("users"), ",")...)
		}
	}
	if !slices.Contains(invited, "U0ALICE") {
		t.Errorf("invited %v, want U0ALICE (on call, found by email)", invited)
	}
	if pd.Requests() == 0 {
		t.Error("PagerDuty was never asked who is on call")
	}
}
