package source

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/tebura/tebura/config"
)

// Generic source presets: the mapping of a tool that users point at a
// generic webhook, so that `preset: datadog` is the whole mapping. Each
// preset is built against the payload the tool really sends (its source or
// its documentation; the samples are in testdata/generic_*), and for
// tools whose body is whatever the user types (Datadog, Zabbix,
// Healthchecks.io) against the sender-side template shipped in
// examples/generic and docs/sources/generic.md; generic_presets_test.go
// checks each one. NewGeneric applies them, and the configuration loader
// runs NewGeneric for every generic source, so an unknown preset is a
// configuration problem.

// GenericPresets returns the shipped presets by name. Only mapping keys are
// set; credentials are always the user's. It builds a new map on each call,
// so callers may keep or change what they get.
func GenericPresets() map[string]config.GenericSource {
	return map[string]config.GenericSource{
		// Uptime Kuma's webhook notification (JSON body): {heartbeat,
		// monitor, msg}; heartbeat.status is a number, 0 down, 1 up,
		// 2 pending, 3 maintenance. Its [Test] button and its certificate
		// and domain expiry notices send monitor: null; they carry no
		// monitor to key on and are answered 200 and dropped.
		"uptime-kuma": {
			Key:    "{{ .monitor.id }}",
			Title:  "{{ .monitor.name }}: {{ .heartbeat.msg }}",
			Status: "{{ if .monitor }}{{ .heartbeat.status }}{{ else }}no-monitor{{ end }}",
			StatusMap: map[string]string{
				"0": "firing", "1": "resolved", "2": "firing", "3": "ignored", "no-monitor": "ignored",
			},
			Labels: map[string]string{
				"monitor":      "{{ .monitor.name }}",
				"monitor_type": "{{ .monitor.type }}",
			},
		},
		// Datadog's webhook integration with the payload of
		// examples/generic/datadog-payload.json. The key is the monitor
		// ($ALERT_ID) and its group ($AGGREG_KEY), both the same on the
		// trigger and the recovery; $ID changes with every event.
		"datadog": {
			Key:    "{{ .alert_id }}/{{ .aggreg_key }}",
			Title:  "{{ .title }}",
			Status: "{{ .transition }}",
			StatusMap: map[string]string{
				"Triggered": "firing", "Re-Triggered": "firing",
				"Warn": "firing", "Re-Warn": "firing",
				"No Data": "firing", "Re-No Data": "firing",
				"Renotify": "firing", "Recovered": "resolved",
			},
			Severity: `{{ if eq .alert_type "error" }}critical{{ else if eq .alert_type "warning" }}warning{{ else }}info{{ end }}`,
			Labels: map[string]string{
				"monitor_id": "{{ .alert_id }}",
				"priority":   "{{ .priority }}",
				"host":       "{{ .hostname }}",
				"metric":     "{{ .metric }}",
				"scope":      "{{ .scope }}",
			},
		},
		// Zabbix with the webhook media type of
		// examples/generic/zabbix-media-type.yaml: its parameters are the
		// body. {EVENT.ID} is the problem's id in the recovery message
		// too; {EVENT.VALUE} is 1 for a problem and 0 for its recovery;
		// updates (acknowledgements, comments) are dropped.
		"zabbix": {
			Key:    "{{ .event_id }}",
			Title:  "{{ .event_name }}",
			Status: `{{ if eq .event_update "1" }}update{{ else }}{{ .event_value }}{{ end }}`,
			StatusMap: map[string]string{
				"1": "firing", "0": "resolved", "update": "ignored",
			},
			Severity: `{{ if eq .event_nseverity "5" "4" }}critical{{ else if eq .event_nseverity "3" "2" }}warning{{ else }}info{{ end }}`,
			Labels: map[string]string{
				"host":            "{{ .host_name }}",
				"zabbix_severity": "{{ .event_severity }}",
				"trigger_id":      "{{ .trigger_id }}",
			},
		},
		// Sentry's integration platform (an internal integration): issue
		// alerts (resource event_alert), issue webhooks (resource issue;
		// resolved resolves the incident its alert opened, both keyed by
		// the issue id) and metric alerts. The resource is in the
		// Sentry-Hook-Resource header, the action in the body; every other
		// resource and action is answered 200 and dropped. Sentry signs
		// instead of sending a token: set hmac_secret to the
		// integration's client secret.
		"sentry": {
			SignatureHeader: "Sentry-Hook-Signature",
			Key: `{{ $r := header "Sentry-Hook-Resource" }}` +
				`{{ if eq $r "issue" }}{{ .data.issue.id }}` +
				`{{ else if eq $r "metric_alert" }}metric-alert-{{ .data.metric_alert.id }}` +
				`{{ else }}{{ .data.event.issue_id }}{{ end }}`,
			Title: `{{ $r := header "Sentry-Hook-Resource" }}` +
				`{{ if eq $r "issue" }}{{ .data.issue.title }}` +
				`{{ else if eq $r "metric_alert" }}{{ .data.description_title }}` +
				`{{ else }}{{ .data.event.title }}{{ end }}`,
			Status: `{{ header "Sentry-Hook-Resource" }}.{{ .action }}`,
			StatusMap: map[string]string{
				"event_alert.triggered": "firing",
				"issue.resolved":        "resolved",
				"metric_alert.critical": "firing",
				"metric_alert.warning":  "firing",
				"metric_alert.resolved": "resolved",
				"*":                     "ignored",
			},
			Severity: `{{ $r := header "Sentry-Hook-Resource" }}` +
				`{{ if eq $r "metric_alert" }}{{ if eq .action "critical" }}critical{{ else }}warning{{ end }}` +
				`{{ else }}{{ $l := get . "data" "event" "level" | default (get . "data" "issue" "level") }}` +
				`{{ if eq $l "fatal" }}critical{{ else }}{{ $l }}{{ end }}{{ end }}`,
			Labels: map[string]string{
				"project_id": `{{ get . "data" "event" "project" | default (get . "data" "issue" "project" "id") }}`,
				"rule":       `{{ get . "data" "triggered_rule" | default (get . "data" "metric_alert" "alert_rule" "name") }}`,
			},
		},
		// Healthchecks.io's webhook integration with the request body of
		// examples/generic/healthchecks-body.txt ($JSON is the check as
		// its API returns it, uuid included). $STATUS is down or up.
		"healthchecks": {
			Key:       "{{ .check.uuid }}",
			Title:     `{{ .check.name | default .check.slug }}`,
			Status:    "{{ .status }}",
			StatusMap: map[string]string{"down": "firing", "up": "resolved"},
			Labels: map[string]string{
				"check": "{{ .check.slug }}",
				"tags":  "{{ .check.tags }}",
			},
		},
	}
}

