package config

import (
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"
)

// OnCall configures who is reached when an incident opens: the on-call
// schedules that `oncall:NAME` in an invite list, an escalation level or
// `/incident page` names, how the people they list are matched to chat
// accounts, and the working hours that responder load counts
// interruptions against. Teams page from their schedule, not from a static
// role list, because the role list is wrong every week someone swaps.
type OnCall struct {
	// Schedules by name (lower-case letters, digits, '-' and '_'), each
	// exactly one of pagerduty, grafana_oncall or static.
	Schedules map[string]OnCallSchedule `mapstructure:"schedules"`
	// Identities map a person's email to a chat identity ("discord:1",
	// "console:alice"). Discord and the console have no lookup by email;
	// on Slack an entry here wins over users.lookupByEmail.
	Identities map[string]string `mapstructure:"identities"`
	// WorkingHours is the calendar that tells an interruption from an
	// out-of-hours one in the responder load.
	WorkingHours WorkingHours `mapstructure:"working_hours"`
	// LoadWindow is the window of the responder-load metrics on /metrics.
	LoadWindow time.Duration `mapstructure:"load_window"`
}

// OnCallSchedule is one schedule: set exactly one of its blocks.
type OnCallSchedule struct {
	PagerDuty     OnCallPagerDuty `mapstructure:"pagerduty"`
	GrafanaOnCall OnCallGrafana   `mapstructure:"grafana_oncall"`
	Static        StaticRotation  `mapstructure:"static"`
}

// secrets are the schedules' API tokens, in the order of their names.
func (o OnCall) secrets() []Secret {
	var out []Secret
	for _, n := range sortedKeys(o.Schedules) {
		s := o.Schedules[n]
		out = append(out, s.PagerDuty.Token, s.GrafanaOnCall.Token)
	}
	return out
}

// Kind is which block the schedule sets ("pagerduty", "grafana_oncall",
// "static"), or "" when it sets none.
func (s OnCallSchedule) Kind() string {
	kinds := s.kinds()
	if len(kinds) == 1 {
		return kinds[0]
	}
	return ""
}

func (s OnCallSchedule) kinds() []string {
	var k []string
	if s.PagerDuty != (OnCallPagerDuty{}) {
		k = append(k, "pagerduty")
	}
	if s.GrafanaOnCall != (OnCallGrafana{}) {
		k = append(k, "grafana_oncall")
	}
	if len(s.Static.Members) > 0 || s.Static.Timezone != "" || s.Static.Start != "" {
		k = append(k, "static")
	}
	return k
}

// OnCallPagerDuty is a PagerDuty schedule read with the REST API's
// GET /oncalls.
type OnCallPagerDuty struct {
	// Token is a REST API key (read-only is enough).
	Token Secret `mapstructure:"token"`
	// ScheduleID is the schedule's ID (PXXXXXX).
	ScheduleID string `mapstructure:"schedule_id"`
	// APIURL is the REST API's base URL.
	APIURL string `mapstructure:"api_url"`
}

// OnCallGrafana is a Grafana OnCall schedule read with its public API's
// final shifts export.
type OnCallGrafana struct {
	// APIURL is the OnCall API URL from OnCall → Settings, without /api/v1.
	APIURL string `mapstructure:"api_url"`
	// Token is an OnCall API key or a service account token.
	Token Secret `mapstructure:"token"`
	// StackURL is the Grafana stack's URL (https://your-stack.grafana.net),
	// sent as X-Grafana-URL: needed with a Grafana Cloud service account
	// token, not with a (legacy) OnCall API key.
	StackURL string `mapstructure:"stack_url"`
	// ScheduleID is the schedule's ID (SXXXXXXX).
	ScheduleID string `mapstructure:"schedule_id"`
}

// StaticRotation is a weekly rotation for teams with no paging product:
// members take turns, one week each, handing off on a weekday at a wall
// clock time in a time zone (so a handoff stays at 09:00 across DST).
type StaticRotation struct {
	Members  []RotationMember `mapstructure:"members"`
	Handoff  Handoff          `mapstructure:"handoff"`
	Timezone string           `mapstructure:"timezone"`
	// Start is the date (YYYY-MM-DD) whose handoff begins the first
	// member's first week; it fixes whose turn any week is.
	Start     string             `mapstructure:"start"`
	Overrides []RotationOverride `mapstructure:"overrides"`
}

// RotationMember is one person of a static rotation.
type RotationMember struct {
	Name  string `mapstructure:"name"`
	Email string `mapstructure:"email"`
	// Chat is the person's chat identity ("slack:U1"); without it the
	// email is looked up.
	Chat string `mapstructure:"chat"`
}

// Handoff is when a static rotation passes to the next member.
type Handoff struct {
	Weekday string `mapstructure:"weekday"`
	Time    string `mapstructure:"time"` // HH:MM
}

// RotationOverride puts a member on call from Start to End (RFC 3339),
// over the rotation: a swap, a holiday cover.
type RotationOverride struct {
	// Member is a member's email or name.
	Member string `mapstructure:"member"`
	Start  string `mapstructure:"start"`
	End    string `mapstructure:"end"`
}

