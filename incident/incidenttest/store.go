// Package incidenttest provides an in-memory incident.Store for tests of
// the incident service and of the layers above it (commands, wiring). It
// keeps values as JSON, like a real store, so tests catch shared maps and
// fields that do not survive encoding.
package incidenttest

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/incident"
)

// Store is an in-memory incident.Store. Each UpdateIncidents works on a
// copy of the state that replaces it only when fn succeeds, so a failed
// transaction leaves nothing behind. The zero value is not usable; call
// NewStore.
type Store struct {
	mu sync.RWMutex
	st state
	// FailCommit, when it returns an error, makes UpdateIncidents discard
	// the transaction and return that error (a crash before commit).
	FailCommit func() error
}

type state struct {
	seq       int64
	incidents map[int64][]byte
	keys      map[string]int64
	channels  map[string]int64
	alerts    map[int64]map[string][]byte
	timeline  map[int64][][]byte
	marks     map[string]time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{st: state{
		incidents: map[int64][]byte{}, keys: map[string]int64{}, channels: map[string]int64{},
		alerts: map[int64]map[string][]byte{}, timeline: map[int64][][]byte{}, marks: map[string]time.Time{},
	}}
}

func (s state) clone() state {
	c := state{seq: s.seq, incidents: maps.Clone(s.incidents), keys: maps.Clone(s.keys),
		channels: maps.Clone(s.channels), marks: maps.Clone(s.marks),
		alerts: make(map[int64]map[string][]byte, len(s.alerts)), timeline: make(map[int64][][]byte, len(s.timeline))}
	for k, v := range s.alerts {
		c.alerts[k] = maps.Clone(v)
	}
	for k, v := range s.timeline {
		c.timeline[k] = v[:len(v):len(v)]
	}
	return c
}

// UpdateIncidents implements incident.Store.
func (s *Store) UpdateIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &tx{st: s.st.clone(), writable: true}
	if err := fn(tx); err != nil {
		return err
	}
	if s.FailCommit != nil {
		if err := s.FailCommit(); err != nil {
			return err
		}
	}
	s.st = tx.st
	return nil
}

// ViewIncidents implements incident.Store.
func (s *Store) ViewIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(&tx{st: s.st})
}

var errReadOnly = errors.New("incidenttest: write in a read-only transaction")

type tx struct {
	st       state
	writable bool
}

func (t *tx) w() error {
	if !t.writable {
		return errReadOnly
	}
	return nil
}

func (t *tx) NextNumber() (int64, error) {
	if err := t.w(); err != nil {
		return 0, err
	}
	t.st.seq++
	return t.st.seq, nil
}

func (t *tx) Incident(n int64) (*incident.Incident, error) {
	b, ok := t.st.incidents[n]
	if !ok {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no incident #%d.", n)
	}
	var inc incident.Incident
	return &inc, json.Unmarshal(b, &inc)
}

func (t *tx) PutIncident(inc *incident.Incident) error {
	if err := t.w(); err != nil {
		return err
	}
	b, err := json.Marshal(inc)
	t.st.incidents[inc.Number] = b
	return err
}

func (t *tx) Incidents(fn func(*incident.Incident) bool) error {
	ns := make([]int64, 0, len(t.st.incidents))
	for n := range t.st.incidents {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] > ns[j] })
	for _, n := range ns {
		inc, err := t.Incident(n)
		if err != nil {
			return err
		}
		if !fn(inc) {
			return nil
		}
	}
	return nil
}

func (t *tx) OpenCount() (int, error) {
	n := 0
	for k := range t.st.incidents {
		inc, err := t.Incident(k)
		if err != nil {
			return 0, err
		}
		if inc.Status.Open() {
			n++
		}
	}
	return n, nil
}

func (t *tx) KeyIndex(key string) (int64, bool, error) {
	n, ok := t.st.keys[key]
	return n, ok, nil
}

func (t *tx) SetKeyIndex(key string, n int64) error {
	if err := t.w(); err != nil {
		return err
	}
	t.st.keys[key] = n
	return nil
}

func (t *tx) ChannelIndex(platform, channel string) (int64, bool, error) {
	n, ok := t.st.channels[platform+"\x00"+channel]
	return n, ok, nil
}

func (t *tx) SetChannelIndex(platform, channel string, n int64) error {
	if err := t.w(); err != nil {
		return err
	}
	t.st.channels[platform+"\x00"+channel] = n
	return nil
}

func (t *tx) Alert(n int64, fp string) (*incident.AlertEntry, bool, error) {
	b, ok := t.st.alerts[n][fp]
	if !ok {
		return nil, false, nil
	}
	var e incident.AlertEntry
	return &e, true, json.Unmarshal(b, &e)
}

func (t *tx) PutAlert(n int64, e *incident.AlertEntry) error {
	if err := t.w(); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	m := t.st.alerts[n]
	if m == nil {
		m = map[string][]byte{}
		t.st.alerts[n] = m
	}
	m[e.Fingerprint] = b
	return nil
}

func (t *tx) Alerts(n int64) ([]*incident.AlertEntry, error) {
	fps := make([]string, 0, len(t.st.alerts[n]))
	for fp := range t.st.alerts[n] {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	out := make([]*incident.AlertEntry, 0, len(fps))
	for _, fp := range fps {
		e, _, err := t.Alert(n, fp)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (t *tx) AppendTimeline(n int64, e incident.TimelineEntry) error {
	if err := t.w(); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	t.st.timeline[n] = append(t.st.timeline[n], b)
	return err
}

func (t *tx) Timeline(n int64) ([]incident.TimelineEntry, error) {
	out := make([]incident.TimelineEntry, 0, len(t.st.timeline[n]))
	for _, b := range t.st.timeline[n] {
		var e incident.TimelineEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (t *tx) Mark(name string) (time.Time, bool, error) {
	v, ok := t.st.marks[name]
	return v, ok, nil
}

func (t *tx) SetMark(name string, v time.Time) error {
	if err := t.w(); err != nil {
		return err
	}
	t.st.marks[name] = v
	return nil
}

func (t *tx) PruneMarks(prefix string, before time.Time) (int, error) {
	if err := t.w(); err != nil {
		return 0, err
	}
	n := 0
	for name, v := range t.st.marks {
		if strings.HasPrefix(name, prefix) && v.Before(before) {
			delete(t.st.marks, name)
			n++
		}
	}
	return n, nil
}

var _ incident.Store = (*Store)(nil)
