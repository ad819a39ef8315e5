package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template/parse"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/tebura/tebura"
)

// KeyError is one configuration problem, tied to the dotted key it concerns
// (for example "slack.bot_token" or "automations[2].match[0]") so that a
// caller holding the YAML document can point at the line.
type KeyError struct {
	Key string
	Msg string
}

// Error implements error as "key: msg".
func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// KeyErrors returns the *KeyError values in err, which is typically the
// errors.Join returned by Validate. Errors of other types are returned as
// KeyErrors with an empty Key.
func KeyErrors(err error) []*KeyError {
	var out []*KeyError
	for _, e := range tebura.Unjoin(err) {
		var ke *KeyError
		if !errors.As(e, &ke) {
			ke = &KeyError{Msg: e.Error()}
		}
		out = append(out, ke)
	}
	return out
}

// Log levels and formats Tebura knows.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// Identity kinds a role member may have. "automation:" identities are the
// automation rules'; they may be granted roles like people.
var identityKinds = []string{"console", "slack", "slack-group", "discord", "discord-role", "automation", "api", "oidc"}

// problems collects KeyErrors in order.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be a positive duration such as 30s or 5m (got %s)", d)
	}
}

func (p *problems) nonNegative(key string, d time.Duration) {
	if d < 0 {
		p.add(key, "must not be negative (got %s); use 0 to turn it off", d)
	}
}

func (p *problems) oneOf(key, v string, allowed []string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.add(key, "is %q; use one of %s", v, strings.Join(allowed, ", "))
}

// tmpl checks a template's syntax. Function names are not checked: the
// packages that execute templates (incident, incident/source) add their own
// functions.
// basicAuth reports a basic_auth block that sets only one of its keys: a
// sender cannot log in with half of it.
func (p *problems) basicAuth(key string, b BasicAuth) {
	if (b.Username == "") != (b.Password == "") {
		p.add(key, "needs both username and password")
	}
}

func (p *problems) tmpl(key, text string) {
	t := parse.New(key)
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(text, "", "", map[string]*parse.Tree{}); err != nil {
		p.add(key, "is not a valid template: %v", err)
	}
}

// severity checks a default_severity: empty (DefaultSeverity) or one of
// Severities.
func (p *problems) severity(key, v string) {
	if v != "" && !KnownSeverity(v) {
		p.add(key, "is %q; use one of %s", v, strings.Join(Severities(), ", "))
	}
}

func (p *problems) url(key, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		p.add(key, "is %q; use an absolute http(s) URL", v)
	}
}

// Validate checks the whole configuration and returns every problem at once
// (errors.Join of *KeyError values, each naming its key), or nil. It checks
// what can be checked without the runbooks: cross-checks against runbooks
// (automation runbook names, roles used by runbooks) are the caller's.
func (c Config) Validate() error {
	var p problems
	if strings.TrimSpace(c.DataDir) == "" {
		p.add("data_dir", "is empty; set a directory Tebura may write its database and run logs to")
	}
	p.positive("shutdown_grace", c.ShutdownGrace)
	c.validateHTTP(&p)
	p.oneOf("log.level", c.Log.Level, logLevels)
	p.oneOf("log.format", c.Log.Format, logFormats)
	c.validateRunbooks(&p)
	for i, pat := range c.Redact.Patterns {
		if _, err := regexp.Compile(pat); err != nil {
			p.add(fmt.Sprintf("redact.patterns[%d]", i), "does not compile: %v", err)
		}
	}
	if _, err := c.Sealing.KeyBytes(); err != nil {
		p.add("secrets.key", "%v", err)
	}
	for i, v := range c.Redact.Values {
		if v == "" {
			p.add(fmt.Sprintf("redact.values[%d]", i), "is empty; remove it (an unset ${ENV} reference?)")
		}
	}
	c.validateAccess(&p)
	c.validateBot(&p)
	p.positive("chat.delivery_deadline", c.Chat.DeliveryDeadline)
	p.oneOf("console.enabled", c.Console.Enabled, []string{"auto", "true", "false"})
	c.validateSlack(&p)
	c.validateDiscord(&p)
	c.validateSources(&p)
	c.validateIncidents(&p)
	c.validateAutomations(&p)
	c.validateTargets(&p)
	c.validateKubernetes(&p)
	c.validateWatchdog(&p)
	c.validateReplica(&p)
	c.validateWeb(&p)
	c.validateHints(&p)
	c.validateOnCall(&p)
	c.validateTickets(&p)
	c.validateStore(&p)
	sort.SliceStable(p, func(i, j int) bool { return p[i].(*KeyError).Key < p[j].(*KeyError).Key })
	return errors.Join(p...)
}

