package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/store/bolt"
	"github.com/tebura/tebura/store/postgres"
)

// storeCmd groups the commands that work on the store itself.
func (c *cli) storeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Work on the store itself (copy a bolt store into PostgreSQL)",
	}
	var from, to string
	migrate := &cobra.Command{
		Use:   "migrate --from DATA_DIR [--to DSN]",
		Short: "Copy a bolt store into a new, empty PostgreSQL database and verify the audit chain there",
		Long: `migrate copies everything the bolt store of DATA_DIR holds (runs, their log
metadata, locks, incidents with their alerts and timelines, dedupe keys, the
chat outbox, button callbacks, meta and the audit chain) into the PostgreSQL
database of DSN, in one transaction, keeping run IDs, incident numbers and
the audit chain's hashes. It refuses a database that holds anything, and a
data dir a running tebura holds (stop it first). After the copy it verifies
the chain in PostgreSQL and checks it ends at the same head as the bolt one.

DSN defaults to store.postgres.dsn of the configuration; prefer that (or
${ENV} in it) over --to, which other users of the machine can see in the
process list. Run logs stay files under data_dir/logs: copy that directory to
every replica's data_dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return &exitError{code: 2, err: fmt.Errorf("--from is required: the data dir of the bolt store to copy")}
			}
			dsn := to
			if dsn == "" {
				l, err := c.load()
				if err != nil {
					return err
				}
				dsn = l.Config.Store.Postgres.DSN.Value()
			}
			if dsn == "" {
				return &exitError{code: 2, err: fmt.Errorf("name the database: --to DSN, or store.postgres.dsn in the configuration")}
			}
			return migrateStore(cmd.Context(), from, dsn, c.stdout)
		},
	}
	migrate.Flags().StringVar(&from, "from", "", "data dir of the bolt store to copy")
	migrate.Flags().StringVar(&to, "to", "", "DSN of the new, empty PostgreSQL database (default: store.postgres.dsn)")
	cmd.AddCommand(migrate)
	return cmd
}

// migrateStore copies the bolt store of dataDir into the database of dsn
// and verifies the copy's audit chain against the original's head.
func migrateStore(ctx context.Context, dataDir, dsn string, w interface{ Write([]byte) (int, error) }) error {
	path := filepath.Join(dataDir, dbFile)
	if _, err := os.Stat(path); err != nil {
		return tebura.Errorf(tebura.EINVALID, "There is no bolt store at %s; --from names the data dir that holds %s.", path, dbFile)
	}
	src, err := bolt.Open(path, bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer src.Close()
	head, n, err := audit.Check(ctx, src)
	if err != nil {
		return tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("The bolt store's audit chain is broken after %d good entries; `tebura audit verify` shows where. Nothing was copied.", n))
	}
	dst, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := dst.Load(ctx, func(l *postgres.Loader) error { return src.Dump(ctx, l) })
	if err != nil {
		return err
	}
	copied, m, err := audit.Check(ctx, dst, head)
	if err != nil || m != n {
		return tebura.Errorf(tebura.EINTERNAL, "The copy's audit chain does not verify against the bolt store's head %s (%d of %d entries good: %v); do not use the copy.", head, m, n, err)
	}
	_, err = fmt.Fprintf(w, "copied %s\nok: %d audit entries, chain intact in PostgreSQL, head %s\n", postgres.Summary(counts), m, copied)
	return err
}
