package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
	"github.com/tebura/tebura/store/postgres"
	"github.com/tebura/tebura/store/postgres/pgtest"
	"github.com/tebura/tebura/store/storetest"
)

// pgConfig writes a configuration on the postgres driver (the dsn through
// ${PG_DSN}, as the docs advise) and returns its path.
func pgConfig(t *testing.T, dsn string) string {
	t.Helper()
	t.Setenv("PG_DSN", dsn)
	return writeConfig(t, "data_dir: data\nrunbooks: {dirs: []}\nstore:\n  driver: postgres\n  postgres:\n    dsn: ${PG_DSN}\n")
}

// TestStoreMigrate: a bolt store made by `tebura run` and the incident
// service is copied into PostgreSQL; `tebura audit verify` on the copy
// finds the same chain and head, the runs and incidents read the same,
// the rest (dedupe keys, callbacks, outbox, locks, meta, timelines,
// numbering) carries over, and a second copy into the used database is
// refused.
func TestStoreMigrate(t *testing.T) {
	pgtest.Need(t)
	cleanEnv(t)
	t.Setenv("USER", "bob")
	boltCfg := runConfig(t)
	dataDir := filepath.Join(filepath.Dir(boltCfg), "data")
	for _, rb := range []string{"hello", "fails", "locked"} {
		if out, errOut, code := runCLI(t, "", "run", "--config", boltCfg, rb, "--yes"); code != 0 && rb != "fails" {
			t.Fatalf("run %s: %d\n%s%s", rb, code, out, errOut)
		}
	}
	ctx := t.Context()
	clock := storetest.NewClock(storetest.Epoch())
	src, err := bolt.Open(filepath.Join(dataDir, dbFile), bolt.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incident.New(src, config.Incidents{AutoResolve: true, ReopenWithin: 30 * time.Minute}, nil, clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	for w := range 3 {
		if _, err := svc.Ingest(ctx, storetest.StormBatch(w, clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.AttachChannel(ctx, "#2", incident.Channel{Platform: "slack", ID: "C2", Name: "inc-2"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Note(ctx, "#2", "slack:U1", "looking"); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(src.PutCallback(ctx, bot.Callback{ID: "cb1", Action: "approve", Subject: "r1", Created: clock.Now(), Expires: clock.Now().Add(time.Hour)}))
	_, err = src.Mark(ctx, "slack-event", "Ev1", time.Hour)
	must(err)
	must(src.PutDelivery(ctx, bot.Delivery{Platform: "slack", ID: "outbox:1", To: bot.Target{Channel: "C1"}, Message: bot.Message{Header: "kept"}, Created: clock.Now()}))
	must(src.PutMeta(ctx, "commands_version", []byte("3")))
	_, err = src.PutChange(ctx, hints.Change{ID: "gh-1", Service: "api", Version: "v2", Source: "github", At: clock.Now()})
	must(err)
	_, err = src.AcquireLock(ctx, runbooks.Lock{Key: "deploy", RunID: "r2", Holder: "console:bob"})
	must(err)
	must(src.Close())

	read := func(cfg string, args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, "", append(args, "--config", cfg)...)
		if code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	boltVerify := read(boltCfg, "audit", "verify")

	dsn := pgtest.DSN(t)
	out, errOut, code := runCLI(t, "", "store", "migrate", "--from", dataDir, "--to", dsn)
	if code != 0 || !strings.Contains(out, "3 runs") || !strings.Contains(out, "chain intact in PostgreSQL") {
		t.Fatalf("store migrate: %d\n%s%s", code, out, errOut)
	}
	pgCfg := pgConfig(t, dsn)
	if got := read(pgCfg, "audit", "verify"); got != boltVerify {
		t.Errorf("audit verify on the copy:\n%s\non bolt:\n%s", got, boltVerify)
	}
	for _, args := range [][]string{{"runs", "--json"}, {"incident", "list"}, {"incident", "postmortem", "2"}} {
		if got, want := read(pgCfg, args...), read(boltCfg, args...); got != want {
			t.Errorf("%v on the copy:\n%s\non bolt:\n%s", args, got, want)
		}
	}

	dst, err := postgres.Open(ctx, dsn, postgres.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if first, err := dst.Mark(ctx, "slack-event", "Ev1", time.Hour); err != nil || first {
		t.Errorf("dedupe key after the copy: first=%v, %v; want remembered", first, err)
	}
	if cb, err := dst.GetCallback(ctx, "cb1"); err != nil || cb.Subject != "r1" {
		t.Errorf("callback after the copy = %+v, %v", cb, err)
	}
	if ds, err := dst.Deliveries(ctx, "slack"); err != nil || len(ds) != 1 || ds[0].Message.Header != "kept" {
		t.Errorf("outbox after the copy = %+v, %v", ds, err)
	}
	if v, err := dst.GetMeta(ctx, "commands_version"); err != nil || string(v) != "3" {
		t.Errorf("meta after the copy = %q, %v", v, err)
	}
	if cs, err := dst.Changes(ctx, "api", clock.Now().Add(-time.Hour), clock.Now(), 0); err != nil || len(cs) != 1 || cs[0].Version != "v2" {
		t.Errorf("changes after the copy = %+v, %v", cs, err)
	}
	if locks, err := dst.Locks(ctx); err != nil || len(locks) != 1 || locks[0].Key != "deploy" {
		t.Errorf("locks after the copy = %+v, %v", locks, err)
	}
	next := &runbooks.Run{Runbook: "hello", State: runbooks.StateQueued}
	if err := dst.CreateRun(ctx, next); err != nil || next.ID != "r4" {
		t.Errorf("next run after the copy = %q, %v; want r4", next.ID, err)
	}
	err = dst.ViewIncidents(ctx, func(tx incident.Tx) error {
		if n, ok, _ := tx.ChannelIndex("slack", "C2"); !ok || n != 2 {
			t.Errorf("channel index after the copy = %d %v", n, ok)
		}
		if tl, _ := tx.Timeline(2); len(tl) == 0 || tl[len(tl)-1].Text != "looking" {
			t.Errorf("timeline of #2 after the copy = %+v", tl)
		}
		if as, _ := tx.Alerts(1); len(as) != 100 {
			t.Errorf("#1 has %d alerts after the copy, want 100", len(as))
		}
		return nil
	})
	must(err)
	pgSvc, err := incident.New(dst, config.Incidents{AutoResolve: true}, nil, clock.Now, nil)
	must(err)
	if d, err := pgSvc.Declare(ctx, "Manual", "sev3", "slack:U1"); err != nil || d.Incident.Number != 4 {
		t.Errorf("numbering after the copy: %+v, %v; want #4", d.Incident, err)
	}

	out, errOut, code = runCLI(t, "", "store", "migrate", "--from", dataDir, "--to", dsn)
	if code == 0 || !strings.Contains(out+errOut, "not empty") {
		t.Errorf("a copy into a used database: %d\n%s%s; want it refused", code, out, errOut)
	}
}

// TestStoreMigrateRefusesWhatIsNoStore: a data dir without a bolt store,
// or with a file that is not one, copies nothing.
func TestStoreMigrateRefusesWhatIsNoStore(t *testing.T) {
	pgtest.Need(t)
	cleanEnv(t)
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "", "store", "migrate", "--from", dir, "--to", "postgres://127.0.0.1:1/x")
	if code == 0 || !strings.Contains(out+errOut, "no bolt store") {
		t.Errorf("migrate from an empty dir: %d %s%s", code, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, dbFile), []byte("not a bolt file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCLI(t, "", "store", "migrate", "--from", dir, "--to", "postgres://127.0.0.1:1/x"); code == 0 {
		t.Error("migrate from a broken file succeeded")
	}
}
