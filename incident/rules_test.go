package incident_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// runbooks: name → remediation-or-needs-approval.
var knownRunbooks = map[string]bool{"api-health": false, "disk-usage": false, "restart-api": true, "approve-me": true}

func lookup(name string) (bool, bool) {
	rem, ok := knownRunbooks[name]
	return rem, ok
}

// runbookStatus is the runbooks TestValidateRules knows.
var runbookStatus = map[string]incident.RunbookStatus{
	"api-health": incident.RunbookUnattended, "restart-api": incident.RunbookRemediation,
	"approve-me": incident.RunbookNeedsApproval, "broken": incident.RunbookBroken,
}

func TestValidateRules(t *testing.T) {
	good := config.Automation{Name: "ok", Match: []string{`alertname="HighLatency"`, `service=~"api|web"`},
		Diagnostics: []string{"api-health"}, Suggest: []string{"restart-api", "approve-me"}, Params: map[string]string{"service": "{{ .Labels.service }}"}}
	rule := func(diag, suggest []string) config.Automation {
		return config.Automation{Name: "r", Match: []string{`a="b"`}, Diagnostics: diag, Suggest: suggest}
	}
	tests := []struct {
		name string
		cfg  []config.Automation
		want []string // the errors, "key: message"
	}{
		{"good", []config.Automation{good}, nil},
		{"remediation under diagnostics", []config.Automation{good, rule([]string{"restart-api"}, nil)},
			[]string{`automations[1].diagnostics[0]: runbook "restart-api" is a remediation; only diagnostics run by themselves, list it under suggest instead`}},
		{"approval under diagnostics", []config.Automation{rule([]string{"api-health", "approve-me"}, nil)},
			[]string{`automations[0].diagnostics[1]: runbook "approve-me" needs approval, so it cannot run by itself; list it under suggest instead`}},
		{"unknown runbooks", []config.Automation{rule([]string{"nope"}, []string{"api-health", "nada"})},
			[]string{`automations[0].diagnostics[0]: names runbook "nope", which does not exist`, `automations[0].suggest[1]: names runbook "nada", which does not exist`}},
		{"a runbook that failed to load is its loader's problem", []config.Automation{rule([]string{"broken"}, []string{"broken"})}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, ke := range config.KeyErrors(incident.ValidateRules(tt.cfg, func(name string) incident.RunbookStatus { return runbookStatus[name] })) {
				got = append(got, ke.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCompileRules(t *testing.T) {
	good := config.Automation{Name: "ok", Match: []string{`alertname="HighLatency"`}, Diagnostics: []string{"api-health"}}
	tests := []struct {
		name string
		cfg  []config.Automation
		want []string // substrings, one per expected error
	}{
		{"good", []config.Automation{good}, nil},
		{"bad matcher", []config.Automation{{Name: "r", Match: []string{`a=~"("`}}}, []string{`matcher "a=~\"(\""`}},
		{"no match", []config.Automation{{Name: "r"}}, []string{"match is empty"}},
		{"no name and duplicate", []config.Automation{{Match: []string{`a="b"`}}, good, good}, []string{"give the rule a name", "names must be unique"}},
		{"bad template", []config.Automation{{Name: "r", Match: []string{`a="b"`}, Channel: "inc-{{ .Number", Diagnostics: []string{"api-health"},
			Params: map[string]string{"x": "{{ .Labels.x "}}}, []string{"channel template", "params.x template"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := incident.CompileRules(tt.cfg)
			errs := tebura.Unjoin(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}

var testAutomations = []config.Automation{
	{Name: "api-latency", Match: []string{`alertname="HighLatency"`, `service=~"api|web"`},
		Channel: "inc-{{ .Number }}-{{ .Labels.service }}-latency", Invite: []string{"sre"},
		Diagnostics: []string{"api-health"}, Params: map[string]string{"service": "{{ .Labels.service }}", "env": `{{ .Labels.env | default "staging" }}`},
		OnceWithin: time.Hour, Severity: "sev1", Continue: true},
	{Name: "prod", Match: []string{`env="prod"`}, Invite: []string{"oncall", "sre"}, Suggest: []string{"restart-api"}},
	{Name: "never", Match: []string{`env="prod"`}, Diagnostics: []string{"disk-usage"}},
}

func TestAutomationActions(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, testAutomations)
	t0 := clk.Now()
	c := one(t, mustIngest(t, svc, batch("g", alert("a1", incident.AlertFiring, t0, "env", "prod"))))
	want := incident.Actions{
		Rules:       []string{"api-latency", "prod"},
		OpenChannel: true, ChannelName: "inc-1-api-latency",
		Invite: []string{"sre", "oncall"},
		Diagnostics: []incident.RunbookAction{{Rule: "api-latency", Runbook: "api-health", Identity: "automation:api-latency",
			Params: map[string]string{"service": "api", "env": "prod"}}},
		Suggest: []incident.RunbookAction{{Rule: "prod", Runbook: "restart-api", Identity: "automation:prod"}},
	}
	if !reflect.DeepEqual(c.Actions, want) {
		t.Fatalf("actions\n got %+v\nwant %+v", c.Actions, want)
	}
	if c.Incident.Severity != "sev1" {
		t.Errorf("severity mapping: %q", c.Incident.Severity)
	}

	// A new alert joining does not repeat what already fired.
	c = one(t, mustIngest(t, svc, batch("g", alert("a2", incident.AlertFiring, t0, "env", "prod"))))
	if !c.Actions.Empty() || len(c.Actions.Rules) != 0 {
		t.Fatalf("join repeated actions: %+v", c.Actions)
	}

	// Resolve and re-fire within reopen_within and once_within: the
	// throttled rule holds back, the other fires again.
	mustIngest(t, svc, batch("g", alert("a1", incident.AlertResolved, t0), alert("a2", incident.AlertResolved, t0)))
	clk.Advance(10 * time.Minute)
	c = one(t, mustIngest(t, svc, batch("g", alert("a1", incident.AlertFiring, clk.Now(), "env", "prod"))))
	if !c.Reopened || !reflect.DeepEqual(c.Actions.Throttled, []string{"api-latency"}) || !reflect.DeepEqual(c.Actions.Rules, []string{"prod"}) {
		t.Fatalf("reopen within once_within: %+v", c.Actions)
	}
	if c.Actions.ChannelName != "inc-1-highlatency-on-api" {
		t.Errorf("without a channel rule the default template names the channel: %q", c.Actions.ChannelName)
	}

	// After once_within, a reopen runs the diagnostics again.
	mustIngest(t, svc, batch("g", alert("a1", incident.AlertResolved, clk.Now())))
	clk.Advance(time.Hour)
	c = one(t, mustIngest(t, svc, batch("g", alert("a1", incident.AlertFiring, clk.Now(), "env", "prod"))))
	if !c.Opened || len(c.Actions.Diagnostics) != 1 {
		t.Fatalf("a new incident after once_within runs diagnostics: %+v", c)
	}
}

func TestAutomationExistingChannelAndNoMatch(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, []config.Automation{
		{Name: "db", Match: []string{`service="db"`}, Channel: "C0INCIDENTS"},
	})
	b := batch("g", alert("d", incident.AlertFiring, clk.Now(), "service", "db"))
	c := one(t, mustIngest(t, svc, b))
	if !c.Actions.OpenChannel || c.Actions.UseChannel != "C0INCIDENTS" || c.Actions.ChannelName != "" {
		t.Fatalf("existing channel: %+v", c.Actions)
	}
	c = one(t, mustIngest(t, svc, batch("g2", alert("x", incident.AlertFiring, clk.Now()))))
	if len(c.Actions.Rules) != 0 || !c.Actions.OpenChannel || c.Actions.ChannelName == "" {
		t.Fatalf("no rule matched: %+v", c.Actions)
	}
}

// TestStorm: 10,000 alerts in 100 webhooks across 20 group keys, every
// webhook delivered twice, give exactly 20 incidents, 20 channel actions
// and one diagnostics start per incident.
func TestStorm(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, []config.Automation{
		{Name: "diag", Match: []string{`alertname=~"Storm.*"`}, Diagnostics: []string{"api-health"},
			Params: map[string]string{"service": "{{ .Labels.service }}"}, OnceWithin: time.Hour},
	})
	res := storm(t, svc, clk)
	opened, channels, diags := map[int64]bool{}, 0, map[int64]int{}
	for _, r := range res {
		for _, c := range r.Changes {
			if c.Opened {
				opened[c.Incident.Number] = true
			}
			if c.Actions.OpenChannel {
				channels++
			}
			diags[c.Incident.Number] += len(c.Actions.Diagnostics)
		}
	}
	if len(opened) != 20 || channels != 20 {
		t.Fatalf("opened %d incidents and %d channels, want 20 and 20", len(opened), channels)
	}
	for n, d := range diags {
		if d != 1 {
			t.Errorf("incident #%d got %d diagnostics starts, want 1", n, d)
		}
	}
	list, _ := svc.List(t.Context(), incident.ListOptions{OpenOnly: true})
	if len(list) != 20 {
		t.Fatalf("%d open incidents, want 20", len(list))
	}
	for _, inc := range list {
		if inc.AlertCount != 500 || inc.FiringCount != 500 {
			t.Errorf("incident %s has %d alerts (%d firing), want 500", inc.Ref(), inc.AlertCount, inc.FiringCount)
		}
	}
}

// storm ingests 100 webhooks of 100 alerts over 20 group keys, each twice
// (the retry right after the original), and returns every Result.
func storm(t testing.TB, svc *incident.Service, clk *clock) []incident.Result {
	t.Helper()
	var out []incident.Result
	start := clk.Now()
	for w := range 100 {
		g := w % 20
		b := incident.Batch{Source: "alertmanager", GroupKey: fmt.Sprintf("{}:{alertname=\"Storm%d\"}", g),
			Labels: map[string]string{"alertname": fmt.Sprintf("Storm%d", g), "service": fmt.Sprintf("svc%d", g)}}
		for i := range 100 {
			n := (w/20)*100 + i // 5 webhooks per group, 100 distinct alerts each
			b.Alerts = append(b.Alerts, incident.Alert{Source: "alertmanager", Fingerprint: fmt.Sprintf("%04x%012x", g, n),
				Status: incident.AlertFiring, StartsAt: start,
				Labels: map[string]string{"alertname": fmt.Sprintf("Storm%d", g), "service": fmt.Sprintf("svc%d", g), "instance": fmt.Sprint(n)}})
		}
		for range 2 {
			res, err := svc.Ingest(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res)
		}
	}
	return out
}

// TestRemediationNeverAutoRuns: even if a runbook turned into a
// remediation after the config was validated, the guarded service proposes
// it instead of starting it.
func TestRemediationNeverAutoRuns(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, []config.Automation{{Name: "r", Match: []string{`alertname="HighLatency"`},
		Diagnostics: []string{"api-health", "restart-api", "gone"}}})
	svc.GuardDiagnostics(lookup)
	c := one(t, mustIngest(t, svc, batch("g", alert("a", incident.AlertFiring, clk.Now()))))
	var diag, sug []string
	for _, d := range c.Actions.Diagnostics {
		diag = append(diag, d.Runbook)
	}
	for _, d := range c.Actions.Suggest {
		sug = append(sug, d.Runbook)
	}
	if fmt.Sprint(diag) != "[api-health]" || fmt.Sprint(sug) != "[restart-api]" {
		t.Fatalf("diagnostics %v suggest %v; want [api-health] and [restart-api]", diag, sug)
	}
	tl, _ := svc.Timeline(t.Context(), "#1")
	var texts []string
	for _, e := range tl {
		texts = append(texts, e.Text)
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "restart-api needs approval; proposed instead of run") || !strings.Contains(all, "gone does not exist") {
		t.Errorf("timeline:\n%s", all)
	}
}

// TestActionsRederived: Service.Actions gives back, from the stored
// incident alone, what the Change of its opening carried (the reaction
// layer relies on it after a crash), and nothing for rules that did not
// fire.
func TestActionsRederived(t *testing.T) {
	cases := []struct {
		name  string
		autos []config.Automation
		guard func(string) (bool, bool)
	}{
		{"templates and params", testAutomations, nil},
		{"existing channel", []config.Automation{
			{Name: "console", Match: []string{`service="api"`}, Channel: "C-ops", Diagnostics: []string{"api-health"}, Continue: true},
			{Name: "later", Match: []string{`service="api"`}, Channel: "inc-{{ .Number }}", Suggest: []string{"restart-api"}},
		}, nil},
		{"guarded diagnostics", testAutomations, func(name string) (bool, bool) {
			return name == "api-health", name != "disk-usage"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, clk := newService(t, defaultCfg, tc.autos)
			if tc.guard != nil {
				svc.GuardDiagnostics(tc.guard)
			}
			b := batch("g", alert("a1", incident.AlertFiring, clk.Now(), "env", "prod"))
			b.Labels["env"] = "prod" // common labels: the re-derivation renders from them
			c := one(t, mustIngest(t, svc, b))
			want := c.Actions
			want.Throttled = nil
			inc, err := svc.Get(t.Context(), c.Incident.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := svc.Actions(inc); !reflect.DeepEqual(got, want) {
				t.Fatalf("re-derived\n got %+v\nwant %+v", got, want)
			}
			if _, _, err := svc.AttachChannel(t.Context(), inc.ID, incident.Channel{Platform: "slack", ID: "C1"}); err != nil {
				t.Fatal(err)
			}
			inc, _ = svc.Get(t.Context(), inc.ID)
			got := svc.Actions(inc)
			if got.OpenChannel || got.ChannelName != "" || got.UseChannel != "" {
				t.Errorf("with a channel attached: %+v, want no channel action", got)
			}
		})
	}

	// A rule that never fired for the incident adds nothing.
	svc, _, clk := newService(t, defaultCfg, testAutomations)
	c := one(t, mustIngest(t, svc, batch("g", alert("a1", incident.AlertFiring, clk.Now()))))
	inc, _ := svc.Get(t.Context(), c.Incident.ID)
	got := svc.Actions(inc)
	if !reflect.DeepEqual(got.Rules, []string{"api-latency"}) || len(got.Suggest) != 0 {
		t.Errorf("only api-latency fired (no env=prod): %+v", got)
	}
}
