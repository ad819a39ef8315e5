package runbooks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/bot/slack"
)

// fleetStatus is a fan-out over n targets named by name(i), in the state
// state(i) gives.
func fleetStatus(n int, name func(int) string, state func(int) TargetState) *fanOut {
	f := &fanOut{states: map[string]TargetState{}}
	for i := range n {
		f.names = append(f.names, name(i))
		f.states[name(i)] = state(i)
	}
	return f
}

// runCard is the live message of a run whose ssh step has this status,
// as runbookchat draws it: the step in a field, the output's tail in the
// code block.
func runCard(step string, tailLines int) bot.Message {
	var tail []string
	for i := range tailLines {
		tail = append(tail, fmt.Sprintf("[web-%02d] restarted api.service, health 200 OK", i))
	}
	return bot.Message{
		Header: "restart-api — running",
		Fields: []bot.Field{
			{Label: "Params", Value: "unit=api.service"},
			{Label: "Requested by", Value: "alice"},
			{Label: "State", Value: "running"},
			{Label: "Step", Value: step},
			{Label: "Elapsed", Value: "1m 12s"},
		},
		Code:    &bot.Code{Title: "Output", Text: strings.Join(tail, "\n"), Tail: true},
		Context: "run r42",
		Buttons: []bot.Button{{Label: "Cancel", ActionID: "cancel", CallbackID: "r42"}},
	}
}

// TestTargetStatusFitsChat: the per-target status of 3 and of 50 targets
// (golden files) names the failed and running targets, and the step line
// that carries it reaches Slack and Discord whole: Fit to each platform's
// limits leaves it uncut, and Slack's blocks stay within 50 blocks and
// 3000 characters a section.
func TestTargetStatusFitsChat(t *testing.T) {
	web := func(i int) string { return fmt.Sprintf("web-%02d", i+1) }
	long := func(i int) string { return fmt.Sprintf("api-%02d.eu-west-1.compute.internal.example.com", i+1) }
	tests := []struct {
		golden string
		f      *fanOut
	}{
		{"3-targets", fleetStatus(3, func(i int) string { return fmt.Sprintf("api-%d", i+1) }, func(i int) TargetState {
			return []TargetState{TargetOK, TargetRunning, TargetPending}[i]
		})},
		{"50-targets", fleetStatus(50, web, func(i int) TargetState {
			switch {
			case i == 6 || i == 18 || i == 33:
				return TargetFailed
			case i >= 40 && i < 47:
				return TargetRunning
			case i >= 47:
				return TargetPending
			}
			return TargetOK
		})},
		// The worst case: 50 long names, half failed, half running.
		{"50-long-names", fleetStatus(50, long, func(i int) TargetState {
			if i%2 == 0 {
				return TargetFailed
			}
			return TargetRunning
		})},
	}
	limits := map[string]bot.Limits{"slack": (&slack.Adapter{}).Limits(), "discord": (&discord.Adapter{}).Limits()}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			step := "restart (" + tt.f.summary() + ")"
			path := filepath.Join("testdata", "targetstatus", tt.golden+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(step+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if step+"\n" != string(want) {
				t.Errorf("status:\n%s\nwant (%s):\n%s", step, path, want)
			}
			for platform, l := range limits {
				fitted := bot.Fit(runCard(step, 40), l)
				if got := fitted.Fields[3].Value; got != step {
					t.Errorf("%s: the step line was cut to fit:\n%s", platform, got)
				}
				if n := utf8.RuneCountInString(step); n > l.FieldValue {
					t.Errorf("%s: %d characters, above the field limit %d", platform, n, l.FieldValue)
				}
			}
			r := slack.Render(runCard(step, 40))
			if len(r.Blocks) > slack.MaxBlocks {
				t.Errorf("slack: %d blocks", len(r.Blocks))
			}
			b, _ := json.Marshal(r.Blocks)
			if !strings.Contains(string(b), step) {
				t.Errorf("slack: the rendered blocks lack the whole step line")
			}
			for _, blk := range r.Blocks {
				if s, ok := blk.(*slackapi.SectionBlock); ok && s.Text != nil && utf8.RuneCountInString(s.Text.Text) > slack.MaxSectionText {
					t.Errorf("slack: a section holds %d characters", utf8.RuneCountInString(s.Text.Text))
				}
			}
		})
	}
}

// TestTargetStatusNames: failed targets come first, then running; each
// list is bounded and says how many it leaves out; one target shows
// counts only (the plan names it).
func TestTargetStatusNames(t *testing.T) {
	n := func(i int) string { return fmt.Sprintf("h%02d", i) }
	tests := []struct {
		name string
		f    *fanOut
		want string
	}{
		{"one target", fleetStatus(1, n, func(int) TargetState { return TargetFailed }), "0/1 ok, 1 failed"},
		{"all ok", fleetStatus(4, n, func(int) TargetState { return TargetOK }), "4/4 ok"},
		{"failed then running", fleetStatus(4, n, func(i int) TargetState {
			return []TargetState{TargetRunning, TargetFailed, TargetOK, TargetCancelled}[i]
		}), "1/4 ok, 1 failed, 1 running, 1 cancelled — failed: h01; running: h00"},
		{"more than ten failed", fleetStatus(13, n, func(int) TargetState { return TargetFailed }),
			"0/13 ok, 13 failed — failed: h00, h01, h02, h03, h04, h05, h06, h07, h08, h09 +3 more"},
	}
	for _, tt := range tests {
		if got := tt.f.summary(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
