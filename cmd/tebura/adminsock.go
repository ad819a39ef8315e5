package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/admin"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// The admin socket (package admin) lets the CLI use a running server's
// store: bbolt lets one process open it. Here is the wiring: the App binds
// the socket once it holds the store and serves it as one of its
// services; the server mounts the commands; the CLI picks the socket when
// a server answers on it.

// adminShutdown bounds how long the admin socket waits for its last
// answers at shutdown (the runs have ended by then).
const adminShutdown = 5 * time.Second

// openAdmin binds the admin socket in the data dir and adds the first
// start-up step, which serves a.Admin on it until the services stop: the
// CLI is answered while the later steps (reconciliation) still run. The
// App holds the store already, so a socket found there is a dead
// server's; one that still answers is refused.
func (a *App) openAdmin() error {
	path := admin.SocketPath(a.Config.DataDir)
	ln, err := admin.Listen(path)
	if err != nil {
		return tebura.Wrap(tebura.EINTERNAL, err, fmt.Sprintf("The admin socket %s cannot be created; check the data dir's permissions.", path))
	}
	a.adminLn = ln
	a.AddStartup(func(ctx context.Context, _ []*runbooks.Run) error {
		a.adminWG.Add(1)
		go func() {
			defer a.adminWG.Done()
			a.serveAdmin(ctx)
		}()
		return nil
	})
	return nil
}

// serveAdmin serves the admin socket until ctx ends, then lets the
// answers in flight finish (the runs have ended by then).
func (a *App) serveAdmin(ctx context.Context) {
	srv := admin.NewServer(a.Admin)
	srv.ErrorLog = a.srv.ErrorLog
	done := make(chan error, 1)
	go func() { done <- srv.Serve(a.adminLn) }()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			a.Logger.Error("admin socket stopped", "err", err)
		}
		return
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), adminShutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
}

// closeAdmin stops the admin socket and waits until it served its last
// answer, before the store is closed.
func (a *App) closeAdmin() {
	a.adminLn.Close()
	a.adminWG.Wait()
}

// refuseRunning refuses to start a second server on a data dir whose
// server answers on its admin socket.
func refuseRunning(dataDir string) error {
	path := admin.SocketPath(dataDir)
	if !admin.Answers(path) {
		return nil
	}
	return tebura.Errorf(tebura.ECONFLICT, "The data dir %s is in use by another tebura process, a server answering on %s: stop it first, or point data_dir elsewhere. While it runs, the CLI's runs, logs, run, audit, incident and backup talk to it.", dataDir, path)
}

// serverOf is a client of the server holding dataDir, nil when none
// answers on its admin socket.
func serverOf(dataDir string) *admin.Client {
	cl, err := admin.Dial(admin.SocketPath(dataDir))
	if err != nil {
		return nil
	}
	return cl
}

// remote has the server run a command and prints its answer: its output
// on stdout and stderr, then the exit code it ended with.
func (c *cli) remote(ctx context.Context, cl *admin.Client, method, path string, body any) error {
	resp, err := cl.Do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.copyAnswer(resp.Body)
}

func (c *cli) copyAnswer(r io.Reader) error {
	return answerError(admin.Copy(r, c.stdout, c.stderr))
}

// answerError is the error a command answered with ends the CLI with.
func answerError(code int, msg string, err error) error {
	switch {
	case err != nil:
		return &exitError{code: 1, err: err}
	case code == 0:
		return nil
	case msg == "":
		return &exitError{code: code}
	}
	return &exitError{code: code, err: errors.New(msg)}
}

// runRequest is `tebura run`'s request over the admin socket. PlanHash is
// the plan the user confirmed: the server starts the run only when the
// plan it prepares again is the same.
type runRequest struct {
	Runbook    string   `json:"runbook"`
	Args       []string `json:"args"`
	BreakGlass bool     `json:"break_glass,omitempty"`
	PlanHash   string   `json:"plan_hash,omitempty"`
}

// planAnswer is the plan the server prepared, to show before asking.
type planAnswer struct {
	Plan     string `json:"plan"`
	PlanHash string `json:"plan_hash"`
	Actor    string `json:"actor"`
}

