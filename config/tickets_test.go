package config

import (
	"strings"
	"testing"
)

func jiraOK() Jira {
	j := Default().Tickets.Jira
	j.URL, j.Email, j.APIToken, j.Project = "https://example.atlassian.net", "bot@example.com", "tok", "OPS"
	return j
}

func snowOK() ServiceNow {
	s := Default().Tickets.ServiceNow
	s.URL, s.Username, s.Password = "https://example.service-now.com", "tebura", "pw"
	return s
}

// TestValidateTickets: each bad tickets or bridge setting is named with a
// sentence saying what to set; good setups pass.
func TestValidateTickets(t *testing.T) {
	for _, c := range []struct {
		name    string
		mutate  func(*Config)
		wantKey string
		wantMsg string // "" = no problem
	}{
		{"off", func(*Config) {}, "", ""},
		{"jira", func(c *Config) { c.Tickets.Jira = jiraOK() }, "", ""},
		{"servicenow basic", func(c *Config) { c.Tickets.ServiceNow = snowOK() }, "", ""},
		{"servicenow token", func(c *Config) {
			c.Tickets.ServiceNow = snowOK()
			c.Tickets.ServiceNow.Username, c.Tickets.ServiceNow.Password, c.Tickets.ServiceNow.Token = "", "", "oauth"
		}, "", ""},
		{"jira through a local proxy", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.Jira.URL = "http://127.0.0.1:8081" }, "", ""},
		{"bridge fixed", func(c *Config) { c.Incidents.BridgeURL = "https://zoom.us/j/123" }, "", ""},
		{"bridge jitsi", func(c *Config) { c.Incidents.BridgeURL = "https://meet.jit.si/inc-{{ .Number }}-{{ .Slug }}" }, "", ""},

		{"both", func(c *Config) { c.Tickets.Jira, c.Tickets.ServiceNow = jiraOK(), snowOK() }, "tickets", "choose one"},
		{"jira http", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.Jira.URL = "http://jira.example.com" }, "tickets.jira.url", "use https"},
		{"jira no token", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.Jira.APIToken = "" }, "tickets.jira", "api_token"},
		{"jira no project", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.Jira.Project = "" }, "tickets.jira.project", "such as OPS"},
		{"jira label space", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.Jira.Labels = []string{"on call"} }, "tickets.jira.labels[0]", "no spaces"},
		{"jira priority severity", func(c *Config) {
			c.Tickets.Jira = jiraOK()
			c.Tickets.Jira.Priorities = map[string]string{"sev1": "Highest"}
		}, "tickets.jira.priorities.sev1", "use one of"},
		{"jira no transition", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.Jira.ResolveTransition = "" }, "tickets.jira.resolve_transition", "Done"},
		{"retry order", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.RetryMin = c.Tickets.RetryMax * 2 }, "tickets.retry_min", "longer than"},
		{"timeout", func(c *Config) { c.Tickets.Jira = jiraOK(); c.Tickets.Timeout = 0 }, "tickets.timeout", "positive"},
		{"servicenow both logins", func(c *Config) { c.Tickets.ServiceNow = snowOK(); c.Tickets.ServiceNow.Token = "t" }, "tickets.servicenow", "choose one"},
		{"servicenow no login", func(c *Config) {
			c.Tickets.ServiceNow = snowOK()
			c.Tickets.ServiceNow.Username, c.Tickets.ServiceNow.Password = "", ""
		}, "tickets.servicenow", "needs username and password, or token"},
		{"servicenow half login", func(c *Config) { c.Tickets.ServiceNow = snowOK(); c.Tickets.ServiceNow.Password = "" }, "tickets.servicenow", "both"},
		{"servicenow level", func(c *Config) {
			c.Tickets.ServiceNow = snowOK()
			c.Tickets.ServiceNow.Levels = map[string]int{"critical": 0}
		}, "tickets.servicenow.levels.critical", "1 (high)"},
		{"servicenow close code", func(c *Config) { c.Tickets.ServiceNow = snowOK(); c.Tickets.ServiceNow.CloseCode = "" }, "tickets.servicenow.close_code", "Solution provided"},
		{"bridge http", func(c *Config) { c.Incidents.BridgeURL = "http://meet.example/{{ .Slug }}" }, "incidents.bridge_url", "https://"},
		{"bridge templated host", func(c *Config) { c.Incidents.BridgeURL = "https://{{ .Labels.team }}.zoom.us/j/1" }, "incidents.bridge_url", "host literally"},
		{"bridge syntax", func(c *Config) { c.Incidents.BridgeURL = "https://meet.example/{{ .Slug" }, "incidents.bridge_url", "not a valid template"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.mutate(&cfg)
			err := cfg.Validate()
			if c.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			for _, ke := range KeyErrors(err) {
				if ke.Key == c.wantKey && strings.Contains(ke.Msg, c.wantMsg) {
					return
				}
			}
			t.Fatalf("Validate() = %v\nwant key %q with %q", err, c.wantKey, c.wantMsg)
		})
	}
}

// TestTicketSecretsMasked: the ticketing credentials are among the
// secrets masked everywhere.
func TestTicketSecretsMasked(t *testing.T) {
	c := Default()
	c.Tickets.Jira.APIToken, c.Tickets.ServiceNow.Password, c.Tickets.ServiceNow.Token = "jira-tok", "sn-pw", "sn-tok"
	got := strings.Join(c.Secrets(), ",")
	for _, s := range []string{"jira-tok", "sn-pw", "sn-tok"} {
		if !strings.Contains(got, s) {
			t.Errorf("Secrets() = %q, lacks %s", got, s)
		}
	}
}
