package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/replica"
	"github.com/tebura/tebura/runbooks"
	ansiblestep "github.com/tebura/tebura/runbooks/step/ansible"
	sshstep "github.com/tebura/tebura/runbooks/step/ssh"
)

// dbFile is the database's name inside the data dir.
const dbFile = "tebura.db"

// HTTP server timeouts: a slow or stalled client cannot hold a connection
// or a goroutine for long (slowloris), and webhooks are small and quick.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
)

// finalFramesTimeout bounds how long shutdown waits, after the runs ended,
// for their last messages to reach the chats.
const finalFramesTimeout = 15 * time.Second

// closeWait bounds Close's wait for the run service's subscribers when no
// shutdown set a deadline.
const closeWait = 5 * time.Second

// ReadyCheck is one condition of /readyz: Check returns nil when ready, or
// an error whose text says what is wrong.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// CatchingUp marks a part the server works without while it comes up,
	// such as a chat connection or the incident backlog: when its Check
	// fails, /readyz lists it as catching up and still answers 200 (see
	// serveReady). A check without it failing makes /readyz answer 503.
	CatchingUp bool
}

// App is the Tebura server: the composition root of `tebura serve`. NewApp
// opens the store, loads runbooks and access, and binds the listener; Run
// serves until its context is done and then shuts down gracefully. The
// exported fields are the parts later wiring (the bot, chat adapters,
// webhooks, metrics) plugs into before Run.
type App struct {
	Config config.Config
	Logger *slog.Logger
	Store  appStore
	// Registry, Policy and Redactor are as loaded at start-up; a reload
	// swaps the bot's copies (see server) and the audit log's redactor
	// (SetRedactor), not these fields.
	Registry *runbooks.Registry
	Policy   *access.Policy
	Redactor *runbooks.Redactor
	Audit    *audit.Log
	Executor *runbooks.Executor
	// SSH runs ssh steps; a reload updates its inventory.
	SSH *sshstep.Runner
	// Ansible runs ansible steps; a reload updates its inventory.
	Ansible *ansiblestep.Runner
	// Runs is the run service: every run's request, decisions, start and
	// end go through it, and it publishes their transitions (the metrics
	// count them; the incident layer subscribes when wired).
	Runs *runbooks.Service
	// Metrics are the Prometheus families served on GET /metrics.
	Metrics *metrics.Metrics
	// Elector says whether this replica leads, and runs the work that must
	// happen once across replicas (replica.go).
	Elector *replica.Elector
	// Data is Store behind the metrics decorator: hand it (not Store) to
	// everything that changes runs, incidents or dedupe keys, so those
	// changes are counted. Store stays for Close, Prune and Path.
	Data *metrics.InstrumentedStore
	// Mux is the one HTTP listener's router; mount handlers on it before Run.
	Mux *http.ServeMux
	// Admin is the admin socket's router (adminsock.go): what the CLI
	// asks a running server; mount handlers on it before Run.
	Admin *http.ServeMux

	build    build // which source this binary is
	ln       net.Listener
	adminLn  net.Listener
	adminWG  sync.WaitGroup // the admin socket's server (adminsock.go)
	srv      *http.Server
	mask     liveMask
	mu       sync.Mutex
	checks   []ReadyCheck
	services []Service
	startups []func(ctx context.Context, interrupted []*runbooks.Run) error
	catchUps []CatchUp
	catching map[string]string // catch-up name → what it does, for /readyz
	stops    []func(ctx context.Context) error
	// closeBy is the shutdown's deadline; Close waits for the run
	// service's subscribers until then (closeWait when zero).
	closeBy time.Time
	loaded  atomic.Bool
	// interrupted are the runs start found running or queued.
	interrupted []*runbooks.Run
	closing     atomic.Bool
	closed      sync.Once
}

