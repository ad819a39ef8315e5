package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateWeb(t *testing.T) {
	tests := []struct {
		name string
		set  func(c *Config)
		want string // a key that must be reported; "" for valid
	}{
		{"off needs nothing", func(c *Config) {}, ""},
		{"on needs base_url", func(c *Config) { c.Web.Enabled = true }, "web.base_url"},
		{"base_url must be a URL", func(c *Config) { c.Web.Enabled, c.Web.BaseURL = true, "tebura.example.com" }, "web.base_url"},
		{"on with base_url", func(c *Config) { c.Web.Enabled, c.Web.BaseURL = true, "https://tebura.example.com" }, ""},
		{"session_ttl positive", func(c *Config) { c.Web.SessionTTL = -time.Minute }, "web.session_ttl"},
		{"approvals_channel shape", func(c *Config) { c.Web.ApprovalsChannel = "C0123" }, "web.approvals_channel"},
		{"approvals_channel ok", func(c *Config) { c.Web.ApprovalsChannel = "slack:C0123" }, ""},
		{"token identity prefix", func(c *Config) {
			c.API.Tokens = []APIToken{{Identity: "deploy-bot", Token: "0123456789abcdef0"}}
		}, "api.tokens[0].identity"},
		{"token too short", func(c *Config) { c.API.Tokens = []APIToken{{Identity: "api:ci", Token: "short"}} }, "api.tokens[0].token"},
		{"token reused", func(c *Config) {
			c.API.Tokens = []APIToken{{Identity: "api:a", Token: "0123456789abcdef0"}, {Identity: "api:b", Token: "0123456789abcdef0"}}
		}, "api.tokens[1].token"},
		{"tokens ok", func(c *Config) { c.API.Tokens = []APIToken{{Identity: "api:ci", Token: "0123456789abcdef0"}} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.set(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want a problem with %s", err, tc.want)
			}
		})
	}
}

func TestAPITokensAreSecrets(t *testing.T) {
	c := Default()
	c.API.Tokens = []APIToken{{Identity: "api:ci", Token: "0123456789abcdef0"}}
	found := false
	for _, s := range c.Secrets() {
		found = found || s == "0123456789abcdef0"
	}
	if !found {
		t.Fatal("an api token is not among Secrets, so it would not be masked")
	}
}
