package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Runbooks.Dirs = []string{filepath.Join("..", "..", "runbooks", "examples")}
	cfg.Access.Roles = map[string]config.Role{"sre": {Members: []string{"console:alice"}}, "dev": {Members: []string{"console:bob"}}}
	cfg.ShutdownGrace = 5 * time.Second
	return cfg
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startApp runs an App until the test ends and waits for /readyz.
func startApp(t *testing.T, cfg config.Config) (*App, func() error) {
	t.Helper()
	app, err := NewApp(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("App.Run did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	waitReady(t, "http://"+app.Addr())
	return app, stop
}

// waitReady waits until /readyz?strict answers 200: serving, and done
// catching up (interrupted runs redrawn, incidents reconciled).
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var last string
		resp, err := http.Get(base + "/readyz?strict")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 10s (last: %v %s)", err, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAppServesHealthAndReadiness(t *testing.T) {
	cfg := testConfig(t)
	app, stop := startApp(t, cfg)
	base := "http://" + app.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz = %d %q", code, body)
	}
	// A failing check turns /readyz to 503 with the reason.
	app.AddReadyCheck(ReadyCheck{Name: "slack", Check: func(context.Context) error { return tebura.Errorf(tebura.ETRANSIENT, "disconnected") }})
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "slack: transient: disconnected") {
		t.Errorf("/readyz with a failing check = %d %q", code, body)
	}
	// A second server on the same data dir fails fast and says why.
	cfg2 := cfg
	if _, err := NewApp(cfg2, discardLogger()); err == nil || !strings.Contains(tebura.ErrorMessage(err), "in use by another tebura") {
		t.Errorf("second NewApp on the same data dir: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after a graceful shutdown, want nil", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the listener is still open after shutdown")
	}
	// The store is released: a new App opens the same data dir.
	app2, err := NewApp(cfg, discardLogger())
	if err != nil {
		t.Fatalf("reopen after shutdown: %v", err)
	}
	app2.Close()
}

func TestAppNotReadyBeforeRun(t *testing.T) {
	app, err := NewApp(testConfig(t), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	rec := httptest.NewRecorder()
	app.Mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "config: not loaded yet") {
		t.Fatalf("/readyz before Run = %d %q", rec.Code, rec.Body.String())
	}
}