// WorkingHours is a weekly working-hours calendar.
type WorkingHours struct {
	Timezone string   `mapstructure:"timezone"`
	Days     []string `mapstructure:"days"` // monday … sunday
	Start    string   `mapstructure:"start"`
	End      string   `mapstructure:"end"`
}

// Escalation pages the next level when nobody acknowledges in time.
type Escalation struct {
	// After is how long each level has to acknowledge.
	After time.Duration `mapstructure:"after"`
	// Levels are invite entries (oncall:NAME, role:NAME, a role name, an
	// identity); the first is paged when the incident opens.
	Levels []string `mapstructure:"levels"`
}

// defaultOnCall: no schedules; working hours Monday to Friday, 09:00 to
// 18:00 UTC; load over the last week.
func defaultOnCall() OnCall {
	return OnCall{
		Schedules:  map[string]OnCallSchedule{},
		Identities: map[string]string{},
		WorkingHours: WorkingHours{Timezone: "UTC", Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday"},
			Start: "09:00", End: "18:00"},
		LoadWindow: 7 * 24 * time.Hour,
	}
}

// DefaultPagerDutyAPIURL is PagerDuty's REST API.
// https://developer.pagerduty.com/api-reference/
const DefaultPagerDutyAPIURL = "https://api.pagerduty.com"

// Weekdays maps the names a config may use to time.Weekday.
var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// ParseWeekday reads a weekday name ("monday", "mon", any case).
func ParseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for name, d := range weekdays {
		if s == name || (len(s) == 3 && strings.HasPrefix(name, s)) {
			return d, true
		}
	}
	return 0, false
}

// ParseClock reads "HH:MM" as hours and minutes.
func ParseClock(s string) (h, m int, ok bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, false
	}
	return t.Hour(), t.Minute(), true
}

// InviteEntry checks one entry of an invite list or an escalation level
// and says what is wrong with it, or "" when it is fine: a role name,
// role:NAME, oncall:NAME (a configured schedule) or an identity.
func (c Config) InviteEntry(inv string) string {
	kind, name, hasKind := strings.Cut(inv, ":")
	switch {
	case inv == "":
		return "is empty; name a role, oncall:SCHEDULE or an identity"
	case hasKind && kind == "oncall":
		if _, ok := c.OnCall.Schedules[name]; !ok {
			return fmt.Sprintf("names on-call schedule %q, which is not defined under oncall.schedules", name)
		}
	case hasKind && kind == "role":
		if _, ok := c.Access.Roles[name]; !ok {
			return fmt.Sprintf("names role %q, which is not defined under access.roles", name)
		}
	case hasKind && !ValidIdentity(inv):
		return fmt.Sprintf("is %q; use a role name, role:NAME, oncall:SCHEDULE or kind:id", inv)
	case !hasKind:
		if _, ok := c.Access.Roles[inv]; !ok {
			return fmt.Sprintf("names role %q, which is not defined under access.roles", inv)
		}
	}
	return ""
}

func (c Config) validateOnCall(p *problems) {
	names := make([]string, 0, len(c.OnCall.Schedules))
	for n := range c.OnCall.Schedules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		key := "oncall.schedules." + n
		if !validScheduleName(n) {
			p.add(key, "has a name that is not lower-case letters, digits, '-' and '_'; it is typed as oncall:%s", n)
		}
		s := c.OnCall.Schedules[n]
		switch kinds := s.kinds(); len(kinds) {
		case 0:
			p.add(key, "sets no schedule; set one of pagerduty, grafana_oncall or static")
			continue
		case 1:
		default:
			p.add(key, "sets %s; set only one", strings.Join(kinds, " and "))
			continue
		}
		switch s.Kind() {
		case "pagerduty":
			if s.PagerDuty.Token == "" {
				p.add(key+".pagerduty.token", "is empty; set a REST API key (${ENV} or token_file)")
			}
			if s.PagerDuty.ScheduleID == "" {
				p.add(key+".pagerduty.schedule_id", "is empty; copy the schedule's ID (PXXXXXX) from its URL")
			}
			if s.PagerDuty.APIURL != "" {
				p.url(key+".pagerduty.api_url", s.PagerDuty.APIURL)
			}
		case "grafana_oncall":
			g := s.GrafanaOnCall
			if g.APIURL == "" {
				p.add(key+".grafana_oncall.api_url", "is empty; copy the API URL from OnCall → Settings")
			} else {
				p.url(key+".grafana_oncall.api_url", g.APIURL)
			}
			if g.Token == "" {
				p.add(key+".grafana_oncall.token", "is empty; set an OnCall API key (${ENV} or token_file)")
			}
			if g.ScheduleID == "" {
				p.add(key+".grafana_oncall.schedule_id", "is empty; copy the schedule's ID (SXXXXXXX)")
			}
			if g.StackURL != "" {
				p.url(key+".grafana_oncall.stack_url", g.StackURL)
			}
		case "static":
			c.validateRotation(p, key+".static", s.Static)
		}
	}
	emails := make([]string, 0, len(c.OnCall.Identities))
	for e := range c.OnCall.Identities {
		emails = append(emails, e)
	}
	sort.Strings(emails)
	for _, e := range emails {
		if _, err := mail.ParseAddress(e); err != nil || strings.Contains(e, "<") {
			p.add("oncall.identities."+e, "is keyed by %q, not an email address", e)
		}
		if !ValidIdentity(c.OnCall.Identities[e]) {
			p.add("oncall.identities."+e, "is %q; use a chat identity such as discord:123 or slack:U123", c.OnCall.Identities[e])
		}
	}
	w := c.OnCall.WorkingHours
	if _, err := time.LoadLocation(w.Timezone); err != nil {
		p.add("oncall.working_hours.timezone", "is %q, not a time zone such as Europe/Berlin: %v", w.Timezone, err)
	}
	for i, d := range w.Days {
		if _, ok := ParseWeekday(d); !ok {
			p.add(fmt.Sprintf("oncall.working_hours.days[%d]", i), "is %q; use a weekday such as monday", d)
		}
	}
	sh, sm, ok1 := ParseClock(w.Start)
	eh, em, ok2 := ParseClock(w.End)
	if !ok1 {
		p.add("oncall.working_hours.start", "is %q; write a time of day such as 09:00", w.Start)
	}
	if !ok2 {
		p.add("oncall.working_hours.end", "is %q; write a time of day such as 18:00", w.End)
	}
	if ok1 && ok2 && eh*60+em <= sh*60+sm {
		p.add("oncall.working_hours.end", "is %s, not after start %s", w.End, w.Start)
	}
	p.positive("oncall.load_window", c.OnCall.LoadWindow)
}

