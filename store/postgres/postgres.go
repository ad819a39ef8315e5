// Package postgres stores Tebura's state in a PostgreSQL database, so that
// several `tebura serve` replicas can share it: runs, locks, button
// callbacks, dedupe keys, the audit chain, small metadata, the chat outbox,
// and incidents with their alerts and timeline. It implements the same
// interfaces as store/bolt (runbooks.Store and StartingStore, audit.Store,
// bot.Deduper, bot.OutboxStore, incident.Store) and passes store/storetest.
//
// What keeps replicas honest lives in the database, never in a map of one
// process: run and incident numbers come from a counters row updated in the
// creating transaction; an update of a run holds the run's row lock (50
// concurrent approvals, one winner); locks and dedupe keys are rows whose
// primary key decides the race; the audit chain is appended under a
// transaction-scoped advisory lock and its primary key refuses a fork; and
// incident transactions are serialized by another advisory lock, as
// incident.Store asks.
//
// The schema is versioned by the embedded migrations/*.sql, applied in
// order at Open inside one transaction that holds an advisory lock, so
// that two replicas starting at once apply them once. Migrations are
// forward-only: a database migrated by a newer tebura is refused.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/store/record"
)

// Advisory lock keys (pg_advisory_xact_lock) of the work that must be
// serialized across replicas. They are arbitrary constants ("tebura" and
// a role in ASCII) that other applications sharing a database are
// unlikely to pick.
const (
	lockMigrate   int64 = 0x7465627572610001
	lockAudit     int64 = 0x7465627572610002
	lockIncidents int64 = 0x7465627572610003
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options tune Open.
type Options struct {
	// MaxConns bounds the connection pool; zero means pgx's default
	// (the larger of 4 and the number of CPUs).
	MaxConns int32
	// StatementTimeout is the server's statement_timeout for every
	// connection; zero leaves the server's setting.
	StatementTimeout time.Duration
	// Clock returns the current time, for lock timestamps and dedupe
	// expiry; nil means time.Now.
	Clock func() time.Time
	// ObserveQuery, when set, is told how long every statement took and
	// whether it failed (the metrics' query latency histogram).
	ObserveQuery func(d time.Duration, failed bool)
}

// Store is the PostgreSQL-backed store. It is safe for concurrent use, and
// several processes may open the same database.
type Store struct {
	pool  *pgxpool.Pool
	clock func() time.Time
}

// Open connects to the database dsn names, applies the migrations it lacks
// and returns the store. The dsn is a secret (it may hold a password): no
// error returned here quotes it.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the dsn, password included.
		return nil, tebura.Errorf(tebura.EINVALID, "store.postgres.dsn cannot be parsed; write it as postgres://user@host:5432/db or as key=value pairs.")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "tebura"
	if opts.ObserveQuery != nil {
		cfg.ConnConfig.Tracer = &queryTimer{observe: opts.ObserveQuery}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connectError(err)
	}
	s := &Store{pool: pool, clock: opts.Clock}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool is the connection pool, for its statistics (the metrics) and for
// the replica machinery that keeps its own rows (leases, heartbeats).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// connectError explains a failure to reach the database without quoting
// the dsn.
func connectError(err error) error {
	return tebura.Wrap(tebura.ETRANSIENT, err, "The PostgreSQL database cannot be reached; check store.postgres.dsn, the server and the network.")
}

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations in version order. A file is
// named NNNN_what.sql; NNNN is its version.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s is not named NNNN_what.sql", base)
		}
		body, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: migration versions must be 1, 2, … without gaps; found %d at position %d", m.version, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the schema version this tebura migrates to.
func LatestVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate applies the migrations the database lacks, in one transaction
// that first takes an advisory lock: a second replica starting at the same
// moment waits, then finds them applied.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return err
		}
		if current > len(ms) {
			return tebura.Errorf(tebura.EINVALID, "The database's schema is version %d and this tebura knows versions up to %d: it was migrated by a newer tebura; upgrade this one.", current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
	return storageError(err, "migrate the schema")
}

// SchemaVersion is the highest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, storageError(err, "read the schema version")
}

// inTx runs fn in a read-write transaction, committing when fn returns nil
// and rolling back otherwise (a panic included).
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// lockXact takes the transaction-scoped advisory lock key.
func lockXact(ctx context.Context, tx pgx.Tx, key int64) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key)
	return err
}

// storageError wraps a database failure unless err is already a tebura
// error or a context error: a server or network that is down is
// ETRANSIENT (a webhook sender retries), anything else EINTERNAL.
func storageError(err error, what string) error {
	if err == nil {
		return nil
	}
	var te *tebura.Error
	if errors.As(err, &te) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if transient(err) {
		return tebura.Wrap(tebura.ETRANSIENT, fmt.Errorf("postgres: %s: %w", what, err), "The database is unavailable for a moment; try again shortly.")
	}
	return tebura.Wrap(tebura.EINTERNAL, fmt.Errorf("postgres: %s: %w", what, err), "The database could not be read or written; the operators can find the details in the bot's log.")
}

// transient reports whether err is a failure that a retry may not meet: a
// connection lost or refused, a server shutting down or starting, a
// statement timeout, a serialization failure or a deadlock.
func transient(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "57"), // operator intervention: shutdown, statement timeout
			strings.HasPrefix(pe.Code, "53"), // insufficient resources: too many connections
			pe.Code == "40001", pe.Code == "40P01":
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.Is(err, pgx.ErrTxClosed) || strings.Contains(err.Error(), "conn closed")
}

// marshal and unmarshal are the record format both stores share
// (store/record), with this store's name on its errors.
func marshal(v any) ([]byte, error) {
	b, err := record.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return b, nil
}

func unmarshal(data []byte, v any) error {
	if err := record.Unmarshal(data, v); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// nextCounter takes the next number of counter name in tx; the row stays
// locked until tx ends, and a rollback gives the number back.
func nextCounter(ctx context.Context, tx pgx.Tx, name string) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, "UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value", name).Scan(&n)
	return n, err
}
