package tebura_test

import (
	"strings"
	"testing"

	"github.com/tebura/tebura"
)

func TestSlug(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"INC-42 DB down!", 80, "inc-42-db-down"},
		{"HighLatency on api", 40, "highlatency-on-api"},
		{"  --Disk FULL!! db_1 --  ", 40, "disk-full-db_1"},
		{"  --Äpfel  & Birnen__ ", 100, "pfel-birnen__"},
		{"日本語", 40, "incident"},
		{"", 80, "incident"},
		{"!!!", 100, "incident"},
		{strings.Repeat("a", 150), 100, strings.Repeat("a", 100)},
		{strings.Repeat("a", 150), 80, strings.Repeat("a", 80)},
		{strings.Repeat("a", 79) + " b", 80, strings.Repeat("a", 79)},               // no trailing "-" after the cut
		{strings.Repeat("ab ", 40), 40, "ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-a"}, // cut at 40 bytes
	}
	for _, tc := range tests {
		if got := tebura.Slug(tc.in, tc.max); got != tc.want {
			t.Errorf("Slug(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
