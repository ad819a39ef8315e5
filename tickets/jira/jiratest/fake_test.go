package jiratest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tebura/tebura/tickets/jira/jiratest"
)

// TestFakeLimits: the fake refuses what Jira refuses (no auth, the removed
// search endpoint) and pages search results like Jira.
func TestFakeLimits(t *testing.T) {
	f := jiratest.New(time.Now)
	srv := f.Server(t)
	do := func(method, path string, body any, auth bool) (*http.Response, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if auth {
			req.SetBasicAuth(f.Email, f.Token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	issue := map[string]any{"fields": map[string]any{"project": map[string]string{"key": "OPS"}, "issuetype": map[string]string{"name": "Task"},
		"summary": "s", "labels": []string{"m"}}}
	if resp, _ := do(http.MethodPost, "/rest/api/3/issue", issue, false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("create without auth: %d", resp.StatusCode)
	}
	for i := 0; i < 3; i++ {
		if resp, _ := do(http.MethodPost, "/rest/api/3/issue", issue, true); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d", resp.StatusCode)
		}
	}
	if resp, _ := do(http.MethodPost, "/rest/api/3/search", map[string]any{"jql": "x"}, true); resp.StatusCode != http.StatusGone {
		t.Errorf("removed search: %d", resp.StatusCode)
	}
	var keys []string
	q := map[string]any{"jql": `project = "OPS" AND labels = "m"`, "maxResults": 2}
	for page := 0; ; page++ {
		resp, out := do(http.MethodPost, "/rest/api/3/search/jql", q, true)
		if resp.StatusCode != http.StatusOK || page > 3 {
			t.Fatalf("search page %d: %d %v", page, resp.StatusCode, out)
		}
		for _, is := range out["issues"].([]any) {
			keys = append(keys, is.(map[string]any)["key"].(string))
		}
		if out["isLast"] == true {
			break
		}
		q["nextPageToken"] = out["nextPageToken"]
	}
	if fmt.Sprint(keys) != "[OPS-1 OPS-2 OPS-3]" {
		t.Errorf("paged keys = %v", keys)
	}
	f.Throttle(1, 9*time.Second)
	if resp, _ := do(http.MethodPost, "/rest/api/3/search/jql", q, true); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "9" {
		t.Errorf("throttled: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	do(http.MethodPost, "/rest/api/3/search/jql", q, true)
	if f.Early() != 1 {
		t.Errorf("early requests counted %d, want 1", f.Early())
	}
}
