// Package config is Tebura's typed configuration: the struct every key of
// the YAML file lands in, its defaults, Validate, which reports every
// problem at once, and Load, which reads the file (yaml.v3, with line
// numbers), applies the TEBURA_* environment overrides (viper), refuses
// unknown keys and places every problem at the line that set its key, as
// Alertmanager's config.LoadFile does: main only calls it.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. mapstructure tags are the YAML keys.
type Config struct {
	DataDir       string            `mapstructure:"data_dir"`
	ShutdownGrace time.Duration     `mapstructure:"shutdown_grace"`
	HTTP          HTTP              `mapstructure:"http"`
	Log           Log               `mapstructure:"log"`
	Runbooks      Runbooks          `mapstructure:"runbooks"`
	Redact        Redact            `mapstructure:"redact"`
	Sealing       Sealing           `mapstructure:"secrets"`
	Access        Access            `mapstructure:"access"`
	Bot           Bot               `mapstructure:"bot"`
	Chat          Chat              `mapstructure:"chat"`
	Console       Console           `mapstructure:"console"`
	Slack         Slack             `mapstructure:"slack"`
	Discord       Discord           `mapstructure:"discord"`
	Sources       Sources           `mapstructure:"sources"`
	Incidents     Incidents         `mapstructure:"incidents"`
	Automations   []Automation      `mapstructure:"automations"`
	Watchdog      Watchdog          `mapstructure:"watchdog"`
	Targets       map[string]Target `mapstructure:"targets"`
	SSH           SSH               `mapstructure:"ssh"`
	Replica       Replica           `mapstructure:"replica"`
	Web           Web               `mapstructure:"web"`
	API           API               `mapstructure:"api"`
	Hints         Hints             `mapstructure:"hints"`
	OnCall        OnCall            `mapstructure:"oncall"`
	Tickets       Tickets           `mapstructure:"tickets"`
	Store         Store             `mapstructure:"store"`
	Kubernetes    Kubernetes        `mapstructure:"kubernetes"`
}

// Target is one host that ssh steps may reach. Runbooks never name a host:
// they select targets by labels, so the inventory here is the whole set of
// machines a runbook can touch.
type Target struct {
	// Address is the host name or IP address sshd listens on.
	Address string `mapstructure:"address"`
	// Port is sshd's port.
	Port int `mapstructure:"port"`
	// User is the remote account steps run as.
	User string `mapstructure:"user"`
	// Labels are what runbook selectors match (role=api, env=prod).
	Labels map[string]string `mapstructure:"labels"`
	// Identity is the path of a private key file (not named *_file: the
	// loader reads X_file as the contents of secret X).
	Identity string `mapstructure:"identity"`
	// Agent authenticates through the SSH agent at $SSH_AUTH_SOCK instead
	// of a key file.
	Agent bool `mapstructure:"agent"`
	// Password is refused: it is here only so that a configuration naming
	// one gets a clear message rather than "unknown key".
	Password string `mapstructure:"password"`
}

// DefaultSSHPort is a target's port when none is set.
const DefaultSSHPort = 22

// HostPort is the target's "address:port", with the default port when
// none is set.
func (t Target) HostPort() string {
	port := t.Port
	if port == 0 {
		port = DefaultSSHPort
	}
	return net.JoinHostPort(t.Address, strconv.Itoa(port))
}

// SSH holds what every ssh connection shares.
type SSH struct {
	// KnownHosts is the path of the known_hosts file host keys are checked
	// against; required when targets exist (no key is ever accepted
	// unchecked).
	KnownHosts string `mapstructure:"known_hosts"`
	// ConnectTimeout bounds dialling and the SSH handshake of one target.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
}

// Watchdog watches Tebura's own inputs: an always-firing alert (such as
// Alertmanager's Watchdog) that stops arriving means alerts no longer
// reach Tebura, and a chat platform that stops answering means nobody
// hears about them.
type Watchdog struct {
	// Source is the source the watchdog alert comes from ("alertmanager",
	// "grafana", "pagerduty", "generic/<name>"); empty: any.
	Source string `mapstructure:"source"`
	// Match are matchers (Alertmanager syntax) that pick the watchdog
	// alert; empty: no watchdog alert is watched. Matching alerts never
	// open an incident.
	Match []string `mapstructure:"match"`
	// MissingAfter is how long the watchdog alert may stay away before it
	// is announced as missing.
	MissingAfter time.Duration `mapstructure:"missing_after"`
	// ChatUnreachableAfter is how long a chat platform's API may fail
	// before it counts as unreachable (metric and log line).
	ChatUnreachableAfter time.Duration `mapstructure:"chat_unreachable_after"`
}

