package incident

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// Rule is a compiled automation rule (config `automations[]`): which alerts
// it matches and what the reaction layer should do for a matching incident.
// Build rules with CompileRules; check them against the runbook registry
// with ValidateRules.
type Rule struct {
	Name string
	// Channel is a channel name template (it contains "{{") for a new
	// channel, or the ID or name of an existing channel to use instead.
	Channel     string
	Invite      []string
	Diagnostics []string
	Suggest     []string
	OnceWithin  time.Duration
	Severity    string
	Continue    bool

	matchers    labels.Matchers
	channelTmpl *template.Template
	params      map[string]*template.Template
}

// TemplateData is what channel and parameter templates see:
// `{{ .Labels.service }}`, `{{ .Annotations.summary }}`, `{{ .Number }}`,
// `{{ .Slug }}`, `{{ .Incident.Title }}`.
type TemplateData struct {
	Number      int64
	Slug        string
	Title       string
	Severity    string
	Labels      map[string]string
	Annotations map[string]string
	Incident    *Incident
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"lower":   strings.ToLower,
		"upper":   strings.ToUpper,
		"trim":    strings.TrimSpace,
		"replace": strings.ReplaceAll,
		"slug":    func(s string) string { return tebura.Slug(s, 80) },
		"default": func(def, v string) string {
			if v == "" {
				return def
			}
			return v
		},
	}
}

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=zero").Funcs(templateFuncs()).Parse(text)
}