func (c Config) validateHTTP(p *problems) {
	host, port, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil {
		p.add("http.listen", "is %q; use host:port such as 127.0.0.1:8080", c.HTTP.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("http.listen", "has port %q; use a number from 0 to 65535", port)
	} else if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		p.add("http.listen", "has host %q; use an IP address or a host name", host)
	}
	if c.HTTP.MaxBody <= 0 {
		p.add("http.max_body_bytes", "must be positive (got %d)", c.HTTP.MaxBody)
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		p.add("http.tls_cert", "and http.tls_key must be set together")
	}
}

func (c Config) validateRunbooks(p *problems) {
	for i, d := range c.Runbooks.Dirs {
		if strings.TrimSpace(d) == "" {
			p.add(fmt.Sprintf("runbooks.dirs[%d]", i), "is empty; name a directory of *.yaml runbooks")
		}
	}
	p.positive("runbooks.default_timeout", c.Runbooks.DefaultTimeout)
	p.positive("runbooks.max_timeout", c.Runbooks.MaxTimeout)
	if c.Runbooks.DefaultTimeout > 0 && c.Runbooks.MaxTimeout > 0 && c.Runbooks.DefaultTimeout > c.Runbooks.MaxTimeout {
		p.add("runbooks.default_timeout", "is %s, longer than runbooks.max_timeout (%s)", c.Runbooks.DefaultTimeout, c.Runbooks.MaxTimeout)
	}
	if c.Runbooks.MaxConcurrent < 1 {
		p.add("runbooks.max_concurrent", "must be at least 1 (got %d)", c.Runbooks.MaxConcurrent)
	}
	if c.Runbooks.LogCapBytes <= 0 {
		p.add("runbooks.log_cap_bytes", "must be positive (got %d)", c.Runbooks.LogCapBytes)
	}
	p.positive("runbooks.kill_grace", c.Runbooks.KillGrace)
	p.nonNegative("runbooks.log_retention", c.Runbooks.LogRetention)
	if c.Runbooks.LogTotalBytes < 0 {
		p.add("runbooks.log_total_bytes", "must not be negative (got %d); use 0 to turn it off", c.Runbooks.LogTotalBytes)
	}
}

// ValidIdentity reports whether id looks like "kind:value" with a kind
// Tebura knows.
func ValidIdentity(id string) bool {
	kind, v, ok := strings.Cut(id, ":")
	if !ok || v == "" || strings.TrimSpace(v) != v {
		return false
	}
	for _, k := range identityKinds {
		if k == kind {
			return true
		}
	}
	return false
}

