package runbooks

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expectedLog is what the log must hold for data: every line, long lines
// cut into MaxLineBytes pieces, a newline after each.
func expectedLog(data []byte) string {
	var b strings.Builder
	lines := bytes.Split(data, []byte{'\n'})
	for i, l := range lines {
		if i == len(lines)-1 && len(l) == 0 {
			break
		}
		for len(l) > MaxLineBytes {
			b.Write(l[:MaxLineBytes])
			b.WriteByte('\n')
			l = l[MaxLineBytes:]
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestOutputChunkingInvariant: however the bytes are cut into writes, the
// log, the line count and the tail come out the same.
func TestOutputChunkingInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var data []byte
	for i := 0; i < 1300; i++ {
		n := rng.IntN(200)
		if i%50 == 0 && i < 400 {
			n = MaxLineBytes*2 + rng.IntN(100) // a few over-long lines; then only short ones
		}
		data = append(data, bytes.Repeat([]byte{byte('a' + i%26)}, n)...)
		data = append(data, '\n')
	}
	data = append(data, "no newline at the end"...)
	want := expectedLog(data)
	for trial := 0; trial < 20; trial++ {
		dir := t.TempDir()
		f, err := os.Create(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		tailN := []int{3, 1, 40, 100}[trial%4]
		h := newHandle(nil, "r1", nil, tailN)
		o := newOutput(h, nil, f, 1<<30, nil)
		rest := data
		for len(rest) > 0 {
			n := min(len(rest), 1+rng.IntN(70000))
			if trial == 0 {
				n = 1 // byte by byte
			}
			o.Write(rest[:n])
			rest = rest[n:]
		}
		all := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
		if tail := h.tailLocked(); !slices.Equal(tail, all[len(all)-1-tailN:len(all)-1]) {
			t.Errorf("trial %d: before the end, tail = %q, want the %d lines before the pending one", trial, tail, tailN)
		}
		if err := o.close(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "log"))
		if string(got) != want {
			t.Fatalf("trial %d: log differs (got %d bytes, want %d)", trial, len(got), len(want))
		}
		if wantLines := int64(strings.Count(want, "\n")); h.lines != wantLines {
			t.Errorf("trial %d: %d lines, want %d", trial, h.lines, wantLines)
		}
		if tail := h.tailLocked(); !slices.Equal(tail, all[len(all)-tailN:]) {
			t.Errorf("trial %d: tail = %q, want the last %d lines", trial, tail, tailN)
		}
	}
}

// TestOutputCapWholeLines: the log holds whole masked lines up to the cap,
// then the marker.
func TestOutputCapWholeLines(t *testing.T) {
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "log"))
	red, _ := NewRedactor([]string{"SECRET"}, nil)
	h := newHandle(nil, "r1", red, 2)
	o := newOutput(h, red, f, 25, nil)
	o.Write([]byte("line SECRET one\nline two\nline three\n"))
	o.close()
	got, _ := os.ReadFile(filepath.Join(dir, "log"))
	want := "line *** one\nline two\n[tebura: log truncated at 22 bytes; 11 more bytes dropped]\n"
	if string(got) != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	if s := h.Snapshot(); !s.Truncated || s.Tail[0] != "line two" || s.Tail[1] != "line three" {
		t.Errorf("snapshot = %+v", s)
	}
}

func TestLastNewline(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = "ab\n\x0b\x09\x8a"[rng.IntN(6)]
		}
		if got, want := lastNewline(b), bytes.LastIndexByte(b, '\n'); got != want {
			t.Fatalf("lastNewline(%q) = %d, want %d", b, got, want)
		}
	}
}
