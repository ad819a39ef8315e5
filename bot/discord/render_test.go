package discord

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord/discordtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func lines(n int, f string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, f, i)
	}
	return b.String()
}

func manyFields(n, size int) []bot.Field {
	var fs []bot.Field
	for i := range n {
		fs = append(fs, bot.Field{Label: fmt.Sprintf("field %d", i+1), Value: strings.Repeat("v", size)})
	}
	return fs
}

func manyButtons(n int) []bot.Button {
	var bs []bot.Button
	for i := range n {
		bs = append(bs, bot.Button{Label: fmt.Sprintf("Action %d", i+1), ActionID: "act", CallbackID: fmt.Sprintf("cb%02d", i+1)})
	}
	return bs
}

var approve = []bot.Button{
	{Label: "Approve", Style: bot.StylePrimary, ActionID: "approve", CallbackID: "c1a2b3"},
	{Label: "Deny", Style: bot.StyleDanger, ActionID: "deny", CallbackID: "c4d5e6"},
}

// renderCases are one message of every kind the bot sends, plus every
// truncation path of the renderer.
var renderCases = []struct {
	name string
	msg  bot.Message
	want []string // substrings the payload must contain
}{
	{name: "text", msg: bot.Message{
		Header: "Runbooks you may run",
		Text:   []string{"*restart-api* — Restart the API deployment", "Use `/runbook run NAME`."},
	}, want: []string{"**restart-api**"}},
	{name: "approval_card", msg: bot.Message{
		Header: "restart-api — waiting for approval", Level: bot.LevelWarning,
		Text:    []string{"@alice asks to run *restart-api*. One approval from *sre* is needed."},
		Fields:  []bot.Field{{Label: "env", Value: "prod"}, {Label: "service", Value: "api"}, {Label: "Expires", Value: "in 15 minutes"}},
		Code:    &bot.Code{Title: "Plan", Text: "1. restart: kubectl rollout restart deployment/api -n prod\n2. wait: kubectl rollout status deployment/api -n prod"},
		Context: "run r42 · plan 9f8e7d",
		Buttons: approve,
	}, want: []string{`"custom_id": "approve:c1a2b3"`, `"style": 4`}},
	{name: "run_stream", msg: bot.Message{
		Header: "restart-api — running", Level: bot.LevelInfo,
		Fields:  []bot.Field{{Label: "Requested by", Value: "@alice"}, {Label: "Approved by", Value: "@bob"}, {Label: "Elapsed", Value: "12s"}},
		Code:    &bot.Code{Text: "\x1b[32mdeployment.apps/api restarted\x1b[0m\nWaiting for ```rollout``` to finish: 1 of 3 updated\r\n", Tail: true},
		Context: "run r42",
		Buttons: []bot.Button{{Label: "Cancel", Style: bot.StyleDanger, ActionID: "cancel", CallbackID: "c777"}},
	}, want: []string{"`\u200b`\u200b`\u200brollout"}},
	{name: "run_final_success", msg: bot.Message{
		Header: "restart-api — succeeded", Level: bot.LevelSuccess,
		Fields: []bot.Field{{Label: "Exit code", Value: "0"}, {Label: "Duration", Value: "41s"}},
		Code:   &bot.Code{Text: "deployment \"api\" successfully rolled out", Tail: true},
	}},
	{name: "run_final_failure", msg: bot.Message{
		Header: "restart-api — failed", Level: bot.LevelDanger,
		Text:  []string{"Step *wait* exited with code 1."},
		Code:  &bot.Code{Text: "error: deployment \"api\" exceeded its progress deadline", Tail: true},
		Links: []bot.Link{{Label: "Full log [r42]", URL: "https://tebura.example/runs/r42/log"}},
	}, want: []string{"[Full log (r42)](https://tebura.example/runs/r42/log)"}},
	{name: "incident_card", msg: bot.Message{
		Header: "INC-7 API 5xx above 5% — SEV2", Level: bot.LevelDanger,
		Fields: []bot.Field{{Label: "Status", Value: "open"}, {Label: "Commander", Value: "unassigned"},
			{Label: "Alerts", Value: "HighErrorRate (api, prod)\nHighLatency (api, prod)"}},
		Links:   []bot.Link{{Label: "Alertmanager", URL: "http://am:9093"}},
		Buttons: []bot.Button{{Label: "Acknowledge", Style: bot.StylePrimary, ActionID: "ack", CallbackID: "i7ack"}, {Label: "Resolve", ActionID: "resolve", CallbackID: "i7res"}},
	}},
	{name: "empty", msg: bot.Message{}, want: []string{"(empty message)"}},
	{name: "trunc_header", msg: bot.Message{Header: strings.Repeat("h", 400), Text: []string{"x"}}, want: []string{"h…"}},
	{name: "trunc_text", msg: bot.Message{Header: "long text", Text: []string{strings.Repeat("word ", 1500)}}, want: []string{"(truncated)"}},
	{name: "trunc_fields", msg: bot.Message{Header: "many fields", Fields: manyFields(30, 1500)}, want: []string{"more field"}},
	{name: "trunc_code_tail", msg: bot.Message{Header: "tail", Code: &bot.Code{Text: lines(800, "log line %d"), Tail: true}}, want: []string{"log line 800", "not shown"}},
	{name: "trunc_code_head", msg: bot.Message{Header: "plan", Code: &bot.Code{Text: lines(800, "step %d")}}, want: []string{"step 1\n", "not shown"}},
	{name: "trunc_code_one_long_line", msg: bot.Message{Header: "one line", Code: &bot.Code{Text: strings.Repeat("x", 9000) + "END", Tail: true}}, want: []string{"END"}},
	{name: "trunc_buttons", msg: bot.Message{Header: "buttons", Buttons: append([]bot.Button{
		{Label: strings.Repeat("L", 120), ActionID: "approve", CallbackID: "long-label"},
		{Label: "Exact fit", ActionID: "approve", CallbackID: strings.Repeat("c", 100)},
		{Label: "Too long", ActionID: "approve", CallbackID: strings.Repeat("d", 101)},
		{Label: "Duplicate", ActionID: "approve", CallbackID: "long-label"},
	}, manyButtons(30)...)}, want: []string{`"custom_id": "` + strings.Repeat("c", 100) + `"`, "not shown"}},
	{name: "trunc_total", msg: bot.Message{
		Header: strings.Repeat("t", 300), Text: []string{strings.Repeat("p", 3000)},
		Fields: manyFields(25, 1024), Code: &bot.Code{Text: lines(400, "out %d"), Tail: true},
		Context: strings.Repeat("c", 2500),
	}},
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.MarshalIndent(build(tc.msg), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			if err := discordtest.Validate(got); err != nil {
				t.Fatalf("Discord would refuse the payload: %v", err)
			}
			for _, w := range tc.want {
				if !bytes.Contains(got, []byte(w)) && !strings.Contains(unescape(t, got), w) {
					t.Errorf("payload lacks %q", w)
				}
			}
			path := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("payload differs from %s (run go test -update after checking the change):\n%s", path, got)
			}
		})
	}
}

