package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/incident/source"
)

// The presets against the payloads their tools send: each sample in
// testdata/generic_* is built from the tool's own code or documentation
// (named in each test), and for tools whose body the user types, the
// sender-side template shipped in examples/generic (and shown in
// docs/sources/generic.md) is filled the way the tool fills it and must
// give the sample.

// delivery is one request of a replay and what it must do.
type delivery struct {
	name string
	body []byte
	hdr  map[string]string
	code int    // HTTP status
	open int    // open incidents after it
	all  int    // incidents after it
	why  string // substring of the answer
}

// replay sends the deliveries, in order, through the handler of a generic
// source with cfg into a real incident service, and returns the incidents.
func replay(t *testing.T, cfg config.GenericSource, ds []delivery) []*incident.Incident {
	t.Helper()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	svc, err := incident.New(incidenttest.NewStore(), config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}, nil, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := source.Handler(mustGeneric(t, "tool", cfg), source.Ingester(svc.Ingest, nil), source.Limits{}, nil)
	var incs []*incident.Incident
	for _, d := range ds {
		now = now.Add(time.Minute)
		w := post(h, "/hooks/generic/tool", d.body, d.hdr)
		if w.Code != d.code || !strings.Contains(w.Body.String(), d.why) {
			t.Fatalf("%s: %d %q, want %d %q", d.name, w.Code, w.Body, d.code, d.why)
		}
		incs, err = svc.List(context.Background(), incident.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		open := 0
		for _, inc := range incs {
			if inc.Status.Open() {
				open++
			}
		}
		if open != d.open || len(incs) != d.all {
			t.Fatalf("%s: %d open of %d incidents, want %d of %d", d.name, open, len(incs), d.open, d.all)
		}
	}
	return incs
}

func preset(name string, cfg config.GenericSource) config.GenericSource {
	cfg.Preset = name
	return cfg
}

// sameJSON fails unless a and b hold the same JSON value.
func sameJSON(t *testing.T, what string, a, b []byte) {
	t.Helper()
	var x, y any
	for _, p := range []struct {
		b []byte
		v *any
	}{{a, &x}, {b, &y}} {
		d := json.NewDecoder(bytes.NewReader(p.b))
		d.UseNumber()
		if err := d.Decode(p.v); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, p.b)
		}
	}
	if !reflect.DeepEqual(x, y) {
		t.Errorf("%s differ:\n%s\n%s", what, a, b)
	}
}

func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "generic", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// documented fails unless docs/sources/generic.md shows text verbatim, so
// what users copy from the docs is what the tests fill.
func documented(t *testing.T, text []byte) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sources", "generic.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, bytes.TrimSpace(text)) {
		t.Errorf("docs/sources/generic.md does not show:\n%s", text)
	}
}

// TestPresetUptimeKuma: Uptime Kuma's webhook notification posts
// {heartbeat, monitor, msg} (server/notification-providers/webhook.js) with
// heartbeat.status a number, 0 down and 1 up (server/model/heartbeat.js,
// monitor.js sendNotification); its [Test] button posts monitor: null and
// heartbeat: null (server.js testNotification), which is answered 200 and
// dropped. The down notification opens the monitor's incident, the up one
// resolves it.
func TestPresetUptimeKuma(t *testing.T) {
	cfg := preset("uptime-kuma", config.GenericSource{BearerToken: "kuma-token"})
	auth := map[string]string{"Authorization": "Bearer kuma-token"}
	incs := replay(t, cfg, []delivery{
		{"[Test] button", fixture(t, "generic_uptime_kuma_test.json"), auth, 200, 0, 0, "ignored"},
		{"down", fixture(t, "generic_uptime_kuma_down.json"), auth, 200, 1, 1, "ok"},
		{"down again (resend interval)", fixture(t, "generic_uptime_kuma_down.json"), auth, 200, 1, 1, "ok"},
		{"up", fixture(t, "generic_uptime_kuma_up.json"), auth, 200, 0, 1, "ok"},
		{"no token", fixture(t, "generic_uptime_kuma_down.json"), nil, 401, 0, 1, "missing credentials"},
	})
	inc := incs[0]
	if inc.Title != "Homepage: timeout of 48000ms exceeded" || inc.Labels["monitor"] != "Homepage" || inc.Labels["monitor_type"] != "http" {
		t.Errorf("incident %q %v", inc.Title, inc.Labels)
	}
	b, err := mustGeneric(t, "kuma", cfg).Parse(nil, fixture(t, "generic_uptime_kuma_down.json"))
	if err != nil || b.GroupKey != "12" {
		t.Errorf("key %q, want the monitor id 12: %v", b.GroupKey, err)
	}
	sameJSON(t, "examples/generic/uptime-down.json and the down sample", example(t, "uptime-down.json"), fixture(t, "generic_uptime_kuma_down.json"))
}