func TestAppRefusesBadRunbooksAndTakenPort(t *testing.T) {
	cfg := testConfig(t)
	cfg.Access.Roles = nil // the examples name roles sre and dev
	if _, err := NewApp(cfg, discardLogger()); err == nil || !strings.Contains(err.Error(), "runbook problem") {
		t.Errorf("NewApp with unknown roles in runbooks: %v", err)
	}
	app, stop := startApp(t, testConfig(t))
	defer stop()
	cfg = testConfig(t)
	cfg.HTTP.Listen = app.Addr()
	if _, err := NewApp(cfg, discardLogger()); err == nil || !strings.Contains(tebura.ErrorMessage(err), "Cannot listen on") {
		t.Errorf("NewApp on a taken port: %v", err)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	cleanEnv(t)
	app, stop := startApp(t, testConfig(t))
	defer stop()
	p := writeConfig(t, "http: {listen: \""+app.Addr()+"\"}\nrunbooks: {dirs: []}\n")
	if out, errOut, code := runCLI(t, "", "healthcheck", "--config", p); code != 0 || out != "ok\n" {
		t.Errorf("healthcheck against a live server: %d %q %q", code, out, errOut)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	p = writeConfig(t, "http: {listen: \""+strings.TrimPrefix(srv.URL, "http://")+"\"}\nrunbooks: {dirs: []}\n")
	if _, errOut, code := runCLI(t, "", "healthcheck", "--config", p); code != 1 || !strings.Contains(errOut, "500") {
		t.Errorf("healthcheck against a 500: %d %q", code, errOut)
	}
}

func TestServeRefusesProblems(t *testing.T) {
	cleanEnv(t)
	p := writeConfig(t, "log: {level: loud}\nrunbooks: {dirs: []}\n")
	_, errOut, code := runCLI(t, "", "serve", "--config", p)
	if code != 1 || !strings.Contains(errOut, "log.level") || !strings.Contains(errOut, "refusing to start") {
		t.Fatalf("serve with a bad config: %d %q", code, errOut)
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:8080": "127.0.0.1:8080", ":8080": "127.0.0.1:8080", "[::]:80": "[::1]:80", "10.0.0.1:1": "10.0.0.1:1",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppRecoversInterruptedRuns(t *testing.T) {
	cfg := testConfig(t)
	st, err := bolt.Open(filepath.Join(cfg.DataDir, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &runbooks.Run{Runbook: "host-diagnostics", State: runbooks.StateRunning, LockKey: "k", RequestedBy: "console:alice"}
	ctx := context.Background()
	if err := st.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireLock(ctx, runbooks.Lock{Key: "k", RunID: r.ID}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	app, stop := startApp(t, cfg)
	got, err := app.Store.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != runbooks.StateInterrupted {
		t.Errorf("run state after restart = %s, want interrupted", got.State)
	}
	if locks, _ := app.Store.Locks(ctx); len(locks) != 0 {
		t.Errorf("locks after restart = %v, want none", locks)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCLI(t, "", "audit", "export", "--config", writeConfig(t, "data_dir: "+cfg.DataDir+"\nrunbooks: {dirs: []}\n"))
	if code != 0 || !strings.Contains(out, `"run.interrupt"`) || !strings.Contains(out, `"config.load"`) {
		t.Errorf("audit after restart:\n%s", out)
	}
}

func TestAppServices(t *testing.T) {
	t.Run("stopped at shutdown", func(t *testing.T) {
		app, err := NewApp(testConfig(t), discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		started, stopped := make(chan struct{}), make(chan struct{})
		app.AddService(Service{Name: "chat", Run: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			close(stopped)
			return ctx.Err()
		}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx) }()
		<-started
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		select {
		case <-stopped:
		default:
			t.Fatal("Run returned before the service stopped")
		}
	})
	t.Run("a failing service stops the server", func(t *testing.T) {
		app, err := NewApp(testConfig(t), discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		app.AddService(Service{Name: "slack", Run: func(context.Context) error {
			return errors.New("invalid_auth")
		}})
		done := make(chan error, 1)
		go func() { done <- app.Run(context.Background()) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "slack: invalid_auth") {
				t.Fatalf("Run = %v, want the service's error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop after a service failed")
		}
	})
}

func TestAppShutdownInterruptsRunsAfterGrace(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownGrace = 300 * time.Millisecond
	app, stop := startApp(t, cfg)
	ctx := context.Background()
	rb, ok := app.Registry.Get("slow-stream")
	if !ok {
		t.Fatal("example runbook slow-stream missing")
	}
	values, err := rb.ParseArgs([]string{"seconds=60"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := rb.Render(values)
	if err != nil {
		t.Fatal(err)
	}
	r := &runbooks.Run{Runbook: rb.Name, Kind: rb.Kind, Params: values, RequestedBy: "console:alice", State: runbooks.StatePendingApproval}
	if err := app.Store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	h, err := app.Executor.Start(ctx, r, runbooks.Job{Steps: steps, Timeout: rb.Timeout, Masker: app.Redactor})
	if err != nil {
		t.Fatal(err)
	}
	sub := h.Subscribe()
	for h.Snapshot().Lines < 2 { // the step banner and one tick
		select {
		case <-sub.C():
		case <-time.After(10 * time.Second):
			t.Fatal("the run produced no output")
		}
	}
	sub.Close()
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if took := time.Since(begin); took > 8*time.Second {
		t.Errorf("shutdown took %s with a 300ms grace", took)
	}
	<-h.Done()
	if s := h.Snapshot().State; s != runbooks.StateInterrupted {
		t.Errorf("a run still going after the grace ended %s, want interrupted", s)
	}
}

// TestReadyzWhileCatchingUp: a part that is catching up (a chat
// connecting, a catch-up step running) is listed by /readyz with 200, so a
// probe leaves a server alone that takes traffic while it works off a
// backlog; ?strict answers 503 until nothing is catching up; JSON says the
// same; a failing check that is not catching up is 503.
func TestReadyzWhileCatchingUp(t *testing.T) {
	app, _ := startApp(t, testConfig(t))
	base := "http://" + app.Addr()
	app.AddReadyCheck(ReadyCheck{Name: "slack", CatchingUp: true, Check: func(context.Context) error { return errors.New("connecting") }})
	done := app.CatchingUp("incidents", "reconciling 35 of 50 open incidents")
	want := "ok, catching up:\nincidents: reconciling 35 of 50 open incidents\nslack: connecting\n"
	if code, body := get(t, base+"/readyz"); code != 200 || body != want {
		t.Errorf("/readyz while catching up = %d %q, want 200 %q", code, body, want)
	}
	if code, body := get(t, base+"/readyz?strict"); code != 503 || body != want {
		t.Errorf("/readyz?strict while catching up = %d %q, want 503 %q", code, body, want)
	}
	if code, body := get(t, base+"/readyz?format=json"); code != 200 ||
		body != `{"status":"catching_up","catching_up":["incidents: reconciling 35 of 50 open incidents","slack: connecting"],"not_ready":[]}`+"\n" {
		t.Errorf("/readyz?format=json = %d %s", code, body)
	}
	done()
	app.AddReadyCheck(ReadyCheck{Name: "store", Check: func(context.Context) error { return errors.New("unreadable") }})
	if code, body := get(t, base+"/readyz?format=json"); code != 503 ||
		body != `{"status":"not_ready","catching_up":["slack: connecting"],"not_ready":["store: unreadable"]}`+"\n" {
		t.Errorf("/readyz?format=json with a failing check = %d %s", code, body)
	}
}

// TestShutdownLeavesWhatHangsAtTheDeadline: a service that never returns
// (a chat adapter stuck on a platform that hangs) and a stop step that
// ignores its deadline do not hold the shutdown past shutdown_grace when
// no run had to be cancelled.
func TestShutdownLeavesWhatHangsAtTheDeadline(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownGrace = 500 * time.Millisecond
	app, err := NewApp(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	defer close(stuck)
	app.AddService(Service{Name: "stuck", Run: func(context.Context) error { <-stuck; return nil }})
	app.AddStop(func(context.Context) error { <-stuck; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	waitReady(t, "http://"+app.Addr())
	begin := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		if took := time.Since(begin); took > cfg.ShutdownGrace+250*time.Millisecond {
			t.Errorf("shutdown took %s with a %s grace", took, cfg.ShutdownGrace)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return: a stuck service held the shutdown")
	}
}
