package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// DumpWriter receives everything a store holds, record by record, from
// Dump: what `tebura store migrate` copies into another store. The
// PostgreSQL store's loader implements it.
type DumpWriter interface {
	// Counters are the last run and incident numbers handed out.
	Counters(runs, incidents uint64) error
	Run(run *runbooks.Run) error
	Lock(l runbooks.Lock) error
	// Audit gets the chain's entries in order, as stored (hashes kept).
	Audit(e audit.Entry) error
	Callback(cb bot.Callback) error
	Meta(key string, v []byte) error
	Dedupe(scope, key string, expires time.Time) error
	Delivery(d bot.Delivery) error
	Incident(inc *incident.Incident) error
	// IncidentKey is the group key index; IncidentChannel the channel one.
	IncidentKey(group string, n int64) error
	IncidentChannel(platform, channel string, n int64) error
	Alert(n int64, e *incident.AlertEntry) error
	// Timeline gets each incident's entries in order.
	Timeline(n int64, e incident.TimelineEntry) error
	Mark(name string, at time.Time) error
	// Change gets the changes to services (hints).
	Change(c hints.Change) error
}

// Dump hands every record of the store to w, from one read transaction,
// so that what w gets is one consistent moment. It is for an offline
// copy: the read transaction lasts as long as w takes (a writer that must
// grow the file waits for it), so run it on a store opened ReadOnly while
// no server holds the file.
func (s *Store) Dump(ctx context.Context, w DumpWriter) error {
	return s.view(ctx, func(tx *bbolt.Tx) error {
		b := func(name string) *bbolt.Bucket { return tx.Bucket([]byte(name)) }
		if err := w.Counters(b(bucketRuns).Sequence(), b(bucketIncidentSeq).Sequence()); err != nil {
			return err
		}
		steps := []struct {
			bucket string
			put    func(k, v []byte) error
		}{
			{bucketRuns, func(_, v []byte) error {
				r := new(runbooks.Run)
				return decodeThen(v, r, func() error { return w.Run(r) })
			}},
			{bucketLocks, func(_, v []byte) error {
				var l runbooks.Lock
				return decodeThen(v, &l, func() error { return w.Lock(l) })
			}},
			{bucketAudit, func(_, v []byte) error {
				var e audit.Entry
				return decodeThen(v, &e, func() error { return w.Audit(e) })
			}},
			{bucketCallbacks, func(_, v []byte) error {
				var cb bot.Callback
				return decodeThen(v, &cb, func() error { return w.Callback(cb) })
			}},
			{bucketMeta, func(k, v []byte) error { return w.Meta(string(k), bytes.Clone(v)) }},
			{bucketDedupe, func(k, v []byte) error {
				scope, key, ok := bytes.Cut(k, []byte{0})
				if !ok {
					return fmt.Errorf("bolt: dedupe key %q without a scope", k)
				}
				var rec dedupeRecord
				return decodeThen(v, &rec, func() error { return w.Dedupe(string(scope), string(key), rec.Expires) })
			}},
			{bucketOutbox, func(_, v []byte) error {
				var d bot.Delivery
				return decodeThen(v, &d, func() error { return w.Delivery(d) })
			}},
			{bucketIncidents, func(_, v []byte) error {
				inc := new(incident.Incident)
				return decodeThen(v, inc, func() error { return w.Incident(inc) })
			}},
			{bucketIncidentKeys, func(k, v []byte) error { return dumpIncidentKey(w, k, v) }},
			{bucketAlerts, func(k, v []byte) error {
				n, ok := keySeq(k[:min(len(k), 8)])
				if !ok {
					return fmt.Errorf("bolt: alert key %x without an incident number", k)
				}
				e := new(incident.AlertEntry)
				return decodeThen(v, e, func() error { return w.Alert(int64(n), e) })
			}},
			{bucketTimeline, func(k, v []byte) error {
				n, ok := keySeq(k[:min(len(k), 8)])
				if !ok {
					return fmt.Errorf("bolt: timeline key %x without an incident number", k)
				}
				var e incident.TimelineEntry
				return decodeThen(v, &e, func() error { return w.Timeline(int64(n), e) })
			}},
			{bucketChanges, func(_, v []byte) error {
				var c hints.Change
				return decodeThen(v, &c, func() error { return w.Change(c) })
			}},
		}
		for _, st := range steps {
			err := b(st.bucket).ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return st.put(k, v)
			})
			if err != nil {
				return fmt.Errorf("dump %s: %w", st.bucket, err)
			}
		}
		return nil
	})
}

// decodeThen decodes v into rec and calls put.
func decodeThen(v []byte, rec any, put func() error) error {
	if err := unmarshal(v, rec); err != nil {
		return err
	}
	return put()
}

// dumpIncidentKey hands one incident_keys entry to w: a group or channel
// index or a mark. The open-incident index is left out (the incidents
// carry their status).
func dumpIncidentKey(w DumpWriter, k, v []byte) error {
	key := string(k)
	switch {
	case len(key) > len(prefixGroup) && key[:len(prefixGroup)] == prefixGroup:
		n, ok := keySeq(v)
		if !ok {
			return fmt.Errorf("bolt: bad group index value for %q", key)
		}
		return w.IncidentKey(key[len(prefixGroup):], int64(n))
	case len(key) > len(prefixChannel) && key[:len(prefixChannel)] == prefixChannel:
		platform, channel, ok := bytes.Cut(k[len(prefixChannel):], []byte{0})
		n, ok2 := keySeq(v)
		if !ok || !ok2 {
			return fmt.Errorf("bolt: bad channel index entry %q", key)
		}
		return w.IncidentChannel(string(platform), string(channel), int64(n))
	case len(key) >= len(prefixMark) && key[:len(prefixMark)] == prefixMark:
		if len(v) != 8 {
			return fmt.Errorf("bolt: bad mark value for %q", key)
		}
		return w.Mark(key[len(prefixMark):], time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC())
	}
	return nil // the open index and its marker
}