// NewApp builds the server from a validated configuration. It fails with a
// clear error when the data dir is in use by another tebura, a runbook has
// problems, or the listen address is taken.
func NewApp(cfg config.Config, logger *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Logger: logger, Mux: http.NewServeMux()}
	if err := cfg.Validate(); err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "The configuration is not valid; run `tebura validate` to see every problem.")
	}
	roles := make(map[string][]string, len(cfg.Access.Roles))
	for name, r := range cfg.Access.Roles {
		roles[name] = r.Members
	}
	pol, err := access.New(roles, cfg.Access.Admins)
	if err == nil {
		pol, err = pol.WithPeople(cfg.Access.PeopleMap())
	}
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "The access roles are not valid; run `tebura validate` to see every problem.")
	}
	a.Policy = pol
	reg, ps := runbooks.Load(runbooks.LoadOptions{
		Dirs: cfg.Runbooks.Dirs, Inline: cfg.Runbooks.Inline, InlineSource: "runbooks.inline",
		DefaultTimeout: cfg.Runbooks.DefaultTimeout, MaxTimeout: cfg.Runbooks.MaxTimeout,
		KnownRole: pol.Known, Targets: runbookTargets(cfg), CheckJob: checkJob,
	})
	if len(ps) > 0 {
		lines := make([]string, len(ps))
		for i, p := range ps {
			lines[i] = p.String()
		}
		return nil, tebura.Wrap(tebura.EINVALID, errors.New(strings.Join(lines, "; ")),
			fmt.Sprintf("%d runbook problem(s); run `tebura validate` to see them.", len(ps)))
	}
	a.Registry = reg
	red, err := runbooks.NewRedactor(cfg.Secrets(), cfg.Redact.Patterns)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "redact.patterns cannot be compiled; run `tebura validate`.")
	}
	a.Redactor = red

	if err := refuseRunning(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := cfg.CheckSealingForReplicas(secretRunbooks(reg)); err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, err.Error())
	}
	a.build = currentBuild()
	a.Metrics = metrics.New(metrics.BuildInfo{Version: a.build.Version, Commit: a.build.Commit, GoVersion: a.build.Go})
	st, err := openStore(context.Background(), cfg, storeOptions{Metrics: a.Metrics})
	if err != nil {
		return nil, err
	}
	a.Store = st
	logger.Info("store opened", "driver", cfg.Store.Driver)
	a.Admin = http.NewServeMux()
	if err := a.openAdmin(); err != nil {
		st.Close()
		return nil, err
	}
	a.Data = a.Metrics.Store(st)
	a.elect()
	a.mask.p.Store(red)
	a.Audit = audit.New(a.Data, &a.mask, nil)
	a.SSH = sshstep.New(sshConfig(cfg))
	a.Ansible = ansiblestep.New(ansibleConfig(cfg))
	a.Executor = runbooks.NewExecutor(a.Data, runbooks.ExecutorConfig{
		DataDir: cfg.DataDir, MaxConcurrent: cfg.Runbooks.MaxConcurrent, LogCapBytes: cfg.Runbooks.LogCapBytes,
		TailLines: cfg.Bot.TailLines, KillGrace: cfg.Runbooks.KillGrace, Targets: a.SSH, Logs: sharedLogs(cfg, a.Store),
		Playbooks:  a.Ansible,
		Kubernetes: kubeRunner(cfg),
	}, logger)
	sealer, err := newSealer(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	logger.Info("secret params of pending approvals", "sealed", sealer != nil)
	a.Runs = runbooks.NewService(runbooks.ServiceConfig{
		Store: a.Data, Executor: a.Executor, Audit: a.Audit, Redactor: a.mask.p.Load, Logger: logger, Sealer: sealer,
		Subscribers: []func(runbooks.Transition){a.Metrics.ObserveRun}, Replica: a.Elector.ID(), Alive: a.alive,
	})

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		a.adminLn.Close()
		st.Close()
		return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Cannot listen on %s; is another process using it? Change http.listen.", cfg.HTTP.Listen))
	}
	if cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		if err != nil {
			ln.Close()
			a.adminLn.Close()
			st.Close()
			return nil, tebura.Wrap(tebura.EINVALID, err, "http.tls_cert and http.tls_key cannot be loaded; check the files.")
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	a.ln = ln

	a.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	a.Mux.HandleFunc("GET /readyz", a.serveReady)
	a.Metrics.WatchExecutor(func() (int, int) { s := a.Executor.Stats(); return s.Queued, s.Running })
	a.Metrics.WatchLocks(st.Locks)
	a.Mux.Handle("GET /metrics", a.Metrics.Handler())
	a.srv = &http.Server{
		Handler:           http.MaxBytesHandler(a.Mux, cfg.HTTP.MaxBody),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	a.AddReadyCheck(ReadyCheck{Name: "store", Check: func(ctx context.Context) error {
		if a.closing.Load() {
			return errors.New("shutting down")
		}
		_, err := a.Store.GetMeta(ctx, "readyz")
		return err
	}})
	a.AddReadyCheck(ReadyCheck{Name: "config", Check: func(context.Context) error {
		if !a.loaded.Load() {
			return errors.New("not loaded yet")
		}
		return nil
	}})
	return a, nil
}

// newSealer is the sealer of secrets.key, nil when none is configured
// (secret values of pending approvals then live in memory only).
func newSealer(cfg config.Config) (*runbooks.Sealer, error) {
	key, err := cfg.Sealing.KeyBytes()
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "secrets.key "+err.Error()+".")
	}
	if key == nil {
		return nil, nil
	}
	s, err := runbooks.NewSealer(key)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "secrets.key cannot be used: "+err.Error()+".")
	}
	return s, nil
}

