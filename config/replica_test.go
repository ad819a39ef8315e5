package config

import (
	"strings"
	"testing"
	"time"
)

// TestReplicaValidate: the replica section's problems name their key and
// say what to do; the defaults pass.
func TestReplicaValidate(t *testing.T) {
	tests := []struct {
		name    string
		set     func(r *Replica)
		wantKey string // "" when valid
		want    string
	}{
		{name: "defaults", set: func(*Replica) {}},
		{name: "pod name", set: func(r *Replica) { r.ID = "tebura-7d9f8-x2x4q" }},
		{name: "id with a space", set: func(r *Replica) { r.ID = "tebura one" }, wantKey: "replica.id", want: "spaces or control characters"},
		{name: "id with a newline", set: func(r *Replica) { r.ID = "a\nb" }, wantKey: "replica.id", want: "spaces or control characters"},
		{name: "id too long", set: func(r *Replica) { r.ID = strings.Repeat("x", 101) }, wantKey: "replica.id", want: "keep it to 100"},
		{name: "no lease", set: func(r *Replica) { r.LeaseDuration = 0 }, wantKey: "replica.lease_duration", want: "positive"},
		{name: "no renewal", set: func(r *Replica) { r.RenewInterval = 0 }, wantKey: "replica.renew_interval", want: "positive"},
		{name: "lease shorter than two renewals", set: func(r *Replica) { r.LeaseDuration, r.RenewInterval = 3*time.Second, 2*time.Second },
			wantKey: "replica.lease_duration", want: "at least twice replica.renew_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.set(&c.Replica)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantKey) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want a problem of %s saying %q", err, tt.wantKey, tt.want)
			}
		})
	}
}
