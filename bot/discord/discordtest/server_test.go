package discordtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func do(t *testing.T, s *Server, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, s.APIURL+path, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bot "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// newOps returns a fake with guild 1 and its text channel 10, "ops".
func newOps(t *testing.T) *Server {
	s := New(t)
	s.AddGuild(Guild{ID: "1"})
	s.AddChannel(Channel{ID: "10", GuildID: "1", Name: "ops"})
	return s
}

func TestLimitsEnforced(t *testing.T) {
	s := newOps(t)
	tests := []struct {
		name, body, field string
	}{
		{"content", `{"content":"` + strings.Repeat("x", 2001) + `"}`, "content"},
		{"title", `{"embeds":[{"title":"` + strings.Repeat("x", 257) + `"}]}`, "embeds.0.title"},
		{"description", `{"embeds":[{"description":"` + strings.Repeat("x", 4097) + `"}]}`, "embeds.0.description"},
		{"field value", `{"embeds":[{"fields":[{"name":"a","value":"` + strings.Repeat("x", 1025) + `"}]}]}`, "embeds.0.fields.0.value"},
		{"total", `{"embeds":[{"description":"` + strings.Repeat("x", 4000) + `"},{"description":"` + strings.Repeat("x", 2001) + `"}]}`, "embeds"},
		{"six rows", `{"content":"x","components":[` + strings.Repeat(`{"type":1,"components":[{"type":2,"style":1,"label":"a","custom_id":"a"}]},`, 5) + `{"type":1,"components":[{"type":2,"style":1,"label":"b","custom_id":"b"}]}]}`, "components"},
		{"six buttons", `{"content":"x","components":[{"type":1,"components":[` + strings.TrimSuffix(strings.Repeat(`{"type":2,"style":1,"label":"a","custom_id":"a"},`, 6), ",") + `]}]}`, "components.0.components"},
		{"custom_id", `{"content":"x","components":[{"type":1,"components":[{"type":2,"style":1,"label":"a","custom_id":"` + strings.Repeat("c", 101) + `"}]}]}`, "components.0.components.0.custom_id"},
		{"label", `{"content":"x","components":[{"type":1,"components":[{"type":2,"style":1,"label":"` + strings.Repeat("l", 81) + `","custom_id":"c"}]}]}`, "components.0.components.0.label"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, s, "POST", "/channels/10/messages", tc.body)
			errs, _ := body["errors"].(map[string]any)
			if status != 400 || body["code"] != float64(50035) || errs[tc.field] == nil {
				t.Errorf("status %d body %v, want 400 code 50035 with errors.%s", status, body, tc.field)
			}
		})
	}
	if status, body, _ := do(t, s, "POST", "/channels/10/messages", `{}`); status != 400 || body["code"] != float64(50006) {
		t.Errorf("empty message: %d %v", status, body)
	}
}

func TestRateLimitAndAuth(t *testing.T) {
	s := New(t)
	s.RateLimitNext("GET", "/users/@me", 1.5, true)
	status, body, h := do(t, s, "GET", "/users/@me", "")
	if status != 429 || body["retry_after"] != 1.5 || body["global"] != true || h.Get("X-RateLimit-Global") == "" || h.Get("Retry-After") != "2" {
		t.Errorf("429 = %d %v %v", status, body, h)
	}
	if status, _, _ := do(t, s, "GET", "/users/@me", ""); status != 200 {
		t.Errorf("after the injected 429: %d", status)
	}
	good := s.Token
	s.Token = "other" // the client below still sends the old one
	defer func() { s.Token = good }()
	req, _ := http.NewRequest("GET", s.APIURL+"/users/@me", nil)
	req.Header.Set("Authorization", "Bot "+good)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if status := resp.StatusCode; status != 401 {
		t.Errorf("bad token: %d", status)
	}
	if n := len(s.CallsTo("GET", "/users/@me")); n != 3 {
		t.Errorf("%d calls recorded", n)
	}
}

func TestAckDeadline(t *testing.T) {
	s := New(t)
	base := time.Now()
	var off atomic.Int64
	s.Clock = func() time.Time { return base.Add(time.Duration(off.Load())) }
	it := s.NewCommand(Invoker{GuildID: "1", ChannelID: "10", UserID: "5"}, "runbook", "list")
	cb := "/interactions/" + it.ID + "/" + it.Token + "/callback"
	off.Store(int64(AckDeadline + time.Millisecond))
	if status, body, _ := do(t, s, "POST", cb, `{"type":5}`); status != 404 || body["code"] != float64(10062) {
		t.Errorf("late ack: %d %v", status, body)
	}
	it = s.NewCommand(Invoker{GuildID: "1", ChannelID: "10", UserID: "5"}, "runbook", "list")
	cb = "/interactions/" + it.ID + "/" + it.Token + "/callback"
	if status, _, _ := do(t, s, "POST", cb, `{"type":5,"data":{"flags":64}}`); status != 204 {
		t.Errorf("timely ack: %d", status)
	}
	if status, body, _ := do(t, s, "POST", cb, `{"type":5}`); status != 400 || body["code"] != float64(40060) {
		t.Errorf("double ack: %d %v", status, body)
	}
	if a := s.AckOf(it.ID); !a.Acked || a.Type != 5 || !a.Ephemeral {
		t.Errorf("ack = %+v", a)
	}
	off.Add(int64(TokenLifetime + time.Second))
	if status, body, _ := do(t, s, "POST", "/webhooks/"+s.AppID+"/"+it.Token, `{"content":"late"}`); status != 401 || body["code"] != float64(50027) {
		t.Errorf("follow-up after 15 minutes: %d %v", status, body)
	}
}

// TestErrorAnswers: routes naming a guild the fake does not know answer
// 404 Unknown Guild, and bodies that do not decode answer 400 code 50109,
// the way Discord does.
func TestErrorAnswers(t *testing.T) {
	s := newOps(t)
	tests := []struct {
		method, path, body string
		status             int
		code               float64
	}{
		{"GET", "/guilds/9", "", 404, 10004},
		{"GET", "/guilds/9/roles", "", 404, 10004},
		{"GET", "/guilds/9/members/5", "", 404, 10004},
		{"GET", "/guilds/9/channels", "", 404, 10004},
		{"POST", "/guilds/9/channels", `{"name":"inc-1","type":0}`, 404, 10004},
		{"POST", "/guilds/1/channels", `{`, 400, 50109},
		{"PATCH", "/channels/10", `{`, 400, 50109},
		{"PUT", "/applications/" + s.AppID + "/commands", `{`, 400, 50109},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			status, body, _ := do(t, s, tc.method, tc.path, tc.body)
			if status != tc.status || body["code"] != tc.code {
				t.Errorf("status %d body %v, want %d code %v", status, body, tc.status, tc.code)
			}
		})
	}
}
