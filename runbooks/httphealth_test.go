package runbooks

import (
	"testing"
	"time"
)

// TestHTTPHealthExampleFetchesOnlyNamedEndpoints: the shipped http-health
// runbook lets the requester pick a named endpoint of tebura, never a URL
// (an SSRF into the channel: cloud metadata, internal pages).
func TestHTTPHealthExampleFetchesOnlyNamedEndpoints(t *testing.T) {
	reg, problems := Load(LoadOptions{Dirs: []string{"examples"}, KnownRole: knownRole, MaxTimeout: time.Hour})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, ok := reg.Get("http-health")
	if !ok {
		t.Fatal("no http-health example")
	}
	for args, want := range map[string]string{
		"":               "http://127.0.0.1:8080/healthz",
		"target=healthz": "http://127.0.0.1:8080/healthz",
		"target=readyz":  "http://127.0.0.1:8080/readyz",
	} {
		var in []string
		if args != "" {
			in = []string{args}
		}
		v, err := rb.ParseArgs(in)
		if err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		steps, err := rb.Render(v)
		if err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		if len(steps) != 1 || steps[0].HTTP == nil || steps[0].HTTP.URL != want {
			t.Errorf("%q renders %+v, want one GET %s", args, steps, want)
		}
	}
	for _, bad := range []string{
		"url=http://169.254.169.254/latest/meta-data/",
		"target=http://169.254.169.254/latest/meta-data/",
		"target=../metrics",
		"target=healthz?x=1",
	} {
		if _, err := rb.ParseArgs([]string{bad}); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}
