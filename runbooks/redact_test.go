package runbooks

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

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

// TestRedactorMaskBytes: the executor's byte path masks exactly as Mask
// does, returns clean input itself, and falls back to the Replacer when
// there are many values.
func TestRedactorMaskBytes(t *testing.T) {
	many := make([]string, 0, maxScanValues+3)
	for i := range maxScanValues + 3 {
		many = append(many, fmt.Sprintf("val%02d", i))
	}
	overlapping := []string{"abc", "abcdef", "cde", "bcd", "ef", "aa"}
	inputs := []string{
		"", "nothing here", "abcdef", "abcde", "xxabcdxx", "aaabcdefef", "aaaa", "bcdef abc cde ef",
		"val00 val18 val07val07", "tok ghp_abcdefghijklmnopqrstuvwx and abc", "ghp_short abcdefabcdef",
	}
	for _, values := range [][]string{nil, {"abc"}, overlapping, many, append(many, overlapping...)} {
		r, err := NewRedactor(values, []string{`ghp_[A-Za-z0-9]{20,}`})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			want := r.Mask(in)
			if got := string(r.maskBytes([]byte(in), nil)); got != want {
				t.Errorf("values %q: maskBytes(%q) = %q, Mask = %q", values, in, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	r, _ := NewRedactor(overlapping, nil)
	for range 2000 {
		in := make([]byte, rng.IntN(30))
		for i := range in {
			in[i] = "abcdef"[rng.IntN(6)]
		}
		if got, want := string(r.maskBytes(in, make([]byte, 3))), r.Mask(string(in)); got != want {
			t.Errorf("maskBytes(%q) = %q, Mask = %q", in, got, want)
		}
	}
	r, _ = NewRedactor([]string{"abc"}, []string{`ghp_[A-Za-z0-9]{20,}`})
	clean := []byte("nothing secret here\n")
	if got := r.maskBytes(clean, nil); &got[0] != &clean[0] {
		t.Error("clean input was copied")
	}
}
