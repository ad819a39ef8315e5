package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tebura/tebura"
)

// Info is what Inspect found in a database.
type Info struct {
	Version string // the server's version (SHOW server_version)
	Major   int    // its major version (15 for 15.8)
	Schema  int    // the highest migration applied; 0 for an empty database
	Latest  int    // the highest migration this tebura knows
}

// Inspect connects to dsn and reads the server's version and the schema's,
// changing nothing (Open would migrate): what `tebura doctor` shows.
func Inspect(ctx context.Context, dsn string) (Info, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return Info{}, tebura.Errorf(tebura.EINVALID, "store.postgres.dsn cannot be parsed; write it as postgres://user@host:5432/db or as key=value pairs.")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return Info{}, connectError(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	info := Info{Latest: LatestVersion()}
	var num int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('server_version_num')::int").Scan(&info.Version, &num); err != nil {
		return Info{}, storageError(err, "read the server version")
	}
	info.Major = num / 10000
	err = conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&info.Schema)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table: never migrated
		err = nil
	}
	return info, storageError(err, "read the schema version")
}