// secretsMode says how the secret values of runs waiting for approval are
// kept, for doctor and the start-up log: file names the key's file when it
// was read from one.
func secretsMode(cfg config.Config, file string) string {
	if cfg.Sealing.Key == "" {
		return "memory only: no secrets.key, so a restart expires approvals that hold secret values"
	}
	if file != "" {
		return "sealed in the store with the key of " + file
	}
	return "sealed in the store with secrets.key"
}

// insideDir reports whether path (non-empty) lies under dir.
func insideDir(path, dir string) bool {
	if path == "" || dir == "" {
		return false
	}
	ap, err1 := filepath.Abs(path)
	ad, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Addr is the address the listener is bound to (useful with port 0).
func (a *App) Addr() string { return a.ln.Addr().String() }

// AddReadyCheck adds a condition to /readyz, such as a chat connection.
func (a *App) AddReadyCheck(c ReadyCheck) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks = append(a.checks, c)
}

// Ready runs every check and returns the failures that make the server
// not ready, as "name: reason", sorted; none means ready.
func (a *App) Ready(ctx context.Context) []string {
	bad, _ := a.readiness(ctx)
	return bad
}

// readiness returns the failing checks (not ready) and what is catching up
// (the catch-up steps running and the failing CatchingUp checks), each as
// "name: reason", sorted.
func (a *App) readiness(ctx context.Context) (bad, catching []string) {
	a.mu.Lock()
	checks := append([]ReadyCheck(nil), a.checks...)
	for name, detail := range a.catching {
		catching = append(catching, name+": "+detail)
	}
	a.mu.Unlock()
	for _, c := range checks {
		err := c.Check(ctx)
		switch {
		case err == nil:
		case c.CatchingUp:
			catching = append(catching, c.Name+": "+err.Error())
		default:
			bad = append(bad, c.Name+": "+err.Error())
		}
	}
	sort.Strings(bad)
	sort.Strings(catching)
	return bad, catching
}