// runRemote is `tebura run` through the server holding the store: the
// server's run service prepares the run as the socket's peer, the plan is
// shown and confirmed here, then the server creates and starts it and
// streams its output and exit code back. Ctrl-C asks the server to cancel
// the run and waits for its end; a client that goes away cancels it too.
func (c *cli) runRemote(ctx context.Context, cl *admin.Client, name string, args []string, f runFlags) error {
	req := runRequest{Runbook: name, Args: args, BreakGlass: f.breakGlass}
	resp, err := cl.Do(ctx, http.MethodPost, "/v1/run/plan", req)
	if err != nil {
		return err
	}
	var plan planAnswer
	err = json.NewDecoder(resp.Body).Decode(&plan)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("admin socket: bad plan: %w", err)
	}
	fmt.Fprint(c.stdout, plan.Plan)
	if !f.yes && !confirm(c.stdin, c.stdout) {
		return &exitError{code: 1, err: errors.New("not confirmed; nothing ran")}
	}
	req.PlanHash = plan.PlanHash
	// The run goes on after Ctrl-C until the server says it ended, as in
	// a terminal: Ctrl-C asks the server to cancel it.
	resp, err = cl.Do(context.WithoutCancel(ctx), http.MethodPost, "/v1/run/start", req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	stderr := &lockedWriter{w: c.stderr}
	id := resp.Header.Get(runHeader)
	stop := context.AfterFunc(ctx, func() {
		fmt.Fprintln(stderr, "cancelling…")
		r, err := cl.Do(context.WithoutCancel(ctx), http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/cancel", nil)
		if err != nil {
			fmt.Fprintf(stderr, "tebura: cancel run %s: %v\n", id, err)
			return
		}
		r.Body.Close()
	})
	defer stop()
	return answerError(admin.Copy(resp.Body, c.stdout, stderr))
}

// lockedWriter serializes writes from the answer and the cancel.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runHeader names the run a start answer streams.
const runHeader = "Tebura-Run"

// exitOf is the exit code and the message a command ended with, as run
// turns them into the process's.
func exitOf(err error) (int, string) {
	var ee *exitError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &ee) && ee.err == nil:
		return ee.code, ""
	case errors.As(err, &ee):
		return ee.code, message(ee.err)
	}
	return 1, message(err)
}

// refuse answers a request refused before any output.
func refuse(w http.ResponseWriter, err error) {
	http.Error(w, tebura.OneLine(message(err)), tebura.HTTPStatus(tebura.ErrorCode(err)))
}

