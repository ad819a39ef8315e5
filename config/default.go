package config

import "time"

// Default values that other packages may want to name.
const (
	DefaultDataDir         = "./tebura-data"
	DefaultListen          = "127.0.0.1:8080"
	DefaultChannelTemplate = "inc-{{ .Number }}-{{ .Slug }}"
	DefaultSlackAPIURL     = "https://slack.com/api/"
	// DefaultMaxOpen: more open incidents than this is a storm, not
	// incidents people can work one by one (and Discord allows 500
	// channels per server).
	DefaultMaxOpen = 50
	// DefaultMaxNewPerMinute is Slack's rate for conversations.create
	// (Tier 2, 20 per minute): https://docs.slack.dev/reference/methods/conversations.create/
	DefaultMaxNewPerMinute = 20
)

// Default returns the configuration Tebura runs with when a key is not set.
// Every default is safe: the listener binds to loopback, no chat platform and
// no webhook source is enabled, and every run has a timeout.
func Default() Config {
	return Config{
		DataDir:       DefaultDataDir,
		ShutdownGrace: 30 * time.Second,
		HTTP: HTTP{
			Listen:  DefaultListen,
			MaxBody: 1 << 20,
		},
		Log: Log{Level: "info", Format: "text"},
		Runbooks: Runbooks{
			Dirs:           []string{"runbooks"},
			DefaultTimeout: 5 * time.Minute,
			MaxTimeout:     time.Hour,
			MaxConcurrent:  4,
			LogCapBytes:    10 << 20,
			KillGrace:      5 * time.Second,
			BreakGlass:     false,
			LogRetention:   30 * 24 * time.Hour,
			LogTotalBytes:  1 << 30,
		},
		Access: Access{Roles: map[string]Role{}},
		Bot: Bot{
			Commands:       BotCommands{Runbook: "runbook", Incident: "incident", Tebura: "tebura"},
			StreamInterval: 1500 * time.Millisecond,
			EditBudget:     5,
			TailLines:      40,
		},
		Chat:    Chat{DeliveryDeadline: time.Hour},
		Console: Console{Enabled: "auto", Channel: "console"},
		Slack: Slack{
			Mode:           "socket",
			APIURL:         DefaultSlackAPIURL,
			Commands:       []string{"/runbook", "/incident", "/tebura"},
			StreamInterval: 1500 * time.Millisecond,
			GroupCacheTTL:  5 * time.Minute,
		},
		Discord: Discord{
			Mode:           "gateway",
			StreamInterval: 1500 * time.Millisecond,
		},
		Sources: Sources{
			Alertmanager: Alertmanager{DefaultSeverity: DefaultSeverity},
			Grafana:      Grafana{DefaultSeverity: DefaultSeverity},
			PagerDuty:    PagerDuty{DefaultSeverity: DefaultSeverity},
			Generic:      map[string]GenericSource{},
		},
		Incidents: Incidents{
			ChannelTemplate: DefaultChannelTemplate,
			AutoResolve:     true,
			ReopenWithin:    30 * time.Minute,
			MaxOpen:         DefaultMaxOpen,
			MaxNewPerMinute: DefaultMaxNewPerMinute,
		},
		Watchdog: Watchdog{MissingAfter: 10 * time.Minute, ChatUnreachableAfter: 2 * time.Minute},
		Hints: Hints{Similar: DefaultHintsSimilar, ChangesWindow: DefaultHintsChangesWindow,
			Changes: ChangesHook{Retention: DefaultChangesRetention}},
		SSH:     SSH{ConnectTimeout: 10 * time.Second},
		OnCall:  defaultOnCall(),
		Tickets: defaultTickets(),
		Store:   defaultStore(),
		Replica: Replica{LeaseDuration: 3 * time.Second, RenewInterval: time.Second},
		Web:     Web{SessionTTL: DefaultSessionTTL, OIDC: OIDC{IdentityClaim: "email"}},
	}
}
