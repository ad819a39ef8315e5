package config

// Secret is a configuration value that must never be printed: its String and
// MarshalText methods redact it. Value returns the real value.
type Secret string

// Value returns the secret in clear, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// MarshalText redacts the secret in any encoding of the config.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Secrets returns every non-empty Secret of the configuration (tokens,
// passwords, webhook secrets, redact.values), so that they are masked in
// run output, chat and audit entries too. A Secret field added to Config
// must be listed here; a test walks the type to make sure.
func (c Config) Secrets() []string {
	var out []string
	add := func(ss ...Secret) {
		for _, s := range ss {
			if s != "" {
				out = append(out, s.Value())
			}
		}
	}
	add(c.Redact.Values...)
	add(c.Sealing.Key)
	add(c.Slack.BotToken, c.Slack.AppToken, c.Slack.SigningSecret)
	add(c.Discord.BotToken)
	add(c.Tickets.secrets()...)
	src := c.Sources
	add(src.Alertmanager.BearerToken, src.Alertmanager.BasicAuth.Password)
	add(src.Grafana.HMACSecret, src.Grafana.BearerToken, src.Grafana.BasicAuth.Password)
	add(src.PagerDuty.WebhookSecret, src.PagerDuty.RoutingKey)
	for _, n := range sortedKeys(src.Generic) {
		g := src.Generic[n]
		add(g.BearerToken, g.HMACSecret, g.BasicAuth.Password)
	}
	add(c.webSecrets()...)
	add(c.Hints.Changes.Token, c.Hints.Changes.GitHubSecret)
	add(c.OnCall.secrets()...)
	add(c.Store.Postgres.DSN, c.Store.Postgres.Password())
	return out
}
