package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/incident"
)

// Incident bucket layout:
//
//	incidents      be64(number) → Incident
//	incident_seq   only its bucket sequence: the incident numbers
//	incident_keys  "g\x00"+group key → be64(number) (latest incident of the group)
//	               "c\x00"+platform+"\x00"+channel → be64(number)
//	               "m\x00"+name → be64(unix nanos) (throttles, delivery IDs)
//	               "o\x00"+be64(number) → nil (the open incidents, for OpenCount)
//	               "v\x00open" → nil (the open index is complete)
//	alerts         be64(number)+fingerprint → AlertEntry
//	timeline       be64(number)+be64(seq) → TimelineEntry (seq from the bucket's sequence)
const (
	prefixGroup   = "g\x00"
	prefixChannel = "c\x00"
	prefixMark    = "m\x00"
	prefixOpen    = "o\x00"
	openIndexDone = "v\x00open"
)

var _ incident.Store = (*Store)(nil)

// UpdateIncidents implements incident.Store: fn runs in a bbolt write
// transaction, shared with the UpdateIncidents calls running at the same
// time (group commit, see batch.go), so fn may run more than once. A
// transaction that wrote nothing (a repeated payload) is rolled back
// instead of committed, which spares the fsync.
func (s *Store) UpdateIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.incidentBatch.run(s.db, func(tx *incidentTx) error { return fn(tx) })
}

// ViewIncidents implements incident.Store.
func (s *Store) ViewIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	return storageError(s.view(ctx, func(btx *bbolt.Tx) error {
		return fn(&incidentTx{tx: btx})
	}), "read incidents")
}

var errReadOnlyIncidents = errors.New("bolt: incident write in a read-only transaction")

// incidentTx implements incident.Tx over one bbolt transaction.
type incidentTx struct {
	tx       *bbolt.Tx
	writable bool
	dirty    bool
}

func (t *incidentTx) b(name string) *bbolt.Bucket { return t.tx.Bucket([]byte(name)) }

func (t *incidentTx) write() error {
	if !t.writable {
		return errReadOnlyIncidents
	}
	t.dirty = true
	return nil
}

func (t *incidentTx) NextNumber() (int64, error) {
	if err := t.write(); err != nil {
		return 0, err
	}
	n, err := t.b(bucketIncidentSeq).NextSequence()
	return int64(n), err
}

func (t *incidentTx) Incident(n int64) (*incident.Incident, error) {
	v := t.b(bucketIncidents).Get(seqKey(uint64(n)))
	if v == nil {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no incident #%d.", n)
	}
	var inc incident.Incident
	if err := unmarshal(v, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

func (t *incidentTx) PutIncident(inc *incident.Incident) error {
	if err := t.write(); err != nil {
		return err
	}
	if inc.Number <= 0 {
		return fmt.Errorf("bolt: incident without a number")
	}
	v, err := marshal(inc)
	if err != nil {
		return err
	}
	if err := t.b(bucketIncidents).Put(seqKey(uint64(inc.Number)), v); err != nil {
		return err
	}
	return indexOpen(t.b(bucketIncidentKeys), inc.Number, inc.Status.Open())
}

// indexOpen keeps incident n in the index of open incidents, or out of it.
func indexOpen(keys *bbolt.Bucket, n int64, open bool) error {
	k := append([]byte(prefixOpen), seqKey(uint64(n))...)
	if open {
		return keys.Put(k, nil)
	}
	return keys.Delete(k)
}

// OpenCount implements incident.Tx from the index of open incidents, so
// that the storm limits cost one short cursor walk, not a scan of every
// incident ever stored.
func (t *incidentTx) OpenCount() (int, error) {
	p := []byte(prefixOpen)
	n := 0
	c := t.b(bucketIncidentKeys).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		n++
	}
	return n, nil
}

// openIndexCurrent reports whether the index of open incidents was built:
// false on a database written by a release that did not keep it.
func openIndexCurrent(tx *bbolt.Tx) bool {
	return tx.Bucket([]byte(bucketIncidentKeys)).Get([]byte(openIndexDone)) != nil
}

// rebuildOpenIndex indexes every open incident: once, on the first open of
// a database written without the index.
func rebuildOpenIndex(tx *bbolt.Tx) error {
	keys := tx.Bucket([]byte(bucketIncidentKeys))
	err := tx.Bucket([]byte(bucketIncidents)).ForEach(func(k, v []byte) error {
		var inc struct {
			Number int64           `json:"number"`
			Status incident.Status `json:"status"`
		}
		if err := unmarshal(v, &inc); err != nil {
			return err
		}
		return indexOpen(keys, inc.Number, inc.Status.Open())
	})
	if err != nil {
		return fmt.Errorf("index open incidents: %w", err)
	}
	return keys.Put([]byte(openIndexDone), nil)
}

func (t *incidentTx) Incidents(fn func(*incident.Incident) bool) error {
	c := t.b(bucketIncidents).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		var inc incident.Incident
		if err := unmarshal(v, &inc); err != nil {
			return err
		}
		if !fn(&inc) {
			return nil
		}
	}
	return nil
}

