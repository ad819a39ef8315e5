package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura/config"
)

// yamlBlocks returns the bodies of the ```yaml blocks of the Markdown file
// rel (relative to the repository root), whatever their mark.
func yamlBlocks(t *testing.T, rel string) []string {
	t.Helper()
	fences, _ := readFences(t, rel)
	var blocks []string
	for _, f := range fences {
		if f.Lang == "yaml" {
			blocks = append(blocks, f.Body)
		}
	}
	return blocks
}

// TestSourceDocsConfig loads every Tebura configuration snippet of the
// source pages through the real loader and validation, with the ${VARS}
// they name set, and checks the Grafana provisioning snippet against the
// webhook settings Grafana knows and against Tebura's own snippet (the
// two sides must name the same timestamp header).
func TestSourceDocsConfig(t *testing.T) {
	cleanEnv(t)
	vars := regexp.MustCompile(`\$\{([A-Z_]+)\}`)
	for _, page := range []string{"alertmanager.md", "grafana.md"} {
		t.Run(page, func(t *testing.T) {
			var tebura []string
			var grafana string
			for _, block := range yamlBlocks(t, "docs/sources/"+page) {
				switch {
				case strings.HasPrefix(block, "sources:"):
					tebura = append(tebura, block)
				case strings.HasPrefix(block, "apiVersion:"):
					grafana = block
				}
			}
			if len(tebura) == 0 {
				t.Fatal("no Tebura configuration snippet")
			}
			var stamp string
			for _, block := range tebura {
				for _, m := range vars.FindAllStringSubmatch(block, -1) {
					t.Setenv(m[1], "secret-of-"+m[1])
				}
				l, ps := config.Load(writeConfig(t, block), loadOptions())
				if len(ps) > 0 {
					t.Errorf("snippet\n%s\nproblems: %v", block, ps)
				}
				if h := l.Config.Sources.Grafana.TimestampHeader; h != "" {
					stamp = h
				}
			}
			if grafana != "" {
				checkGrafanaProvisioning(t, grafana, stamp)
			}
		})
	}
}

// checkGrafanaProvisioning checks a contact point provisioning file: every
// webhook setting is one Grafana's webhook integration has
// (grafana/alerting receivers/webhook/v1/config.go), the URL is Tebura's
// route, and the timestamp header is the one Tebura expects.
func checkGrafanaProvisioning(t *testing.T, block, stamp string) {
	t.Helper()
	var file struct {
		APIVersion    int `yaml:"apiVersion"`
		ContactPoints []struct {
			Receivers []struct {
				Type     string         `yaml:"type"`
				Settings map[string]any `yaml:"settings"`
			} `yaml:"receivers"`
		} `yaml:"contactPoints"`
	}
	if err := yaml.Unmarshal([]byte(block), &file); err != nil {
		t.Fatal(err)
	}
	known := []string{"url", "httpMethod", "maxAlerts", "authorization_scheme", "authorization_credentials", "username",
		"password", "title", "message", "tlsConfig", "hmacConfig", "headers", "payload"}
	hmacKnown := []string{"secret", "header", "timestampHeader"}
	n := 0
	for _, cp := range file.ContactPoints {
		for _, r := range cp.Receivers {
			if r.Type != "webhook" {
				t.Errorf("receiver type %q, want webhook", r.Type)
			}
			n++
			for k := range r.Settings {
				if !slices.Contains(known, k) {
					t.Errorf("settings.%s is not a Grafana webhook setting", k)
				}
			}
			if u, _ := r.Settings["url"].(string); !strings.HasSuffix(u, "/hooks/grafana") {
				t.Errorf("url %q is not Tebura's /hooks/grafana", u)
			}
			h, _ := r.Settings["hmacConfig"].(map[string]any)
			for k := range h {
				if !slices.Contains(hmacKnown, k) {
					t.Errorf("settings.hmacConfig.%s is not a Grafana HMAC setting", k)
				}
			}
			if got, _ := h["timestampHeader"].(string); got != stamp {
				t.Errorf("Grafana signs with timestamp header %q, Tebura's snippet expects %q", got, stamp)
			}
		}
	}
	if file.APIVersion != 1 || n == 0 {
		t.Errorf("provisioning file: apiVersion %d, %d receivers", file.APIVersion, n)
	}
}