// HTTP is the one listener.
type HTTP struct {
	Listen  string `mapstructure:"listen"`
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
	MaxBody int64  `mapstructure:"max_body_bytes"`
}

// Log configures slog.
type Log struct {
	Level  string `mapstructure:"level"`  // debug | info | warn | error
	Format string `mapstructure:"format"` // text | json
}

// Runbooks says where runbooks come from and how the engine runs them.
type Runbooks struct {
	Dirs           []string         `mapstructure:"dirs"`
	Inline         []map[string]any `mapstructure:"inline"`
	DefaultTimeout time.Duration    `mapstructure:"default_timeout"`
	MaxTimeout     time.Duration    `mapstructure:"max_timeout"`
	MaxConcurrent  int              `mapstructure:"max_concurrent"`
	LogCapBytes    int64            `mapstructure:"log_cap_bytes"`
	KillGrace      time.Duration    `mapstructure:"kill_grace"`
	// BreakGlass lets an approver or admin run an approval-gated runbook
	// alone with `tebura run --break-glass`. Off by default: the CLI
	// identity is the OS user, which nothing authenticates.
	BreakGlass bool `mapstructure:"break_glass"`
	// LogRetention and LogTotalBytes bound the run logs kept under the
	// data dir (by age, then oldest first by total size); 0 turns a bound
	// off. The log of a running run is never pruned.
	LogRetention  time.Duration `mapstructure:"log_retention"`
	LogTotalBytes int64         `mapstructure:"log_total_bytes"`
}

// Redact lists what is masked everywhere besides secret params.
type Redact struct {
	Patterns []string `mapstructure:"patterns"` // regular expressions
	Values   []Secret `mapstructure:"values"`   // literal secret values
}

// Sealing (the secrets section) says how the secret params of runs waiting for approval are
// kept: sealed in the store with Key (XChaCha20-Poly1305), so that an
// approval survives a restart, or, without a key, in memory only.
type Sealing struct {
	// Key is 32 bytes written as 64 hex digits or as base64 (standard or
	// URL alphabet, padded or not); usually given as key_file or ${ENV}.
	Key Secret `mapstructure:"key"`
}

