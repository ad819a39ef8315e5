package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// loadBatch is how many rows Load sends per round trip.
const loadBatch = 500

// Loader writes records copied from another store (store/bolt's Dump)
// inside Load's transaction, keeping their IDs, numbers and audit hashes.
// It implements bolt.DumpWriter. Counts says what it wrote.
type Loader struct {
	ctx    context.Context
	tx     pgx.Tx
	batch  *pgx.Batch
	runs   int64 // the source's last run number
	incs   int64 // and incident number
	Counts map[string]int
}

// Load runs fill with a Loader in one transaction: everything fill writes
// is stored, or nothing. It refuses a database that holds anything
// already (a copy never merges into a used store), and sets the run and
// incident numbering to continue after the copied ones.
func (s *Store) Load(ctx context.Context, fill func(l *Loader) error) (map[string]int, error) {
	l := &Loader{ctx: ctx, batch: &pgx.Batch{}, Counts: map[string]int{}}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		l.tx = tx
		if err := lockXact(ctx, tx, lockAudit); err != nil {
			return err
		}
		if err := lockXact(ctx, tx, lockIncidents); err != nil {
			return err
		}
		if used, err := usedTables(ctx, tx); err != nil {
			return err
		} else if len(used) > 0 {
			return tebura.Errorf(tebura.ECONFLICT, "The database is not empty (it has %s); copy into a new, empty database.", strings.Join(used, ", "))
		}
		if err := fill(l); err != nil {
			return err
		}
		if err := l.flush(); err != nil {
			return err
		}
		var maxRun, maxInc int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM runs").Scan(&maxRun); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(number), 0) FROM incidents").Scan(&maxInc); err != nil {
			return err
		}
		for name, v := range map[string]int64{"runs": max(l.runs, maxRun), "incidents": max(l.incs, maxInc)} {
			if _, err := tx.Exec(ctx, "UPDATE counters SET value = $2 WHERE name = $1", name, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, storageError(err, "load a copy")
	}
	return l.Counts, nil
}

// dataTables are the tables a used store has rows in.
var dataTables = []string{"runs", "locks", "audit", "callbacks", "dedupe", "meta", "outbox",
	"incidents", "incident_keys", "incident_marks", "alerts", "timeline", "changes"}

// usedTables names the data tables that have rows.
func usedTables(ctx context.Context, tx pgx.Tx) ([]string, error) {
	var used []string
	for _, t := range dataTables {
		var any bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t+")").Scan(&any); err != nil {
			return nil, err
		}
		if any {
			used = append(used, t)
		}
	}
	return used, nil
}

// queue adds one statement of kind to the batch, sending it when full.
func (l *Loader) queue(kind, sql string, args ...any) error {
	l.batch.Queue(sql, args...)
	l.Counts[kind]++
	if l.batch.Len() >= loadBatch {
		return l.flush()
	}
	return nil
}

// flush sends the queued statements.
func (l *Loader) flush() error {
	if l.batch.Len() == 0 {
		return nil
	}
	err := l.tx.SendBatch(l.ctx, l.batch).Close()
	l.batch = &pgx.Batch{}
	return err
}

// queueJSON marshals rec and queues sql with args followed by it.
func (l *Loader) queueJSON(kind, sql string, rec any, args ...any) error {
	v, err := marshal(rec)
	if err != nil {
		return err
	}
	return l.queue(kind, sql, append(args, v)...)
}

// Counters implements bolt.DumpWriter.
func (l *Loader) Counters(runs, incidents uint64) error {
	l.runs, l.incs = int64(runs), int64(incidents)
	return nil
}

// Run implements bolt.DumpWriter.
func (l *Loader) Run(r *runbooks.Run) error {
	seq, ok := parseRunID(r.ID)
	if !ok {
		return fmt.Errorf("postgres: copied run has ID %q", r.ID)
	}
	return l.queueJSON("runs", "INSERT INTO runs (seq, state, final, data) VALUES ($1, $2, $3, $4)", r, seq, string(r.State), r.State.Final())
}

