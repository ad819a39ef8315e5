package slack

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestManifest keeps deploy/slack/manifest.yaml in step with the adapter:
// the default slash commands, every scope Doctor asks for, interactivity
// and Socket Mode.
func TestManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "slack", "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command string `yaml:"command"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, c := range m.Features.SlashCommands {
		cmds = append(cmds, c.Command)
	}
	if !slices.Equal(cmds, []string{"/runbook", "/incident", "/tebura"}) {
		t.Errorf("slash commands = %v", cmds)
	}
	for _, s := range neededScopes() {
		if !slices.Contains(m.OAuth.Scopes.Bot, s.scope) {
			t.Errorf("manifest lacks scope %s (%s)", s.scope, s.why)
		}
	}
	if !slices.Contains(m.Settings.Events.BotEvents, "app_mention") || !m.Settings.Interactivity.Enabled || !m.Settings.SocketMode {
		t.Errorf("settings = %+v", m.Settings)
	}
}
