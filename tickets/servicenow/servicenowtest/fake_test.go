package servicenowtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tebura/tebura/tickets/servicenow/servicenowtest"
)

// TestFakeLimits: the fake refuses what ServiceNow refuses (no auth, a
// resolve without close fields) and pages list results with
// sysparm_limit/sysparm_offset and X-Total-Count.
func TestFakeLimits(t *testing.T) {
	f := servicenowtest.New(time.Now)
	srv := f.Server(t)
	do := func(method, path string, body any, auth bool) (*http.Response, map[string]any) {
		var r *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		} else {
			r = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, srv.URL+path, r)
		req.Header.Set("Content-Type", "application/json")
		if auth {
			req.SetBasicAuth(f.Username, f.Password)
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
	rec := map[string]string{"short_description": "s", "correlation_id": "m"}
	if resp, _ := do(http.MethodPost, "/api/now/table/incident", rec, false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("create without auth: %d", resp.StatusCode)
	}
	var id string
	for i := 0; i < 3; i++ {
		resp, out := do(http.MethodPost, "/api/now/table/incident", rec, true)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d", resp.StatusCode)
		}
		id = out["result"].(map[string]any)["sys_id"].(string)
	}
	seen := 0
	for off := 0; off < 3; off += 2 {
		resp, out := do(http.MethodGet, "/api/now/table/incident?sysparm_query=correlation_id=m&sysparm_limit=2&sysparm_offset="+strconv.Itoa(off), nil, true)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Total-Count") != "3" {
			t.Fatalf("list: %d, total %q", resp.StatusCode, resp.Header.Get("X-Total-Count"))
		}
		seen += len(out["result"].([]any))
	}
	if seen != 3 {
		t.Errorf("paged %d records, want 3", seen)
	}
	if resp, _ := do(http.MethodPatch, "/api/now/table/incident/"+id, map[string]string{"state": "6"}, true); resp.StatusCode != http.StatusForbidden {
		t.Errorf("resolve without close fields: %d, want 403", resp.StatusCode)
	}
}