// Lock implements bolt.DumpWriter.
func (l *Loader) Lock(lk runbooks.Lock) error {
	return l.queueJSON("locks", "INSERT INTO locks (key, run_id, data) VALUES ($1, $2, $3)", &lk, lk.Key, lk.RunID)
}

// Audit implements bolt.DumpWriter.
func (l *Loader) Audit(e audit.Entry) error {
	return l.queueJSON("audit entries", "INSERT INTO audit (seq, data) VALUES ($1, $2)", &e, int64(e.Seq))
}

// Callback implements bolt.DumpWriter.
func (l *Loader) Callback(cb bot.Callback) error {
	var expires *int64
	if !cb.Expires.IsZero() {
		n := cb.Expires.UnixNano()
		expires = &n
	}
	return l.queueJSON("callbacks", "INSERT INTO callbacks (id, expires, data) VALUES ($1, $2, $3)", &cb, cb.ID, expires)
}

// Meta implements bolt.DumpWriter.
func (l *Loader) Meta(key string, v []byte) error {
	return l.queue("meta", "INSERT INTO meta (key, value) VALUES ($1, $2)", key, v)
}

// Dedupe implements bolt.DumpWriter.
func (l *Loader) Dedupe(scope, key string, expires time.Time) error {
	return l.queue("dedupe keys", "INSERT INTO dedupe (scope, key, expires) VALUES ($1, $2, $3)", []byte(scope), []byte(key), expires.UnixNano())
}

// Delivery implements bolt.DumpWriter.
func (l *Loader) Delivery(d bot.Delivery) error {
	return l.queueJSON("outbox", "INSERT INTO outbox (platform, id, data) VALUES ($1, $2, $3)", &d, d.Platform, d.ID)
}

// Incident implements bolt.DumpWriter.
func (l *Loader) Incident(inc *incident.Incident) error {
	return l.queueJSON("incidents", "INSERT INTO incidents (number, open, data) VALUES ($1, $2, $3)", inc, inc.Number, inc.Status.Open())
}

// IncidentKey implements bolt.DumpWriter.
func (l *Loader) IncidentKey(group string, n int64) error {
	return l.queue("incident keys", "INSERT INTO incident_keys (kind, name, number) VALUES ($1, $2, $3)", byte(kindGroup), []byte(group), n)
}

// IncidentChannel implements bolt.DumpWriter.
func (l *Loader) IncidentChannel(platform, channel string, n int64) error {
	return l.queue("incident keys", "INSERT INTO incident_keys (kind, name, number) VALUES ($1, $2, $3)", byte(kindChannel), channelName(platform, channel), n)
}

// Alert implements bolt.DumpWriter.
func (l *Loader) Alert(n int64, e *incident.AlertEntry) error {
	return l.queueJSON("alerts", "INSERT INTO alerts (number, fingerprint, data) VALUES ($1, $2, $3)", e, n, []byte(e.Fingerprint))
}

// Timeline implements bolt.DumpWriter.
func (l *Loader) Timeline(n int64, e incident.TimelineEntry) error {
	return l.queueJSON("timeline entries", "INSERT INTO timeline (number, data) VALUES ($1, $2)", e, n)
}

// Mark implements bolt.DumpWriter.
func (l *Loader) Mark(name string, at time.Time) error {
	return l.queue("incident marks", "INSERT INTO incident_marks (name, at) VALUES ($1, $2)", []byte(name), at.UnixNano())
}

// Change implements bolt.DumpWriter.
func (l *Loader) Change(c hints.Change) error {
	return l.queueJSON("changes", "INSERT INTO changes (id, service, at, data) VALUES ($1, $2, $3, $4)", &c, []byte(c.ID), []byte(c.Service), c.At.UnixNano())
}

// Summary renders counts as "12 runs, 3 incidents, …" in a stable order.
func Summary(counts map[string]int) string {
	order := []string{"runs", "locks", "audit entries", "callbacks", "meta", "dedupe keys", "outbox",
		"incidents", "incident keys", "alerts", "timeline entries", "incident marks", "changes"}
	var parts []string
	for _, k := range order {
		parts = append(parts, strconv.Itoa(counts[k])+" "+k)
	}
	return strings.Join(parts, ", ")
}