func (c Config) validateRotation(p *problems, key string, r StaticRotation) {
	if len(r.Members) == 0 {
		p.add(key+".members", "is empty; list the people who take turns")
	}
	known := map[string]bool{}
	for i, m := range r.Members {
		k := fmt.Sprintf("%s.members[%d]", key, i)
		if m.Name == "" && m.Email == "" {
			p.add(k, "has neither name nor email")
		}
		if m.Email != "" {
			if _, err := mail.ParseAddress(m.Email); err != nil {
				p.add(k+".email", "is %q, not an email address", m.Email)
			}
		}
		if m.Chat != "" && !ValidIdentity(m.Chat) {
			p.add(k+".chat", "is %q; use a chat identity such as slack:U123", m.Chat)
		}
		if m.Email == "" && m.Chat == "" {
			p.add(k, "has neither email nor chat; Tebura could not invite %s", m.Name)
		}
		known[strings.ToLower(m.Email)], known[strings.ToLower(m.Name)] = true, true
	}
	if _, ok := ParseWeekday(r.Handoff.Weekday); !ok {
		p.add(key+".handoff.weekday", "is %q; use a weekday such as monday", r.Handoff.Weekday)
	}
	if _, _, ok := ParseClock(r.Handoff.Time); !ok {
		p.add(key+".handoff.time", "is %q; write a time of day such as 09:00", r.Handoff.Time)
	}
	if _, err := time.LoadLocation(r.Timezone); err != nil || r.Timezone == "" {
		p.add(key+".timezone", "is %q; name a time zone such as Europe/Berlin", r.Timezone)
	}
	if _, err := time.Parse(time.DateOnly, r.Start); err != nil {
		p.add(key+".start", "is %q; write the date of the first handoff as YYYY-MM-DD", r.Start)
	}
	for i, o := range r.Overrides {
		k := fmt.Sprintf("%s.overrides[%d]", key, i)
		if !known[strings.ToLower(o.Member)] || o.Member == "" {
			p.add(k+".member", "is %q, not a member's name or email", o.Member)
		}
		s, err1 := time.Parse(time.RFC3339, o.Start)
		e, err2 := time.Parse(time.RFC3339, o.End)
		if err1 != nil {
			p.add(k+".start", "is %q; write a time such as 2026-03-02T09:00:00+01:00", o.Start)
		}
		if err2 != nil {
			p.add(k+".end", "is %q; write a time such as 2026-03-09T09:00:00+01:00", o.End)
		}
		if err1 == nil && err2 == nil && !e.After(s) {
			p.add(k+".end", "is not after start")
		}
	}
}

// validEscalation checks an automation rule's escalate block.
func (c Config) validEscalation(p *problems, key string, e Escalation) {
	if len(e.Levels) == 0 {
		if e.After != 0 {
			p.add(key+".levels", "is empty; list whom to page, level by level")
		}
		return
	}
	p.positive(key+".after", e.After)
	for i, l := range e.Levels {
		if msg := c.InviteEntry(l); msg != "" {
			p.add(fmt.Sprintf("%s.levels[%d]", key, i), "%s", msg)
		}
	}
}

func validScheduleName(n string) bool {
	if n == "" {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
