package runbooks

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestHTTPStepRedirects: by default an HTTP step does not follow a redirect
// (the 3xx is its status, so a secret header never reaches another host);
// with follow_redirects: true it follows same-scheme same-host redirects
// only.
func TestHTTPStepRedirects(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("X-Api-Key")+"|"+r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprintln(w, "other host")
	}))
	defer other.Close()
	// Another host: same server address under a different name.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, otherURL+"/steal", http.StatusFound)
		case "/home":
			http.Redirect(w, r, srv.URL+"/final", http.StatusMovedPermanently)
		case "/final":
			fmt.Fprintln(w, "final key="+r.Header.Get("X-Api-Key"))
		}
	}))
	defer srv.Close()
	h := newHarness(t, ExecutorConfig{})
	rb := func(follow bool, expect string) *Runbook {
		return h.load(fmt.Sprintf(`name: web
kind: diagnostic
params: [{name: token, secret: true, required: true}, {name: path, pattern: '[a-z]+'}]
steps:
  - name: get
    http:
      url: "%s/{{ .Params.path }}"
      headers: {X-Api-Key: "{{ .Params.token }}", Authorization: "Bearer {{ .Params.token }}"}
      follow_redirects: %v
      expect: %s
`, srv.URL, follow, expect))
	}
	tests := []struct {
		name, path string
		follow     bool
		expect     string
		state      State
		reason     string // contained
		log        string // contained
	}{
		{"off: cross-host redirect is the status", "away", false, "[]", StateFailed, "got HTTP 302 Found", "HTTP/1.1 302 Found"},
		{"off: same-host redirect is the status too", "home", false, "[301]", StateSucceeded, "", "HTTP/1.1 301 Moved Permanently"},
		{"on: same host followed", "home", true, "[200]", StateSucceeded, "", "final key=***"},
		{"on: other host not followed", "away", true, "[]", StateFailed, "got HTTP 302 Found", "HTTP/1.1 302 Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handle, run, err := h.start(rb(tt.follow, tt.expect), "console:alice", "token=s3cr3t", "path="+tt.path)
			if err != nil {
				t.Fatal(err)
			}
			snap := h.wait(handle)
			log := h.logOf(run.ID)
			if snap.State != tt.state || !strings.Contains(snap.Reason, tt.reason) || !strings.Contains(log, tt.log) {
				t.Errorf("state %s reason %q, want %s and %q; log:\n%s", snap.State, snap.Reason, tt.state, tt.reason, log)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the other host was called with headers %q", leaked)
	}
}

// TestCheckRedirect: the policy itself, including https→http and a
// redirect loop.
func TestCheckRedirect(t *testing.T) {
	req := func(follow bool, u string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, u, nil)
		if follow {
			r = r.WithContext(withRedirectPolicy(r.Context(), RenderedStep{HTTP: &HTTPRequest{FollowRedirects: true}}))
		}
		return r
	}
	first := []*http.Request{req(true, "https://api.example.com/a")}
	tests := []struct {
		name   string
		r      *http.Request
		via    []*http.Request
		follow bool
	}{
		{"default refuses", req(false, "https://api.example.com/b"), first, false},
		{"same scheme and host", req(true, "https://API.example.com/b"), first, true},
		{"https to http", req(true, "http://api.example.com/b"), first, false},
		{"other host", req(true, "https://evil.example.com/b"), first, false},
		{"other port", req(true, "https://api.example.com:8443/b"), first, false},
	}
	for _, tt := range tests {
		err := checkRedirect(tt.r, tt.via)
		if (err == nil) != tt.follow || (!tt.follow && err != http.ErrUseLastResponse) {
			t.Errorf("%s: checkRedirect = %v, want follow=%v", tt.name, err, tt.follow)
		}
	}
	loop := make([]*http.Request, maxRedirects)
	for i := range loop {
		loop[i] = first[0]
	}
	if err := checkRedirect(req(true, "https://api.example.com/b"), loop); err == nil || err == http.ErrUseLastResponse {
		t.Errorf("a redirect loop was not stopped: %v", err)
	}
}
