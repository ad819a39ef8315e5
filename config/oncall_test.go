package config

import (
	"strings"
	"testing"
	"time"
)

func goodRotation() StaticRotation {
	return StaticRotation{
		Members:  []RotationMember{{Name: "Alice", Email: "alice@example.com"}, {Name: "Bob", Chat: "slack:UBOB"}},
		Handoff:  Handoff{Weekday: "monday", Time: "09:00"},
		Timezone: "Europe/Berlin", Start: "2026-01-05",
	}
}

func withOnCall(c *Config) {
	c.OnCall.Schedules = map[string]OnCallSchedule{
		"primary-db": {PagerDuty: OnCallPagerDuty{Token: "t", ScheduleID: "PABC"}},
		"db-second":  {GrafanaOnCall: OnCallGrafana{APIURL: "https://oncall.example", Token: "t", ScheduleID: "S1"}},
		"platform":   {Static: goodRotation()},
	}
}

// TestValidateOnCall: each mistake in the oncall section is reported at
// its key with a sentence that says what to write.
func TestValidateOnCall(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
		wantMsg string
	}{
		{"no kind", func(c *Config) { c.OnCall.Schedules["x"] = OnCallSchedule{} }, "oncall.schedules.x", "set one of pagerduty"},
		{"two kinds", func(c *Config) {
			c.OnCall.Schedules["x"] = OnCallSchedule{PagerDuty: OnCallPagerDuty{ScheduleID: "P"}, Static: goodRotation()}
		}, "oncall.schedules.x", "pagerduty and static; set only one"},
		{"bad name", func(c *Config) { c.OnCall.Schedules["Primary DB"] = OnCallSchedule{Static: goodRotation()} }, "oncall.schedules.Primary DB", "lower-case"},
		{"pagerduty token", func(c *Config) {
			c.OnCall.Schedules["primary-db"] = OnCallSchedule{PagerDuty: OnCallPagerDuty{ScheduleID: "P"}}
		}, "oncall.schedules.primary-db.pagerduty.token", "is empty"},
		{"grafana url", func(c *Config) {
			c.OnCall.Schedules["db-second"] = OnCallSchedule{GrafanaOnCall: OnCallGrafana{APIURL: "oncall.example", Token: "t", ScheduleID: "S"}}
		}, "oncall.schedules.db-second.grafana_oncall.api_url", "absolute http(s) URL"},
		{"time zone", func(c *Config) {
			r := goodRotation()
			r.Timezone = "Mars/Olympus"
			c.OnCall.Schedules["platform"] = OnCallSchedule{Static: r}
		}, "oncall.schedules.platform.static.timezone", "time zone"},
		{"handoff weekday", func(c *Config) {
			r := goodRotation()
			r.Handoff.Weekday = "someday"
			c.OnCall.Schedules["platform"] = OnCallSchedule{Static: r}
		}, "oncall.schedules.platform.static.handoff.weekday", "weekday"},
		{"override of a stranger", func(c *Config) {
			r := goodRotation()
			r.Overrides = []RotationOverride{{Member: "eve@example.com", Start: "2026-01-06T09:00:00Z", End: "2026-01-07T09:00:00Z"}}
			c.OnCall.Schedules["platform"] = OnCallSchedule{Static: r}
		}, "oncall.schedules.platform.static.overrides[0].member", "not a member"},
		{"override backwards", func(c *Config) {
			r := goodRotation()
			r.Overrides = []RotationOverride{{Member: "Alice", Start: "2026-01-07T09:00:00Z", End: "2026-01-06T09:00:00Z"}}
			c.OnCall.Schedules["platform"] = OnCallSchedule{Static: r}
		}, "oncall.schedules.platform.static.overrides[0].end", "not after start"},
		{"identity map", func(c *Config) { c.OnCall.Identities = map[string]string{"bob@example.com": "bob"} }, "oncall.identities.bob@example.com", "chat identity"},
		{"working hours", func(c *Config) { c.OnCall.WorkingHours.End = "08:00" }, "oncall.working_hours.end", "not after start"},
		{"unknown schedule in invite", func(c *Config) {
			c.Automations = []Automation{{Name: "a", Match: []string{"a=b"}, Invite: []string{"oncall:nope"}}}
		}, "automations[0].invite[0]", `on-call schedule "nope"`},
		{"unknown role in escalation", func(c *Config) {
			c.Automations = []Automation{{Name: "a", Match: []string{"a=b"}, Escalate: Escalation{After: time.Minute, Levels: []string{"oncall:primary-db", "role:nope"}}}}
		}, "automations[0].escalate.levels[1]", `role "nope"`},
		{"escalation without after", func(c *Config) {
			c.Automations = []Automation{{Name: "a", Match: []string{"a=b"}, Escalate: Escalation{Levels: []string{"oncall:primary-db"}}}}
		}, "automations[0].escalate.after", "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			withOnCall(&c)
			tt.mutate(&c)
			for _, ke := range KeyErrors(c.Validate()) {
				if ke.Key == tt.wantKey && strings.Contains(ke.Msg, tt.wantMsg) {
					return
				}
			}
			t.Fatalf("Validate() = %v\nwant key %q with %q", c.Validate(), tt.wantKey, tt.wantMsg)
		})
	}
}

// TestValidateOnCallGood: the three kinds, invites and an escalation
// that name them validate.
func TestValidateOnCallGood(t *testing.T) {
	c := Default()
	withOnCall(&c)
	c.Access.Roles = map[string]Role{"sre": {Members: []string{"slack:U1"}}}
	c.OnCall.Identities = map[string]string{"carol@example.com": "discord:42"}
	c.Automations = []Automation{{Name: "db", Match: []string{`service="db"`}, Invite: []string{"oncall:primary-db", "role:sre", "sre", "slack:U9"},
		Escalate: Escalation{After: 10 * time.Minute, Levels: []string{"oncall:primary-db", "oncall:db-second", "role:sre"}}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.OnCall.Schedules["platform"].Kind(); got != "static" {
		t.Errorf("Kind() = %q", got)
	}
}
