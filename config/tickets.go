package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Tickets opens a ticket in the team's ticketing system for every incident,
// comments the postmortem on it and resolves it when the incident resolves.
// At most one system is configured: Jira (tickets.jira.url set) or
// ServiceNow (tickets.servicenow.url set). Nothing set: no tickets.
type Tickets struct {
	// RetryMax caps the wait between two attempts while the ticketing
	// system is down: the wait doubles from RetryMin up to it (a 429's
	// Retry-After is always honoured, even when longer).
	RetryMin time.Duration `mapstructure:"retry_min"`
	RetryMax time.Duration `mapstructure:"retry_max"`
	// Timeout bounds one request to the ticketing system.
	Timeout    time.Duration `mapstructure:"timeout"`
	Jira       Jira          `mapstructure:"jira"`
	ServiceNow ServiceNow    `mapstructure:"servicenow"`
}

// Jira is a Jira Cloud site reached with its REST API v3 and an API token
// (basic auth: the account's email and the token).
type Jira struct {
	// URL is the site, such as https://example.atlassian.net.
	URL      string `mapstructure:"url"`
	Email    string `mapstructure:"email"`
	APIToken Secret `mapstructure:"api_token"`
	// Project is the key of the project issues are created in ("OPS").
	Project   string   `mapstructure:"project"`
	IssueType string   `mapstructure:"issue_type"`
	Labels    []string `mapstructure:"labels"`
	// Priorities maps an incident severity to a Jira priority name; a
	// severity not in it leaves the project's default priority.
	Priorities map[string]string `mapstructure:"priorities"`
	// ResolveTransition names the transition done when the incident
	// resolves: the transition's own name or the name of the status it
	// leads to ("Done").
	ResolveTransition string `mapstructure:"resolve_transition"`
}

// Enabled reports whether Jira tickets are configured.
func (j Jira) Enabled() bool { return j.URL != "" }

// ServiceNow is a ServiceNow instance reached with its Table API (table
// incident), by basic auth or an OAuth bearer token.
type ServiceNow struct {
	// URL is the instance, such as https://example.service-now.com.
	URL      string `mapstructure:"url"`
	Username string `mapstructure:"username"`
	Password Secret `mapstructure:"password"`
	// Token is an OAuth access token, sent as a bearer token instead of
	// username and password.
	Token           Secret `mapstructure:"token"`
	AssignmentGroup string `mapstructure:"assignment_group"`
	// Levels maps an incident severity to the record's impact and urgency
	// (1 high, 2 medium, 3 low); ServiceNow derives the priority.
	Levels map[string]int `mapstructure:"levels"`
	// CloseCode is the resolution code set on resolve (a choice of the
	// incident's close_code field).
	CloseCode string `mapstructure:"close_code"`
}

// Enabled reports whether ServiceNow tickets are configured.
func (s ServiceNow) Enabled() bool { return s.URL != "" }

func defaultTickets() Tickets {
	return Tickets{
		RetryMin: 5 * time.Second,
		RetryMax: 5 * time.Minute,
		Timeout:  10 * time.Second,
		Jira: Jira{
			IssueType:         "Task",
			Priorities:        map[string]string{"critical": "Highest", "error": "High", "warning": "Medium", "info": "Low"},
			ResolveTransition: "Done",
		},
		ServiceNow: ServiceNow{
			Levels:    map[string]int{"critical": 1, "error": 2, "warning": 2, "info": 3},
			CloseCode: "Solution provided",
		},
	}
}

func (t Tickets) secrets() []Secret {
	return []Secret{t.Jira.APIToken, t.ServiceNow.Password, t.ServiceNow.Token}
}

