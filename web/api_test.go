package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

const ciToken = "ci-token-0123456789abcdef"

func (h *webHarness) api(method, path, token, body string) (int, string, http.Header) {
	h.T.Helper()
	req, _ := http.NewRequest(method, h.Srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestAPI: a bearer token acts as its identity (roles apply), every call
// is on the audit chain, bad tokens are refused, and runs requested by it
// go through the same checks as chat.
func TestAPI(t *testing.T) {
	h := newWebHarness(t, config.APIToken{Identity: "api:ci", Token: ciToken})
	for _, tok := range []string{"", "wrong", ciToken + "x"} {
		code, body, hd := h.api("GET", "/api/v1/runs/r1", tok, "")
		if code != http.StatusUnauthorized || hd.Get("WWW-Authenticate") == "" || !strings.Contains(body, "bearer token") {
			t.Errorf("token %q: %d %s", tok, code, body)
		}
	}
	if code, body, _ := h.api("POST", "/api/v1/runs", ciToken, `{"runbook":"restart-api"`); code != http.StatusBadRequest {
		t.Errorf("bad JSON = %d %s", code, body)
	}
	// api:ci holds the role "api", which restart-api does not allow.
	if code, body, _ := h.api("POST", "/api/v1/runs", ciToken, `{"runbook":"restart-api","params":{"env":"staging"}}`); code != http.StatusNotFound {
		t.Errorf("runbook the token may not see = %d %s, want 404", code, body)
	}
	h.Policy = mustPolicy(t, map[string][]string{"dev": {"console:alice", "api:ci"}, "sre": {"console:bob"}})
	if code, body, _ := h.api("POST", "/api/v1/runs", ciToken, `{"runbook":"restart-api","params":{"env":"moon"}}`); code != http.StatusBadRequest || !strings.Contains(body, "moon") {
		t.Errorf("bad param = %d %s", code, body)
	}
	code, body, _ := h.api("POST", "/api/v1/runs", ciToken, `{"runbook":"restart-api","params":{"env":"staging"}}`)
	if code != http.StatusCreated {
		t.Fatalf("request = %d %s", code, body)
	}
	var run RunJSON
	if err := json.Unmarshal([]byte(body), &run); err != nil {
		t.Fatal(err)
	}
	if run.State != runbooks.StatePendingApproval || run.RequestedBy != "api:ci" || run.URL != "http://tebura.test/ui/runs/"+run.ID {
		t.Fatalf("run = %+v", run)
	}
	if !h.auditHas("api:ci", audit.ActionRunRequest, "via", "api") || !h.auditHas("api:ci", audit.ActionAPICall) {
		t.Error("the call or the request is not on the audit chain")
	}
	if code, body, _ := h.api("GET", "/api/v1/runs/"+run.ID, ciToken, ""); code != 200 || !strings.Contains(body, `"pending_approval"`) {
		t.Errorf("read run = %d %s", code, body)
	}
	if code, _, _ := h.api("GET", "/api/v1/runs/"+run.ID+"/log", ciToken, ""); code != http.StatusNotFound {
		t.Errorf("log of a run that never started = %d, want 404", code)
	}

	// Secrets: masked in the run's JSON and its log.
	code, body, _ = h.api("POST", "/api/v1/runs", ciToken, `{"runbook":"with-secret","params":{"token":"s3cr3t-value-xyz"}}`)
	if code != http.StatusCreated || strings.Contains(body, "s3cr3t") {
		t.Fatalf("secret run = %d %s", code, body)
	}
	json.Unmarshal([]byte(body), &run)
	h.WaitFinal(run.ID)
	code, logBody, hd := h.api("GET", "/api/v1/runs/"+run.ID+"/log", ciToken, "")
	if code != 200 || strings.Contains(logBody, "s3cr3t") || !strings.Contains(logBody, "token is") || hd.Get("X-Log-Offset") == "" {
		t.Errorf("log = %d %q (offset %q)", code, logBody, hd.Get("X-Log-Offset"))
	}

	if _, err := h.Inc.Declare(t.Context(), "API down", "sev2", "console:bob"); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := h.api("GET", "/api/v1/incidents/1", ciToken, ""); code != 200 || !strings.Contains(body, `"API down"`) || !strings.Contains(body, `"timeline"`) {
		t.Errorf("incident = %d %s", code, body)
	}
}

// TestAPIChange: POST /api/v1/changes records a change once, by the token's
// identity unless the body names someone, refuses what the hook refuses,
// and is on the audit chain; without a token nothing is recorded.
func TestAPIChange(t *testing.T) {
	h := newWebHarness(t, config.APIToken{Identity: "api:ci", Token: ciToken})
	body := `{"service": "api", "version": "v1.42", "url": "https://ci.example/981", "id": "build-981"}`
	if code, _, _ := h.api("POST", "/api/v1/changes", "", body); code != http.StatusUnauthorized {
		t.Errorf("no token = %d, want 401", code)
	}
	code, resp, _ := h.api("POST", "/api/v1/changes", ciToken, body)
	if code != http.StatusCreated || !strings.Contains(resp, `"recorded":true`) {
		t.Fatalf("record = %d %s", code, resp)
	}
	if code, resp, _ := h.api("POST", "/api/v1/changes", ciToken, body); code != http.StatusOK || !strings.Contains(resp, `"recorded":false`) {
		t.Errorf("the same change again = %d %s, want 200 not recorded", code, resp)
	}
	for _, bad := range []string{`{"version": "v1"}`, `{"servce": "api"}`, `not json`} {
		if code, resp, _ := h.api("POST", "/api/v1/changes", ciToken, bad); code != http.StatusBadRequest {
			t.Errorf("%s = %d %s, want 400", bad, code, resp)
		}
	}
	now := time.Now()
	got, err := h.Store.Changes(context.Background(), "api", now.Add(-time.Minute), now.Add(time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].By != "api:ci" || got[0].Source != "api" || got[0].ID != "build-981" {
		t.Errorf("changes = %+v", got)
	}
	if !h.auditHas("api:ci", audit.ActionAPICall) {
		t.Error("the call is not on the audit chain")
	}
}
