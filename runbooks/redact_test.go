package runbooks

import "testing"

func TestRedactor(t *testing.T) {
	r, err := NewRedactor([]string{"hunter2", "", "hunter2-long"}, []string{`xox[bp]-[A-Za-z0-9-]+`})
	if err != nil {
		t.Fatal(err)
	}
	run := r.With("s3cr3t")
	tests := []struct{ in, want string }{
		{"pass hunter2 ok", "pass *** ok"},
		{"pass hunter2-long ok", "pass *** ok"},
		{"token xoxb-123-abc end", "token *** end"},
		{"s3cr3t and hunter2", "*** and ***"},
		{"nothing here", "nothing here"},
	}
	for _, tt := range tests {
		if got := run.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := r.Mask("s3cr3t"); got != "s3cr3t" {
		t.Errorf("With changed the original: %q", got)
	}
	var nilR *Redactor
	if nilR.Mask("x") != "x" || nilR.With("x").Mask("x") != "***" || !nilR.Empty() {
		t.Error("nil redactor misbehaves")
	}
	for _, bad := range []string{"[", "a*"} {
		if _, err := NewRedactor(nil, []string{bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