func (c Config) validateAccess(p *problems) {
	names := make([]string, 0, len(c.Access.Roles))
	for name := range c.Access.Roles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.ContainsAny(name, ": ") || name == "" {
			p.add("access.roles."+name, "is not a valid role name; use letters, digits, - and _")
		}
		for i, m := range c.Access.Roles[name].Members {
			if !ValidIdentity(m) {
				p.add(fmt.Sprintf("access.roles.%s.members[%d]", name, i), "is %q; use kind:id with kind one of %s", m, strings.Join(identityKinds, ", "))
			}
		}
	}
	c.validatePeople(p)
	for i, a := range c.Access.Admins {
		key := fmt.Sprintf("access.admins[%d]", i)
		switch {
		case strings.Contains(a, ":"):
			if !ValidIdentity(a) {
				p.add(key, "is %q; use a role name or kind:id with kind one of %s", a, strings.Join(identityKinds, ", "))
			} else if strings.HasPrefix(a, "automation:") {
				p.add(key, "is %q, an automation identity; automations cannot be admins, give the rule a role instead", a)
			}
		case a == "":
			p.add(key, "is empty")
		default:
			if _, ok := c.Access.Roles[a]; !ok {
				p.add(key, "names role %q, which is not defined under access.roles", a)
			}
		}
	}
}

// personKinds are the identity kinds that are one person's account.
var personKinds = []string{"console", "slack", "discord", "oidc"}

// validatePeople checks access.people: each identity is one person's
// account (not a group, not an automation) and belongs to one person only.
func (c Config) validatePeople(p *problems) {
	owner := map[string]string{}
	for _, name := range sortedKeys(c.Access.People) {
		if strings.ContainsAny(name, ": ") || name == "" {
			p.add("access.people."+name, "is not a valid person name; use letters, digits, - and _")
		}
		for i, id := range c.Access.People[name].Identities {
			key := fmt.Sprintf("access.people.%s.identities[%d]", name, i)
			kind, _, _ := strings.Cut(id, ":")
			switch {
			case !ValidIdentity(id) || !slices.Contains(personKinds, kind):
				p.add(key, "is %q; use kind:id with kind one of %s (groups and automations are not a person's account)", id, strings.Join(personKinds, ", "))
			case owner[id] != "" && owner[id] != name:
				p.add(key, "is %s, which is already %s's; an identity belongs to one person", id, owner[id])
			default:
				owner[id] = name
			}
		}
	}
}

func (c Config) validateBot(p *problems) {
	cmds := map[string]string{
		"bot.commands.runbook":  c.Bot.Commands.Runbook,
		"bot.commands.incident": c.Bot.Commands.Incident,
		"bot.commands.tebura":   c.Bot.Commands.Tebura,
	}
	cmdRe := regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	for _, key := range []string{"bot.commands.runbook", "bot.commands.incident", "bot.commands.tebura"} {
		if !cmdRe.MatchString(cmds[key]) {
			p.add(key, "is %q; use a lowercase word without the slash, such as runbook", cmds[key])
		}
	}
	p.positive("bot.stream_interval", c.Bot.StreamInterval)
	if c.Bot.EditBudget <= 0 {
		p.add("bot.edit_budget", "must be a positive number of edits per second (got %g)", c.Bot.EditBudget)
	}
	if c.Bot.TailLines < 1 {
		p.add("bot.tail_lines", "must be at least 1 (got %d)", c.Bot.TailLines)
	}
}

func (c Config) validateSlack(p *problems) {
	s := c.Slack
	p.oneOf("slack.mode", s.Mode, []string{"socket", "http"})
	if !s.Enabled {
		return
	}
	if !strings.HasPrefix(s.BotToken.Value(), "xoxb-") {
		p.add("slack.bot_token", "must be a bot token starting with xoxb- (from OAuth & Permissions)")
	}
	switch s.Mode {
	case "socket":
		if !strings.HasPrefix(s.AppToken.Value(), "xapp-") {
			p.add("slack.app_token", "must be an app-level token starting with xapp- (Basic Information → App-Level Tokens, scope connections:write) when slack.mode is socket")
		}
	case "http":
		if s.SigningSecret == "" {
			p.add("slack.signing_secret", "must be set when slack.mode is http (Basic Information → Signing Secret)")
		}
	}
	p.url("slack.api_url", s.APIURL)
	if len(s.Commands) == 0 {
		p.add("slack.commands", "is empty; list the slash commands, such as /runbook")
	}
	for i, cmd := range s.Commands {
		if !regexp.MustCompile(`^/[a-z0-9_-]{1,31}$`).MatchString(cmd) {
			p.add(fmt.Sprintf("slack.commands[%d]", i), "is %q; a slash command is / and up to 32 lowercase letters, digits, - or _", cmd)
		}
	}
	p.positive("slack.stream_interval", s.StreamInterval)
	p.positive("slack.group_cache_ttl", s.GroupCacheTTL)
}

