package bot

import (
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"INC-42 DB down!", 80, "inc-42-db-down"},
		{"  --Äpfel  & Birnen__ ", 100, "pfel-birnen__"},
		{"", 80, "incident"},
		{"!!!", 100, "incident"},
		{strings.Repeat("a", 150), 100, strings.Repeat("a", 100)},
		{strings.Repeat("a", 150), 80, strings.Repeat("a", 80)},
		{strings.Repeat("a", 79) + " b", 80, strings.Repeat("a", 79)}, // no trailing "-" after the cut
	}
	for _, tc := range tests {
		if got := Slug(tc.in, tc.max); got != tc.want {
			t.Errorf("Slug(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