func render(t *template.Template, d TemplateData) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// CompileRules compiles the automation rules in order. It reports every
// problem of syntax (matchers, templates, names) at once.
func CompileRules(cfg []config.Automation) ([]Rule, error) {
	var errs []error
	rules := make([]Rule, 0, len(cfg))
	seen := map[string]bool{}
	for i, a := range cfg {
		where := fmt.Sprintf("automations[%d]", i)
		if a.Name != "" {
			where = fmt.Sprintf("automation %q", a.Name)
		}
		r := Rule{
			Name: a.Name, Channel: a.Channel, Invite: a.Invite,
			Diagnostics: a.Diagnostics, Suggest: a.Suggest,
			OnceWithin: a.OnceWithin, Severity: strings.TrimSpace(a.Severity), Continue: a.Continue,
		}
		switch {
		case a.Name == "":
			errs = append(errs, fmt.Errorf("%s: give the rule a name", where))
		case seen[a.Name]:
			errs = append(errs, fmt.Errorf("%s: the name is used by another rule; names must be unique", where))
		}
		seen[a.Name] = true
		if len(a.Match) == 0 {
			errs = append(errs, fmt.Errorf("%s: match is empty; list at least one matcher such as alertname=\"HighLatency\"", where))
		}
		for _, m := range a.Match {
			ms, err := labels.ParseMatchers(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: matcher %q: %v", where, m, err))
				continue
			}
			r.matchers = append(r.matchers, ms...)
		}
		if a.OnceWithin < 0 {
			errs = append(errs, fmt.Errorf("%s: once_within must not be negative", where))
		}
		if strings.Contains(a.Channel, "{{") {
			t, err := parseTemplate(a.Name+".channel", a.Channel)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: channel template: %v", where, err))
			}
			r.channelTmpl = t
		}
		if len(a.Params) > 0 {
			r.params = make(map[string]*template.Template, len(a.Params))
			for k, v := range a.Params {
				t, err := parseTemplate(a.Name+".params."+k, v)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: params.%s template: %v", where, k, err))
					continue
				}
				r.params[k] = t
			}
		}
		if len(a.Params) > 0 && len(a.Diagnostics)+len(a.Suggest) == 0 {
			errs = append(errs, fmt.Errorf("%s: params are set but no diagnostics or suggest runbook uses them", where))
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// RunbookStatus is what ValidateRules needs to know of a runbook a rule
// names. The zero value is RunbookMissing.
type RunbookStatus int

const (
	// RunbookMissing: no runbook has the name.
	RunbookMissing RunbookStatus = iota
	// RunbookBroken: a runbook of that name is defined but did not load;
	// its loader reports why, so the rules that name it add nothing.
	RunbookBroken
	// RunbookUnattended: a diagnostic that needs no approval; it may run
	// by itself.
	RunbookUnattended
	// RunbookNeedsApproval: it waits for approvals, so a rule may only
	// suggest it.
	RunbookNeedsApproval
	// RunbookRemediation: it changes things, so a rule may only suggest
	// it.
	RunbookRemediation
)

// ValidateRules checks the runbooks the rules name against those loaded,
// as lookup reports them. A runbook under diagnostics must exist and may
// run by itself: a remediation, or one that needs approval, never runs
// without its approvals, so it belongs under suggest. A runbook under
// suggest must exist. It returns every problem at once (errors.Join of
// *config.KeyError, each naming the list entry, such as
// automations[0].diagnostics[1], so that a caller holding the YAML
// document can point at its line), nil when there is none. The syntax of
// the rules is CompileRules'.
func ValidateRules(cfg []config.Automation, lookup func(name string) RunbookStatus) error {
	var errs []error
	check := func(key, name string, unattended bool) {
		var msg string
		switch st := lookup(name); {
		case st == RunbookMissing:
			msg = fmt.Sprintf("names runbook %q, which does not exist", name)
		case !unattended || st == RunbookBroken || st == RunbookUnattended:
			return
		case st == RunbookNeedsApproval:
			msg = fmt.Sprintf("runbook %q needs approval, so it cannot run by itself; list it under suggest instead", name)
		case st == RunbookRemediation:
			msg = fmt.Sprintf("runbook %q is a remediation; only diagnostics run by themselves, list it under suggest instead", name)
		}
		errs = append(errs, &config.KeyError{Key: key, Msg: msg})
	}
	for i, a := range cfg {
		for j, name := range a.Diagnostics {
			check(fmt.Sprintf("automations[%d].diagnostics[%d]", i, j), name, true)
		}
		for j, name := range a.Suggest {
			check(fmt.Sprintf("automations[%d].suggest[%d]", i, j), name, false)
		}
	}
	return errors.Join(errs...)
}

// Matches reports whether every matcher of the rule matches ls.
func (r *Rule) Matches(ls map[string]string) bool {
	for _, m := range r.matchers {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// RunbookAction is a runbook the reaction layer should start (diagnostics)
// or propose behind approval (suggest), with parameters rendered from the
// rule's templates. The reaction layer must validate Params with the
// runbook's Bind like any user input; Err is set when a template failed.
type RunbookAction struct {
	Rule    string            `json:"rule"`
	Runbook string            `json:"runbook"`
	Params  map[string]string `json:"params,omitempty"`
	// Identity is who the run is requested as: "automation:<rule>".
	Identity string `json:"identity"`
	Err      string `json:"err,omitempty"`
}

// Actions is what the reaction layer should do for one incident change.
type Actions struct {
	// Rules are the rules that matched and fired, in order.
	Rules []string `json:"rules,omitempty"`
	// Throttled are rules that matched but were held back by once_within.
	Throttled []string `json:"throttled,omitempty"`
	// OpenChannel is true when the incident needs a channel: create one named
	// ChannelName, or use UseChannel when set, then call AttachChannel.
	OpenChannel bool   `json:"open_channel,omitempty"`
	ChannelName string `json:"channel_name,omitempty"`
	UseChannel  string `json:"use_channel,omitempty"`
	// UnarchiveChannel is true when a reopened incident's channel had been
	// archived (archive_after): unarchive it, or open a new one and attach
	// it in its place.
	UnarchiveChannel bool `json:"unarchive_channel,omitempty"`
	// Invite lists roles and identities to invite, deduplicated.
	Invite      []string        `json:"invite,omitempty"`
	Diagnostics []RunbookAction `json:"diagnostics,omitempty"`
	Suggest     []RunbookAction `json:"suggest,omitempty"`
}

// Empty reports whether there is nothing to do.
func (a Actions) Empty() bool {
	return !a.OpenChannel && !a.UnarchiveChannel && len(a.Invite) == 0 && len(a.Diagnostics) == 0 && len(a.Suggest) == 0
}

func (r *Rule) runbookActions(names []string, d TemplateData) []RunbookAction {
	out := make([]RunbookAction, 0, len(names))
	for _, name := range names {
		ra := RunbookAction{Rule: r.Name, Runbook: name, Identity: "automation:" + r.Name}
		if len(r.params) > 0 {
			ra.Params = make(map[string]string, len(r.params))
			keys := make([]string, 0, len(r.params))
			for k := range r.params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				v, err := render(r.params[k], d)
				if err != nil {
					ra.Err = fmt.Sprintf("parameter %s: %v", k, err)
					break
				}
				ra.Params[k] = v
			}
		}
		out = append(out, ra)
	}
	return out
}

func addUnique(list []string, items ...string) []string {
	for _, it := range items {
		dup := false
		for _, l := range list {
			if l == it {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, it)
		}
	}
	return list
}
