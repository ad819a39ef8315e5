package tebura_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tebura/tebura"
)

func TestUnjoin(t *testing.T) {
	a, b, c, d := errors.New("a"), errors.New("b"), errors.New("c"), errors.New("d")
	wrapped := fmt.Errorf("context: %w", a)
	tests := []struct {
		name string
		err  error
		want []error
	}{
		{"nil", nil, nil},
		{"one error", a, []error{a}},
		{"a wrapped error stays whole", wrapped, []error{wrapped}},
		{"a join", errors.Join(a, b), []error{a, b}},
		{"nested joins, in order", errors.Join(a, errors.Join(b, errors.Join(c)), d), []error{a, b, c, d}},
		{"a wrapper around a join is looked through", fmt.Errorf("decoding failed:\n\n%w", errors.Join(a, b)), []error{a, b}},
		{"fmt with two %w", fmt.Errorf("%w and %w", a, b), []error{a, b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tebura.Unjoin(tt.err); !slices.Equal(got, tt.want) {
				t.Errorf("Unjoin = %v, want %v", got, tt.want)
			}
		})
	}
}