// mountAdmin mounts the commands the CLI runs through the admin socket.
// Each does what the command does on a store of its own, with the
// server's current configuration, and as the socket's peer.
func (s *server) mountAdmin(mux *http.ServeMux) {
	app := s.app
	stream := func(fn func(r *http.Request, out, errw io.Writer) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			st := admin.NewStream(w)
			code, msg := exitOf(fn(r, st.Stdout(), st.Stderr()))
			_ = st.End(code, msg)
		}
	}
	mux.HandleFunc("GET /v1/runs", stream(func(r *http.Request, out, _ io.Writer) error {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		asJSON, _ := strconv.ParseBool(r.URL.Query().Get("json"))
		return printRuns(r.Context(), app.Store, s.redactor(), limit, asJSON, out)
	}))
	mux.HandleFunc("GET /v1/runs/{id}/log", stream(func(r *http.Request, out, _ io.Writer) error {
		return printLog(r.Context(), app.Store, app.Config.DataDir, s.redactor(), r.PathValue("id"), out)
	}))
	mux.HandleFunc("GET /v1/audit/verify", stream(func(r *http.Request, out, _ io.Writer) error {
		var anchors []audit.Anchor
		for _, a := range r.URL.Query()["anchor"] {
			an, err := audit.ParseAnchor(a)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			anchors = append(anchors, an)
		}
		return verifyAudit(r.Context(), app.Store, anchors, out)
	}))
	mux.HandleFunc("GET /v1/audit/export", stream(func(r *http.Request, out, _ io.Writer) error {
		return audit.Export(r.Context(), app.Store, out)
	}))
	mux.HandleFunc("GET /v1/incidents", stream(func(r *http.Request, out, _ io.Writer) error {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		open, _ := strconv.ParseBool(r.URL.Query().Get("open"))
		return printIncidents(r.Context(), s.svc, s.redactor(), open, limit, out)
	}))
	mux.HandleFunc("GET /v1/incidents/{ref}/postmortem", stream(func(r *http.Request, out, _ io.Writer) error {
		return printPostmortem(r.Context(), s.svc, app.Store, s.redactor(), r.PathValue("ref"), out)
	}))
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		// The copy goes to a file beside the store first, so that the read
		// transaction lasts as long as the local disk takes, not as long
		// as the client reads (writers that grow the file wait for it).
		f, err := os.CreateTemp(app.Config.DataDir, ".backup-*")
		if err != nil {
			refuse(w, err)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		bs, ok := app.Store.(*bolt.Store)
		if !ok {
			refuse(w, boltOnly(app.Config, "tebura backup", "back the database up with pg_dump, which PostgreSQL's own tools restore."))
			return
		}
		size, err := bs.Backup(r.Context(), func(int64) (io.Writer, error) { return f, nil })
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			refuse(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		if _, err := io.Copy(w, f); err != nil { // the client sees a short copy and discards it
			s.log.Warn("admin backup not sent whole", "err", err)
		}
	})
	mux.HandleFunc("POST /v1/run/plan", func(w http.ResponseWriter, r *http.Request) {
		req, actor, err := s.runRequest(w, r)
		if err != nil {
			refuse(w, err)
			return
		}
		p, err := prepareCLIRun(r.Context(), app.Runs, s.world(), req.Runbook, req.Args, actor, req.BreakGlass)
		if err != nil {
			refuse(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(planAnswer{Plan: planText(p, actor), PlanHash: p.Run.PlanHash, Actor: actor})
	})
	mux.HandleFunc("POST /v1/run/start", func(w http.ResponseWriter, r *http.Request) {
		req, actor, err := s.runRequest(w, r)
		if err != nil {
			refuse(w, err)
			return
		}
		p, err := prepareCLIRun(r.Context(), app.Runs, s.world(), req.Runbook, req.Args, actor, req.BreakGlass)
		if err == nil && p.Run.PlanHash != req.PlanHash {
			err = tebura.Errorf(tebura.ECONFLICT, "The plan of %s changed since it was shown (the runbooks were reloaded); nothing ran. Run the command again to see the new plan.", req.Runbook)
		}
		if err == nil {
			err = app.Runs.Create(context.WithoutCancel(r.Context()), p)
		}
		if err != nil {
			refuse(w, err)
			return
		}
		w.Header().Set(runHeader, p.Run.ID)
		st := admin.NewStream(w)
		// The request's context ends when the client goes (Ctrl-C): the
		// run is cancelled then, as in a terminal.
		code, msg := exitOf(startCLIRun(r.Context(), app.Runs, p, actor, st.Stdout(), st.Stderr(), func(bg context.Context, out io.Writer) (*runbooks.Handle, error) {
			return app.Runs.StartEcho(bg, p.Run, p.Runbook, actor, out) // created above: the client has its ID
		}))
		_ = st.End(code, msg)
	})
	mux.HandleFunc("POST /v1/runs/{id}/cancel", s.cancelRun)
}

// cancelRun cancels a run started through the socket, on the word of its
// requester: what Ctrl-C in a terminal does. Anyone else cancels in chat.
func (s *server) cancelRun(w http.ResponseWriter, r *http.Request) {
	peer, _ := admin.PeerOf(r.Context())
	id := r.PathValue("id")
	run, err := s.app.Runs.Store().GetRun(r.Context(), id)
	if err == nil && (run.RequestedBy != peer.Actor() || run.Origin.Platform != "cli") {
		err = tebura.Errorf(tebura.EFORBIDDEN, "Only %s, who started run %s here, may cancel it from the CLI; cancel it in chat.", run.RequestedBy, id)
	}
	if err == nil {
		err = s.app.Runs.Cancel(context.WithoutCancel(r.Context()), id, runbooks.Decision{By: peer.Actor()}, runbooks.ViaCLI)
	}
	if err != nil && tebura.ErrorCode(err) != tebura.ENOTFOUND {
		refuse(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// runRequest reads a run request and the peer it comes from.
func (s *server) runRequest(w http.ResponseWriter, r *http.Request) (runRequest, string, error) {
	var req runRequest
	peer, _ := admin.PeerOf(r.Context()) // admin.NewServer refused requests without one
	body, err := tebura.ReadBody(w, r, 1<<20)
	if err != nil {
		return req, "", err
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, "", tebura.Wrap(tebura.EINVALID, err, "The run request is not valid JSON.")
	}
	return req, peer.Actor(), nil
}

// world is the configuration, runbooks and access rules in force, as the
// CLI's checks take them.
func (s *server) world() *world {
	cur := s.cur.Load()
	return &world{Loaded: &config.Loaded{Config: cur.cfg, Path: s.opts.ConfigPath}, Registry: cur.registry, Policy: cur.policy}
}

func (c *cli) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store to FILE, also while serve runs",
		Long: `backup writes a consistent copy of the database (tebura.db) to FILE: through
the running server's admin socket when a server holds the data dir, else by
opening the store read-only. The copy is one read transaction: runs and
incidents go on while it is taken. FILE is written to a temporary file beside
it, checked (it opens and its audit chain verifies) and only then renamed, so
FILE is either the old file or a complete copy. Restore: stop tebura, replace
tebura.db in the data dir with the copy, start tebura (docs/operations.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := c.load()
			if err != nil {
				return err
			}
			if err := boltOnly(l.Config, "tebura backup", "back the database up with pg_dump."); err != nil {
				return err
			}
			return c.backup(cmd.Context(), l.Config.DataDir, args[0])
		},
	}
}

// backup copies the store of dataDir to file atomically.
func (c *cli) backup(ctx context.Context, dataDir, file string) error {
	db := filepath.Join(dataDir, dbFile)
	if same(db, file) {
		return &exitError{code: 2, err: fmt.Errorf("%s is the database itself; name another file", file)}
	}
	var copyTo func(w io.Writer) (int64, error)
	var via string
	if cl := serverOf(dataDir); cl != nil {
		via = "the running server"
		copyTo = func(w io.Writer) (int64, error) {
			resp, err := cl.Do(ctx, http.MethodGet, "/v1/backup", nil)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			n, err := io.Copy(w, resp.Body)
			if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
				err = fmt.Errorf("the copy stopped after %d of %d bytes", n, resp.ContentLength)
			}
			return n, err
		}
	} else {
		if _, err := os.Stat(db); err != nil {
			return err
		}
		st, err := openReadOnly(db)
		if err != nil {
			return err
		}
		defer st.Close()
		via = "the store"
		copyTo = func(w io.Writer) (int64, error) {
			return st.Backup(ctx, func(int64) (io.Writer, error) { return w, nil })
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	n, err := copyTo(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup not written: %w", err)
	}
	head, entries, err := checkCopy(ctx, tmp.Name())
	if err != nil {
		return fmt.Errorf("backup not written: the copy does not check: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		_ = d.Sync() // the rename itself survives a crash
		d.Close()
	}
	fmt.Fprintf(c.stdout, "wrote %s from %s: %d bytes, %d audit entries, head %s\n", file, via, n, entries, head)
	return nil
}

// checkCopy opens a copy of the store and verifies its audit chain.
func checkCopy(ctx context.Context, path string) (audit.Anchor, int, error) {
	st, err := openReadOnly(path)
	if err != nil {
		return audit.Anchor{}, 0, err
	}
	defer st.Close()
	return audit.Check(ctx, st)
}

// openReadOnly opens a store file for reading only.
func openReadOnly(path string) (*bolt.Store, error) {
	return bolt.Open(path, bolt.Options{ReadOnly: true})
}

// same reports whether a and b name the same existing file.
func same(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
