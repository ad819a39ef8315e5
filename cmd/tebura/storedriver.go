package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/replica"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
	"github.com/tebura/tebura/store/postgres"
	"github.com/tebura/tebura/web"
)

// appStore is the store the server and the CLI work on, whichever
// store.driver chose: every interface the domain packages take, the chat
// outbox, the changes to services and Close.
type appStore interface {
	metrics.Store
	bot.OutboxStore
	// LeaseStore keeps the leader lease and the replicas' heartbeats.
	replica.LeaseStore
	// LogStore keeps the runs' logs where every replica reads them.
	runbooks.LogStore
	hints.ChangeStore
	// The web view's sessions and one-time links (web.Sessions), and
	// their pruning.
	web.Sessions
	PruneSessions(ctx context.Context) (int, error)
	// Close releases the file or the connections.
	Close() error
}

// openTimeout bounds connecting to PostgreSQL and migrating its schema at
// open.
const openTimeout = 30 * time.Second

// storeOptions tune openStore.
type storeOptions struct {
	// BoltTimeout is how long to wait for another process's lock on the
	// bolt file; zero means bolt's default.
	BoltTimeout time.Duration
	// Metrics, when set, times the PostgreSQL queries.
	Metrics *metrics.Metrics
}

// openStore opens the store cfg.Store.Driver names: the bolt file under
// data_dir (the default), or the PostgreSQL database of
// store.postgres.dsn, migrated to this release's schema.
func openStore(ctx context.Context, cfg config.Config, opts storeOptions) (appStore, error) {
	if cfg.Store.Driver != config.DriverPostgres {
		return bolt.Open(filepath.Join(cfg.DataDir, dbFile), bolt.Options{Timeout: opts.BoltTimeout})
	}
	// The data dir holds the run log files and the admin socket with
	// postgres too; bolt.Open creates it, so here it is created as well.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("data_dir %s cannot be created; set a directory Tebura may write to.", cfg.DataDir))
	}
	po := postgres.Options{
		MaxConns:         int32(cfg.Store.Postgres.MaxConns),
		StatementTimeout: cfg.Store.Postgres.StatementTimeout,
	}
	if opts.Metrics != nil {
		po.ObserveQuery = opts.Metrics.ObserveQuery
	}
	// A database that does not answer (an unroutable host) fails the
	// start instead of hanging it.
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	st, err := postgres.Open(ctx, cfg.Store.Postgres.DSN.Value(), po)
	if err != nil {
		return nil, err
	}
	if opts.Metrics != nil {
		opts.Metrics.WatchPool(func() metrics.PoolStats {
			s := st.Pool().Stat()
			return metrics.PoolStats{Acquired: int(s.AcquiredConns()), Idle: int(s.IdleConns()), Total: int(s.TotalConns())}
		})
	}
	return st, nil
}

// storeName says which store a command works on, for messages: the bolt
// file's path, or "PostgreSQL" (never the dsn: it is a secret).
func storeName(cfg config.Config) string {
	if cfg.Store.Driver == config.DriverPostgres {
		return "the PostgreSQL database of store.postgres.dsn"
	}
	return filepath.Join(cfg.DataDir, dbFile)
}

// pruneStore deletes the expired dedupe keys and callbacks of st and says
// what it removed.
func pruneStore(ctx context.Context, st appStore, now time.Time) (string, error) {
	switch s := st.(type) {
	case *bolt.Store:
		ps, err := s.Prune(ctx, now)
		return fmt.Sprintf("%+v", ps), err
	case *postgres.Store:
		ps, err := s.Prune(ctx, now)
		return fmt.Sprintf("%+v", ps), err
	}
	return "", nil
}

// boltOnly refuses what only the bolt store does, saying what to do with
// PostgreSQL instead.
func boltOnly(cfg config.Config, what, instead string) error {
	if cfg.Store.Driver != config.DriverPostgres {
		return nil
	}
	return tebura.Errorf(tebura.EINVALID, "%s works on the bolt store only, and store.driver is postgres: %s", what, instead)
}

// secretRunbooks names the runbooks of reg that have secret params, for
// config.CheckSealingForReplicas.
func secretRunbooks(reg *runbooks.Registry) []string {
	var names []string
	for _, rb := range reg.List() {
		for _, p := range rb.Params {
			if p.Secret {
				names = append(names, rb.Name)
				break
			}
		}
	}
	return names
}
