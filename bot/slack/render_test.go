package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack/slacktest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func approvalCard() bot.Message {
	return bot.Message{
		Header:  "restart-api — approval needed",
		Level:   bot.LevelWarning,
		Text:    []string{"*@alice* asks to run *restart-api* (remediation). One approval from *sre* is needed; the requester may not approve."},
		Fields:  []bot.Field{{Label: "env", Value: "prod"}, {Label: "service", Value: "api"}, {Label: "expires", Value: "in 15m"}},
		Code:    &bot.Code{Title: "Plan", Text: "1. restart: kubectl rollout restart deployment/api -n prod\n2. wait: kubectl rollout status deployment/api -n prod"},
		Context: "run r42 · plan 3f2a9c",
		Buttons: []bot.Button{
			{Label: "Approve", Style: bot.StylePrimary, ActionID: "approve", CallbackID: "cb-approve-r42"},
			{Label: "Deny", Style: bot.StyleDanger, ActionID: "deny", CallbackID: "cb-deny-r42"},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	longLog := strings.Builder{}
	for i := 1; i <= 400; i++ {
		longLog.WriteString("\x1b[32mline ")
		longLog.WriteString(strings.Repeat("x", 20))
		longLog.WriteString(" <tag> & done\x1b[0m ")
		longLog.WriteString(strings.Repeat("=", i%7))
		longLog.WriteString("\n")
	}
	cases := map[string]bot.Message{
		"approval_card": approvalCard(),
		"running_stream": {
			Header:  "restart-api — running",
			Level:   bot.LevelInfo,
			Fields:  []bot.Field{{Label: "requested by", Value: "@alice"}, {Label: "approved by", Value: "@bob"}, {Label: "elapsed", Value: "12s"}, {Label: "step", Value: "wait (2/2)"}},
			Code:    &bot.Code{Text: "Waiting for deployment \"api\" rollout to finish: 1 of 3 updated replicas are available...\n\x1b[1mWaiting\x1b[0m for deployment \"api\" rollout to finish: 2 of 3 updated replicas are available...", Tail: true},
			Context: "run r42",
			Buttons: []bot.Button{{Label: "Cancel", Style: bot.StyleDanger, ActionID: "cancel", CallbackID: "cb-cancel-r42"}},
		},
		"final_success": {
			Header:  "restart-api — succeeded",
			Level:   bot.LevelSuccess,
			Fields:  []bot.Field{{Label: "requested by", Value: "@alice"}, {Label: "approved by", Value: "@bob"}, {Label: "took", Value: "41s"}, {Label: "exit", Value: "0"}},
			Code:    &bot.Code{Text: "deployment \"api\" successfully rolled out", Tail: true},
			Context: "run r42",
			Links:   []bot.Link{{Label: "Full log", URL: "https://tebura.example/runs/r42/log"}},
		},
		"final_failure": {
			Header:  "restart-api — failed",
			Level:   bot.LevelDanger,
			Text:    []string{"Step *wait* exited with code 1 after 5m0s (timeout)."},
			Fields:  []bot.Field{{Label: "requested by", Value: "@alice"}, {Label: "exit", Value: "1"}},
			Code:    &bot.Code{Text: "error: timed out waiting for the condition", Tail: true},
			Context: "run r42",
		},
		"help": {
			Header: "Tebura help",
			Text: []string{
				"`/runbook list` — runbooks you may run",
				"`/runbook run NAME [k=v ...]` — run one (remediation asks for approval)",
				"`/incident declare TITLE [sev=N]` — open an incident",
				"`/tebura whoami` — your identity & roles",
			},
		},
		"lock_held": {
			Header: "restart-api — not started",
			Level:  bot.LevelWarning,
			Text:   []string{"The lock *restart-api* is held by run r41 (@carol, started 2m ago). Wait for it to finish or cancel it with `/runbook cancel r41`."},
		},
		"trimmed_long_log": {
			Header:  "collect-logs — succeeded",
			Level:   bot.LevelSuccess,
			Code:    &bot.Code{Text: longLog.String(), Tail: true},
			Context: "run r43 · full log attached",
		},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			r := Render(m)
			got, err := r.JSON()
			if err != nil {
				t.Fatal(err)
			}
			checkRendered(t, r)
			path := filepath.Join("testdata", "render", name+".json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("rendering of %s changed (go test -update to accept):\n%s", name, got)
			}
		})
	}
}

// checkRendered asserts Slack would accept r.
func checkRendered(t *testing.T, r Rendered) {
	t.Helper()
	if r.Text == "" {
		t.Error("no fallback text")
	}
	raw, err := json.Marshal(r.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `\u001b`) {
		t.Error("ANSI escape left in blocks")
	}
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatal(err)
	}
	if e := slacktest.CheckBlocks(blocks); e != "" {
		t.Errorf("Slack would answer %s", e)
	}
}

func TestRenderLimits(t *testing.T) {
	huge := bot.Message{
		Header:  strings.Repeat("h", 400),
		Context: strings.Repeat("c", 4000),
	}
	for i := 0; i < 80; i++ {
		huge.Text = append(huge.Text, strings.Repeat("p<", 2500))
		huge.Fields = append(huge.Fields, bot.Field{Label: "k", Value: strings.Repeat("v", 2500)})
	}
	for i := 0; i < 40; i++ {
		huge.Buttons = append(huge.Buttons, bot.Button{Label: strings.Repeat("b", 100), ActionID: "approve", CallbackID: strings.Repeat("9", 3000)})
	}
	huge.Code = &bot.Code{Text: strings.Repeat("&<>\n", 50000), Tail: true}

	cases := map[string]bot.Message{
		"everything too big": huge,
		"empty":              {},
		"only buttons":       {Buttons: []bot.Button{{Label: "Approve", ActionID: "approve", CallbackID: "x"}}},
		"one huge code line": {Code: &bot.Code{Text: strings.Repeat("<", 20000)}},
		"one huge tail line": {Code: &bot.Code{Text: strings.Repeat("&", 20000), Tail: true}},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			r := Render(m)
			checkRendered(t, r)
			if len(r.Blocks) > MaxBlocks {
				t.Errorf("%d blocks", len(r.Blocks))
			}
			if n := utf8.RuneCountInString(r.Text); n > MaxFallbackText {
				t.Errorf("fallback text %d runes", n)
			}
		})
	}
}

func TestRenderButtonsAndEscaping(t *testing.T) {
	r := Render(approvalCard())
	raw, _ := json.Marshal(r.Blocks)
	var blocks []map[string]any
	_ = json.Unmarshal(raw, &blocks)
	var buttons []map[string]any
	for _, b := range blocks {
		if b["type"] == "actions" {
			for _, e := range b["elements"].([]any) {
				buttons = append(buttons, e.(map[string]any))
			}
		}
	}
	if len(buttons) != 2 {
		t.Fatalf("buttons = %d, want 2", len(buttons))
	}
	if buttons[0]["action_id"] != "approve" || buttons[0]["value"] != "cb-approve-r42" || buttons[0]["style"] != "primary" {
		t.Errorf("approve button = %v", buttons[0])
	}
	if buttons[1]["action_id"] != "deny" || buttons[1]["value"] != "cb-deny-r42" || buttons[1]["style"] != "danger" {
		t.Errorf("deny button = %v", buttons[1])
	}

	code := codeBlock(&bot.Code{Text: "a & b <c> \x1b[31mred\x1b[0m"}, MaxSectionText)
	if want := "```\na &amp; b &lt;c&gt; red\n```"; code != want {
		t.Errorf("code block = %q, want %q", code, want)
	}
}