// KeyBytes decodes Key: nil when none is set, an error saying what is
// wrong when it is not 32 bytes in hex or base64.
func (s Sealing) KeyBytes() ([]byte, error) {
	k := strings.TrimSpace(s.Key.Value())
	if k == "" {
		return nil, nil
	}
	if len(k) == 2*secretsKeySize {
		if b, err := hex.DecodeString(k); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(k); err == nil {
			if len(b) != secretsKeySize {
				return nil, fmt.Errorf("decodes to %d bytes; it must be %d (make one with `openssl rand -hex 32`)", len(b), secretsKeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("is neither 64 hex digits nor base64 of %d bytes (make one with `openssl rand -hex 32`)", secretsKeySize)
}

// secretsKeySize is the XChaCha20-Poly1305 key size.
const secretsKeySize = 32

// Access maps roles to members.
type Access struct {
	Roles  map[string]Role `mapstructure:"roles"`
	Admins []string        `mapstructure:"admins"` // identities or role names
	// People links the accounts of one person (person name → identities)
	// so that four-eyes and quorum count people, not accounts. Optional.
	People map[string]Person `mapstructure:"people"`
}

// Person lists one person's identities on every platform ("slack:U1",
// "discord:42", "console:alice"); each identity belongs to one person.
type Person struct {
	Identities []string `mapstructure:"identities"`
}

// PeopleMap returns access.people as person name → identities, the shape
// access.Policy.WithPeople takes.
func (a Access) PeopleMap() map[string][]string {
	out := make(map[string][]string, len(a.People))
	for name, p := range a.People {
		out[name] = p.Identities
	}
	return out
}

// Role is a named list of members: identities such as "console:alice",
// "slack:U123", "slack-group:S123", "discord:1234", "discord-role:5678".
type Role struct {
	Members []string `mapstructure:"members"`
}

// Bot holds platform-neutral chat behaviour.
type Bot struct {
	// Commands maps the neutral command roots to the names people type.
	Commands       BotCommands   `mapstructure:"commands"`
	StreamInterval time.Duration `mapstructure:"stream_interval"` // min time between edits of one message
	EditBudget     float64       `mapstructure:"edit_budget"`     // edits per second shared by all messages of a platform
	TailLines      int           `mapstructure:"tail_lines"`
}

// Chat is how messages reach the chat platforms (Slack, Discord) when
// their API is down.
type Chat struct {
	// DeliveryDeadline is how long a message the platform has not accepted
	// (a run's message, a card, a reply) is kept and retried, across
	// restarts, before it is dropped with a log line and a metric.
	DeliveryDeadline time.Duration `mapstructure:"delivery_deadline"`
}

// BotCommands are the command root names (without the slash).
type BotCommands struct {
	Runbook  string `mapstructure:"runbook"`
	Incident string `mapstructure:"incident"`
	Tebura   string `mapstructure:"tebura"`
}

// Console configures the terminal adapter.
type Console struct {
	// Enabled: "auto" (on when no chat platform is enabled), "true", "false".
	Enabled string `mapstructure:"enabled"`
	User    string `mapstructure:"user"`    // default acting identity, default $USER
	Channel string `mapstructure:"channel"` // the console's one channel name
}

// Slack configures the Slack adapter.
type Slack struct {
	Enabled        bool          `mapstructure:"enabled"`
	Mode           string        `mapstructure:"mode"` // socket | http
	BotToken       Secret        `mapstructure:"bot_token"`
	AppToken       Secret        `mapstructure:"app_token"`
	SigningSecret  Secret        `mapstructure:"signing_secret"`
	APIURL         string        `mapstructure:"api_url"`
	Commands       []string      `mapstructure:"commands"` // slash command names, default /runbook /incident /tebura
	Channels       SlackChannels `mapstructure:"channels"`
	StreamInterval time.Duration `mapstructure:"stream_interval"`
	Threads        bool          `mapstructure:"threads"`
	GroupCacheTTL  time.Duration `mapstructure:"group_cache_ttl"`
}

// SlackChannels are channel settings.
type SlackChannels struct {
	Incidents string `mapstructure:"incidents"` // announcement channel ID
	Private   bool   `mapstructure:"private"`   // create incident channels private
}

// Discord configures the Discord adapter.
type Discord struct {
	Enabled          bool            `mapstructure:"enabled"`
	Mode             string          `mapstructure:"mode"` // gateway | http
	BotToken         Secret          `mapstructure:"bot_token"`
	ApplicationID    string          `mapstructure:"application_id"`
	PublicKey        string          `mapstructure:"public_key"` // hex Ed25519 public key
	GuildIDs         []string        `mapstructure:"guild_ids"`
	APIURL           string          `mapstructure:"api_url"`
	GatewayURL       string          `mapstructure:"gateway_url"`
	IncidentCategory string          `mapstructure:"incident_category_id"`
	ArchiveCategory  string          `mapstructure:"archive_category_id"`
	Channels         DiscordChannels `mapstructure:"channels"`
	StreamInterval   time.Duration   `mapstructure:"stream_interval"`
}

// DiscordChannels are channel settings.
type DiscordChannels struct {
	Incidents string `mapstructure:"incidents"` // announcement channel ID
}

// Severities returns the incident severities Tebura knows, most severe
// first: the PagerDuty Events API's set
// (https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/02-Trigger-Events.md),
// which Prometheus alerting rules conventionally use too. A source that
// sends another value (Alertmanager sends whatever the severity label
// holds, such as "page") gets its default_severity instead, noted on the
// incident's timeline; the alert's labels keep the value as sent.
func Severities() []string { return []string{"critical", "error", "warning", "info"} }

// KnownSeverity reports whether s is one of Severities.
func KnownSeverity(s string) bool { return slices.Contains(Severities(), s) }

// DefaultSeverity is sources.<source>.default_severity when it is not set.
const DefaultSeverity = "warning"

// Sources configures the alert webhooks.
type Sources struct {
	Alertmanager Alertmanager             `mapstructure:"alertmanager"`
	Grafana      Grafana                  `mapstructure:"grafana"`
	PagerDuty    PagerDuty                `mapstructure:"pagerduty"`
	Generic      map[string]GenericSource `mapstructure:"generic"`
}

// BasicAuth is a username and password.
type BasicAuth struct {
	Username string `mapstructure:"username"`
	Password Secret `mapstructure:"password"`
}

// Alertmanager is the Alertmanager webhook source.
type Alertmanager struct {
	BearerToken Secret    `mapstructure:"bearer_token"`
	BasicAuth   BasicAuth `mapstructure:"basic_auth"`
	Insecure    bool      `mapstructure:"insecure"`
	// DefaultSeverity is the severity an incident gets when the source
	// sends one outside Severities; empty means DefaultSeverity.
	DefaultSeverity string `mapstructure:"default_severity"`
}

// Grafana is the Grafana webhook source.
type Grafana struct {
	HMACSecret      Secret `mapstructure:"hmac_secret"`
	SignatureHeader string `mapstructure:"signature_header"`
	TimestampHeader string `mapstructure:"timestamp_header"`
	BearerToken     Secret `mapstructure:"bearer_token"`
	Insecure        bool   `mapstructure:"insecure"`

	// BasicAuth is what a contact point's "HTTP Basic Authentication"
	// fields send; Grafana sends it or an Authorization header, not both.
	BasicAuth BasicAuth `mapstructure:"basic_auth"`
	// DefaultSeverity: see Alertmanager.DefaultSeverity.
	DefaultSeverity string `mapstructure:"default_severity"`
}

// PagerDuty is the PagerDuty webhook source.
type PagerDuty struct {
	WebhookSecret Secret `mapstructure:"webhook_secret"`
	// RoutingKey, when set, authenticates Events API v2 bodies by their
	// routing_key and Events API v1 bodies by their service_key.
	RoutingKey Secret `mapstructure:"routing_key"`
	Insecure   bool   `mapstructure:"insecure"`
	// DefaultSeverity: see Alertmanager.DefaultSeverity.
	DefaultSeverity string `mapstructure:"default_severity"`
}

// GenericSource maps any JSON to an alert with templates. Preset fills the
// mapping keys (key, title, status, status_map, severity, labels,
// signature_header) left empty with those of a shipped preset
// (incident/source GenericPresets), so pointing a known tool at Tebura
// takes one line.
type GenericSource struct {
	Preset      string `mapstructure:"preset"`
	BearerToken Secret `mapstructure:"bearer_token"`
	// HMACSecret authenticates senders that sign instead of sending a
	// token (Sentry): SignatureHeader carries the hex HMAC-SHA256 of the
	// raw body.
	HMACSecret      Secret            `mapstructure:"hmac_secret"`
	SignatureHeader string            `mapstructure:"signature_header"`
	Key             string            `mapstructure:"key"`
	Title           string            `mapstructure:"title"`
	Status          string            `mapstructure:"status"`
	Severity        string            `mapstructure:"severity"`
	Labels          map[string]string `mapstructure:"labels"`
	// StatusMap maps the rendered status text to firing, resolved or
	// ignored, before the built-in words; the key "*" matches any other
	// text. Senders report state in their own words (0/1, "Re-Triggered").
	StatusMap map[string]string `mapstructure:"status_map"`
	Insecure  bool              `mapstructure:"insecure"`

	// BasicAuth, for tools that can send basic auth but no bearer header.
	BasicAuth BasicAuth `mapstructure:"basic_auth"`
	// DefaultSeverity: see Alertmanager.DefaultSeverity.
	DefaultSeverity string `mapstructure:"default_severity"`
}

// Incidents configures incident handling.
type Incidents struct {
	ChannelTemplate string        `mapstructure:"channel_template"`
	AnnounceChannel string        `mapstructure:"announce_channel"`
	AutoResolve     bool          `mapstructure:"auto_resolve"`
	ReopenWithin    time.Duration `mapstructure:"reopen_within"`
	ArchiveAfter    time.Duration `mapstructure:"archive_after"`
	// MaxOpen and MaxNewPerMinute bound what an alert storm opens: a new
	// alert group beyond either joins the one overflow incident instead of
	// opening its own channel. 0 turns a limit off.
	MaxOpen         int `mapstructure:"max_open"`
	MaxNewPerMinute int `mapstructure:"max_new_per_minute"`
	// BridgeURL is the call bridge's address, a template over the incident
	// (see config/tickets.go): shown on the card and the announcement.
	BridgeURL string `mapstructure:"bridge_url"`
}

// Automation is one rule matched against alert labels.
type Automation struct {
	Name        string            `mapstructure:"name"`
	Match       []string          `mapstructure:"match"` // Alertmanager matcher syntax
	Channel     string            `mapstructure:"channel"`
	Invite      []string          `mapstructure:"invite"`
	Diagnostics []string          `mapstructure:"diagnostics"`
	Suggest     []string          `mapstructure:"suggest"`
	Params      map[string]string `mapstructure:"params"` // templates over labels/annotations
	OnceWithin  time.Duration     `mapstructure:"once_within"`
	Severity    string            `mapstructure:"severity"`
	Continue    bool              `mapstructure:"continue"`
	Escalate    Escalation        `mapstructure:"escalate"`
}
