package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a hand-written in-memory Store whose entries tests can tamper
// with directly.
type memStore struct {
	mu      sync.Mutex
	entries []Entry
}

func (m *memStore) AppendAudit(_ context.Context, fn func(last *Entry) (Entry, error)) (Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var last *Entry
	if n := len(m.entries); n > 0 {
		e := m.entries[n-1]
		last = &e
	}
	e, err := fn(last)
	if err != nil {
		return Entry{}, err
	}
	if e.Seq != uint64(len(m.entries)+1) {
		return Entry{}, errors.New("seq out of order")
	}
	m.entries = append(m.entries, e)
	return e, nil
}

func (m *memStore) AuditEntries(_ context.Context, fn func(Entry) error) error {
	m.mu.Lock()
	es := append([]Entry(nil), m.entries...)
	m.mu.Unlock()
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// upper is a masker that hides "hunter2".
type upper struct{}

func (upper) Mask(s string) string { return strings.ReplaceAll(s, "hunter2", "****") }

// filled returns a store with five entries recorded one second apart.
func filled(t *testing.T) *memStore {
	t.Helper()
	s := &memStore{}
	now := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	clock := func() time.Time { now = now.Add(time.Second); return now }
	l := New(s, nil, clock)
	for i, a := range []Action{ActionConfigLoad, ActionRunRequest, ActionRunApprove, ActionRunStart, ActionRunEnd} {
		detail := map[string]string{"runbook": "restart-api", "i": string(rune('a' + i))}
		if err := l.Record(t.Context(), "slack:U1", a, "r1", detail); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestRecordChains(t *testing.T) {
	s := filled(t)
	for i, e := range s.entries {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d has seq %d", i, e.Seq)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("entry %d time %v is not UTC", e.Seq, e.Time)
		}
		wantPrev := ""
		if i > 0 {
			wantPrev = s.entries[i-1].Hash
		}
		if e.Prev != wantPrev || e.Hash != Hash(e) || len(e.Hash) != 64 {
			t.Errorf("entry %d: prev %q hash %q", e.Seq, e.Prev, e.Hash)
		}
	}
	n, err := Verify(t.Context(), s)
	if n != 5 || err != nil {
		t.Fatalf("Verify = %d, %v; want 5, nil", n, err)
	}
}

func TestRecordMasksAndCopies(t *testing.T) {
	s := &memStore{}
	l := New(s, upper{}, nil)
	detail := map[string]string{"token": "hunter2", "cmd": "login --password=hunter2", "hunter2": "key names are not masked"}
	if err := l.Record(t.Context(), "console:alice", ActionRunRequest, "deploy hunter2", detail); err != nil {
		t.Fatal(err)
	}
	detail["token"] = "changed later"
	e := s.entries[0]
	if e.Detail["token"] != "****" || e.Detail["cmd"] != "login --password=****" || e.Subject != "deploy ****" {
		t.Errorf("not masked: %+v", e)
	}
	if e.Time.IsZero() {
		t.Error("a nil clock left the time zero")
	}
	if err := l.Record(t.Context(), "", ActionRunRequest, "", nil); err == nil {
		t.Error("Record without an actor succeeded")
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base := Entry{Seq: 7, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Actor: "slack:U1", Action: "run.start", Subject: "r1", Detail: map[string]string{"a": "1", "b": "2"}, Prev: "abc"}
	h := Hash(base)
	edits := map[string]func(e *Entry){
		"seq":            func(e *Entry) { e.Seq++ },
		"time":           func(e *Entry) { e.Time = e.Time.Add(time.Nanosecond) },
		"actor":          func(e *Entry) { e.Actor = "slack:U2" },
		"action":         func(e *Entry) { e.Action = "run.end" },
		"subject":        func(e *Entry) { e.Subject = "r2" },
		"detail value":   func(e *Entry) { e.Detail = map[string]string{"a": "1", "b": "3"} },
		"detail key":     func(e *Entry) { e.Detail = map[string]string{"a": "1", "c": "2"} },
		"detail dropped": func(e *Entry) { e.Detail = map[string]string{"a": "1"} },
		"prev":           func(e *Entry) { e.Prev = "abd" },
		"field boundary": func(e *Entry) { e.Actor, e.Action = "slack:U1run", ".start" },
		"detail shift":   func(e *Entry) { e.Detail = map[string]string{"a": "1b", "": "2"} },
	}
	for name, edit := range edits {
		e := base
		edit(&e)
		if Hash(e) == h {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
	same := base
	same.Time = base.Time.In(time.FixedZone("X", 7200))
	same.Hash = "ignored"
	same.Detail = map[string]string{"b": "2", "a": "1"}
	if Hash(same) != h {
		t.Error("zone, stored hash or map order changed the hash")
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(es []Entry) []Entry
		wantSeq uint64
	}{
		{"edit a detail", func(es []Entry) []Entry { es[2].Detail = map[string]string{"runbook": "drop-db"}; return es }, 3},
		{"edit the actor", func(es []Entry) []Entry { es[0].Actor = "slack:UEVIL"; return es }, 1},
		{"edit and rehash", func(es []Entry) []Entry { es[1].Actor = "slack:UEVIL"; es[1].Hash = Hash(es[1]); return es }, 3},
		{"delete one", func(es []Entry) []Entry { return append(es[:2:2], es[3:]...) }, 3},
		{"delete the first", func(es []Entry) []Entry { return es[1:] }, 1},
		{"swap two", func(es []Entry) []Entry { es[1], es[2] = es[2], es[1]; return es }, 2},
		{"delete and renumber", func(es []Entry) []Entry {
			es = append(es[:1:1], es[2:]...)
			for i := range es {
				es[i].Seq = uint64(i + 1)
				es[i].Hash = Hash(es[i])
			}
			return es
		}, 2},
		{"insert one", func(es []Entry) []Entry {
			fake := Entry{Seq: 3, Time: es[1].Time, Actor: "slack:UEVIL", Action: ActionRunApprove, Prev: es[1].Hash}
			fake.Hash = Hash(fake)
			out := append(es[:2:2], fake)
			for _, e := range es[2:] {
				e.Seq++
				out = append(out, e)
			}
			return out
		}, 4},
		{"duplicate one", func(es []Entry) []Entry { return append(es[:3:3], es[2:]...) }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := filled(t)
			s.entries = tt.tamper(s.entries)
			n, err := Verify(t.Context(), s)
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %d, %v; want a *ChainError", n, err)
			}
			if ce.Seq != tt.wantSeq || n != int(tt.wantSeq-1) {
				t.Errorf("Verify = %d, %v; want the break at seq %d after %d good entries", n, err, tt.wantSeq, tt.wantSeq-1)
			}
			if !strings.Contains(err.Error(), "seq ") {
				t.Errorf("error %q does not name the seq", err)
			}
		})
	}
}

func TestExportJSONL(t *testing.T) {
	s := filled(t)
	var buf bytes.Buffer
	if err := Export(t.Context(), s, &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, `{"seq":1,"time":"2026-03-01T08:00:01.123456789Z","actor":"slack:U1","action":"config.load"`) {
		t.Errorf("first line %q is not the first entry in UTC", strings.SplitN(out, "\n", 2)[0])
	}
	sc := bufio.NewScanner(&buf)
	var got []Entry
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", len(got)+1, err)
		}
		got = append(got, e)
	}
	if len(got) != len(s.entries) {
		t.Fatalf("%d lines, want %d", len(got), len(s.entries))
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || Hash(e) != e.Hash || e.Hash != s.entries[i].Hash {
			t.Errorf("line %d does not round-trip: %+v", i+1, e)
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestExportWriteError(t *testing.T) {
	if err := Export(t.Context(), filled(t), failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Export = %v; want the write error", err)
	}
}

// TestCheckAnchorsCatchTruncation: cutting the newest entries leaves a chain
// that verifies on its own; an anchor recorded before the cut catches it, as
// does an anchor whose hash no longer matches after a rewrite.
func TestCheckAnchorsCatchTruncation(t *testing.T) {
	s := filled(t)
	head, n, err := Check(t.Context(), s)
	if err != nil || n != 5 || head.Seq != 5 || head.Hash != s.entries[4].Hash {
		t.Fatalf("Check = %v, %d, %v; want head 5 of 5 entries", head, n, err)
	}
	back, err := ParseAnchor(head.String())
	if err != nil || back != head {
		t.Fatalf("ParseAnchor(%q) = %v, %v", head.String(), back, err)
	}
	middle := Anchor{Seq: 3, Hash: s.entries[2].Hash}

	s.entries = s.entries[:3] // the two newest entries removed
	if _, err := Verify(t.Context(), s); err != nil {
		t.Fatalf("a truncated chain should still verify alone: %v", err)
	}
	if _, _, err := Check(t.Context(), s, middle); err != nil {
		t.Errorf("an anchor still in the chain: %v", err)
	}
	_, _, err = Check(t.Context(), s, middle, head)
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != 5 || !strings.Contains(err.Error(), "removed from the end") {
		t.Errorf("Check with the old head = %v; want a break at seq 5 saying entries were removed", err)
	}
	wrong := Anchor{Seq: 2, Hash: head.Hash}
	if _, _, err := Check(t.Context(), s, wrong); !errors.As(err, &ce) || ce.Seq != 2 {
		t.Errorf("Check with a rewritten anchor = %v; want a break at seq 2", err)
	}
	for _, bad := range []string{"", "5", "x:" + head.Hash, "0:" + head.Hash, "5:abc"} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", bad)
		}
	}
}