var snowflake = regexp.MustCompile(`^[0-9]{5,20}$`)

func (c Config) validateDiscord(p *problems) {
	d := c.Discord
	p.oneOf("discord.mode", d.Mode, []string{"gateway", "http"})
	if !d.Enabled {
		return
	}
	if d.BotToken == "" {
		p.add("discord.bot_token", "must be set when discord is enabled (Developer Portal → Bot → Token)")
	}
	if !snowflake.MatchString(d.ApplicationID) {
		p.add("discord.application_id", "is %q; use the numeric application ID from the Developer Portal", d.ApplicationID)
	}
	if d.Mode == "http" {
		if b, err := hex.DecodeString(d.PublicKey); err != nil || len(b) != 32 {
			p.add("discord.public_key", "must be the application's 64-hex-digit public key when discord.mode is http")
		}
	}
	for i, g := range d.GuildIDs {
		if !snowflake.MatchString(g) {
			p.add(fmt.Sprintf("discord.guild_ids[%d]", i), "is %q; use a numeric guild ID", g)
		}
	}
	for key, id := range map[string]string{
		"discord.incident_category_id": d.IncidentCategory,
		"discord.archive_category_id":  d.ArchiveCategory,
		"discord.channels.incidents":   d.Channels.Incidents,
	} {
		if id != "" && !snowflake.MatchString(id) {
			p.add(key, "is %q; use a numeric channel ID", id)
		}
	}
	if d.APIURL != "" {
		p.url("discord.api_url", d.APIURL)
	}
	if d.GatewayURL != "" {
		p.url("discord.gateway_url", d.GatewayURL)
	}
	p.positive("discord.stream_interval", d.StreamInterval)
}

// Enabled reports whether the Alertmanager source accepts webhooks: it does
// when some authentication is configured or it is explicitly insecure.
func (a Alertmanager) Enabled() bool {
	return a.Insecure || a.BearerToken != "" || a.BasicAuth.Username != "" || a.BasicAuth.Password != ""
}

// Enabled reports whether the Grafana source accepts webhooks.
func (g Grafana) Enabled() bool {
	return g.Insecure || g.HMACSecret != "" || g.BearerToken != "" || g.BasicAuth != (BasicAuth{})
}

// Enabled reports whether the PagerDuty source accepts webhooks.
func (d PagerDuty) Enabled() bool { return d.Insecure || d.WebhookSecret != "" || d.RoutingKey != "" }

// Mapped statuses a status_map value may name.
var mappedStatuses = []string{"firing", "resolved", "ignored"}

