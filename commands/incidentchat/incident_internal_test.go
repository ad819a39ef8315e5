package incidentchat

import (
	"testing"
	"time"
)

func TestIdentity(t *testing.T) {
	tests := []struct{ platform, in, want string }{
		{"slack", "<@U123>", "slack:U123"},
		{"slack", "<@U123|alice>", "slack:U123"},
		{"discord", "<@!42>", "discord:42"},
		{"discord", "<@42>", "discord:42"},
		{"console", "@bob", "console:bob"},
		{"slack", "slack:U9", "slack:U9"},
	}
	for _, tc := range tests {
		if got := identity(tc.platform, tc.in); got != tc.want {
			t.Errorf("identity(%q, %q) = %q, want %q", tc.platform, tc.in, got, tc.want)
		}
	}
}

func TestParseWindow(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true},
		{"0d", 0, false},
		{"-1h", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		got, err := parseWindow(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseWindow(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
