package slack

import (
	"context"
	"testing"

	"github.com/tebura/tebura"
)

// TestLookupEmail: users.lookupByEmail finds an account by email (any
// case), says not found for an unknown one, and a missing
// users:read.email scope is an error that names the scope.
func TestLookupEmail(t *testing.T) {
	h := newHarness(t, ModeHTTP)
	h.fake.SetUserEmail("alice@example.com", "UALICE")
	ctx := context.Background()
	tests := []struct {
		email, want, code string
	}{
		{"Alice@Example.com", "slack:UALICE", ""},
		{"bob@example.com", "", tebura.ENOTFOUND},
		{"", "", tebura.EINVALID},
	}
	for _, tt := range tests {
		got, err := h.a.LookupEmail(ctx, tt.email)
		if got != tt.want || tebura.ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
			t.Errorf("LookupEmail(%q) = %q, %v; want %q, kind %q", tt.email, got, err, tt.want, tt.code)
		}
	}
	h.fake.SetScopes("commands", "chat:write")
	if _, err := h.a.LookupEmail(ctx, "alice@example.com"); err == nil || tebura.ErrorCode(err) == tebura.ENOTFOUND {
		t.Errorf("without users:read.email: %v, want an error that is not 'not found'", err)
	}
}