// ValidMappedStatus reports whether v is a status_map value: firing,
// resolved or ignored, in any case.
func ValidMappedStatus(v string) bool {
	for _, s := range mappedStatuses {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// Authenticated reports whether the generic source checks credentials:
// a bearer token, basic auth or an HMAC signature secret.
func (g GenericSource) Authenticated() bool {
	return g.BearerToken != "" || g.BasicAuth != (BasicAuth{}) || g.HMACSecret != ""
}

// Enabled reports whether the generic source accepts webhooks.
func (g GenericSource) Enabled() bool { return g.Insecure || g.Authenticated() }

// AuthProblems returns a *KeyError (joined) for every webhook source that
// is configured but neither authenticates requests nor says insecure: true.
// Such a source would refuse every request, which is never what its author
// meant; to leave a source off, leave it out of the configuration. present
// names the built-in sources ("alertmanager", "grafana", "pagerduty") that
// the file or the environment mentions at all, which the decoded values
// cannot show for an empty block; with a nil present a built-in source
// counts as configured when any of its fields is set. Every generic source
// is configured: it exists only because the configuration names it.
func (s Sources) AuthProblems(present map[string]bool) error {
	var p problems
	const insecure = ", or insecure: true to accept unauthenticated requests (leave the source out of the configuration to keep it off)"
	// default_severity has a default, so it alone does not make a source
	// configured.
	if am := s.Alertmanager; !am.Enabled() && (present["alertmanager"] || am != (Alertmanager{DefaultSeverity: am.DefaultSeverity})) {
		p.add("sources.alertmanager", "has no authentication; set bearer_token or basic_auth"+insecure)
	}
	if g := s.Grafana; !g.Enabled() && (present["grafana"] || g != (Grafana{DefaultSeverity: g.DefaultSeverity})) {
		p.add("sources.grafana", "has no authentication; set hmac_secret, bearer_token or basic_auth"+insecure)
	}
	if pd := s.PagerDuty; !pd.Enabled() && (present["pagerduty"] || pd != (PagerDuty{DefaultSeverity: pd.DefaultSeverity})) {
		p.add("sources.pagerduty", "has no authentication; set webhook_secret or routing_key"+insecure)
	}
	names := make([]string, 0, len(s.Generic))
	for n := range s.Generic {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !s.Generic[n].Enabled() {
			p.add("sources.generic."+n, "has no authentication; set bearer_token, basic_auth or hmac_secret"+insecure)
		}
	}
	return errors.Join(p...)
}

func (c Config) validateSources(p *problems) {
	for _, ke := range KeyErrors(c.Sources.AuthProblems(nil)) {
		*p = append(*p, ke)
	}
	am := c.Sources.Alertmanager
	if am.Insecure && (am.BearerToken != "" || am.BasicAuth != (BasicAuth{})) {
		p.add("sources.alertmanager.insecure", "is true but authentication is configured too; remove one")
	}
	p.basicAuth("sources.alertmanager.basic_auth", am.BasicAuth)
	gr := c.Sources.Grafana
	if gr.Insecure && (gr.HMACSecret != "" || gr.BearerToken != "" || gr.BasicAuth != (BasicAuth{})) {
		p.add("sources.grafana.insecure", "is true but authentication is configured too; remove one")
	}
	p.basicAuth("sources.grafana.basic_auth", gr.BasicAuth)
	for key, h := range map[string]string{"sources.grafana.signature_header": gr.SignatureHeader, "sources.grafana.timestamp_header": gr.TimestampHeader} {
		if h != "" && !regexp.MustCompile(`^[A-Za-z0-9-]+$`).MatchString(h) {
			p.add(key, "is %q; use an HTTP header name", h)
		}
	}
	pd := c.Sources.PagerDuty
	if pd.Insecure && (pd.WebhookSecret != "" || pd.RoutingKey != "") {
		p.add("sources.pagerduty.insecure", "is true but authentication is configured too; remove one")
	}
	for key, sev := range map[string]string{"sources.alertmanager": am.DefaultSeverity, "sources.grafana": gr.DefaultSeverity, "sources.pagerduty": pd.DefaultSeverity} {
		p.severity(key+".default_severity", sev)
	}
	names := make([]string, 0, len(c.Sources.Generic))
	for n := range c.Sources.Generic {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := c.Sources.Generic[n]
		key := "sources.generic." + n
		p.severity(key+".default_severity", g.DefaultSeverity)
		if !regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`).MatchString(n) {
			p.add(key, "is not a valid source name; use lowercase letters, digits, - and _ (it becomes /hooks/generic/%s)", n)
		}
		if g.Insecure && g.Authenticated() {
			p.add(key+".insecure", "is true but authentication is configured too; remove one")
		}
		if g.SignatureHeader != "" && g.HMACSecret == "" {
			p.add(key+".signature_header", "is set but hmac_secret is empty; set the secret the sender signs with")
		}
		p.basicAuth(key+".basic_auth", g.BasicAuth)
		if !g.Enabled() {
			continue
		}
		validateGeneric(p, key, g)
	}
}

// validateGeneric checks the mapping of generic source key as written. A
// preset fills keys left empty; the presets live beside the generic source
// (incident/source), which checks the merged mapping (source.NewGeneric,
// which Load runs for every generic source as Options.CheckGeneric).
func validateGeneric(p *problems, key string, g GenericSource) {
	if g.Key == "" && g.Preset == "" {
		p.add(key+".key", "is empty; a template giving the alert's dedup key, such as {{ .id }}")
	}
	for field, t := range map[string]string{"key": g.Key, "title": g.Title, "status": g.Status, "severity": g.Severity} {
		if t != "" {
			p.tmpl(key+"."+field, t)
		}
	}
	for l, t := range g.Labels {
		p.tmpl(key+".labels."+l, t)
	}
	for k, v := range g.StatusMap {
		if !ValidMappedStatus(v) {
			p.add(key+".status_map."+k, "is %q; use %s", v, strings.Join(mappedStatuses, ", "))
		}
	}
	if len(g.StatusMap) > 0 && g.Status == "" && g.Preset == "" {
		p.add(key+".status", "is empty but status_map is set; set a template whose text status_map maps, such as {{ .state }}")
	}
	if g.HMACSecret != "" {
		if g.SignatureHeader == "" && g.Preset == "" {
			p.add(key+".signature_header", "is empty; name the header that carries the hex HMAC-SHA256 of the body (Sentry: Sentry-Hook-Signature)")
		} else if g.SignatureHeader != "" && !regexp.MustCompile(`^[A-Za-z0-9-]+$`).MatchString(g.SignatureHeader) {
			p.add(key+".signature_header", "is %q; use an HTTP header name", g.SignatureHeader)
		}
	}
}

func (c Config) validateIncidents(p *problems) {
	in := c.Incidents
	if in.ChannelTemplate == "" {
		p.add("incidents.channel_template", "is empty; use a template such as %s", DefaultChannelTemplate)
	} else {
		p.tmpl("incidents.channel_template", in.ChannelTemplate)
	}
	p.nonNegative("incidents.reopen_within", in.ReopenWithin)
	p.nonNegative("incidents.archive_after", in.ArchiveAfter)
	if in.MaxOpen < 0 {
		p.add("incidents.max_open", "must not be negative (got %d); use 0 to turn the limit off", in.MaxOpen)
	}
	if in.MaxNewPerMinute < 0 {
		p.add("incidents.max_new_per_minute", "must not be negative (got %d); use 0 to turn the limit off", in.MaxNewPerMinute)
	}
}

func (c Config) validateAutomations(p *problems) {
	seen := map[string]int{}
	for i, a := range c.Automations {
		key := fmt.Sprintf("automations[%d]", i)
		if a.Name == "" {
			p.add(key+".name", "is empty; name the rule (it runs as automation:<name>)")
		} else if j, dup := seen[a.Name]; dup {
			p.add(key+".name", "%q is already the name of automations[%d]", a.Name, j)
		} else {
			seen[a.Name] = i
		}
		if len(a.Match) == 0 {
			p.add(key+".match", "is empty; a rule needs at least one matcher such as alertname=\"HighLatency\"")
		}
		for j, m := range a.Match {
			if _, err := labels.ParseMatcher(m); err != nil {
				p.add(fmt.Sprintf("%s.match[%d]", key, j), "is %q, not a matcher: %v", m, err)
			}
		}
		if a.Channel != "" {
			p.tmpl(key+".channel", a.Channel)
		}
		for j, inv := range a.Invite {
			if msg := c.InviteEntry(inv); msg != "" {
				p.add(fmt.Sprintf("%s.invite[%d]", key, j), "%s", msg)
			}
		}
		c.validEscalation(p, key+".escalate", a.Escalate)
		for name, t := range a.Params {
			p.tmpl(key+".params."+name, t)
		}
		p.nonNegative(key+".once_within", a.OnceWithin)
	}
}

func (c Config) validateWatchdog(p *problems) {
	w := c.Watchdog
	for i, m := range w.Match {
		if _, err := labels.ParseMatcher(m); err != nil {
			p.add(fmt.Sprintf("watchdog.match[%d]", i), "is %q, not a matcher: %v", m, err)
		}
	}
	switch name, generic := strings.CutPrefix(w.Source, "generic/"); {
	case w.Source == "", w.Source == "alertmanager", w.Source == "grafana", w.Source == "pagerduty":
	case generic && name != "":
		if _, ok := c.Sources.Generic[name]; !ok {
			p.add("watchdog.source", "is %q, but sources.generic has no %q", w.Source, name)
		}
	default:
		p.add("watchdog.source", "is %q; use alertmanager, grafana, pagerduty, generic/<name>, or leave it empty for any", w.Source)
	}
	p.positive("watchdog.missing_after", w.MissingAfter)
	p.positive("watchdog.chat_unreachable_after", w.ChatUnreachableAfter)
}

// targetName is what a target may be called: it prefixes output lines and
// appears in plans, so it stays short and plain.
var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// labelKey is what a target label's key may be (a selector names it).
var labelKey = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$`)

// labelValue is what a target label's value may be: a selector written
// "k=v,k2=v2" must be able to name it.
var labelValue = regexp.MustCompile(`^[a-zA-Z0-9_.:/-]{1,63}$`)

func (c Config) validateTargets(p *problems) {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := c.Targets[n]
		key := "targets." + n
		if !targetName.MatchString(n) {
			p.add(key, "is not a target name: use lower-case letters, digits, '.', '_' and '-'")
		}
		if t.Address == "" {
			p.add(key+".address", "is empty; set the host name or IP address of the target's sshd")
		} else if strings.ContainsAny(t.Address, " \t@/") {
			p.add(key+".address", "is %q; give a host name or IP address only (the user and port have their own keys)", t.Address)
		}
		if t.Port < 0 || t.Port > 65535 {
			p.add(key+".port", "is %d; a port is 1 to 65535", t.Port)
		}
		if t.User == "" {
			p.add(key+".user", "is empty; set the remote account steps run as")
		}
		if t.Password != "" {
			p.add(key+".password", "passwords are refused; use identity (a private key file) or agent: true")
		}
		switch {
		case t.Identity == "" && !t.Agent:
			p.add(key+".identity", "is empty and agent is false; set identity to a private key file or agent: true")
		case t.Identity != "" && t.Agent:
			p.add(key+".agent", "is true while identity is set; choose one")
		}
		lk := make([]string, 0, len(t.Labels))
		for k := range t.Labels {
			lk = append(lk, k)
		}
		sort.Strings(lk)
		for _, k := range lk {
			if !labelKey.MatchString(k) {
				p.add(key+".labels."+k, "is not a label name: letters, digits, '_', '.' and '-', starting with a letter")
			}
			if !labelValue.MatchString(t.Labels[k]) {
				p.add(key+".labels."+k, "is %q; a label value is 1 to 63 letters, digits or '_.:/-' (no ',' or '=': selectors split on them)", t.Labels[k])
			}
		}
	}
	if len(c.Targets) > 0 && c.SSH.KnownHosts == "" {
		p.add("ssh.known_hosts", "is empty while targets are configured; name the known_hosts file host keys are checked against (fill it with ssh-keyscan after checking each fingerprint)")
	}
	if c.SSH.ConnectTimeout <= 0 {
		p.add("ssh.connect_timeout", "must be positive")
	}
}