// serveReady answers /readyz. 503 means this process cannot take traffic
// (the store is unusable, it is shutting down): a load balancer should send
// it nothing. While it is only catching up (chats connecting, incidents
// being reconciled) it takes webhooks and interactions, so it answers 200
// and lists what is catching up, one "name: what" per line after
// "ok, catching up:"; a probe that restarts or unroutes on 503 then leaves
// a server alone that is working off a backlog. ?strict answers 503 until
// nothing is catching up either (a deploy that waits for a full start).
// ?format=json (or Accept: application/json) gives
// {"status":"ready"|"catching_up"|"not_ready","catching_up":[…],"not_ready":[…]}.
func (a *App) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	bad, catching := a.readiness(ctx)
	_, strict := r.URL.Query()["strict"]
	status, code := "ready", http.StatusOK
	switch {
	case len(bad) > 0:
		status, code = "not_ready", http.StatusServiceUnavailable
	case len(catching) > 0:
		status = "catching_up"
		if strict {
			code = http.StatusServiceUnavailable
		}
	}
	if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(struct {
			Status     string   `json:"status"`
			CatchingUp []string `json:"catching_up"`
			NotReady   []string `json:"not_ready"`
		}{status, nonNil(catching), nonNil(bad)})
		return
	}
	if len(bad) > 0 {
		tebura.HTTPError(w, tebura.Errorf(tebura.ETRANSIENT, "not ready: %s", strings.Join(bad, "; ")))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if len(catching) == 0 {
		fmt.Fprintln(w, "ok")
		return
	}
	fmt.Fprintln(w, "ok, catching up:")
	for _, c := range catching {
		fmt.Fprintln(w, c)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Run recovers interrupted runs, serves HTTP until ctx is done, then shuts
// down. It returns nil after a clean shutdown, and when ctx ends during the
// start-up.
//
// Start-up: the store's part (the config load's audit entry, the audit
// chain check, interrupted runs marked, the AddStartup steps) is done
// first, then the services (chat connections) start and the listener
// serves, before anything waits for a chat platform: the AddCatchUp steps
// (redrawing interrupted runs' messages, reconciling open incidents) run
// in the background, and /readyz lists what is still catching up.
//
// Shutdown: ctx ending at any moment, start-up included, stops the
// process within shutdown_grace (see shutdown).
func (a *App) Run(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, a.Close()) }()
	if err := a.start(ctx); err != nil {
		if ctx.Err() != nil {
			a.Logger.Info("tebura stopped during start-up")
			return nil
		}
		return err
	}
	a.loaded.Store(true)
	a.mu.Lock()
	services := append([]Service(nil), a.services...)
	startups := append([]func(context.Context, []*runbooks.Run) error(nil), a.startups...)
	catchUps := append([]CatchUp(nil), a.catchUps...)
	a.mu.Unlock()
	// The services outlive ctx: the chat connections stay up while the
	// runs' last frames go out at shutdown.
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	for _, f := range startups {
		if err := f(svcCtx, a.interrupted); err != nil {
			return fmt.Errorf("start-up: %w", err)
		}
	}
	a.Logger.Info("tebura serving", "addr", a.Addr(), "runbooks", len(a.Registry.List()), "version", a.build.Version, "commit", a.build.Commit)
	failed := make(chan error, len(services)+1)
	var svcs sync.WaitGroup
	for _, s := range services {
		svcs.Add(1)
		go func() {
			defer svcs.Done()
			if err := s.Run(svcCtx); err != nil && svcCtx.Err() == nil {
				a.Logger.Error("service failed", "service", s.Name, "err", err)
				failed <- fmt.Errorf("%s: %w", s.Name, err)
			}
		}()
	}
	// Every catch-up is listed before the listener serves, so /readyz
	// never answers "done" before one has begun.
	dones := make([]func(), len(catchUps))
	for i, c := range catchUps {
		dones[i] = a.CatchingUp(c.Name, c.Detail)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.srv.Serve(a.ln) }()
	// Catching up ends with ctx: what it did not do, the next start does
	// (its state is derived from the store).
	catchCtx, stopCatchUp := context.WithCancel(ctx)
	defer stopCatchUp()
	var catching sync.WaitGroup
	for i, c := range catchUps {
		catching.Add(1)
		go func() {
			defer catching.Done()
			defer dones[i]()
			if err := c.Run(catchCtx, a.interrupted); err != nil && catchCtx.Err() == nil {
				a.Logger.Error("catch-up failed", "step", c.Name, "err", err)
			}
		}()
	}

	var errs []error
	select {
	case err := <-serveErr:
		errs = append(errs, fmt.Errorf("http server: %w", err))
		serveErr <- nil // nothing left to wait for
	case err := <-failed:
		errs = append(errs, err)
	case <-ctx.Done():
	}
	stopCatchUp()
	errs = append(errs, a.shutdown(ctx, stopServices, &svcs, &catching, serveErr)...)
	a.Logger.Info("tebura stopped")
	return errors.Join(errs...)
}

