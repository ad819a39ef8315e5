package config

import (
	"fmt"
	"strings"
	"time"
)

// DefaultSessionTTL is how long a browser stays signed in to the web view
// when web.session_ttl is not set: one on-call shift.
const DefaultSessionTTL = 12 * time.Hour

// Web is the web view: pages linked from chat, the live log of runs, the
// run request form and the audit chain, served on the one HTTP listener
// under /ui/. People sign in with a one-time link from `/tebura login`
// (their chat identity) or, optionally, through an OIDC provider.
type Web struct {
	// Enabled mounts /ui/ and /api/v1 and puts links to the pages into
	// chat messages.
	Enabled bool `mapstructure:"enabled"`
	// BaseURL is the address people's browsers reach Tebura at
	// (https://tebura.example.com); the links in chat are built from it.
	BaseURL string `mapstructure:"base_url"`
	// SessionTTL is how long a browser stays signed in.
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// ApprovalsChannel is where the approval card of a run requested from
	// the web goes when the run belongs to no incident, as
	// "<platform>:<channel>" (slack:C0123, discord:1234, console:console).
	ApprovalsChannel string `mapstructure:"approvals_channel"`
	// OIDC, when Issuer is set, adds "Sign in with your identity
	// provider" beside the one-time links.
	OIDC OIDC `mapstructure:"oidc"`
}

// OIDC is an OpenID Connect provider people may sign in to the web view
// with; the identity is "oidc:<claim value>", a member string like any
// other in access.roles.
type OIDC struct {
	Issuer       string `mapstructure:"issuer"`
	ClientID     string `mapstructure:"client_id"`
	ClientSecret Secret `mapstructure:"client_secret"`
	// IdentityClaim is the ID token's claim that names the person.
	IdentityClaim string `mapstructure:"identity_claim"`
}

// API is /api/v1, for scripts and CI: each token acts as one identity,
// so roles apply to it as to a person.
type API struct {
	Tokens []APIToken `mapstructure:"tokens"`
}

// APIToken binds a bearer token to an identity ("api:deploy-bot").
type APIToken struct {
	Identity string `mapstructure:"identity"`
	Token    Secret `mapstructure:"token"`
}

// ApprovalsTarget splits web.approvals_channel into its platform and
// channel; ok is false when it is not set.
func (w Web) ApprovalsTarget() (platform, channel string, ok bool) {
	platform, channel, ok = strings.Cut(w.ApprovalsChannel, ":")
	return platform, channel, ok && platform != "" && channel != ""
}

// webSecrets are the secrets of the web and API sections.
func (c Config) webSecrets() []Secret {
	out := []Secret{c.Web.OIDC.ClientSecret}
	for _, t := range c.API.Tokens {
		out = append(out, t.Token)
	}
	return out
}

func (c Config) validateWeb(p *problems) {
	w := c.Web
	if w.Enabled {
		if w.BaseURL == "" {
			p.add("web.base_url", "is empty; set the address browsers reach Tebura at, such as https://tebura.example.com")
		} else {
			p.url("web.base_url", w.BaseURL)
		}
	}
	p.positive("web.session_ttl", w.SessionTTL)
	if w.ApprovalsChannel != "" {
		if _, _, ok := w.ApprovalsTarget(); !ok {
			p.add("web.approvals_channel", "is %q; write it as <platform>:<channel>, such as slack:C0123", w.ApprovalsChannel)
		}
	}
	if o := w.OIDC; o.Issuer != "" {
		p.url("web.oidc.issuer", o.Issuer)
		if o.ClientID == "" {
			p.add("web.oidc.client_id", "is empty; the identity provider's client ID is needed with web.oidc.issuer")
		}
		if o.IdentityClaim == "" {
			p.add("web.oidc.identity_claim", "is empty; name the ID token claim that identifies a person, such as email")
		}
		if !w.Enabled {
			p.add("web.oidc.issuer", "is set but web.enabled is false; OIDC signs people in to the web view")
		}
	}
	seen := map[string]bool{}
	for i, t := range c.API.Tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		if !strings.HasPrefix(t.Identity, "api:") || len(t.Identity) == len("api:") || strings.ContainsAny(t.Identity, " \t") {
			p.add(key+".identity", "is %q; write it as api:<name>, such as api:deploy-bot", t.Identity)
		}
		if len(t.Token.Value()) < 16 {
			p.add(key+".token", "is shorter than 16 characters; generate one with `openssl rand -hex 32`")
		}
		if seen[t.Token.Value()] && t.Token != "" {
			p.add(key+".token", "is the token of an earlier entry; give each identity its own")
		}
		seen[t.Token.Value()] = true
	}
}
