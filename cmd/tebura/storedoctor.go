package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/store/bolt"
	"github.com/tebura/tebura/store/postgres"
)

// minPostgres is the oldest PostgreSQL major version the store is tested
// on and uses features of (DROP DATABASE … WITH (FORCE) in the tests; the
// schema itself needs less).
const minPostgres = 13

// storeChecks are doctor's checks of the store: the bolt file opens (or a
// running tebura holds it); or the database is reachable, its server
// recent enough, and its schema at this release's version.
func storeChecks(ctx context.Context, cfg config.Config) []bot.Check {
	if cfg.Store.Driver != config.DriverPostgres {
		path := filepath.Join(cfg.DataDir, dbFile)
		st, err := bolt.Open(path, bolt.Options{Timeout: 500 * time.Millisecond})
		switch {
		case tebura.ErrorCode(err) == tebura.ECONFLICT:
			// Locked by a running tebura: the store is open and in use.
			return []bot.Check{{Name: "store", OK: true, Detail: path + " (in use by a running tebura)"}}
		case err != nil:
			return []bot.Check{{Name: "store", Detail: fmt.Sprintf("%s: %s", path, message(err))}}
		}
		st.Close()
		return []bot.Check{{Name: "store", OK: true, Detail: path}}
	}
	return postgresChecks(ctx, cfg.Store.Postgres.DSN.Value())
}

// postgresChecks checks the database of dsn without changing it: Open
// would apply missing migrations, and doctor only looks.
func postgresChecks(ctx context.Context, dsn string) []bot.Check {
	info, err := postgres.Inspect(ctx, dsn)
	if err != nil {
		return []bot.Check{{Name: "store", Detail: "postgres: " + message(err)}}
	}
	checks := []bot.Check{{Name: "store", OK: true, Detail: "postgres reachable"}}
	ver := bot.Check{Name: "store: server", OK: info.Major >= minPostgres, Detail: "PostgreSQL " + info.Version}
	if !ver.OK {
		ver.Detail += fmt.Sprintf("; tebura needs PostgreSQL %d or later", minPostgres)
	}
	checks = append(checks, ver)
	mig := bot.Check{Name: "store: schema", OK: info.Schema == info.Latest,
		Detail: fmt.Sprintf("version %d of %d", info.Schema, info.Latest)}
	switch {
	case info.Schema < info.Latest:
		mig.Detail += "; `tebura serve` applies the rest at its start"
	case info.Schema > info.Latest:
		mig.Detail += "; migrated by a newer tebura: upgrade this one"
	}
	return append(checks, mig)
}