// shutdown stops the server once Run's ctx ended (or a service failed):
// the listener stops accepting and in-flight requests finish; running runs
// get shutdown_grace, then are cancelled (they end interrupted); the AddStop
// steps deliver their final frames while the chat connections are still up;
// the services stop. Everything has one deadline, shutdown_grace after the
// signal, so that SIGTERM at any moment ends the process in that time
// whatever the chats do; only when runs had to be cancelled at the end of
// the grace do their last messages get finalFramesTimeout more. What is
// still waiting for a chat at the deadline is left (a restart redraws what
// the store says).
func (a *App) shutdown(ctx context.Context, stopServices func(), svcs, catching *sync.WaitGroup, serveErr chan error) []error {
	a.closing.Store(true)
	a.Logger.Info("tebura shutting down", "grace", a.Config.ShutdownGrace)
	begin := time.Now()
	deadline := begin.Add(a.Config.ShutdownGrace)
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	var errs []error
	if err := a.srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if a.stop(sctx) {
		// Runs were cancelled at the end of the grace: their final frames
		// and timeline entries get their own time.
		deadline = time.Now().Add(finalFramesTimeout)
	}
	fctx, cancelFinal := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancelFinal()
	if !waitGroup(fctx, catching) {
		a.Logger.Warn("catch-up still running at the shutdown deadline")
	}
	a.mu.Lock()
	stops := append([]func(context.Context) error(nil), a.stops...)
	a.mu.Unlock()
	// The stop steps run in order, until the deadline: one that does not
	// return by then is left (and what comes after it).
	stopErrs := make(chan error, 1)
	go func() {
		var errs []error
		for _, f := range stops {
			if err := f(fctx); err != nil {
				errs = append(errs, fmt.Errorf("final messages: %w", err))
			}
		}
		stopErrs <- errors.Join(errs...)
	}()
	select {
	case err := <-stopErrs:
		if err != nil {
			errs = append(errs, err)
		}
	case <-fctx.Done():
		a.Logger.Warn("final messages still going at the shutdown deadline; leaving them")
	}
	stopServices()
	if !waitGroup(fctx, svcs) {
		a.Logger.Warn("services still stopping at the shutdown deadline; leaving them", "waited", time.Since(begin).Round(time.Millisecond))
	}
	select {
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	case <-fctx.Done():
	}
	a.closeBy = deadline
	return errs
}

// waitGroup waits for wg until ctx ends; false when ctx ended first.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// CatchUp is start-up work that waits for the chat platforms, such as
// redrawing interrupted runs' messages or reconciling open incidents. It
// runs in the background while the server serves; /readyz lists it (Name:
// Detail) until it returns. Its ctx ends at shutdown; every call it makes
// to a platform must be bounded, and what it leaves undone must be found
// again in the store at the next start.
type CatchUp struct {
	Name   string
	Detail string
	Run    func(ctx context.Context, interrupted []*runbooks.Run) error
}

// AddCatchUp adds a background start-up step (see CatchUp).
func (a *App) AddCatchUp(c CatchUp) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.catchUps = append(a.catchUps, c)
}

