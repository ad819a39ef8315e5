package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tebura.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cleanEnv unsets every TEBURA_* variable for the test, so that the
// environment of whoever runs the tests does not leak into the loads.
func cleanEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix+"_") {
			t.Setenv(name, "") // restores the value after the test
			os.Unsetenv(name)
		}
	}
}

func mustLoad(t *testing.T, path string) Config {
	t.Helper()
	l, ps := Read(path)
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	return l.Config
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	cleanEnv(t)
	got := mustLoad(t, "")
	if !reflect.DeepEqual(got, Default()) {
		t.Fatalf("loading nothing must give Default()\ngot  %+v\nwant %+v", got, Default())
	}
}

func TestLoadFileOverridesDefaults(t *testing.T) {
	cleanEnv(t)
	p := writeConfig(t, `
http: {listen: "127.0.0.1:9999"}
runbooks:
  dirs: [a, /abs/b]
  default_timeout: 90s
slack:
  commands: [/rb]
automations:
  - name: x
    match: ['a="b"']
    params: {Service: '{{ .Labels.Service }}'}
runbooks_ignored_check: false
`)
	l, ps := Read(p)
	if len(ps) != 1 || ps[0].Key != "runbooks_ignored_check" || !strings.Contains(ps[0].Text, "unknown key") || ps[0].Line != 12 {
		t.Fatalf("want one unknown-key problem at line 12, got %v", ps)
	}
	c := l.Config
	dir := filepath.Dir(p)
	if c.HTTP.Listen != "127.0.0.1:9999" || c.Runbooks.DefaultTimeout != 90*time.Second {
		t.Errorf("file values not applied: %+v", c)
	}
	if want := []string{filepath.Join(dir, "a"), "/abs/b"}; !reflect.DeepEqual(c.Runbooks.Dirs, want) {
		t.Errorf("dirs = %v, want %v (relative to the config file)", c.Runbooks.Dirs, want)
	}
	if !reflect.DeepEqual(c.Slack.Commands, []string{"/rb"}) {
		t.Errorf("a list in the file must replace the default list, got %v", c.Slack.Commands)
	}
	if c.Runbooks.MaxTimeout != time.Hour || c.Log.Level != "info" {
		t.Errorf("defaults lost for keys the file does not set: %+v", c)
	}
	if _, ok := c.Automations[0].Params["Service"]; !ok {
		t.Errorf("map keys must keep their case, got %v", c.Automations[0].Params)
	}
	if c.DataDir != filepath.Join(dir, "tebura-data") {
		t.Errorf("data_dir = %q, want it under the config's directory", c.DataDir)
	}
}

// TestLoadChatDeliveryDeadline: chat.delivery_deadline is read from the
// file, and defaults to an hour when absent.
func TestLoadChatDeliveryDeadline(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		file string
		want time.Duration
	}{
		{"chat: {delivery_deadline: 10m}\n", 10 * time.Minute},
		{"log: {level: info}\n", time.Hour},
	} {
		l, ps := Read(writeConfig(t, tc.file))
		if len(ps) > 0 {
			t.Fatalf("%q: %v", tc.file, ps)
		}
		if got := l.Config.Chat.DeliveryDeadline; got != tc.want {
			t.Errorf("%q: chat.delivery_deadline = %v, want %v", tc.file, got, tc.want)
		}
	}
}

