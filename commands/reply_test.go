package commands

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tebura/tebura"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"invalid passes its sentence", tebura.Errorf(tebura.EINVALID, "Write env=prod."), "Write env=prod."},
		{"wrapped keeps the sentence", fmt.Errorf("ctx: %w", tebura.Errorf(tebura.ECONFLICT, "Already approved by @bob.")), "Already approved by @bob."},
		{"internal hides its detail", tebura.Wrap(tebura.EINTERNAL, errors.New("disk /var/lib/x: EIO"), "bucket runs missing"), genericFailure},
		{"plain error is internal", errors.New("open /secret/path: permission denied"), genericFailure},
		{"transient without sentence", tebura.Wrap(tebura.ETRANSIENT, errors.New("429"), ""), transientFailure},
		{"transient with sentence", tebura.Errorf(tebura.ETRANSIENT, "Slack is rate limiting us; try in 30s."), "Slack is rate limiting us; try in 30s."},
		{"forbidden without sentence", &tebura.Error{Code: tebura.EFORBIDDEN}, genericFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorText(tt.err); got != tt.want {
				t.Errorf("errorText(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
