package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
}

func TestDefaultValues(t *testing.T) {
	d := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", d.DataDir, "./tebura-data"},
		{"http.listen", d.HTTP.Listen, "127.0.0.1:8080"},
		{"http.max_body_bytes", d.HTTP.MaxBody, int64(1 << 20)},
		{"runbooks.default_timeout", d.Runbooks.DefaultTimeout, 5 * time.Minute},
		{"runbooks.max_timeout", d.Runbooks.MaxTimeout, time.Hour},
		{"runbooks.max_concurrent", d.Runbooks.MaxConcurrent, 4},
		{"runbooks.log_cap_bytes", d.Runbooks.LogCapBytes, int64(10 << 20)},
		{"runbooks.break_glass", d.Runbooks.BreakGlass, false},
		{"slack.mode", d.Slack.Mode, "socket"},
		{"discord.mode", d.Discord.Mode, "gateway"},
		{"incidents.reopen_within", d.Incidents.ReopenWithin, 30 * time.Minute},
		{"shutdown_grace", d.ShutdownGrace, 30 * time.Second},
		{"slack.enabled", d.Slack.Enabled, false},
		{"sources.alertmanager.default_severity", d.Sources.Alertmanager.DefaultSeverity, "warning"},
		{"sources.grafana.default_severity", d.Sources.Grafana.DefaultSeverity, "warning"},
		{"sources.pagerduty.default_severity", d.Sources.PagerDuty.DefaultSeverity, "warning"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValidateReportsEachProblem(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
		wantMsg string // substring
	}{
		{"empty data dir", func(c *Config) { c.DataDir = " " }, "data_dir", "is empty"},
		{"identity of two people", func(c *Config) {
			c.Access.People = map[string]Person{"alice": {Identities: []string{"slack:U1", "discord:42"}}, "bob": {Identities: []string{"discord:42"}}}
		}, "access.people.bob.identities[0]", "already alice's"},
		{"group as a person's account", func(c *Config) {
			c.Access.People = map[string]Person{"alice": {Identities: []string{"slack-group:S1"}}}
		}, "access.people.alice.identities[0]", "not a person's account"},
		{"negative log_retention", func(c *Config) { c.Runbooks.LogRetention = -time.Hour }, "runbooks.log_retention", "must not be negative"},
		{"negative log_total_bytes", func(c *Config) { c.Runbooks.LogTotalBytes = -1 }, "runbooks.log_total_bytes", "must not be negative"},
		{"watchdog matcher", func(c *Config) { c.Watchdog.Match = []string{`alertname=~"["`} }, "watchdog.match[0]", "not a matcher"},
		{"watchdog source", func(c *Config) { c.Watchdog.Source = "zabbix" }, "watchdog.source", "use alertmanager"},
		{"watchdog generic source", func(c *Config) { c.Watchdog.Source = "generic/nope" }, "watchdog.source", "sources.generic has no"},
		{"watchdog missing_after", func(c *Config) { c.Watchdog.MissingAfter = 0 }, "watchdog.missing_after", "positive"},
		{"chat_unreachable_after", func(c *Config) { c.Watchdog.ChatUnreachableAfter = 0 }, "watchdog.chat_unreachable_after", "positive"},
		{"negative max_open", func(c *Config) { c.Incidents.MaxOpen = -1 }, "incidents.max_open", "must not be negative"},
		{"negative max_new_per_minute", func(c *Config) { c.Incidents.MaxNewPerMinute = -1 }, "incidents.max_new_per_minute", "must not be negative"},
		{"zero shutdown grace", func(c *Config) { c.ShutdownGrace = 0 }, "shutdown_grace", "positive duration"},
		{"zero chat delivery deadline", func(c *Config) { c.Chat.DeliveryDeadline = 0 }, "chat.delivery_deadline", "positive duration"},
		{"listen without port", func(c *Config) { c.HTTP.Listen = "localhost" }, "http.listen", "host:port"},
		{"listen bad port", func(c *Config) { c.HTTP.Listen = "127.0.0.1:http" }, "http.listen", "port"},
		{"listen port too big", func(c *Config) { c.HTTP.Listen = ":70000" }, "http.listen", "port"},
		{"body limit", func(c *Config) { c.HTTP.MaxBody = 0 }, "http.max_body_bytes", "positive"},
		{"tls half", func(c *Config) { c.HTTP.TLSCert = "c.pem" }, "http.tls_cert", "together"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", "debug, info, warn, error"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", "text, json"},
		{"negative timeout", func(c *Config) { c.Runbooks.DefaultTimeout = -time.Second }, "runbooks.default_timeout", "positive"},
		{"default over max", func(c *Config) { c.Runbooks.DefaultTimeout = 2 * time.Hour }, "runbooks.default_timeout", "longer than runbooks.max_timeout"},
		{"max concurrent", func(c *Config) { c.Runbooks.MaxConcurrent = 0 }, "runbooks.max_concurrent", "at least 1"},
		{"log cap", func(c *Config) { c.Runbooks.LogCapBytes = 0 }, "runbooks.log_cap_bytes", "positive"},
		{"kill grace", func(c *Config) { c.Runbooks.KillGrace = 0 }, "runbooks.kill_grace", "positive"},
		{"bad regex", func(c *Config) { c.Redact.Patterns = []string{"ok", "(unclosed"} }, "redact.patterns[1]", "does not compile"},
		{"empty secret", func(c *Config) { c.Redact.Values = []Secret{""} }, "redact.values[0]", "empty"},
		{"bad member", func(c *Config) { c.Access.Roles = map[string]Role{"sre": {Members: []string{"alice"}}} }, "access.roles.sre.members[0]", "kind:id"},
		{"unknown member kind", func(c *Config) { c.Access.Roles = map[string]Role{"sre": {Members: []string{"irc:alice"}}} }, "access.roles.sre.members[0]", "kind:id"},
		{"automation admin", func(c *Config) { c.Access.Admins = []string{"automation:x"} }, "access.admins[0]", "cannot be admins"},
		{"admin unknown role", func(c *Config) { c.Access.Admins = []string{"ops"} }, "access.admins[0]", "not defined"},
		{"command with slash", func(c *Config) { c.Bot.Commands.Runbook = "/runbook" }, "bot.commands.runbook", "without the slash"},
		{"edit budget", func(c *Config) { c.Bot.EditBudget = 0 }, "bot.edit_budget", "positive"},
		{"tail lines", func(c *Config) { c.Bot.TailLines = 0 }, "bot.tail_lines", "at least 1"},
		{"console enabled", func(c *Config) { c.Console.Enabled = "yes" }, "console.enabled", "auto, true, false"},
		{"slack mode", func(c *Config) { c.Slack.Mode = "rtm" }, "slack.mode", "socket, http"},
		{"slack bot token", func(c *Config) { c.Slack.Enabled = true; c.Slack.AppToken = "xapp-1" }, "slack.bot_token", "xoxb-"},
		{"slack user token", func(c *Config) { c.Slack.Enabled = true; c.Slack.BotToken = "xoxp-1"; c.Slack.AppToken = "xapp-1" }, "slack.bot_token", "xoxb-"},
		{"slack app token", func(c *Config) { c.Slack.Enabled = true; c.Slack.BotToken = "xoxb-1" }, "slack.app_token", "xapp-"},
		{"slack signing secret", func(c *Config) { c.Slack.Enabled = true; c.Slack.Mode = "http"; c.Slack.BotToken = "xoxb-1" }, "slack.signing_secret", "must be set"},
		{"slack api url", func(c *Config) {
			c.Slack.Enabled, c.Slack.BotToken, c.Slack.AppToken, c.Slack.APIURL = true, "xoxb-1", "xapp-1", "slack.com"
		}, "slack.api_url", "absolute"},
		{"slack command", func(c *Config) {
			c.Slack.Enabled, c.Slack.BotToken, c.Slack.AppToken, c.Slack.Commands = true, "xoxb-1", "xapp-1", []string{"runbook"}
		}, "slack.commands[0]", "slash command"},
		{"discord mode", func(c *Config) { c.Discord.Mode = "rest" }, "discord.mode", "gateway, http"},
		{"discord token", func(c *Config) { c.Discord.Enabled = true; c.Discord.ApplicationID = "123456789012" }, "discord.bot_token", "must be set"},
		{"discord app id", func(c *Config) { c.Discord.Enabled = true; c.Discord.BotToken = "x" }, "discord.application_id", "numeric"},
		{"discord public key", func(c *Config) {
			c.Discord.Enabled, c.Discord.BotToken, c.Discord.ApplicationID, c.Discord.Mode = true, "x", "123456789012", "http"
		}, "discord.public_key", "64-hex-digit"},
		{"discord guild", func(c *Config) {
			c.Discord.Enabled, c.Discord.BotToken, c.Discord.ApplicationID, c.Discord.GuildIDs = true, "x", "123456789012", []string{"my-guild"}
		}, "discord.guild_ids[0]", "numeric"},
		{"insecure and auth", func(c *Config) { c.Sources.Alertmanager.Insecure = true; c.Sources.Alertmanager.BearerToken = "t" }, "sources.alertmanager.insecure", "remove one"},
		{"basic auth half", func(c *Config) { c.Sources.Alertmanager.BasicAuth.Username = "am" }, "sources.alertmanager.basic_auth", "both"},
		{"grafana basic auth half", func(c *Config) { c.Sources.Grafana.BasicAuth.Password = "pw" }, "sources.grafana.basic_auth", "both"},
		{"grafana insecure and basic auth", func(c *Config) {
			c.Sources.Grafana.Insecure, c.Sources.Grafana.BasicAuth = true, BasicAuth{Username: "g", Password: "pw"}
		}, "sources.grafana.insecure", "remove one"},
		{"generic basic auth half", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {Key: "{{ .id }}", BasicAuth: BasicAuth{Username: "ci"}}}
		}, "sources.generic.ci.basic_auth", "both"},
		{"generic insecure and basic auth", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {Key: "{{ .id }}", Insecure: true, BasicAuth: BasicAuth{Username: "ci", Password: "pw"}}}
		}, "sources.generic.ci.insecure", "remove one"},
		{"generic without key", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {BearerToken: "t", Title: "x"}}
		}, "sources.generic.ci.key", "empty"},
		{"generic bad template", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {Insecure: true, Key: "{{ .id", Title: "x"}}
		}, "sources.generic.ci.key", "template"},
		{"generic bad name", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"My Source": {}}
		}, "sources.generic.My Source", "source name"},
		{"generic without auth", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {Key: "{{ .id }}"}}
		}, "sources.generic.ci", "no authentication; set bearer_token, basic_auth or hmac_secret, or insecure: true"},
		{"generic empty block", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"foo": {}}
		}, "sources.generic.foo", "no authentication"},
		{"generic status_map value", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {BearerToken: "t", Key: "k", Status: "{{ .s }}", StatusMap: map[string]string{"0": "down"}}}
		}, "sources.generic.ci.status_map.0", `is "down"; use firing, resolved, ignored`},
		{"generic status_map without status", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {BearerToken: "t", Key: "k", StatusMap: map[string]string{"0": "firing"}}}
		}, "sources.generic.ci.status", "status_map is set"},
		{"generic hmac without header", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {HMACSecret: "s", Key: "k"}}
		}, "sources.generic.ci.signature_header", "Sentry-Hook-Signature"},
		{"generic bad header", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {HMACSecret: "s", SignatureHeader: "X Sig", Key: "k"}}
		}, "sources.generic.ci.signature_header", "header name"},
		{"generic header without secret", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {BearerToken: "t", SignatureHeader: "X-Sig", Key: "k"}}
		}, "sources.generic.ci.signature_header", "hmac_secret is empty"},
		{"generic insecure and hmac", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {Insecure: true, HMACSecret: "s", SignatureHeader: "X-Sig", Key: "k"}}
		}, "sources.generic.ci.insecure", "remove one"},
		{"generic with a preset, bad status_map value", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"kuma": {BearerToken: "t", Preset: "uptime-kuma", StatusMap: map[string]string{"2": "pending"}}}
		}, "sources.generic.kuma.status_map.2", `is "pending"`},
		{"generic preset, bad override", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"kuma": {BearerToken: "t", Preset: "uptime-kuma", Title: "{{ .monitor.name"}}
		}, "sources.generic.kuma.title", "template"},
		{"alertmanager default severity", func(c *Config) { c.Sources.Alertmanager.DefaultSeverity = "page" },
			"sources.alertmanager.default_severity", `is "page"; use one of critical, error, warning, info`},
		{"grafana default severity", func(c *Config) { c.Sources.Grafana.DefaultSeverity = "Critical" },
			"sources.grafana.default_severity", "use one of critical, error, warning, info"},
		{"pagerduty default severity", func(c *Config) { c.Sources.PagerDuty.DefaultSeverity = "high" },
			"sources.pagerduty.default_severity", "use one of critical, error, warning, info"},
		{"generic default severity", func(c *Config) {
			c.Sources.Generic = map[string]GenericSource{"ci": {BearerToken: "t", Key: "{{ .id }}", DefaultSeverity: "sev1"}}
		}, "sources.generic.ci.default_severity", "use one of critical, error, warning, info"},
		{"grafana header without secret", func(c *Config) { c.Sources.Grafana.SignatureHeader = "X-Sig" },
			"sources.grafana", "no authentication; set hmac_secret, bearer_token or basic_auth, or insecure: true"},
		{"channel template", func(c *Config) { c.Incidents.ChannelTemplate = "inc-{{ .Number" }, "incidents.channel_template", "template"},
		{"reopen negative", func(c *Config) { c.Incidents.ReopenWithin = -time.Minute }, "incidents.reopen_within", "negative"},
		{"target password", func(c *Config) {
			c.Targets = map[string]Target{"a": {Address: "h", User: "u", Agent: true, Password: "x"}}
		}, "targets.a.password", "passwords are refused"},
		{"target no credentials", func(c *Config) { c.Targets = map[string]Target{"a": {Address: "h", User: "u"}} }, "targets.a.identity", "agent: true"},
		{"target both credentials", func(c *Config) {
			c.Targets = map[string]Target{"a": {Address: "h", User: "u", Agent: true, Identity: "k"}}
		}, "targets.a.agent", "choose one"},
		{"target no address", func(c *Config) { c.Targets = map[string]Target{"a": {User: "u", Agent: true}} }, "targets.a.address", "empty"},
		{"target address with user", func(c *Config) { c.Targets = map[string]Target{"a": {Address: "root@h", User: "u", Agent: true}} }, "targets.a.address", "host name or IP address only"},
		{"target no user", func(c *Config) { c.Targets = map[string]Target{"a": {Address: "h", Agent: true}} }, "targets.a.user", "empty"},
		{"target port", func(c *Config) {
			c.Targets = map[string]Target{"a": {Address: "h", User: "u", Agent: true, Port: 70000}}
		}, "targets.a.port", "1 to 65535"},
		{"target name", func(c *Config) { c.Targets = map[string]Target{"A B": {Address: "h", User: "u", Agent: true}} }, "targets.A B", "not a target name"},
		{"target label value", func(c *Config) {
			c.Targets = map[string]Target{"a": {Address: "h", User: "u", Agent: true, Labels: map[string]string{"role": "a,b"}}}
		}, "targets.a.labels.role", "selectors split"},
		{"targets without known_hosts", func(c *Config) { c.Targets = map[string]Target{"a": {Address: "h", User: "u", Agent: true}} }, "ssh.known_hosts", "ssh-keyscan"},
		{"ssh connect timeout", func(c *Config) { c.SSH.ConnectTimeout = 0 }, "ssh.connect_timeout", "positive"},
		{"automation without matchers", func(c *Config) { c.Automations = []Automation{{Name: "a"}} }, "automations[0].match", "at least one matcher"},
		{"automation bad matcher", func(c *Config) { c.Automations = []Automation{{Name: "a", Match: []string{`alertname=~"(x"`}}} }, "automations[0].match[0]", "not a matcher"},
		{"automation no name", func(c *Config) { c.Automations = []Automation{{Match: []string{"a=b"}}} }, "automations[0].name", "empty"},
		{"automation duplicate", func(c *Config) {
			c.Automations = []Automation{{Name: "a", Match: []string{"a=b"}}, {Name: "a", Match: []string{"a=b"}}}
		}, "automations[1].name", "already"},
		{"automation invite role", func(c *Config) {
			c.Automations = []Automation{{Name: "a", Match: []string{"a=b"}, Invite: []string{"oncall"}}}
		}, "automations[0].invite[0]", "not defined"},
		{"automation param template", func(c *Config) {
			c.Automations = []Automation{{Name: "a", Match: []string{"a=b"}, Params: map[string]string{"service": "{{ .Labels.service"}}}
		}, "automations[0].params.service", "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem with %s", tt.wantKey)
			}
			for _, ke := range KeyErrors(err) {
				if ke.Key == tt.wantKey && strings.Contains(ke.Msg, tt.wantMsg) {
					return
				}
			}
			t.Fatalf("Validate() = %v\nwant key %q with %q", err, tt.wantKey, tt.wantMsg)
		})
	}
}

