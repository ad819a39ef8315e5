package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/store/postgres"
	"github.com/tebura/tebura/store/postgres/pgtest"
)

// testKey is a secrets.key for tests (64 hex digits).
const testKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// pgTestConfig is testConfig on the postgres driver, with the secrets.key
// the example runbooks' secret params need there.
func pgTestConfig(t *testing.T, dsn string) config.Config {
	cfg := testConfig(t)
	cfg.Store.Driver = config.DriverPostgres
	cfg.Store.Postgres.DSN = config.Secret(dsn)
	cfg.Sealing.Key = testKey
	return cfg
}

// TestServeOnPostgres: with store.driver postgres the server starts on the
// database (its start is on the chain there), is ready, and /metrics has
// the pool and query families.
func TestServeOnPostgres(t *testing.T) {
	pgtest.Need(t)
	dsn := pgtest.DSN(t)
	cfg := pgTestConfig(t, dsn)
	cfg.DataDir = filepath.Join(cfg.DataDir, "not", "yet") // created at start, as with bolt
	app, stop := startApp(t, cfg)
	resp, err := http.Get("http://" + app.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tebura_db_pool_connections{state="total"}`, `tebura_db_query_duration_seconds_count{result="ok"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), dsn) {
		t.Error("/metrics shows the dsn")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var actions []string
	if err := st.AuditEntries(t.Context(), func(e audit.Entry) error { actions = append(actions, string(e.Action)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(actions) == 0 || actions[0] != string(audit.ActionConfigLoad) {
		t.Errorf("audit chain in the database = %v; want the start's config.load", actions)
	}
}

// TestServeOnPostgresNeedsSecretsKey: a runbook with secret params and no
// secrets.key is refused with postgres, and the message says why.
func TestServeOnPostgresNeedsSecretsKey(t *testing.T) {
	pgtest.Need(t)
	cfg := pgTestConfig(t, pgtest.DSN(t))
	cfg.Sealing.Key = ""
	_, err := NewApp(cfg, discardLogger())
	if tebura.ErrorCode(err) != tebura.EINVALID || !strings.Contains(err.Error(), "secrets.key") || !strings.Contains(err.Error(), "secret-masking") {
		t.Fatalf("NewApp = %v; want EINVALID naming secrets.key and the runbook", err)
	}
}

// TestDoctorOnPostgres: doctor checks the database, its version and its
// schema without migrating it, and never prints the dsn's password.
func TestDoctorOnPostgres(t *testing.T) {
	pgtest.Need(t)
	cleanEnv(t)
	dsn := pgtest.DSN(t)
	cfg := pgConfig(t, dsn)
	out, _, code := runCLI(t, "", "doctor", "--config", cfg)
	if code != 1 || !strings.Contains(out, "✓ store: postgres reachable") || !strings.Contains(out, "✓ store: server: PostgreSQL ") ||
		!strings.Contains(out, "✗ store: schema: version 0 of ") {
		t.Errorf("doctor on a new database: exit %d\n%s", code, out)
	}
	st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, _, code = runCLI(t, "", "doctor", "--config", cfg)
	if code != 0 || !strings.Contains(out, "✓ store: schema: version ") {
		t.Errorf("doctor on a migrated database: exit %d\n%s", code, out)
	}
	cfg = pgConfig(t, "postgres://tebura:hunter2pw@127.0.0.1:1/x?connect_timeout=2")
	out, errOut, code := runCLI(t, "", "doctor", "--config", cfg)
	if code != 1 || !strings.Contains(out, "✗ store: postgres:") || strings.Contains(out+errOut, "hunter2pw") {
		t.Errorf("doctor on an unreachable database: exit %d\n%s%s", code, out, errOut)
	}
}

// TestBoltOnlyCommandsOnPostgres: backup and a serverless run say what to
// do instead with postgres.
func TestBoltOnlyCommandsOnPostgres(t *testing.T) {
	cleanEnv(t)
	cfg := pgConfig(t, "postgres://tebura@127.0.0.1:1/x")
	if out, errOut, code := runCLI(t, "", "backup", "--config", cfg, t.TempDir()+"/copy.db"); code == 0 || !strings.Contains(out+errOut, "pg_dump") {
		t.Errorf("backup with postgres: %d %s%s", code, out, errOut)
	}
	rc := runConfig(t)
	f, err := os.OpenFile(rc, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "store: {driver: postgres, postgres: {dsn: 'postgres://tebura@127.0.0.1:1/x'}}\nsecrets: {key: %s}\n", testKey)
	f.Close()
	t.Setenv("USER", "bob")
	if out, errOut, code := runCLI(t, "", "run", "--config", rc, "hello", "--yes"); code == 0 || !strings.Contains(out+errOut, "tebura serve") {
		t.Errorf("run without a server, with postgres: %d %s%s; want it refused, pointing at serve", code, out, errOut)
	}
}