// unescape returns the payload's strings decoded, for substring checks.
func unescape(t *testing.T, b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			sb.WriteString(x)
			sb.WriteByte('\n')
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return sb.String()
}

func TestRenderWithinLimitsForLargeInputs(t *testing.T) {
	t.Parallel()
	// Every combination of oversized parts stays within Discord's limits.
	big := strings.Repeat("é", 5000)
	for i := range 32 {
		m := bot.Message{}
		if i&1 != 0 {
			m.Header = big
		}
		if i&2 != 0 {
			m.Text = []string{big, big}
		}
		if i&4 != 0 {
			m.Fields = manyFields(40, 2000)
		}
		if i&8 != 0 {
			m.Code = &bot.Code{Text: big + "\n" + lines(2000, "%d"), Tail: i&16 != 0}
		}
		if i&16 != 0 {
			m.Context = big
			m.Buttons = manyButtons(40)
		}
		for name, p := range map[string]payload{"fit+render": build(m), "render only": render(m)} {
			b, _ := json.Marshal(p)
			if err := discordtest.Validate(b); err != nil {
				t.Errorf("case %d %s: %v", i, name, err)
			}
		}
	}
}

func TestCustomID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		action, cb string
		want       string
		ok         bool
	}{
		{"approve", "c1", "approve:c1", true},
		{"approve", strings.Repeat("x", 92), "approve:" + strings.Repeat("x", 92), true},
		{"approve", strings.Repeat("x", 93), strings.Repeat("x", 93), true},
		{"", "c1", "c1", true},
		{"a:b", "c1", "c1", true},
		{"approve", "", "", false},
		{"", "x:y", ":x:y", true},
		{"approve", strings.Repeat("x", 95) + ":y", ":" + strings.Repeat("x", 95) + ":y", true},
		{"approve", strings.Repeat("x", 98) + ":y", "", false},
		{"approve", strings.Repeat("x", 101), "", false},
	}
	for _, tc := range tests {
		got, ok := CustomID(tc.action, tc.cb)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CustomID(%q, %d chars) = %q, %v; want %q, %v", tc.action, len(tc.cb), got, ok, tc.want, tc.ok)
		}
		if ok {
			a, cb := ParseCustomID(got)
			if cb != tc.cb || (a != "" && a != tc.action) {
				t.Errorf("ParseCustomID(%q) = %q, %q", got, a, cb)
			}
		}
	}
}