func TestEnvOverridesEveryKey(t *testing.T) {
	cleanEnv(t)
	p := writeConfig(t, "access:\n  roles:\n    sre: {members: [console:alice]}\nsources:\n  generic:\n    ci: {}\n")
	l, _ := Read(p)
	keys := envKeys("", reflect.TypeOf(Config{}), l.Config.Map())
	for _, want := range []string{"data_dir", "http.listen", "slack.bot_token", "slack.channels.incidents", "runbooks.dirs",
		"access.roles.sre.members", "sources.generic.ci.bearer_token", "sources.alertmanager.basic_auth.password", "incidents.reopen_within"} {
		found := false
		for _, k := range keys {
			if k == want {
				found = true
			}
		}
		if !found {
			t.Errorf("no environment override for %s (keys: %v)", want, keys)
		}
	}
	if envName("slack.bot_token") != "TEBURA_SLACK_BOT_TOKEN" || envName("access.roles.on-call.members") != "TEBURA_ACCESS_ROLES_ON_CALL_MEMBERS" {
		t.Errorf("envName: %s %s", envName("slack.bot_token"), envName("access.roles.on-call.members"))
	}
	// Each key round-trips through its variable.
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			ft := fieldType(reflect.TypeOf(Config{}), key)
			var val string
			switch {
			case ft == durationType:
				val = "42s"
			case ft.Kind() == reflect.Bool:
				val = "true"
			case ft.Kind() == reflect.Int, ft.Kind() == reflect.Int64:
				val = "42"
			case ft.Kind() == reflect.Float64:
				val = "4.5"
			case ft.Kind() == reflect.Slice:
				val = "x1,x2"
			default:
				val = "v-" + key
			}
			t.Setenv(envName(key), val)
			l, ps := Read(p)
			if len(ps) > 0 {
				t.Fatalf("problems: %v", ps)
			}
			v := valueAt(reflect.ValueOf(l.Config), key)
			var ok bool
			switch {
			case ft == durationType:
				ok = v.Interface() == 42*time.Second
			case ft.Kind() == reflect.Bool:
				ok = v.Bool()
			case ft.Kind() == reflect.Int, ft.Kind() == reflect.Int64:
				ok = v.Int() == 42
			case ft.Kind() == reflect.Float64:
				ok = v.Float() == 4.5
			case ft.Kind() == reflect.Slice:
				ok = v.Len() == 2 && strings.HasSuffix(v.Index(1).String(), "x2")
			default: // paths are resolved against the config's directory
				ok = strings.HasSuffix(v.String(), val)
			}
			if !ok {
				t.Fatalf("%s = %v after %s=%s", key, v.Interface(), envName(key), val)
			}
			if file, _ := l.where(key); file != "$"+envName(key) {
				t.Errorf("problems about %s would point at %q, want the variable", key, file)
			}
		})
	}
}

// valueAt returns the field of a config value a dotted key names.
func valueAt(v reflect.Value, key string) reflect.Value {
	for _, part := range strings.Split(key, ".") {
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if tagName(v.Type().Field(i)) == part {
					v = v.Field(i)
					break
				}
			}
		case reflect.Map:
			v = v.MapIndex(reflect.ValueOf(part))
		}
	}
	return v
}

