package config

import (
	"strings"
	"time"
)

// Hints are the resolution hints on the incident card: similar past
// incidents and the recent changes to the incident's service.
type Hints struct {
	// Similar is how many similar resolved incidents the card shows; 0
	// shows none.
	Similar int `mapstructure:"similar"`
	// ChangesWindow is how far before an incident's first alert the card
	// looks for changes to its service.
	ChangesWindow time.Duration `mapstructure:"changes_window"`
	// Changes configures /hooks/changes.
	Changes ChangesHook `mapstructure:"changes"`
}

// ChangesHook configures /hooks/changes. With neither a token nor a GitHub
// secret the hook refuses every request (401, saying which key to set):
// changes are then recorded only by `tebura change record`.
type ChangesHook struct {
	// Token is the bearer token of the generic and Argo CD forms.
	Token Secret `mapstructure:"token"`
	// GitHubSecret is the secret of the GitHub webhook that sends
	// deployment_status events (X-Hub-Signature-256).
	GitHubSecret Secret `mapstructure:"github_secret"`
	// GitHubServices maps a repository ("org/repo") to the service it
	// deploys; a repository not listed deploys the service of its name.
	GitHubServices map[string]string `mapstructure:"github_services"`
	// Retention is how long changes are kept.
	Retention time.Duration `mapstructure:"retention"`
}

// Enabled reports whether /hooks/changes takes anything.
func (c ChangesHook) Enabled() bool { return c.Token != "" || c.GitHubSecret != "" }

// Hint defaults.
const (
	DefaultHintsSimilar       = 3
	DefaultHintsChangesWindow = 2 * time.Hour
	DefaultChangesRetention   = 30 * 24 * time.Hour
)

func (c Config) validateHints(p *problems) {
	h := c.Hints
	if h.Similar < 0 || h.Similar > 10 {
		p.add("hints.similar", "is %d; use 0 (none) to 10", h.Similar)
	}
	if h.ChangesWindow < time.Minute {
		p.add("hints.changes_window", "is %s; use at least 1m (default 2h)", h.ChangesWindow)
	}
	if h.Changes.Retention < h.ChangesWindow {
		p.add("hints.changes.retention", "is %s, shorter than hints.changes_window (%s): changes would be gone before the card looks for them", h.Changes.Retention, h.ChangesWindow)
	}
	for repo, svc := range h.Changes.GitHubServices {
		if !strings.Contains(repo, "/") || svc == "" {
			p.add("hints.changes.github_services", "has %q: %q; map a repository \"org/repo\" to a service name", repo, svc)
		}
	}
}
