package console

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func outputLines(from, to int) string {
	var b []string
	for i := from; i <= to; i++ {
		b = append(b, fmt.Sprintf("2026-01-01T10:00:%02d deployment.apps/api restarted, waiting for pod %d", i%60, i))
	}
	return strings.Join(b, "\n")
}

func TestRenderGolden(t *testing.T) {
	runFields := []bot.Field{
		{Label: "runbook", Value: "restart-api"},
		{Label: "params", Value: "env=prod service=api"},
		{Label: "requested by", Value: "@alice"},
		{Label: "approved by", Value: "@bob"},
	}
	tests := []struct {
		name  string
		m     bot.Message
		frame int
	}{
		{
			name: "approval",
			m: bot.Message{
				Header: "restart-api — approval needed",
				Level:  bot.LevelWarning,
				Text:   []string{"Restart the API deployment and wait for it to be healthy.", "Needs *1* approval from `sre`; @alice cannot approve her own request."},
				Fields: []bot.Field{
					{Label: "requested by", Value: "@alice"},
					{Label: "params", Value: "env=prod service=api"},
					{Label: "lock", Value: "restart-api"},
					{Label: "timeout", Value: "5m"},
					{Label: "expires", Value: "in 15m (10:15 UTC)"},
				},
				Code: &bot.Code{Title: "plan", Text: "1. restart: kubectl rollout restart deployment/api -n prod\n2. wait:    kubectl rollout status deployment/api -n prod"},
				Buttons: []bot.Button{
					{Label: "Approve", Style: bot.StylePrimary, ActionID: "approve", CallbackID: "cb1"},
					{Label: "Deny", Style: bot.StyleDanger, ActionID: "deny", CallbackID: "cb2"},
				},
				Context: "run r42 · plan a1b2c3d4",
			},
		},
		{
			name:  "running",
			frame: 3,
			m: bot.Message{
				Header:  "restart-api — running",
				Level:   bot.LevelInfo,
				Fields:  append(runFields, bot.Field{Label: "step", Value: "wait (2/2)"}, bot.Field{Label: "elapsed", Value: "12s"}),
				Code:    &bot.Code{Title: "output", Tail: true, Text: "\x1b[32mWaiting for deployment \"api\" rollout to finish: 1 of 3 updated replicas are available...\x1b[0m\nWaiting for deployment \"api\" rollout to finish: 2 of 3 updated replicas are available...\n"},
				Buttons: []bot.Button{{Label: "Cancel", Style: bot.StyleDanger, ActionID: "cancel", CallbackID: "cb3"}},
				Context: "run r42",
			},
		},
		{
			name: "succeeded",
			m: bot.Message{
				Header:  "restart-api — succeeded",
				Level:   bot.LevelSuccess,
				Fields:  append(runFields, bot.Field{Label: "exit code", Value: "0"}, bot.Field{Label: "duration", Value: "41s"}),
				Code:    &bot.Code{Title: "output", Tail: true, Text: "deployment \"api\" successfully rolled out"},
				Links:   []bot.Link{{Label: "Full log", URL: "https://tebura.example/runs/r42/log"}},
				Context: "run r42 · finished 10:01 UTC",
			},
		},
		{
			name: "failed",
			m: bot.Message{
				Header:  "restart-api — failed",
				Level:   bot.LevelDanger,
				Text:    []string{"Step *wait* exited with code 1."},
				Fields:  append(runFields, bot.Field{Label: "exit code", Value: "1"}, bot.Field{Label: "duration", Value: "5m0s"}),
				Code:    &bot.Code{Title: "output", Tail: true, Text: "error: deployment \"api\" exceeded its progress deadline"},
				Context: "run r42 · finished 10:05 UTC",
			},
		},
		{
			name: "trimmed",
			m: bot.Fit(bot.Message{
				Header: "collect-diagnostics — succeeded with a very long header that does not fit",
				Level:  bot.LevelSuccess,
				Fields: []bot.Field{
					{Label: "runbook", Value: "collect-diagnostics"}, {Label: "host", Value: "api-1.prod.example.com"},
					{Label: "a", Value: "1"}, {Label: "b", Value: "2"},
				},
				Code:    &bot.Code{Title: "output", Tail: true, Text: outputLines(1, 500)},
				Context: "run r43",
			}, bot.Limits{Header: 40, Fields: 2, FieldValue: 12, Code: 400}),
		},
		{
			name: "bare",
			m:    bot.Message{Text: []string{"Nothing to show.\nSecond line."}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, Render(tt.m, tt.frame))
		})
	}
}

func TestRenderCleansControls(t *testing.T) {
	got := Render(bot.Message{Header: "a\x1b[2Jb", Text: []string{"x\ry\x07z"}}, 0)
	if strings.ContainsAny(got, "\x1b\r\x07") {
		t.Errorf("control characters left in %q", got)
	}
	if !strings.Contains(got, "ab") || !strings.Contains(got, "xy\uFFFDz") {
		t.Errorf("content lost: %q", got)
	}
}