func TestSecretsFromEnvRefsAndFiles(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app-token"), []byte("xapp-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signing"), []byte("sign-from-env-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MY_BOT_TOKEN", "xoxb-from-env")
	t.Setenv("TEBURA_SLACK_SIGNING_SECRET_FILE", filepath.Join(dir, "signing"))
	p := filepath.Join(dir, "tebura.yaml")
	body := `
slack:
  enabled: true
  bot_token: "${MY_BOT_TOKEN}"
  app_token_file: app-token
runbooks:
  inline:
    - name: keeps-dollars
      steps: [{name: s, script: 'echo ${HOME}'}]
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, p)
	if c.Slack.BotToken.Value() != "xoxb-from-env" {
		t.Errorf("bot_token = %q", c.Slack.BotToken.Value())
	}
	if c.Slack.AppToken.Value() != "xapp-from-file" {
		t.Errorf("app_token = %q, want the file's content without its newline", c.Slack.AppToken.Value())
	}
	if c.Slack.SigningSecret.Value() != "sign-from-env-file" {
		t.Errorf("signing_secret = %q, want TEBURA_SLACK_SIGNING_SECRET_FILE's content", c.Slack.SigningSecret.Value())
	}
	steps := c.Runbooks.Inline[0]["steps"].([]any)
	if s := steps[0].(map[string]any)["script"]; s != "echo ${HOME}" {
		t.Errorf("inline runbook scripts must not be expanded, got %q", s)
	}
}

func TestLoadProblems(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		name, body string
		want       []string // substrings of the problems, in order
	}{
		{"unknown nested key", "slack:\n  bot_tokn: x\n", []string{":2: slack.bot_tokn: unknown key; did you mean bot_token?"}},
		{"unknown top key", "datadir: x\n", []string{":1: datadir: unknown key; did you mean data_dir?"}},
		{"unknown key in a list item", "automations:\n  - name: a\n    matchers: [x]\n", []string{":3: automations[0].matchers: unknown key; did you mean match"}},
		{"unknown key in a map entry", "access:\n  roles:\n    sre: {member: [console:a]}\n", []string{":3: access.roles.sre.member: unknown key; did you mean members?"}},
		{"wrong type", "runbooks:\n  max_concurrent: many\n", []string{":2: runbooks.max_concurrent: has the wrong type: want a number"}},
		{"list for a string", "log:\n  level: [a]\n", []string{":2: log.level: has the wrong type: want a string, got a list"}},
		{"duration without unit", "shutdown_grace: 30\n", []string{":1: shutdown_grace: 30 has no unit"}},
		{"bad duration", "shutdown_grace: soon\n", []string{`:1: shutdown_grace: "soon" is not a duration`}},
		{"unset env reference", "slack:\n  bot_token: ${TEBURA_TEST_NOT_SET}\n", []string{":2: slack.bot_token: references ${TEBURA_TEST_NOT_SET}, which is not set"}},
		{"file and value", "slack:\n  bot_token: a\n  bot_token_file: b\n", []string{":3: slack.bot_token_file: set either bot_token or bot_token_file, not both"}},
		{"missing secret file", "slack:\n  bot_token_file: nope\n", []string{":2: slack.bot_token_file: cannot read"}},
		{"_file on a non-string", "http:\n  max_body_bytes_file: x\n", []string{"http.max_body_bytes_file: unknown key"}},
		{"bad yaml", "log: [\n", []string{"not valid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.body)
			_, ps := Read(p)
			var got []string
			for _, pr := range ps {
				got = append(got, pr.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestFilePrecedence(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got, err := File("flag.yaml", getenv); got != "flag.yaml" || err == nil || err.Error() != "flag.yaml: no such file or directory" {
		t.Errorf("flag: %q, %v; want the flag's file and why it cannot be read", got, err)
	}
	env["TEBURA_CONFIG"] = "env.yaml"
	if got, _ := File("", getenv); got != "env.yaml" {
		t.Errorf("env: %q", got)
	}
	delete(env, "TEBURA_CONFIG")
	dir := t.TempDir()
	t.Chdir(dir)
	if got, err := File("", getenv); got != "" || err != nil {
		t.Errorf("no file: %q, %v; want defaults", got, err)
	}
	if err := os.WriteFile("tebura.yaml", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := File("", getenv); got != "tebura.yaml" || err != nil {
		t.Errorf("./tebura.yaml: %q, %v", got, err)
	}
	if got, err := File(dir, getenv); got != dir || err == nil || err.Error() != dir+": is a directory" {
		t.Errorf("a directory: %q, %v", got, err)
	}
}

// TestLoadSourceBasicAuth: Grafana and generic sources take basic_auth like
// Alertmanager, from the file (with ${VAR} secrets) and from the
// environment, and basic auth alone is enough authentication.
func TestLoadSourceBasicAuth(t *testing.T) {
	cleanEnv(t)
	t.Setenv("GRAFANA_WEBHOOK_PASSWORD", "g-pass")
	t.Setenv("TEBURA_SOURCES_GENERIC_CI_BASIC_AUTH_PASSWORD", "ci-pass")
	p := writeConfig(t, `
sources:
  grafana:
    basic_auth: {username: grafana, password: "${GRAFANA_WEBHOOK_PASSWORD}"}
  generic:
    ci:
      basic_auth: {username: ci}
      key: '{{ .id }}'
`)
	l, ps := Read(p)
	ps = append(ps, l.validate(Options{})...)
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	g, ci := l.Config.Sources.Grafana.BasicAuth, l.Config.Sources.Generic["ci"].BasicAuth
	if g.Username != "grafana" || g.Password.Value() != "g-pass" || ci.Username != "ci" || ci.Password.Value() != "ci-pass" {
		t.Fatalf("grafana %+v, generic %+v", g, ci)
	}
}

// TestLoadStatusMapIntKeys: status_map keys are whatever the sender sends,
// numbers included; YAML reads `0:` as an int key, which must land as the
// text "0" (with its line known), not be refused or lost.
func TestLoadStatusMapIntKeys(t *testing.T) {
	cleanEnv(t)
	p := writeConfig(t, `sources:
  generic:
    kuma:
      bearer_token: t
      key: '{{ .monitor.id }}'
      status: '{{ .heartbeat.status }}'
      status_map: {0: firing, 1: resolved, "Re-Triggered": firing, Recovered: resolved, "No Data": firing, 2.5: ignored, true: ignored}
`)
	l, ps := Read(p)
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	want := map[string]string{"0": "firing", "1": "resolved", "Re-Triggered": "firing", "Recovered": "resolved", "No Data": "firing",
		"2.5": "ignored", "true": "ignored"}
	if got := l.Config.Sources.Generic["kuma"].StatusMap; !reflect.DeepEqual(got, want) {
		t.Errorf("status_map = %v, want %v", got, want)
	}
	if ps := l.validate(Options{}); len(ps) > 0 {
		t.Errorf("validate: %v", ps)
	}
	if _, line := l.where("sources.generic.kuma.status_map.0"); line != 7 {
		t.Errorf("status_map.0 is at line %d, want 7", line)
	}
	bad := writeConfig(t, "sources:\n  generic:\n    kuma:\n      bearer_token: t\n      key: k\n      status: s\n      status_map:\n        0: fire\n")
	l, ps = Read(bad)
	ps = append(ps, l.validate(Options{})...)
	if len(ps) != 1 || ps[0].Line != 8 || !strings.Contains(ps[0].Text, `sources.generic.kuma.status_map.0: is "fire"; use firing, resolved, ignored`) {
		t.Errorf("a bad status_map value: %v, want one problem at line 8", ps)
	}
}

// TestLoadCheckGeneric: Load runs Options.CheckGeneric on every generic
// source that has no problem yet and places what it returns at the line
// of its key; a source Validate already refuses is not checked again.
func TestLoadCheckGeneric(t *testing.T) {
	cleanEnv(t)
	p := writeConfig(t, `sources:
  generic:
    ok: {bearer_token: t, key: k}
    odd: {bearer_token: t, key: k, preset: nope}
    open: {key: k}
`)
	var checked []string
	check := func(name string, g GenericSource) error {
		checked = append(checked, name)
		if g.Preset != "" {
			return &KeyError{Key: "sources.generic." + name + ".preset", Msg: "is not a preset"}
		}
		return nil
	}
	_, ps := Load(p, Options{CheckGeneric: check})
	var got []string
	for _, pr := range ps {
		got = append(got, pr.String())
	}
	want := []string{
		p + ":5: sources.generic.open: has no authentication; set bearer_token, basic_auth or hmac_secret, or insecure: true to accept unauthenticated requests (leave the source out of the configuration to keep it off)",
		p + ":4: sources.generic.odd.preset: is not a preset",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems\n got %q\nwant %q", got, want)
	}
	if !reflect.DeepEqual(checked, []string{"odd", "ok"}) {
		t.Errorf("checked %v, want the sources without a problem, in order", checked)
	}
}

// BenchmarkLoadExample is what each tebura command pays to read its
// configuration (config.example.yaml, no TEBURA_* variable set): part of
// the floor of a one-shot `tebura run`.
func BenchmarkLoadExample(b *testing.B) {
	cleanEnv(b)
	for b.Loop() {
		if _, ps := Load("../config.example.yaml", Options{}); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
}