// datadogVars are the values Datadog puts for its template variables
// (https://docs.datadoghq.com/integrations/webhooks/#variables, the
// examples given there) on a host monitor's trigger; $ID is the event's,
// new for each notification.
var datadogVars = map[string]string{
	"ALERT_ID": "28761243", "AGGREG_KEY": "9bd4ac313a4d1e8fae2482df7b77628", "ALERT_CYCLE_KEY": "7437654318463129601",
	"ID": "7437654318463129651", "ALERT_TRANSITION": "Triggered", "ALERT_TYPE": "error", "ALERT_PRIORITY": "P1",
	"ALERT_TITLE":  "[Triggered on {host:ip-012345}] Host is Down",
	"ALERT_STATUS": "system.load.1 over host:ip-012345 was > 0 at least once during the last 1m",
	"ALERT_SCOPE":  "host:ip-012345", "ALERT_METRIC": "system.load.1", "HOSTNAME": "ip-012345",
	"TAGS": "env:prod,role:computing-node", "LINK": "https://app.datadoghq.com/event/event?id=7437654318463129651",
	"DATE": "1406662672000", "ORG_ID": "123456", "ORG_NAME": "Example Org",
}

// fillDatadog substitutes $VARIABLES in the payload template as Datadog
// does, the values JSON-escaped; an unknown variable fails the test.
func fillDatadog(t *testing.T, tmpl []byte, vars map[string]string, over map[string]string) []byte {
	t.Helper()
	return regexp.MustCompile(`\$[A-Z_]+`).ReplaceAllFunc(tmpl, func(v []byte) []byte {
		name := string(v[1:])
		val, ok := over[name]
		if !ok {
			val, ok = vars[name]
		}
		if !ok {
			t.Errorf("the template uses $%s, which has no sample value", name)
		}
		q, _ := json.Marshal(val)
		return q[1 : len(q)-1]
	})
}