// GenericPresetNames lists the presets, sorted, for messages and docs.
func GenericPresetNames() []string {
	ps := GenericPresets()
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ApplyPreset returns g with its preset applied: every mapping key g leaves
// empty takes the preset's value, and labels and status_map are merged
// entry by entry, g's entries winning (a label set to "" is dropped). An
// unknown preset is an error listing the known ones.
func ApplyPreset(g config.GenericSource) (config.GenericSource, error) {
	if g.Preset == "" {
		return g, nil
	}
	p, ok := GenericPresets()[g.Preset]
	if !ok {
		return g, fmt.Errorf("is %q, which is not a preset; use one of %s", g.Preset, strings.Join(GenericPresetNames(), ", "))
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&g.Key, p.Key)
	fill(&g.Title, p.Title)
	fill(&g.Status, p.Status)
	fill(&g.Severity, p.Severity)
	fill(&g.SignatureHeader, p.SignatureHeader)
	g.Labels = mergeStrings(p.Labels, g.Labels)
	g.StatusMap = mergeStrings(p.StatusMap, g.StatusMap)
	return g, nil
}

// mergeStrings returns base with over on top; over itself (nil stays nil)
// when both are empty, so a preset adds no empty map to the config.
func mergeStrings(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return over
	}
	out := make(map[string]string, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}