// CatchingUp lists name on /readyz as catching up, saying detail, until
// the returned func is called.
func (a *App) CatchingUp(name, detail string) (done func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.catching == nil {
		a.catching = map[string]string{}
	}
	a.catching[name] = detail
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			delete(a.catching, name)
		})
	}
}

// Service is a long-running part of the server, such as a chat adapter's
// connection or an expiry loop. Run blocks until ctx is done; an error
// before that stops the whole server.
type Service struct {
	Name string
	Run  func(ctx context.Context) error
}

// AddService adds a service that Run starts after the start-up
// reconciliation and stops, after the running runs, at shutdown.
func (a *App) AddService(s Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.services = append(a.services, s)
}

// AddStartup adds a step Run takes after the store's start-up
// reconciliation and before the services start and the listener serves,
// such as expiring overdue approvals (interrupted are the runs the run
// service's Recover just marked). It must not wait for a chat platform:
// that is AddCatchUp's. ctx lives until the services stop, so a step may
// start loops on it.
func (a *App) AddStartup(f func(ctx context.Context, interrupted []*runbooks.Run) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.startups = append(a.startups, f)
}

// AddStop adds a step Run takes at shutdown after the running runs ended
// and before the services stop, such as waiting for final frames.
func (a *App) AddStop(f func(ctx context.Context) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stops = append(a.stops, f)
}

// SetRedactor replaces the redactor the audit log masks with (a reload).
func (a *App) SetRedactor(r *runbooks.Redactor) { a.mask.p.Store(r) }

// liveMask masks with the current redactor, so a reload changes what the
// audit log masks.
type liveMask struct {
	p atomic.Pointer[runbooks.Redactor]
}

// Mask implements audit's masker.
func (m *liveMask) Mask(s string) string {
	if r := m.p.Load(); r != nil {
		return r.Mask(s)
	}
	return s
}

// start records the config load and reconciles runs left by a previous
// process.
func (a *App) start(ctx context.Context) error {
	detail := map[string]string{"runbooks": fmt.Sprint(len(a.Registry.List())), "version": a.build.Version, "commit": a.build.Commit}
	if err := a.Audit.Record(ctx, "system", audit.ActionConfigLoad, "config", detail); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// The head goes to the log, outside the store, so that a chain cut at
	// its end can be caught later with `tebura audit verify --anchor`. A
	// broken chain is reported loudly but does not stop incident response.
	if head, n, err := audit.Check(ctx, a.Store); err != nil {
		a.Logger.Error("audit chain broken", "entries_ok", n, "err", err)
	} else {
		a.Logger.Info("audit chain verified", "entries", n, "head", head.String())
	}
	interrupted, err := a.Runs.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recover runs: %w", err)
	}
	a.interrupted = interrupted
	for _, r := range interrupted {
		a.Logger.Warn("run interrupted by a previous stop", "run_id", r.ID, "runbook", r.Runbook)
	}
	return nil
}

// stop lets running runs finish until ctx is done, then cancels them (they
// end interrupted); it reports whether it had to.
func (a *App) stop(ctx context.Context) (interrupted bool) {
	if err := a.Executor.Shutdown(ctx); err != nil {
		a.Logger.Warn("runs interrupted at shutdown", "err", err)
		return true
	}
	return false
}

// Close releases the listener and the store. It is safe to call more than
// once and after Run.
func (a *App) Close() error {
	var err error
	a.closed.Do(func() {
		a.closing.Store(true)
		a.ln.Close()
		a.closeAdmin()
		// The subscribers get what is queued, unless a chat holds them
		// past the shutdown's deadline.
		by := a.closeBy
		if by.IsZero() {
			by = time.Now().Add(closeWait)
		}
		stopped := make(chan struct{})
		go func() { a.Runs.Stop(); close(stopped) }()
		t := time.NewTimer(time.Until(by))
		defer t.Stop()
		select {
		case <-stopped:
		case <-t.C:
			a.Logger.Warn("run transitions still being handed over at the shutdown deadline; leaving them")
		}
		err = a.Store.Close()
	})
	return err
}