// TestPresetDatadog: the documented payload template, filled for a
// trigger and its recovery, gives the samples; the recovery (another $ID)
// resolves what the trigger opened because the key is $ALERT_ID and
// $AGGREG_KEY; every $ALERT_TRANSITION maps.
func TestPresetDatadog(t *testing.T) {
	tmpl := example(t, "datadog-payload.json")
	documented(t, tmpl)
	recovery := map[string]string{"ID": "7437654318463129659", "ALERT_TRANSITION": "Recovered", "ALERT_TYPE": "success",
		"ALERT_TITLE":  "[Recovered on {host:ip-012345}] Host is Down",
		"ALERT_STATUS": "system.load.1 over host:ip-012345 was <= 0 on average during the last 1m",
		"LINK":         "https://app.datadoghq.com/event/event?id=7437654318463129659", "DATE": "1406662972000"}
	trigger := fillDatadog(t, tmpl, datadogVars, nil)
	recovered := fillDatadog(t, tmpl, datadogVars, recovery)
	sameJSON(t, "filled template and generic_datadog_triggered.json", trigger, fixture(t, "generic_datadog_triggered.json"))
	sameJSON(t, "filled template and generic_datadog_recovered.json", recovered, fixture(t, "generic_datadog_recovered.json"))

	cfg := preset("datadog", config.GenericSource{BearerToken: "dd-token"})
	auth := map[string]string{"Authorization": "Bearer dd-token"}
	incs := replay(t, cfg, []delivery{
		{"Triggered", trigger, auth, 200, 1, 1, "ok"},
		{"Renotify", fillDatadog(t, tmpl, datadogVars, map[string]string{"ID": "7437654318463129655", "ALERT_TRANSITION": "Renotify"}), auth, 200, 1, 1, "ok"},
		{"Recovered", recovered, auth, 200, 0, 1, "ok"},
	})
	inc := incs[0]
	if inc.Title != datadogVars["ALERT_TITLE"] || inc.Severity != "critical" || inc.Labels["host"] != "ip-012345" || inc.Labels["priority"] != "P1" {
		t.Errorf("incident %q %q %v", inc.Title, inc.Severity, inc.Labels)
	}

	g := mustGeneric(t, "dd", cfg)
	for transition, want := range map[string]incident.AlertStatus{
		"Triggered": incident.AlertFiring, "Re-Triggered": incident.AlertFiring, "Warn": incident.AlertFiring,
		"Re-Warn": incident.AlertFiring, "No Data": incident.AlertFiring, "Re-No Data": incident.AlertFiring,
		"Renotify": incident.AlertFiring, "Recovered": incident.AlertResolved,
	} {
		b, err := g.Parse(nil, fillDatadog(t, tmpl, datadogVars, map[string]string{"ALERT_TRANSITION": transition}))
		if err != nil || b.Alerts[0].Status != want || b.GroupKey != "28761243/9bd4ac313a4d1e8fae2482df7b77628" {
			t.Errorf("%s: %+v %v, want %s", transition, b, err, want)
		}
	}
	if b, err := g.Parse(nil, fillDatadog(t, tmpl, datadogVars, map[string]string{"ALERT_TYPE": "warning"})); err != nil || b.Severity != "warning" {
		t.Errorf("a warning: severity %q %v", b.Severity, err)
	}
	_, err := g.Parse(nil, fillDatadog(t, tmpl, datadogVars, map[string]string{"ALERT_TRANSITION": "Null"}))
	if err == nil || !strings.Contains(err.Error(), `status: "Null" is neither firing nor resolved; accepted: status_map keys "No Data", "Re-No Data", "Re-Triggered", "Re-Warn", "Recovered", "Renotify", "Triggered", "Warn"`) {
		t.Errorf("an unknown transition: %v", err)
	}
}

// zabbixMacros are what Zabbix expands the media type's macros to for a
// problem on a host (macro meanings: Zabbix manual, "Supported macros";
// {EVENT.VALUE} 1 for a problem and 0 for its recovery, {EVENT.ID} the
// problem's id in both, as Zabbix's own PagerDuty media type relies on).
var zabbixMacros = map[string]string{
	"{EVENT.ID}": "5208451", "{EVENT.VALUE}": "1", "{EVENT.UPDATE.STATUS}": "0", "{EVENT.SOURCE}": "0",
	"{EVENT.NAME}": "High CPU utilization (over 90% for 5m)", "{EVENT.SEVERITY}": "High", "{EVENT.NSEVERITY}": "4",
	"{EVENT.TAGS}": "class:os, component:cpu, scope:performance", "{EVENT.OPDATA}": "Current utilization: 95.2 %",
	"{HOST.NAME}": "db-01", "{HOST.IP}": "10.0.3.17", "{TRIGGER.ID}": "23851", "{$ZABBIX.URL}": "https://zabbix.example.com",
}

