// Package audit keeps an append-only, hash-chained record of what people and
// automations did: run requests, approvals, denials, starts, ends, cancels,
// config loads, incident changes. Each entry carries the previous entry's
// hash, so editing, deleting, inserting or reordering an entry breaks the
// chain and Verify names the first sequence number where it breaks.
//
// The chain lives behind Store (implemented by store/bolt); this package
// holds the rules: how an entry is hashed, how it is appended, how the chain
// is checked and exported.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
)

// Action is what an audit entry says was done, "noun.verb". It is a named
// type so that every action recorded is one of the constants below: the
// vocabulary is read in one place, and a new action is added here, never
// spelled at a call site.
type Action string

// The audit vocabulary. Entries written by earlier releases used the same
// strings (and CLI requests a different detail shape); Hash covers the
// strings, so those chains still verify.
const (
	ActionRunRequest   Action = "run.request"
	ActionRunApprove   Action = "run.approve"
	ActionRunDeny      Action = "run.deny"
	ActionRunExpire    Action = "run.expire"
	ActionRunClose     Action = "run.close"
	ActionRunStart     Action = "run.start"
	ActionRunEnd       Action = "run.end"
	ActionRunCancel    Action = "run.cancel"
	ActionRunInterrupt Action = "run.interrupt"
	// ActionRunAnswer records a person's answer to a manual step.
	ActionRunAnswer Action = "run.answer"

	ActionConfigLoad   Action = "config.load"
	ActionConfigReload Action = "config.reload"

	ActionIncidentOpen              Action = "incident.open"
	ActionIncidentAck               Action = "incident.ack"
	ActionIncidentResolve           Action = "incident.resolve"
	ActionIncidentNote              Action = "incident.note"
	ActionIncidentCommander         Action = "incident.commander"
	ActionIncidentChannel           Action = "incident.channel"
	ActionIncidentArchive           Action = "incident.archive"
	ActionIncidentPostmortem        Action = "incident.postmortem"
	ActionIncidentDiagnostics       Action = "incident.diagnostics"
	ActionIncidentDiagnosticRefused Action = "incident.diagnostic_refused"
	ActionIncidentPropose           Action = "incident.propose"
	ActionIncidentPage              Action = "incident.page"
)

