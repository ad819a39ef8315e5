package commands

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// automations re-derives what the automation rules asked for from what the
// incident domain stored: the rules that fired (Incident.Fired, written in
// the same transaction as the ingest), the incident's labels and the
// config. The reaction layer uses it when the Change that carried the
// actions was lost (a crash between the webhook's answer and the
// reaction): on start-up and on every reconcile tick, an open incident
// whose fired rules' diagnostics, suggestions or channel are missing gets
// them from here. Parameters are then rendered from the incident's labels
// (the union of the group's common labels), not from the labels of the
// one alert that matched; for rules over common labels that is the same.
type automations struct {
	channel *template.Template // incidents.channel_template or the default
	rules   map[string]*autoRule
}

type autoRule struct {
	cfg     config.Automation
	channel *template.Template // nil when Channel names an existing channel
	params  map[string]*template.Template
}

// automationFuncs mirror the template functions of the incident domain,
// so that a re-derived name or parameter equals the first one.
func automationFuncs() template.FuncMap {
	return template.FuncMap{
		"lower":   strings.ToLower,
		"upper":   strings.ToUpper,
		"trim":    strings.TrimSpace,
		"replace": strings.ReplaceAll,
		"slug":    func(s string) string { return incident.Slugify(s, 80) },
		"default": func(def, v string) string {
			if v == "" {
				return def
			}
			return v
		},
	}
}

func parseAuto(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=zero").Funcs(automationFuncs()).Parse(text)
}

// newAutomations compiles the templates of the config. The incident domain
// validated the same templates already, so an error here is a bug.
func newAutomations(cfg config.Incidents, rules []config.Automation) (*automations, error) {
	text := cfg.ChannelTemplate
	if text == "" {
		text = incident.DefaultChannelTemplate
	}
	ch, err := parseAuto("channel_template", text)
	if err != nil {
		return nil, fmt.Errorf("incidents.channel_template: %w", err)
	}
	a := &automations{channel: ch, rules: map[string]*autoRule{}}
	for _, r := range rules {
		ar := &autoRule{cfg: r, params: map[string]*template.Template{}}
		if strings.Contains(r.Channel, "{{") {
			if ar.channel, err = parseAuto(r.Name+".channel", r.Channel); err != nil {
				return nil, fmt.Errorf("automation %q: channel: %w", r.Name, err)
			}
		}
		for k, v := range r.Params {
			if ar.params[k], err = parseAuto(r.Name+".params."+k, v); err != nil {
				return nil, fmt.Errorf("automation %q: params.%s: %w", r.Name, k, err)
			}
		}
		a.rules[r.Name] = ar
	}
	return a, nil
}

func data(inc *incident.Incident) incident.TemplateData {
	return incident.TemplateData{Number: inc.Number, Slug: inc.Slug(), Title: inc.Title, Severity: inc.Severity,
		Labels: inc.Labels, Annotations: inc.Annotations, Incident: inc}
}

func execAuto(t *template.Template, d incident.TemplateData) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// maxChannelName is the longest channel name Slack accepts (Discord allows
// 100): https://docs.slack.dev/reference/methods/conversations.create/
const maxChannelName = 80

// channelFor is what Actions.OpenChannel said: a name to create, or an
// existing channel to use (the first fired rule with a channel wins).
func (a *automations) channelFor(inc *incident.Incident) (name, use string) {
	t := a.channel
	for _, r := range inc.Fired {
		ar := a.rules[r]
		if ar == nil || ar.cfg.Channel == "" {
			continue
		}
		if ar.channel == nil {
			return "", ar.cfg.Channel
		}
		t = ar.channel
		break
	}
	name, err := execAuto(t, data(inc))
	if err != nil || name == "" {
		name = "inc-" + strconv.FormatInt(inc.Number, 10)
	}
	return incident.Slugify(name, maxChannelName), ""
}

// invites are the fired rules' invite lists, deduplicated.
func (a *automations) invites(inc *incident.Incident) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range inc.Fired {
		if ar := a.rules[r]; ar != nil {
			for _, m := range ar.cfg.Invite {
				if !seen[m] {
					seen[m] = true
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// actions are the fired rules' diagnostics (suggest false) or suggestions.
func (a *automations) actions(inc *incident.Incident, suggest bool) []incident.RunbookAction {
	var out []incident.RunbookAction
	d := data(inc)
	for _, r := range inc.Fired {
		ar := a.rules[r]
		if ar == nil {
			continue
		}
		names := ar.cfg.Diagnostics
		if suggest {
			names = ar.cfg.Suggest
		}
		for _, name := range names {
			ra := incident.RunbookAction{Rule: r, Runbook: name, Identity: "automation:" + r}
			keys := make([]string, 0, len(ar.params))
			for k := range ar.params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if len(keys) > 0 {
				ra.Params = map[string]string{}
			}
			for _, k := range keys {
				v, err := execAuto(ar.params[k], d)
				if err != nil {
					ra.Err = fmt.Sprintf("parameter %s: %v", k, err)
					break
				}
				ra.Params[k] = v
			}
			out = append(out, ra)
		}
	}
	return out
}
