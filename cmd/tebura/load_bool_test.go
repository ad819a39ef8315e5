package main

import (
	"strings"
	"testing"

	"github.com/tebura/tebura/config"
)

// TestBoolOrWordKeys: a key that takes true, false or a word (today
// console.enabled: auto | true | false) accepts the YAML booleans as
// written, quoted or not, and its TEBURA_* variable the same words; a word
// it does not know is refused naming the value and the accepted words. A
// YAML boolean in any other string-valued key (an automation's params)
// keeps its spelling instead of becoming "1".
func TestBoolOrWordKeys(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string // console.enabled as written in the file; "" leaves it out
		env     string // TEBURA_CONSOLE_ENABLED; "" leaves it unset
		slack   bool   // slack.enabled, which "auto" looks at
		want    string
		console bool   // consoleEnabled
		problem string // a substring of the one problem expected
	}{
		{name: "yaml true", yaml: "true", slack: true, want: "true", console: true},
		{name: "yaml True", yaml: "True", slack: true, want: "true", console: true},
		{name: "yaml false", yaml: "false", want: "false", console: false},
		{name: "yaml quoted true", yaml: `"true"`, slack: true, want: "true", console: true},
		{name: "yaml auto with slack", yaml: "auto", slack: true, want: "auto", console: false},
		{name: "yaml auto alone", yaml: "auto", want: "auto", console: true},
		{name: "default", want: "auto", console: true},
		{name: "env true", env: "true", slack: true, want: "true", console: true},
		{name: "env false", env: "false", want: "false", console: false},
		{name: "env auto over yaml false", yaml: "false", env: "auto", want: "auto", console: true},
		{name: "env false over yaml true", yaml: "true", env: "false", want: "false", console: false},
		{name: "yaml yes", yaml: "yes", problem: `console.enabled: is "yes"; use one of auto, true, false`},
		{name: "env 1", env: "1", problem: `console.enabled: is "1"; use one of auto, true, false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			body := ""
			if tt.yaml != "" {
				body += "console:\n  enabled: " + tt.yaml + "\n"
			}
			if tt.slack {
				body += "slack:\n  enabled: true\n  bot_token: xoxb-1\n  app_token: xapp-1\n"
			}
			if tt.env != "" {
				t.Setenv("TEBURA_CONSOLE_ENABLED", tt.env)
			}
			l, ps := config.Load(writeConfig(t, body), loadOptions())
			if tt.problem != "" {
				if len(ps) != 1 || !strings.Contains(ps[0].String(), tt.problem) {
					t.Fatalf("problems %v, want one containing %q", ps, tt.problem)
				}
				return
			}
			if len(ps) > 0 {
				t.Fatalf("problems: %v", ps)
			}
			if got := l.Config.Console.Enabled; got != tt.want {
				t.Errorf("console.enabled = %q, want %q", got, tt.want)
			}
			if got := consoleEnabled(l.Config); got != tt.console {
				t.Errorf("console on = %v, want %v", got, tt.console)
			}
		})
	}

	t.Run("booleans keep their spelling in string values", func(t *testing.T) {
		cleanEnv(t)
		l, ps := config.Read(writeConfig(t, "automations:\n  - name: x\n    match: ['a=\"b\"']\n    params: {dry_run: true, force: false}\n"))
		if len(ps) > 0 {
			t.Fatalf("problems: %v", ps)
		}
		if p := l.Config.Automations[0].Params; p["dry_run"] != "true" || p["force"] != "false" {
			t.Errorf("params = %v, want dry_run=true force=false", p)
		}
	})
}
