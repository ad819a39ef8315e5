package postgres

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/store/postgres/pgtest"
	"github.com/tebura/tebura/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openTest opens a store on a fresh database on a manual clock.
func openTest(t *testing.T) (*Store, *storetest.Clock, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	clock := storetest.NewClock(storetest.Epoch())
	return openDSN(t, dsn, clock), clock, dsn
}

// openDSN opens a store on dsn, closed when t ends.
func openDSN(t *testing.T, dsn string, clock *storetest.Clock) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, Options{Clock: clock.Now, MaxConns: 8})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stores presents s to the conformance suite.
func stores(s *Store, clock *storetest.Clock, dsn string) storetest.Stores {
	return storetest.Stores{
		Runs: s, Audit: s, Dedupe: s, Callbacks: s, Meta: s, Outbox: s, Changes: s, Leases: s, Logs: s, Clock: clock,
		Reopen: func(t *testing.T) storetest.Stores {
			t.Helper()
			s.Close()
			return stores(openDSN(t, dsn, clock), clock, dsn)
		},
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores { return stores(openTest(t)) })
}

// incidentStores presents s to the incident conformance suite.
func incidentStores(s *Store, clock *storetest.Clock, dsn string) storetest.IncidentStores {
	return storetest.IncidentStores{
		Store: s, Clock: clock,
		Reopen: func(t *testing.T) storetest.IncidentStores {
			t.Helper()
			s.Close()
			return incidentStores(openDSN(t, dsn, clock), clock, dsn)
		},
	}
}

func TestIncidentConformance(t *testing.T) {
	storetest.RunIncidents(t, func(t *testing.T) storetest.IncidentStores { return incidentStores(openTest(t)) })
}

// TestMigrationsOnceWhenReplicasStartTogether: replicas opening one new
// database at the same moment apply the schema once and all open it.
func TestMigrationsOnceWhenReplicasStartTogether(t *testing.T) {
	dsn := pgtest.DSN(t)
	const replicas = 4
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, replicas)
	for range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(t.Context(), dsn, Options{MaxConns: 2})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open of a replica: %v", err)
		}
	}
	s := openDSN(t, dsn, storetest.NewClock(storetest.Epoch()))
	var rows int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != LatestVersion() || rows != LatestVersion() {
		t.Errorf("schema version %d (%v) in %d rows; want %d, each applied once", v, err, rows, LatestVersion())
	}
}

// TestNewerSchemaRefused: a database migrated by a newer tebura is not
// opened (its schema could mean something this release does not know).
func TestNewerSchemaRefused(t *testing.T) {
	s, _, dsn := openTest(t)
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')", LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn, Options{})
	if tebura.ErrorCode(err) != tebura.EINVALID {
		t.Fatalf("Open of a newer schema = %v, want EINVALID saying to upgrade", err)
	}
}

// TestBadDSNNotQuoted: a DSN that cannot be parsed or reached is refused
// without its password in the error.
func TestBadDSNNotQuoted(t *testing.T) {
	pgtest.Need(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://tebura:hunter2secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=notaport password=hunter2secret",
	} {
		_, err := Open(ctx, dsn, Options{})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if msg := tebura.ErrorMessage(err); msg == "" || strings.Contains(msg, "hunter2") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("message %q (error %q): want a sentence without the password, and no password in the detail either", msg, err)
		}
	}
}

// TestInspect: a new database is at schema 0 and Inspect does not migrate
// it; after Open it is at the latest version.
func TestInspect(t *testing.T) {
	dsn := pgtest.DSN(t)
	info, err := Inspect(t.Context(), dsn)
	if err != nil || info.Schema != 0 || info.Latest != LatestVersion() || info.Major < 13 || info.Version == "" {
		t.Fatalf("Inspect of a new database = %+v, %v", info, err)
	}
	if again, _ := Inspect(t.Context(), dsn); again.Schema != 0 {
		t.Fatalf("Inspect migrated the database: %+v", again)
	}
	openDSN(t, dsn, storetest.NewClock(storetest.Epoch()))
	if info, err := Inspect(t.Context(), dsn); err != nil || info.Schema != LatestVersion() {
		t.Fatalf("Inspect after Open = %+v, %v", info, err)
	}
}
