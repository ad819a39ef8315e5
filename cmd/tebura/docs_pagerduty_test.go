package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tebura/tebura/config"
)

// docYAML returns the YAML code blocks of a page under docs/ that begin
// with prefix.
func docYAML(t *testing.T, page, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.HasPrefix(m[1], prefix) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestDocsPagerDutyConfig loads the Tebura configuration snippets of
// docs/sources/pagerduty.md: they decode (default_severity in every
// source) and validate; a default_severity outside the known set is
// refused at its line.
func TestDocsPagerDutyConfig(t *testing.T) {
	cleanEnv(t)
	for _, env := range []string{"PD_SECRET", "PD_ROUTING_KEY", "AM_TOKEN", "GRAFANA_HMAC", "CI_TOKEN"} {
		t.Setenv(env, "secret-of-"+env)
	}
	snippets := docYAML(t, "sources/pagerduty.md", "sources:")
	if len(snippets) != 2 {
		t.Fatalf("%d configuration snippets in docs/sources/pagerduty.md, want 2", len(snippets))
	}
	for i, s := range snippets {
		l, ps := config.Load(writeConfig(t, s), loadOptions())
		if len(ps) != 0 {
			t.Errorf("snippet %d: %v\n%s", i, ps, s)
		}
		if i == 1 {
			src := l.Config.Sources
			got := []string{src.Alertmanager.DefaultSeverity, src.Grafana.DefaultSeverity, src.PagerDuty.DefaultSeverity, src.Generic["ci"].DefaultSeverity}
			if strings.Join(got, " ") != "critical warning info error" {
				t.Errorf("default_severity decoded as %q", got)
			}
		}
	}
	bad := strings.Replace(snippets[0], "default_severity: warning", "default_severity: page", 1)
	_, ps := config.Load(writeConfig(t, bad), loadOptions())
	if len(ps) != 1 || ps[0].Line != 5 || !strings.Contains(ps[0].Text, `sources.pagerduty.default_severity: is "page"; use one of critical, error, warning, info`) {
		t.Errorf("problems %v, want one at line 5 naming the key and the known severities", ps)
	}
}