// BridgeHost checks incidents.bridge_url and returns the host every URL it
// renders must have. The scheme and host are written literally, before
// any {{ }}: an alert's labels may fill the path (a room name), never
// choose the site responders are sent to.
func BridgeHost(text string) (string, error) {
	text = strings.TrimSpace(text)
	lit, _, templated := strings.Cut(text, "{{")
	rest, ok := strings.CutPrefix(lit, "https://")
	if !ok {
		return "", errors.New("must start with https:// (the call bridge is an https URL)")
	}
	if templated && !strings.ContainsAny(rest, "/?#") {
		return "", errors.New("must write the host literally before any {{ }}, such as https://meet.jit.si/{{ .Slug }}")
	}
	u, err := url.Parse(lit)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("does not start with an https URL with a host (%q)", lit)
	}
	return u.Host, nil
}

func (c Config) validateTickets(p *problems) {
	if b := c.Incidents.BridgeURL; b != "" {
		p.tmpl("incidents.bridge_url", b)
		if _, err := BridgeHost(b); err != nil {
			p.add("incidents.bridge_url", "%v", err)
		}
	}
	t := c.Tickets
	if !t.Jira.Enabled() && !t.ServiceNow.Enabled() {
		return
	}
	if t.Jira.Enabled() && t.ServiceNow.Enabled() {
		p.add("tickets", "sets both jira.url and servicenow.url; choose one ticketing system")
	}
	p.positive("tickets.retry_min", t.RetryMin)
	p.positive("tickets.retry_max", t.RetryMax)
	if t.RetryMin > t.RetryMax {
		p.add("tickets.retry_min", "is longer than tickets.retry_max (%s > %s)", t.RetryMin, t.RetryMax)
	}
	p.positive("tickets.timeout", t.Timeout)
	if j := t.Jira; j.Enabled() {
		p.siteURL("tickets.jira.url", j.URL)
		if j.Email == "" || j.APIToken == "" {
			p.add("tickets.jira", "needs email and api_token (create a token at https://id.atlassian.com/manage-profile/security/api-tokens)")
		}
		if j.Project == "" {
			p.add("tickets.jira.project", "is empty; set the key of the project issues are created in, such as OPS")
		}
		if j.IssueType == "" {
			p.add("tickets.jira.issue_type", "is empty; set an issue type of the project, such as Task")
		}
		if j.ResolveTransition == "" {
			p.add("tickets.jira.resolve_transition", "is empty; name the transition (or its target status) done on resolve, such as Done")
		}
		for i, l := range j.Labels {
			if l == "" || strings.ContainsAny(l, " \t\n") {
				p.add(fmt.Sprintf("tickets.jira.labels[%d]", i), "is %q; Jira labels have no spaces", l)
			}
		}
		for _, sev := range sortedKeys(j.Priorities) {
			p.severity("tickets.jira.priorities."+sev, sev)
		}
	}
	if s := t.ServiceNow; s.Enabled() {
		p.siteURL("tickets.servicenow.url", s.URL)
		basic := s.Username != "" || s.Password != ""
		switch {
		case basic && s.Token != "":
			p.add("tickets.servicenow", "sets both username/password and token; choose one way to log in")
		case !basic && s.Token == "":
			p.add("tickets.servicenow", "needs username and password, or token (an OAuth access token)")
		case basic && (s.Username == "" || s.Password == ""):
			p.add("tickets.servicenow", "needs both username and password")
		}
		if s.CloseCode == "" {
			p.add("tickets.servicenow.close_code", "is empty; set a resolution code of your instance, such as Solution provided")
		}
		for _, sev := range sortedKeys(s.Levels) {
			p.severity("tickets.servicenow.levels."+sev, sev)
			if l := s.Levels[sev]; l < 1 || l > 3 {
				p.add("tickets.servicenow.levels."+sev, "is %d; use 1 (high), 2 (medium) or 3 (low)", l)
			}
		}
	}
}

// siteURL checks the address of a ticketing system: https, or http only to
// this machine (a local proxy), so the credentials never cross a network
// in clear.
func (p *problems) siteURL(key, v string) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		p.add(key, "is %q; use the site's https URL", v)
		return
	}
	if u.Scheme == "http" {
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			p.add(key, "is %q; use https (http only to this machine), the credentials must not cross the network in clear", v)
		}
	}
}