// zabbixBody is what the media type's script posts: its parameters with
// their macros expanded, without tebura_url and tebura_token, as one JSON
// object (JSON.stringify keeps the parameters' order).
func zabbixBody(t *testing.T, params []struct{ Name, Value string }, over map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte('{')
	for _, p := range params {
		if p.Name == "tebura_url" || p.Name == "tebura_token" {
			continue
		}
		v, ok := over[p.Value]
		if !ok {
			v, ok = zabbixMacros[p.Value]
		}
		if !ok {
			t.Errorf("parameter %s is %s, which has no sample value", p.Name, p.Value)
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.Name)
		q, _ := json.Marshal(v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(q)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// TestPresetZabbix: the shipped media type (examples/generic/zabbix-media-
// type.yaml), its macros expanded for a problem and its recovery, gives
// the samples; the recovery resolves the problem's incident and an update
// (acknowledgement) changes nothing.
func TestPresetZabbix(t *testing.T) {
	raw := example(t, "zabbix-media-type.yaml")
	documented(t, raw)
	var export struct {
		ZabbixExport struct {
			MediaTypes []struct {
				Name, Type, Script string
				Parameters         []struct{ Name, Value string }
			} `yaml:"media_types"`
		} `yaml:"zabbix_export"`
	}
	if err := yaml.Unmarshal(raw, &export); err != nil || len(export.ZabbixExport.MediaTypes) != 1 {
		t.Fatalf("media type: %v", err)
	}
	mt := export.ZabbixExport.MediaTypes[0]
	// zabbixBody emulates this script; hold it to what it does.
	for _, want := range []string{"JSON.parse(value)", "delete params.tebura_url;", "delete params.tebura_token;",
		"'Authorization: Bearer ' + token", "req.post(url, JSON.stringify(params))"} {
		if mt.Type != "WEBHOOK" || !strings.Contains(mt.Script, want) {
			t.Errorf("media type %s script lacks %q", mt.Type, want)
		}
	}
	problem := zabbixBody(t, mt.Parameters, nil)
	recovery := zabbixBody(t, mt.Parameters, map[string]string{"{EVENT.VALUE}": "0"})
	sameJSON(t, "expanded media type and generic_zabbix_problem.json", problem, fixture(t, "generic_zabbix_problem.json"))
	sameJSON(t, "expanded media type and generic_zabbix_recovery.json", recovery, fixture(t, "generic_zabbix_recovery.json"))

	cfg := preset("zabbix", config.GenericSource{BearerToken: "zbx-token"})
	auth := map[string]string{"Authorization": "Bearer zbx-token"}
	incs := replay(t, cfg, []delivery{
		{"problem", problem, auth, 200, 1, 1, "ok"},
		{"acknowledged", zabbixBody(t, mt.Parameters, map[string]string{"{EVENT.UPDATE.STATUS}": "1"}), auth, 200, 1, 1, "ignored"},
		{"recovery", recovery, auth, 200, 0, 1, "ok"},
		{"another problem", zabbixBody(t, mt.Parameters, map[string]string{"{EVENT.ID}": "5208460", "{EVENT.NSEVERITY}": "2"}), auth, 200, 1, 2, "ok"},
	})
	if first := incs[len(incs)-1]; first.Title != "High CPU utilization (over 90% for 5m)" || first.Severity != "critical" ||
		first.Labels["host"] != "db-01" || first.Labels["zabbix_severity"] != "High" {
		t.Errorf("incident %q %q %v", first.Title, first.Severity, first.Labels)
	}
	if second := incs[0]; second.Severity != "warning" {
		t.Errorf("nseverity 2: severity %q, want warning", second.Severity)
	}
}

// TestPresetSentry: Sentry's integration platform webhooks as documented
// (docs.sentry.io, integration-platform/webhooks: issue-alerts, issues,
// metric-alerts; the issue alert's stack trace cut to its last frame),
// signed with the client secret in Sentry-Hook-Signature and naming their
// resource in Sentry-Hook-Resource. The issue alert opens the issue's
// incident and issue.resolved (the issue sample carries the alert's issue
// id) resolves it; other issue actions are dropped; a metric alert opens
// and resolves its own.
func TestPresetSentry(t *testing.T) {
	const secret = "sentry-client-secret"
	signed := func(resource string, body []byte) map[string]string {
		return map[string]string{"Sentry-Hook-Resource": resource, "Sentry-Hook-Signature": hexMAC(secret, body),
			"Sentry-Hook-Timestamp": "1566248778", "Request-ID": "5a0fe5b7-4b12-4d6b-9b5c-0f5a1c2e3d4f"}
	}
	created := fixture(t, "generic_sentry_issue_created.json")
	alert := fixture(t, "generic_sentry_event_alert.json")
	resolved := fixture(t, "generic_sentry_issue_resolved.json")
	critical := fixture(t, "generic_sentry_metric_alert_critical.json")
	metricResolved := fixture(t, "generic_sentry_metric_alert_resolved.json")
	install := []byte(`{"action": "created", "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}, "data": {}, "actor": {"id": 1, "name": "Jane", "type": "user"}}`)
	cfg := preset("sentry", config.GenericSource{HMACSecret: secret})
	incs := replay(t, cfg, []delivery{
		{"installation", install, signed("installation", install), 200, 0, 0, "ignored"},
		{"issue created", created, signed("issue", created), 200, 0, 0, "ignored"},
		{"unsigned issue alert", alert, map[string]string{"Sentry-Hook-Resource": "event_alert"}, 401, 0, 0, "missing signature header Sentry-Hook-Signature"},
		{"issue alert", alert, signed("event_alert", alert), 200, 1, 1, "ok"},
		{"issue resolved", resolved, signed("issue", resolved), 200, 0, 1, "ok"},
		{"metric alert critical", critical, signed("metric_alert", critical), 200, 1, 2, "ok"},
		{"metric alert resolved", metricResolved, signed("metric_alert", metricResolved), 200, 0, 2, "ok"},
	})
	// An incident keeps the labels common to all its deliveries.
	issue, metric := incs[1], incs[0]
	if issue.Title != "ReferenceError: heck is not defined" || issue.Severity != "error" || issue.Labels["project_id"] != "1" {
		t.Errorf("issue incident %q %q %v", issue.Title, issue.Severity, issue.Labels)
	}
	if metric.Title != "Critical: Too many errors" || metric.Severity != "critical" || metric.Labels["rule"] != "Too many errors" {
		t.Errorf("metric incident %q %q %v", metric.Title, metric.Severity, metric.Labels)
	}
	g := mustGeneric(t, "sentry", cfg)
	for _, tt := range []struct {
		resource string
		body     []byte
		key      string
		labels   map[string]string
	}{
		{"event_alert", alert, "1117540176", map[string]string{"project_id": "1", "rule": "Very Important Alert Rule!", "severity": "error"}},
		{"issue", resolved, "1117540176", map[string]string{"project_id": "1", "severity": "error"}},
		{"metric_alert", critical, "metric-alert-4", map[string]string{"rule": "Too many errors", "severity": "critical"}},
	} {
		b, err := g.Parse(http.Header{"Sentry-Hook-Resource": {tt.resource}}, tt.body)
		if err != nil || b.GroupKey != tt.key || !reflect.DeepEqual(b.Labels, tt.labels) {
			t.Errorf("%s: key %q labels %v, want %q %v: %v", tt.resource, b.GroupKey, b.Labels, tt.key, tt.labels, err)
		}
	}
}

// hcReplace fills a Healthchecks.io webhook template the way
// hc/lib/string.py replace does: each "$" starts a part, replaced by the
// first placeholder (in hc/integrations/webhook/transport.py's order) it
// starts with.
func hcReplace(tmpl string, ctx [][2]string) string {
	parts := strings.Split(tmpl, "$")
	out := parts[0]
	for _, p := range parts[1:] {
		p = "$" + p
		for _, kv := range ctx {
			if strings.HasPrefix(p, kv[0]) {
				p = kv[1] + p[len(kv[0]):]
				break
			}
		}
		out += p
	}
	return out
}

// TestPresetHealthchecks: the documented request body, filled as
// Healthchecks.io fills it ($JSON is the check as its API v3 returns it,
// Check.to_dict), gives the samples; the "up" flip resolves what the
// "down" flip opened.
func TestPresetHealthchecks(t *testing.T) {
	tmpl := example(t, "healthchecks-body.txt")
	documented(t, tmpl)
	fill := func(sample string) []byte {
		var s struct {
			Status, Now string
			Check       json.RawMessage
		}
		if err := json.Unmarshal(fixture(t, sample), &s); err != nil {
			t.Fatal(err)
		}
		// s.Check is the check's JSON as json.dumps wrote it into the sample.
		return []byte(hcReplace(string(tmpl), [][2]string{{"$CODE", "5f6e7a8b-1c2d-4e3f-9a0b-1c2d3e4f5a6b"}, {"$STATUS", s.Status},
			{"$NOW", s.Now}, {"$NAME_JSON", `"Nightly backup"`}, {"$NAME", "Nightly backup"}, {"$SLUG", "nightly-backup"},
			{"$TAGS", "prod db"}, {"$JSON", string(s.Check)}}))
	}
	down, up := fill("generic_healthchecks_down.json"), fill("generic_healthchecks_up.json")
	sameJSON(t, "filled body and generic_healthchecks_down.json", down, fixture(t, "generic_healthchecks_down.json"))
	sameJSON(t, "filled body and generic_healthchecks_up.json", up, fixture(t, "generic_healthchecks_up.json"))
	cfg := preset("healthchecks", config.GenericSource{BearerToken: "hc-token"})
	auth := map[string]string{"Authorization": "Bearer hc-token"}
	incs := replay(t, cfg, []delivery{
		{"down", down, auth, 200, 1, 1, "ok"},
		{"up", up, auth, 200, 0, 1, "ok"},
	})
	if inc := incs[0]; inc.Title != "Nightly backup" || inc.Labels["check"] != "nightly-backup" || inc.Labels["tags"] != "prod db" {
		t.Errorf("incident %q %v", inc.Title, inc.Labels)
	}
	unnamed := bytes.Replace(down, []byte(`"name": "Nightly backup"`), []byte(`"name": ""`), 1)
	if b, err := mustGeneric(t, "hc", cfg).Parse(nil, unnamed); err != nil || b.Title != "nightly-backup" {
		t.Errorf("an unnamed check: title %q, want its slug: %v", b.Title, err)
	}
}

// TestGenericPresetRegistry: the five presets, each a working source with
// only credentials added; a preset fills the keys left empty, explicit keys
// win, labels and status_map merge entry by entry; an unknown preset names
// the known ones.
func TestGenericPresetRegistry(t *testing.T) {
	names := source.GenericPresetNames()
	if want := []string{"datadog", "healthchecks", "sentry", "uptime-kuma", "zabbix"}; !reflect.DeepEqual(names, want) {
		t.Errorf("presets %v, want %v", names, want)
	}
	for _, n := range names {
		if _, err := source.NewGeneric("p", config.GenericSource{Preset: n, HMACSecret: "s", SignatureHeader: "X-Sig"}); err != nil {
			t.Errorf("preset %s: %v", n, err)
		}
	}
	g, err := source.ApplyPreset(config.GenericSource{Preset: "datadog", BearerToken: "t", Title: "{{ .event_title }}",
		Labels: map[string]string{"team": "web", "scope": ""}, StatusMap: map[string]string{"Renotify": "ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	dd := source.GenericPresets()["datadog"]
	if g.Key != dd.Key || g.Status != dd.Status || g.Severity != dd.Severity || g.Title != "{{ .event_title }}" || g.BearerToken != "t" {
		t.Errorf("merged %+v", g)
	}
	if g.Labels["team"] != "web" || g.Labels["scope"] != "" || g.Labels["host"] != dd.Labels["host"] {
		t.Errorf("labels %v", g.Labels)
	}
	if g.StatusMap["Renotify"] != "ignored" || g.StatusMap["Recovered"] != "resolved" {
		t.Errorf("status_map %v", g.StatusMap)
	}
	if source.GenericPresets()["datadog"].StatusMap["Renotify"] != "firing" {
		t.Error("ApplyPreset changed the registry")
	}
	b, err := mustGeneric(t, "dd", config.GenericSource{Preset: "datadog", Insecure: true, StatusMap: map[string]string{"Renotify": "ignored"}}).
		Parse(nil, fillDatadog(t, example(t, "datadog-payload.json"), datadogVars, map[string]string{"ALERT_TRANSITION": "Renotify"}))
	if err != source.ErrIgnored {
		t.Errorf("an overridden status_map entry: %+v %v, want ErrIgnored", b, err)
	}
	_, err = source.NewGeneric("dd", config.GenericSource{Preset: "datdog", BearerToken: "t"})
	if err == nil || err.Error() != `sources.generic.dd.preset: is "datdog", which is not a preset; use one of datadog, healthchecks, sentry, uptime-kuma, zabbix` {
		t.Errorf("unknown preset: %v", err)
	}
}
