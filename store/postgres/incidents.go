package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/incident"
)

// Kinds of incident_keys rows.
const (
	kindGroup   = 'g' // group key → latest incident of the group
	kindChannel = 'c' // platform NUL channel → incident
)

var _ incident.Store = (*Store)(nil)

// UpdateIncidents implements incident.Store: fn runs in one transaction
// that first takes the incidents' advisory lock, so incident transactions
// are serialized across every replica (grouping, numbering, once_within
// throttles and delivery IDs then need no retry). fn runs once; if it
// returns an error (or panics) nothing of it is written.
func (s *Store) UpdateIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.inTx(ctx, func(ptx pgx.Tx) error {
		if err := lockXact(ctx, ptx, lockIncidents); err != nil {
			return err
		}
		t := newIncidentTx(ctx, ptx, true)
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
	return storageError(err, "update incidents")
}

// ViewIncidents implements incident.Store: fn reads one consistent
// snapshot (a read-only, repeatable-read transaction) and takes no lock.
func (s *Store) ViewIncidents(ctx context.Context, fn func(incident.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(ptx pgx.Tx) error {
		return fn(newIncidentTx(ctx, ptx, false))
	})
	return storageError(err, "read incidents")
}

var errReadOnlyIncidents = errors.New("postgres: incident write in a read-only transaction")

// incidentTx implements incident.Tx over one PostgreSQL transaction. It
// keeps the context of the UpdateIncidents or ViewIncidents call, because
// incident.Tx's methods take none.
//
// Writes are queued (one round trip for all of them, at the end or before
// a read that needs them) rather than sent one by one: a webhook of 100
// alerts writes 100 alert rows while holding the incidents' lock, and
// every replica waits for that lock. Until they are sent, what was
// written is kept here as encoded records (pending), and the reads of one
// key answer from it, so a transaction always sees its own writes.
type incidentTx struct {
	ctx      context.Context
	tx       pgx.Tx
	writable bool
	batch    *pgx.Batch
	pending  map[string][]byte // pendingKey → record written, not sent yet
}

func newIncidentTx(ctx context.Context, tx pgx.Tx, writable bool) *incidentTx {
	return &incidentTx{ctx: ctx, tx: tx, writable: writable, batch: &pgx.Batch{}, pending: map[string][]byte{}}
}

// pendingKey names a record of kind ('i' incident, 'a' alert, 'g' and
// 'c' index entries, 'm' mark) for the pending map.
func pendingKey(kind byte, parts ...string) string {
	return string(kind) + "\x00" + strings.Join(parts, "\x00")
}

// queue adds a write to the batch and remembers its record under key
// (none when key is empty).
func (t *incidentTx) queue(key string, rec []byte, sql string, args ...any) {
	t.batch.Queue(sql, args...)
	if key != "" {
		t.pending[key] = rec
	}
}

// flush sends the queued writes; reads that scan (counts, lists) call it
// first.
func (t *incidentTx) flush() error {
	if t.batch.Len() == 0 {
		return nil
	}
	b := t.batch
	t.batch = &pgx.Batch{}
	t.pending = map[string][]byte{}
	return t.tx.SendBatch(t.ctx, b).Close()
}

func (t *incidentTx) write() error {
	if !t.writable {
		return errReadOnlyIncidents
	}
	return nil
}

func (t *incidentTx) NextNumber() (int64, error) {
	if err := t.write(); err != nil {
		return 0, err
	}
	return nextCounter(t.ctx, t.tx, "incidents")
}

func (t *incidentTx) Incident(n int64) (*incident.Incident, error) {
	v, ok := t.pending[pendingKey('i', strconv.FormatInt(n, 10))]
	var err error
	if !ok {
		err = t.tx.QueryRow(t.ctx, "SELECT data FROM incidents WHERE number = $1", n).Scan(&v)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no incident #%d.", n)
	}
	if err != nil {
		return nil, err
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
		return fmt.Errorf("postgres: incident without a number")
	}
	v, err := marshal(inc)
	if err != nil {
		return err
	}
	t.queue(pendingKey('i', strconv.FormatInt(inc.Number, 10)), v, `INSERT INTO incidents (number, open, data) VALUES ($1, $2, $3)
		ON CONFLICT (number) DO UPDATE SET open = EXCLUDED.open, data = EXCLUDED.data`, inc.Number, inc.Status.Open(), v)
	return nil
}

// OpenCount implements incident.Tx from the partial index of open
// incidents, so that the storm limits do not scan every incident ever
// stored.
func (t *incidentTx) OpenCount() (int, error) {
	if err := t.flush(); err != nil {
		return 0, err
	}
	var n int
	err := t.tx.QueryRow(t.ctx, "SELECT count(*) FROM incidents WHERE open").Scan(&n)
	return n, err
}

// incidentPage is how many incidents Incidents reads per query, so that a
// caller that stops early does not read the whole history.
const incidentPage = 64

func (t *incidentTx) Incidents(fn func(*incident.Incident) bool) error {
	if err := t.flush(); err != nil {
		return err
	}
	before := int64(1<<63 - 1)
	for {
		rows, err := t.tx.Query(t.ctx, "SELECT number, data FROM incidents WHERE number < $1 ORDER BY number DESC LIMIT $2", before, incidentPage)
		if err != nil {
			return err
		}
		var page []*incident.Incident
		for rows.Next() {
			var v []byte
			if err := rows.Scan(&before, &v); err != nil {
				rows.Close()
				return err
			}
			var inc incident.Incident
			if err := unmarshal(v, &inc); err != nil {
				rows.Close()
				return err
			}
			page = append(page, &inc)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, inc := range page {
			if !fn(inc) {
				return nil
			}
		}
		if len(page) < incidentPage {
			return nil
		}
	}
}

func (t *incidentTx) getIndex(kind byte, name []byte) (int64, bool, error) {
	if v, ok := t.pending[pendingKey(kind, string(name))]; ok {
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil, err
	}
	var n int64
	err := t.tx.QueryRow(t.ctx, "SELECT number FROM incident_keys WHERE kind = $1 AND name = $2", kind, name).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return n, err == nil, err
}

func (t *incidentTx) setIndex(kind byte, name []byte, n int64) error {
	if err := t.write(); err != nil {
		return err
	}
	t.queue(pendingKey(kind, string(name)), []byte(strconv.FormatInt(n, 10)), `INSERT INTO incident_keys (kind, name, number) VALUES ($1, $2, $3)
		ON CONFLICT (kind, name) DO UPDATE SET number = EXCLUDED.number`, kind, name, n)
	return nil
}

func channelName(platform, channel string) []byte { return []byte(platform + "\x00" + channel) }

func (t *incidentTx) KeyIndex(key string) (int64, bool, error) {
	return t.getIndex(kindGroup, []byte(key))
}

func (t *incidentTx) SetKeyIndex(key string, n int64) error {
	return t.setIndex(kindGroup, []byte(key), n)
}

func (t *incidentTx) ChannelIndex(platform, channel string) (int64, bool, error) {
	return t.getIndex(kindChannel, channelName(platform, channel))
}

func (t *incidentTx) SetChannelIndex(platform, channel string, n int64) error {
	return t.setIndex(kindChannel, channelName(platform, channel), n)
}

func (t *incidentTx) Alert(n int64, fp string) (*incident.AlertEntry, bool, error) {
	v, ok := t.pending[pendingKey('a', strconv.FormatInt(n, 10), fp)]
	var err error
	if !ok {
		err = t.tx.QueryRow(t.ctx, "SELECT data FROM alerts WHERE number = $1 AND fingerprint = $2", n, []byte(fp)).Scan(&v)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
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
		return fmt.Errorf("postgres: alert without a fingerprint")
	}
	v, err := marshal(e)
	if err != nil {
		return err
	}
	t.queue(pendingKey('a', strconv.FormatInt(n, 10), e.Fingerprint), v, `INSERT INTO alerts (number, fingerprint, data) VALUES ($1, $2, $3)
		ON CONFLICT (number, fingerprint) DO UPDATE SET data = EXCLUDED.data`, n, []byte(e.Fingerprint), v)
	return nil
}

var _ incident.AlertLoader = (*incidentTx)(nil)

// AlertsOf implements incident.AlertLoader: the alerts of a webhook in
// one query, those written in this transaction from what is pending.
func (t *incidentTx) AlertsOf(n int64, fps []string) (map[string]*incident.AlertEntry, error) {
	out := make(map[string]*incident.AlertEntry, len(fps))
	num := strconv.FormatInt(n, 10)
	var ask [][]byte
	for _, fp := range fps {
		v, ok := t.pending[pendingKey('a', num, fp)]
		if !ok {
			ask = append(ask, []byte(fp))
			continue
		}
		e := new(incident.AlertEntry)
		if err := unmarshal(v, e); err != nil {
			return nil, err
		}
		out[fp] = e
	}
	if len(ask) == 0 {
		return out, nil
	}
	rows, err := t.tx.Query(t.ctx, "SELECT data FROM alerts WHERE number = $1 AND fingerprint = ANY($2)", n, ask)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		e := new(incident.AlertEntry)
		if err := unmarshal(v, e); err != nil {
			return nil, err
		}
		out[e.Fingerprint] = e
	}
	return out, rows.Err()
}

func (t *incidentTx) Alerts(n int64) ([]*incident.AlertEntry, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, "SELECT data FROM alerts WHERE number = $1 ORDER BY fingerprint", n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*incident.AlertEntry
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		var e incident.AlertEntry
		if err := unmarshal(v, &e); err != nil {
			return nil, err
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}

func (t *incidentTx) AppendTimeline(n int64, e incident.TimelineEntry) error {
	if err := t.write(); err != nil {
		return err
	}
	v, err := marshal(e)
	if err != nil {
		return err
	}
	t.queue("", nil, "INSERT INTO timeline (number, data) VALUES ($1, $2)", n, v)
	return nil
}

func (t *incidentTx) Timeline(n int64) ([]incident.TimelineEntry, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, "SELECT data FROM timeline WHERE number = $1 ORDER BY id", n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []incident.TimelineEntry
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		var e incident.TimelineEntry
		if err := unmarshal(v, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *incidentTx) Mark(name string) (time.Time, bool, error) {
	var at int64
	var err error
	if v, ok := t.pending[pendingKey('m', name)]; ok {
		at, err = strconv.ParseInt(string(v), 10, 64)
	} else {
		err = t.tx.QueryRow(t.ctx, "SELECT at FROM incident_marks WHERE name = $1", []byte(name)).Scan(&at)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return time.Unix(0, at).UTC(), true, nil
}

func (t *incidentTx) SetMark(name string, at time.Time) error {
	if err := t.write(); err != nil {
		return err
	}
	ns := at.UnixNano()
	t.queue(pendingKey('m', name), []byte(strconv.FormatInt(ns, 10)), `INSERT INTO incident_marks (name, at) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at`, []byte(name), ns)
	return nil
}

func (t *incidentTx) PruneMarks(prefix string, before time.Time) (int, error) {
	if err := t.write(); err != nil {
		return 0, err
	}
	if err := t.flush(); err != nil {
		return 0, err
	}
	p := []byte(prefix)
	tag, err := t.tx.Exec(t.ctx, "DELETE FROM incident_marks WHERE name >= $1 AND substring(name from 1 for $2) = $1 AND at < $3",
		p, len(p), before.UnixNano())
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