func (t *incidentTx) getIndex(key string) (int64, bool, error) {
	v := t.b(bucketIncidentKeys).Get([]byte(key))
	if v == nil {
		return 0, false, nil
	}
	n, ok := keySeq(v)
	if !ok {
		return 0, false, fmt.Errorf("bolt: bad incident index value for %q", key)
	}
	return int64(n), true, nil
}

func (t *incidentTx) setIndex(key string, n int64) error {
	if err := t.write(); err != nil {
		return err
	}
	return t.b(bucketIncidentKeys).Put([]byte(key), seqKey(uint64(n)))
}

func (t *incidentTx) KeyIndex(key string) (int64, bool, error) { return t.getIndex(prefixGroup + key) }

func (t *incidentTx) SetKeyIndex(key string, n int64) error { return t.setIndex(prefixGroup+key, n) }

func (t *incidentTx) ChannelIndex(platform, channel string) (int64, bool, error) {
	return t.getIndex(prefixChannel + platform + "\x00" + channel)
}

func (t *incidentTx) SetChannelIndex(platform, channel string, n int64) error {
	return t.setIndex(prefixChannel+platform+"\x00"+channel, n)
}

func alertKey(n int64, fp string) []byte {
	return append(seqKey(uint64(n)), fp...)
}

func (t *incidentTx) Alert(n int64, fp string) (*incident.AlertEntry, bool, error) {
	v := t.b(bucketAlerts).Get(alertKey(n, fp))
	if v == nil {
		return nil, false, nil
	}
	var e incident.AlertEntry
	if err := unmarshal(v, &e); err != nil {
		return nil, false, err
	}
	return &e, true, nil
}

func (t *incidentTx) PutAlert(n int64, e *incident.AlertEntry) error {
	if err := t.write(); err != nil {
		return err
	}
	if e.Fingerprint == "" {
		return fmt.Errorf("bolt: alert without a fingerprint")
	}
	v, err := marshal(e)
	if err != nil {
		return err
	}
	return t.b(bucketAlerts).Put(alertKey(n, e.Fingerprint), v)
}

func (t *incidentTx) Alerts(n int64) ([]*incident.AlertEntry, error) {
	prefix := seqKey(uint64(n))
	var out []*incident.AlertEntry
	c := t.b(bucketAlerts).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var e incident.AlertEntry
		if err := unmarshal(v, &e); err != nil {
			return nil, err
		}
		out = append(out, &e)
	}
	return out, nil
}

func (t *incidentTx) AppendTimeline(n int64, e incident.TimelineEntry) error {
	if err := t.write(); err != nil {
		return err
	}
	b := t.b(bucketTimeline)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := marshal(e)
	if err != nil {
		return err
	}
	return b.Put(append(seqKey(uint64(n)), seqKey(seq)...), v)
}

func (t *incidentTx) Timeline(n int64) ([]incident.TimelineEntry, error) {
	prefix := seqKey(uint64(n))
	var out []incident.TimelineEntry
	c := t.b(bucketTimeline).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var e incident.TimelineEntry
		if err := unmarshal(v, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (t *incidentTx) Mark(name string) (time.Time, bool, error) {
	v := t.b(bucketIncidentKeys).Get([]byte(prefixMark + name))
	if v == nil {
		return time.Time{}, false, nil
	}
	if len(v) != 8 {
		return time.Time{}, false, fmt.Errorf("bolt: bad mark value for %q", name)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), true, nil
}

func (t *incidentTx) SetMark(name string, at time.Time) error {
	if err := t.write(); err != nil {
		return err
	}
	return t.b(bucketIncidentKeys).Put([]byte(prefixMark+name), seqKey(uint64(at.UnixNano())))
}

func (t *incidentTx) PruneMarks(prefix string, before time.Time) (int, error) {
	if !t.writable {
		return 0, errReadOnlyIncidents
	}
	p := []byte(prefixMark + prefix)
	var doomed [][]byte
	c := t.b(bucketIncidentKeys).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < before.UnixNano() {
			doomed = append(doomed, bytes.Clone(k))
		}
	}
	if len(doomed) == 0 {
		return 0, nil
	}
	t.dirty = true
	b := t.b(bucketIncidentKeys)
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}
