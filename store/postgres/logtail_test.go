package postgres

import (
	"strings"
	"testing"
)

// TestLogChunksFrom: the chunks of a run from a seq on, in seq order,
// none of another run's (even one whose ID it prefixes).
func TestLogChunksFrom(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := t.Context()
	for _, w := range []struct {
		run   string
		seq   int
		chunk string
	}{{"r1", 2, "two\n"}, {"r1", 0, "zero\n"}, {"r10", 1, "other\n"}, {"r1", 1, "one\n"}, {"r1", 3, "three\n"}} {
		if err := s.AppendLog(ctx, w.run, w.seq, []byte(w.chunk)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		run  string
		from int
		want string
	}{
		{"r1", 0, "zero\none\ntwo\nthree\n"},
		{"r1", 2, "two\nthree\n"},
		{"r1", 4, ""},
		{"r10", 0, "other\n"},
		{"r2", 0, ""},
	} {
		var b strings.Builder
		if err := s.LogChunksFrom(ctx, c.run, c.from, func(chunk []byte) error { b.Write(chunk); return nil }); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("LogChunksFrom(%s, %d) = %q, want %q", c.run, c.from, b.String(), c.want)
		}
	}
}