// Entry is one audit record. Seq starts at 1 and has no gaps; Prev is the
// previous entry's Hash ("" for the first); Hash is Hash(entry).
type Entry struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`             // identity: "slack:U1", "automation:disk-full", "system"
	Action  Action            `json:"action"`            // "run.approve"
	Subject string            `json:"subject,omitempty"` // what it was done to: "r42", "inc-7"
	Detail  map[string]string `json:"detail,omitempty"`
	Prev    string            `json:"prev"`
	Hash    string            `json:"hash"`
}

// Store holds the chain. Implementations live in store/* and pass
// store/storetest.
type Store interface {
	// AppendAudit reads the last entry (nil when the chain is empty), calls
	// fn with it and stores the entry fn returns, all in one transaction, so
	// that two concurrent appenders never link to the same previous entry.
	// The store refuses an entry whose Seq is not last.Seq+1 (1 for the
	// first). If fn returns an error nothing is written and the error is
	// returned.
	AppendAudit(ctx context.Context, fn func(last *Entry) (Entry, error)) (Entry, error)
	// AuditEntries calls fn for every entry in storage order (by Seq),
	// stopping at the first error, which it returns. fn runs outside any
	// storage transaction, so it may do I/O.
	AuditEntries(ctx context.Context, fn func(Entry) error) error
}

// Masker hides secrets in text; *runbooks.Redactor implements it.
type Masker interface{ Mask(string) string }

// Log records entries on a Store. It is safe for concurrent use.
type Log struct {
	s     Store
	m     Masker
	clock func() time.Time
}

// New returns a Log writing to s. m masks every detail value and the subject
// before they are stored; it may be nil. clock may be nil for time.Now.
func New(s Store, m interface{ Mask(string) string }, clock func() time.Time) *Log {
	if clock == nil {
		clock = time.Now
	}
	return &Log{s: s, m: m, clock: clock}
}

// Note is what an entry says, before the chain places it: who did what to
// which subject, with what detail.
type Note struct {
	Actor   string
	Action  Action
	Subject string
	Detail  map[string]string
}

// Record appends one entry. Detail values and the subject pass through the
// masker first; the caller's map is not kept.
func (l *Log) Record(ctx context.Context, actor string, action Action, subject string, detail map[string]string) error {
	n := Note{Actor: actor, Action: action, Subject: subject, Detail: detail}
	if err := n.check(); err != nil {
		return err
	}
	_, err := l.s.AppendAudit(ctx, func(last *Entry) (Entry, error) {
		return l.Next(last, n), nil
	})
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", action, err)
	}
	return nil
}

func (n Note) check() error {
	if n.Actor == "" || n.Action == "" {
		return tebura.Errorf(tebura.EINTERNAL, "An audit entry needs an actor and an action.")
	}
	return nil
}

// Next is the entry that records n after last (nil: the chain is empty):
// masked, stamped with the clock, linked and hashed. It is for a store
// that appends the entry in the same transaction as the change it records
// (a run created with its request); Record is the usual way.
func (l *Log) Next(last *Entry, n Note) Entry {
	mask := func(s string) string { return s }
	if l.m != nil {
		mask = l.m.Mask
	}
	var d map[string]string
	if len(n.Detail) > 0 {
		d = make(map[string]string, len(n.Detail))
		for k, v := range n.Detail {
			d[k] = mask(v)
		}
	}
	e := Entry{
		Seq:     1,
		Time:    l.clock().UTC().Round(0),
		Actor:   n.Actor,
		Action:  n.Action,
		Subject: mask(n.Subject),
		Detail:  d,
	}
	if last != nil {
		e.Seq = last.Seq + 1
		e.Prev = last.Hash
	}
	e.Hash = Hash(e)
	return e
}

// Hash returns the hex SHA-256 of e's canonical encoding: a version tag, then
// Seq, Time (RFC 3339 with nanoseconds, UTC), Actor, Action, Subject, the
// Detail pairs sorted by key, and Prev, each length-prefixed so that no two
// different entries encode the same. e.Hash itself is not included.
func Hash(e Entry) string {
	h := sha256.New()
	field := func(s string) {
		var n [20]byte
		h.Write(strconv.AppendInt(n[:0], int64(len(s)), 10))
		h.Write([]byte{':'})
		io.WriteString(h, s)
	}
	field("tebura-audit-v1")
	field(strconv.FormatUint(e.Seq, 10))
	field(e.Time.UTC().Format(time.RFC3339Nano))
	field(e.Actor)
	field(string(e.Action))
	field(e.Subject)
	field(strconv.Itoa(len(e.Detail)))
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		field(k)
		field(e.Detail[k])
	}
	field(e.Prev)
	return hex.EncodeToString(h.Sum(nil))
}

// ChainError says where the chain breaks. Seq is the sequence number expected
// at the first bad position: for an edited entry its own Seq, for a deleted
// or moved one the Seq that should have been there.
type ChainError struct {
	Seq    uint64
	Reason string
}

// Error implements error.
func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// Verify walks the whole chain and checks that sequence numbers run 1, 2, 3…
// without gaps, that each entry links to its predecessor's hash and that each
// hash matches the entry's content. It returns the number of entries checked
// and, on the first problem, a *ChainError naming the Seq.
//
// A chain cut off at the end still verifies on its own: record its head
// (Check returns it; `tebura audit verify` prints it and `tebura serve` logs
// it at start) somewhere else, and pass it back to Check as an anchor.
func Verify(ctx context.Context, s Store) (n int, err error) {
	_, n, err = Check(ctx, s)
	return n, err
}

// Anchor is a position of the chain recorded outside the store: an entry's
// Seq and Hash. A chain that no longer holds an anchor was cut or rewritten.
type Anchor struct {
	Seq  uint64
	Hash string
}

// String formats the anchor as "SEQ:HASH", the form ParseAnchor reads.
func (a Anchor) String() string { return strconv.FormatUint(a.Seq, 10) + ":" + a.Hash }

// ParseAnchor reads "SEQ:HASH".
func ParseAnchor(s string) (Anchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || len(hash) != sha256.Size*2 {
		return Anchor{}, fmt.Errorf("audit anchor %q: want SEQ:HASH, e.g. 42:%s", s, strings.Repeat("0", sha256.Size*2))
	}
	return Anchor{Seq: n, Hash: hash}, nil
}

// Check verifies the chain like Verify, returns its head (the last entry's
// anchor; zero for an empty chain), and checks that every given anchor is
// still in it with the same hash, which detects entries removed from the end.
func Check(ctx context.Context, s Store, anchors ...Anchor) (head Anchor, n int, err error) {
	want := make(map[uint64]string, len(anchors))
	for _, a := range anchors {
		want[a.Seq] = a.Hash
	}
	var prev *Entry
	err = s.AuditEntries(ctx, func(e Entry) error {
		wantSeq := uint64(1)
		wantPrev := ""
		if prev != nil {
			wantSeq = prev.Seq + 1
			wantPrev = prev.Hash
		}
		switch {
		case e.Seq < wantSeq:
			return &ChainError{Seq: wantSeq, Reason: fmt.Sprintf("found seq %d again or out of order (an entry was moved or inserted)", e.Seq)}
		case e.Seq > wantSeq:
			return &ChainError{Seq: wantSeq, Reason: fmt.Sprintf("entry is missing, the next one is seq %d (an entry was deleted or moved)", e.Seq)}
		case e.Prev != wantPrev:
			return &ChainError{Seq: wantSeq, Reason: "does not link to the previous entry's hash (an entry was inserted, deleted or replaced)"}
		case Hash(e) != e.Hash:
			return &ChainError{Seq: wantSeq, Reason: "content does not match its hash (the entry was edited)"}
		}
		if h, ok := want[e.Seq]; ok {
			if h != e.Hash {
				return &ChainError{Seq: e.Seq, Reason: "differs from the recorded anchor (the chain was rewritten from here)"}
			}
			delete(want, e.Seq)
		}
		n++
		prev = &e
		return nil
	})
	if prev != nil {
		head = Anchor{Seq: prev.Seq, Hash: prev.Hash}
	}
	if err == nil && len(want) > 0 {
		missing := slices.Sorted(maps.Keys(want))
		err = &ChainError{Seq: missing[0], Reason: fmt.Sprintf("the recorded anchor is past the end of the chain (head is seq %d): entries were removed from the end", head.Seq)}
	}
	return head, n, err
}

// Export writes every entry as one JSON object per line (JSONL), in order.
func Export(ctx context.Context, s Store, w io.Writer) error {
	enc := json.NewEncoder(w)
	return s.AuditEntries(ctx, func(e Entry) error {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("audit: export seq %d: %w", e.Seq, err)
		}
		return nil
	})
}