func TestValidateAcceptsGoodSetups(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"slack socket", func(c *Config) { c.Slack.Enabled, c.Slack.BotToken, c.Slack.AppToken = true, "xoxb-1", "xapp-1" }},
		{"slack http", func(c *Config) {
			c.Slack.Enabled, c.Slack.Mode, c.Slack.BotToken, c.Slack.SigningSecret = true, "http", "xoxb-1", "s"
		}},
		{"disabled slack with nothing", func(c *Config) { c.Slack.BotToken = "" }},
		{"discord http", func(c *Config) {
			c.Discord.Enabled, c.Discord.Mode, c.Discord.BotToken, c.Discord.ApplicationID = true, "http", "t", "123456789012345678"
			c.Discord.PublicKey = strings.Repeat("ab", 32)
		}},
		{"roles and admins", func(c *Config) {
			c.Access.Roles = map[string]Role{"sre": {Members: []string{"console:alice", "slack-group:S1", "discord-role:5678"}}}
			c.Access.Admins = []string{"sre", "slack:U1"}
		}},
		{"insecure sources are accepted (validate warns)", func(c *Config) {
			c.Sources.Grafana.Insecure = true
			c.Sources.Generic = map[string]GenericSource{"ci": {Insecure: true, Key: "{{ .id }}"}}
		}},
		{"templates may use functions the executing package adds", func(c *Config) {
			c.Incidents.ChannelTemplate = "inc-{{ .Number }}-{{ .Title | slug }}"
			c.Automations = []Automation{{Name: "a", Match: []string{"a=b"}, Params: map[string]string{"svc": `{{ label "service" }}`}}}
		}},
		{"automation", func(c *Config) {
			c.Access.Roles = map[string]Role{"sre": {}}
			c.Automations = []Automation{{Name: "lat", Match: []string{`alertname="HighLatency"`, `service=~"api|web"`}, Invite: []string{"sre", "slack:U1"}}}
		}},
		{"listen any port", func(c *Config) { c.HTTP.Listen = ":0" }},
		{"targets", func(c *Config) {
			c.SSH.KnownHosts = "/etc/tebura/known_hosts"
			c.Targets = map[string]Target{
				"api-1": {Address: "10.0.0.1", User: "ops", Identity: "/etc/tebura/id_ed25519", Labels: map[string]string{"role": "api", "env": "prod"}},
				"api-2": {Address: "api-2.internal", Port: 2222, User: "ops", Agent: true},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateReportsAllProblemsAtOnce(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	c.HTTP.Listen = "nope"
	c.Runbooks.MaxConcurrent = 0
	errs := KeyErrors(c.Validate())
	if len(errs) != 3 {
		t.Fatalf("got %d problems (%v), want 3", len(errs), errs)
	}
	keys := []string{errs[0].Key, errs[1].Key, errs[2].Key}
	want := []string{"http.listen", "log.level", "runbooks.max_concurrent"}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys = %v, want %v (sorted)", keys, want)
		}
	}
}

func TestSourceEnabled(t *testing.T) {
	if (Alertmanager{}).Enabled() || (Grafana{}).Enabled() || (PagerDuty{}).Enabled() || (GenericSource{}).Enabled() {
		t.Fatal("a source with no auth and not insecure must be disabled")
	}
	if !(Alertmanager{Insecure: true}).Enabled() || !(Alertmanager{BearerToken: "t"}).Enabled() ||
		!(Grafana{HMACSecret: "s"}).Enabled() || !(PagerDuty{WebhookSecret: "s"}).Enabled() || !(GenericSource{BearerToken: "t"}).Enabled() {
		t.Fatal("a source with auth or insecure: true must be enabled")
	}
	basic := BasicAuth{Username: "u", Password: "p"}
	if !(Grafana{BasicAuth: basic}).Enabled() || !(GenericSource{BasicAuth: basic}).Enabled() {
		t.Fatal("basic auth alone must enable Grafana and generic sources")
	}
}

func TestSecretRedacts(t *testing.T) {
	s := Secret("xoxb-123")
	if s.String() != "[redacted]" {
		t.Fatalf("String() = %q", s.String())
	}
	b, _ := s.MarshalText()
	if string(b) != "[redacted]" || s.Value() != "xoxb-123" {
		t.Fatalf("MarshalText() = %q, Value() = %q", b, s.Value())
	}
	if Secret("").String() != "" {
		t.Fatal("empty secret should print empty")
	}
}

func TestKeyErrorsKeepsForeignErrors(t *testing.T) {
	got := KeyErrors(errors.Join(&KeyError{Key: "a", Msg: "x"}, errors.New("plain")))
	if len(got) != 2 || got[0].Key != "a" || got[1].Msg != "plain" {
		t.Fatalf("KeyErrors = %v", got)
	}
}

// TestGenericPresetKeysLeftToTheSource: with a preset, key, status and
// signature_header may be empty here (the preset, in incident/source,
// fills them; the loader checks the merged mapping there).
func TestGenericPresetKeysLeftToTheSource(t *testing.T) {
	c := Default()
	c.Sources.Generic = map[string]GenericSource{
		"kuma":   {Preset: "uptime-kuma", BearerToken: "t", StatusMap: map[string]string{"2": "ignored"}},
		"sentry": {Preset: "sentry", HMACSecret: "s"},
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if !(GenericSource{HMACSecret: "s"}).Authenticated() || (GenericSource{Insecure: true}).Authenticated() {
		t.Error("Authenticated: an HMAC secret authenticates, insecure does not")
	}
}
