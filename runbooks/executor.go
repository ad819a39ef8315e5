package runbooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura"
)

// Executor defaults.
const (
	// DefaultMaxConcurrent is how many runs go at once unless configured.
	DefaultMaxConcurrent = 4
	// DefaultKillGrace is the time between SIGTERM and SIGKILL.
	DefaultKillGrace = 5 * time.Second
	// storeTimeout bounds each store call the executor makes on its own
	// (not on behalf of a caller's ctx).
	storeTimeout = 10 * time.Second
)

// ExecutorConfig tunes the executor; zero values take the defaults.
type ExecutorConfig struct {
	DataDir       string        // logs go to <DataDir>/logs/<runID>.log
	MaxConcurrent int           // runs at once (DefaultMaxConcurrent); others queue
	LogCapBytes   int64         // per-run log cap (DefaultLogCapBytes)
	TailLines     int           // lines kept for snapshots (DefaultTailLines)
	KillGrace     time.Duration // SIGTERM→SIGKILL delay (DefaultKillGrace)
	// DefaultTimeout bounds a Job that comes without a Timeout
	// (DefaultTimeout). The loader always sets one; this is the safety net
	// for callers that build a Job by hand, so that no run is unbounded.
	DefaultTimeout time.Duration
	Clock          func() time.Time
	// Targets runs ssh steps on remote targets (runbooks/step/ssh); nil
	// fails them with a sentence saying so.
	Targets TargetRunner
	// Logs, when set, gets a copy of every run's log in chunks as it is
	// produced (see LogStore), so that other replicas can serve it.
	Logs LogStore
	// Playbooks runs ansible steps (runbooks/step/ansible); nil fails
	// them with a sentence saying so.
	Playbooks PlaybookRunner
	// Kubernetes runs kubernetes steps (runbooks/step/kubernetes); nil
	// fails them with a sentence saying so.
	Kubernetes KubernetesRunner
}

// Executor runs jobs: at most MaxConcurrent at once, each step in its own
// process group, with named locks, timeouts, cancel and bounded output.
type Executor struct {
	store Store
	cfg   ExecutorConfig
	// journal stores the executor's state writes; the Service replaces it
	// with itself so that they are audited and published.
	journal journal
	log     *slog.Logger
	client  *stepClient
	waits   stepWaits

	wg      sync.WaitGroup
	mu      sync.Mutex
	handles map[string]*Handle
	queue   []*queued
	running int
	closing bool
	// stopping: Shutdown stopped waiting and is cancelling every run.
	stopping bool
}

// queued is a run waiting for a free slot.
type queued struct {
	h   *Handle
	run *Run
	job Job
}

// NewExecutor returns an executor storing run state in s.
func NewExecutor(s Store, cfg ExecutorConfig, logger *slog.Logger) *Executor {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.LogCapBytes <= 0 {
		cfg.LogCapBytes = DefaultLogCapBytes
	}
	if cfg.TailLines <= 0 {
		cfg.TailLines = DefaultTailLines
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{store: s, journal: storeJournal{s}, cfg: cfg, log: logger, handles: map[string]*Handle{},
		client: newStepClient(), waits: defaultStepWaits}
}

// journal is where the executor writes a run's state.
type journal interface {
	update(ctx context.Context, id string, fn func(*Run) error) (*Run, error)
}

// storeJournal writes straight to the store: an executor without a
// Service (tests of the executor alone).
type storeJournal struct{ s Store }

func (j storeJournal) update(ctx context.Context, id string, fn func(*Run) error) (*Run, error) {
	return j.s.UpdateRun(ctx, id, fn)
}

// stepClient is the HTTP client of http steps. Its errors name only the
// method and scheme://host of the request: the path and query may carry
// param values (secrets among them, escaped in forms a masker may not
// know), and an error's text ends up in the run's reason and log.
type stepClient struct {
	c *http.Client
}

func newStepClient() *stepClient {
	return &stepClient{c: &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: checkRedirect,
	}}
}

// maxRedirects is how many redirects a step that follows them takes.
const maxRedirects = 10

// followKey marks a step's context: its HTTP request follows redirects.
type followKey struct{}

// withRedirectPolicy returns ctx marked for the step's redirect policy.
func withRedirectPolicy(ctx context.Context, s RenderedStep) context.Context {
	if s.HTTP != nil && s.HTTP.FollowRedirects {
		return context.WithValue(ctx, followKey{}, true)
	}
	return ctx
}

// checkRedirect is the step client's redirect policy. A redirect could
// carry the step's headers (X-Api-Key, Authorization…) to another host or
// downgrade https to http, so by default none is followed and the 3xx is
// the step's status. A step with follow_redirects: true follows redirects
// that keep the scheme and host (port included) of the first request; any
// other ends the same way, with the 3xx as the status.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if follow, _ := req.Context().Value(followKey{}).(bool); !follow || len(via) == 0 {
		return http.ErrUseLastResponse
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// Do sends req; see http.Client.Do.
func (c *stepClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.c.Do(req)
	if err != nil {
		return nil, reduceURLError(err)
	}
	return resp, nil
}

// reduceURLError cuts the URL of a *url.Error down to scheme://host.
func reduceURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	short := "(URL not shown)"
	if u, perr := url.Parse(ue.URL); perr == nil {
		short = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	return &url.Error{Op: ue.Op, URL: short, Err: ue.Err}
}

// LockedError refuses a run whose lock another run holds. It unwraps to a
// tebura ECONFLICT error whose message names the holder.
type LockedError struct {
	Lock Lock
}

// Error implements error.
func (e *LockedError) Error() string { return e.message() }

func (e *LockedError) message() string {
	holder := e.Lock.Holder
	if holder == "" {
		holder = "someone"
	}
	return fmt.Sprintf("Lock %s is held by run %s, requested by %s, since %s; wait for it to finish or cancel it.",
		e.Lock.Key, e.Lock.RunID, holder, e.Lock.Since.UTC().Format("2006-01-02 15:04 UTC"))
}

// Unwrap lets tebura.ErrorCode and ErrorMessage see ECONFLICT.
func (e *LockedError) Unwrap() error { return tebura.Errorf(tebura.ECONFLICT, "%s", e.message()) }

// Start runs run (already stored; approved, or pending with no approval
// needed) with job. It takes the run's lock (held → *LockedError, and the
// run is marked failed), queues the run when MaxConcurrent runs are going,
// and returns at once; the run goes on in its own goroutine.
func (e *Executor) Start(ctx context.Context, run *Run, job Job) (*Handle, error) {
	if run == nil || run.ID == "" {
		return nil, tebura.Errorf(tebura.EINTERNAL, "The run was not stored before starting.")
	}
	job, err := e.checkJob(run, job)
	if err != nil {
		return nil, err
	}
	h := newHandle(e, run.ID, job.Masker, e.cfg.TailLines)
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return nil, tebura.Errorf(tebura.ETRANSIENT, "Tebura is shutting down; request the run again once it is back.")
	}
	if _, dup := e.handles[run.ID]; dup {
		e.mu.Unlock()
		return nil, tebura.Errorf(tebura.ECONFLICT, "Run %s has already started.", run.ID)
	}
	e.handles[run.ID] = h
	e.wg.Add(1)
	e.mu.Unlock()

	if run.LockKey != "" {
		held, err := e.store.AcquireLock(ctx, Lock{Key: run.LockKey, RunID: run.ID, Holder: run.RequestedBy, Since: e.cfg.Clock()})
		if err != nil {
			var refusal error = tebura.Wrap(tebura.ETRANSIENT, err, "The run's lock could not be taken; try again.")
			reason := "lock could not be taken"
			if tebura.ErrorCode(err) == tebura.ECONFLICT {
				le := &LockedError{Lock: held}
				refusal, reason = le, "lock held by run "+held.RunID+" ("+held.Holder+")"
			}
			e.end(h, run, false, StateFailed, -1, reason, nil)
			return nil, refusal
		}
	}

	e.mu.Lock()
	if e.running < e.cfg.MaxConcurrent {
		e.running++
		e.mu.Unlock()
		e.begin(h, run, job)
		return h, nil
	}
	e.queue = append(e.queue, &queued{h: h, run: run, job: job})
	pos := len(e.queue)
	e.mu.Unlock()
	h.update(func(h *Handle) { h.state = StateQueued })
	reason := e.queueText(pos)
	if _, err := e.journal.update(ctx, run.ID, func(r *Run) error {
		r.State, r.Reason = StateQueued, reason
		return nil
	}); err != nil {
		e.log.Warn("run state not stored", "run_id", run.ID, "state", StateQueued, "err", err)
	}
	return h, nil
}

// checkJob refuses a run that may not start or a job with nothing to
// run, and gives a job without a timeout the default one.
func (e *Executor) checkJob(run *Run, job Job) (Job, error) {
	switch {
	case run.State == StateApproved:
	case run.State == StatePendingApproval && len(run.Approvals) >= run.Required:
	default:
		return job, tebura.Errorf(tebura.ECONFLICT, "Run %s is %s; only approved runs start.", run.ID, run.State)
	}
	if len(job.Steps) == 0 {
		return job, tebura.Errorf(tebura.EINVALID, "Run %s has no steps to run.", run.ID)
	}
	if job.Timeout <= 0 {
		e.log.Warn("run has no timeout; using the default", "run_id", run.ID, "timeout", e.cfg.DefaultTimeout)
		job.Timeout = e.cfg.DefaultTimeout
	}
	return job, nil
}

// errNoSlot: startNew found every slot taken (or the executor shutting
// down), so the run is to be stored first and started with Start, which
// queues it (or refuses).
var errNoSlot = errors.New("runbooks: no free slot")

// startNew starts a run that is not stored yet, in a free slot: create
// stores it, calling mark on it in its transaction once it has its ID
// (mark makes it running, with its start time and log), and its steps
// begin once create returned, so that nothing runs before the run is
// durable. Without a free slot it returns errNoSlot and does nothing; when
// create fails, nothing started and its error is returned. The lock, if
// any, is create's to take (in its transaction); end releases it as Start's.
func (e *Executor) startNew(run *Run, job Job, create func(run *Run, mark func(*Run) error) error) (*Handle, error) {
	job, err := e.checkJob(run, job)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.closing || e.running >= e.cfg.MaxConcurrent {
		e.mu.Unlock()
		return nil, errNoSlot
	}
	e.running++
	e.wg.Add(1)
	e.mu.Unlock()
	started := e.cfg.Clock()
	err = create(run, func(r *Run) error {
		r.State, r.StartedAt, r.LogPath, r.Reason = StateRunning, started, "", ""
		if e.cfg.DataDir != "" {
			r.LogPath = logPath(r.ID)
		}
		return nil
	})
	if err != nil {
		e.freeSlot()
		return nil, err
	}
	h := newHandle(e, run.ID, job.Masker, e.cfg.TailLines)
	h.update(func(h *Handle) { h.state, h.started = StateRunning, started })
	e.mu.Lock()
	e.handles[run.ID] = h
	if e.stopping {
		h.requestStop(errShutdown) // Shutdown gave up waiting before this run was in the table
	}
	e.mu.Unlock()
	file, err := e.openLog(run.LogPath)
	if err != nil && run.LogPath != "" {
		e.log.Error("run log not opened", "run_id", run.ID, "err", err)
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		if _, err := e.store.UpdateRun(ctx, run.ID, func(r *Run) error { r.LogPath = ""; return nil }); err != nil {
			e.log.Warn("run state not stored", "run_id", run.ID, "state", StateRunning, "err", err)
		}
		cancel()
		run.LogPath = ""
	}
	e.log.Info("run started", "run_id", run.ID, "runbook", run.Runbook)
	go e.execute(h, run, job, started, file)
	return h, nil
}

// freeSlot gives back a slot startNew took for a run that did not start,
// beginning the next queued run in it.
func (e *Executor) freeSlot() {
	e.mu.Lock()
	next := e.freeSlotLocked()
	e.mu.Unlock()
	e.wg.Done()
	if next != nil {
		e.begin(next.h, next.run, next.job)
	}
}

// freeSlotLocked frees a slot and hands it to the next queued run, which
// it returns for the caller to begin (nil: none). e.mu is held.
func (e *Executor) freeSlotLocked() *queued {
	e.running--
	if e.closing || len(e.queue) == 0 {
		return nil
	}
	next := e.queue[0]
	e.queue = e.queue[1:]
	e.running++
	return next
}

// logPath is where a run's log lives, relative to the data dir.
func logPath(runID string) string { return filepath.Join("logs", runID+".log") }

func (e *Executor) queueText(pos int) string {
	return fmt.Sprintf("queued: position %d, waiting for one of the %d running runs to finish", pos, e.cfg.MaxConcurrent)
}

// queueReason is a queued handle's place, for its snapshot.
func (e *Executor) queueReason(h *Handle) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, q := range e.queue {
		if q.h == h {
			return e.queueText(i + 1)
		}
	}
	return "starting"
}

// Handle returns the live handle of a run that is queued or running here.
func (e *Executor) Handle(runID string) (*Handle, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.handles[runID]
	return h, ok
}

// errCancelled and friends are the causes a run's context ends with.
var (
	errShutdown    = errors.New("tebura shut down")
	errRunTimeout  = errors.New("run timeout")
	errStepTimeout = errors.New("step timeout")
)

type cancelCause struct{ by string }

func (c *cancelCause) Error() string { return "cancelled by " + c.by }

// Cancel stops a queued or running run; by (an identity) is recorded. It
// returns at once; wait on the handle's Done for the end.
func (e *Executor) Cancel(ctx context.Context, runID, by string) error {
	e.mu.Lock()
	h, ok := e.handles[runID]
	var q *queued
	if ok {
		for i, x := range e.queue {
			if x.h == h {
				q = x
				e.queue = append(e.queue[:i], e.queue[i+1:]...)
				break
			}
		}
	}
	e.mu.Unlock()
	if !ok {
		return tebura.Errorf(tebura.ENOTFOUND, "Run %s is not running; it may have finished already.", runID)
	}
	h.requestStop(&cancelCause{by: by})
	if q != nil {
		h.update(func(h *Handle) { h.cancelBy = by })
		e.end(h, q.run, false, StateCancelled, -1, "cancelled by "+by+" while queued", nil)
	}
	return nil
}

// Shutdown stops taking runs, interrupts queued ones, and waits for running
// ones until ctx is done; then it cancels them (they end interrupted) and
// waits for them to be killed. It returns ctx.Err() if it had to cancel.
func (e *Executor) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	waiting := e.queue
	e.queue = nil
	e.mu.Unlock()
	for _, q := range waiting {
		q.h.requestStop(errShutdown)
		e.end(q.h, q.run, false, StateInterrupted, -1, "interrupted: tebura shut down before the run started", nil)
	}
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	e.mu.Lock()
	e.stopping = true
	for _, h := range e.handles {
		h.requestStop(errShutdown)
	}
	e.mu.Unlock()
	<-done
	return ctx.Err()
}

// begin stores a run that has a slot as running, with its log, then runs
// its steps in a goroutine of their own. The running state is written
// before begin returns (in Start, in the caller's goroutine), so that it
// and the entry of the start that rides with it precede whatever the
// caller writes next.
func (e *Executor) begin(h *Handle, run *Run, job Job) {
	h.update(func(h *Handle) { h.state = StateRunning })
	started := e.cfg.Clock()
	logRel := logPath(run.ID)
	file, err := e.openLog(logRel)
	if err != nil {
		e.log.Error("run log not opened", "run_id", run.ID, "err", err)
		logRel = ""
	}
	h.update(func(h *Handle) { h.started = started })
	if _, err := e.journal.update(context.Background(), run.ID, func(r *Run) error {
		r.State, r.StartedAt, r.LogPath, r.Reason = StateRunning, started, logRel, ""
		return nil
	}); err != nil {
		e.log.Warn("run state not stored", "run_id", run.ID, "state", StateRunning, "err", err)
	}
	e.log.Info("run started", "run_id", run.ID, "runbook", run.Runbook)
	go e.execute(h, run, job, started, file)
}

// execute runs the steps of a run that begin stored running; file is its
// log (nil when it could not be opened).
func (e *Executor) execute(h *Handle, run *Run, job Job, started time.Time, file *os.File) {
	base, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		select {
		case <-h.stop:
			cancel(h.cause)
		case <-base.Done():
		}
	}()
	ctx := base
	if job.Timeout > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, job.Timeout, errRunTimeout)
		defer c()
	}

	out := newOutput(h, job.Masker, fileOrNone(file), e.cfg.LogCapBytes, job.Echo)
	if file != nil {
		out.mirror = e.logMirror(run.ID)
	}

	state, code, reason := StateSucceeded, 0, ""
	ran := 0
	for i, step := range job.Steps {
		if ctx.Err() != nil {
			break
		}
		h.update(func(h *Handle) { h.step, h.stepNo = step.Name, i+1 })
		out.note("step %d/%d: %s", i+1, len(job.Steps), step.Name)
		res := e.runStep(withRedirectPolicy(ctx, step), step, out)
		ran++
		if res.code == 0 && res.err == nil {
			continue
		}
		if ctx.Err() != nil {
			code = res.code
			break
		}
		what := res.describe(step)
		if step.ContinueOnError {
			out.note("%s; continuing (continue_on_error)", what)
			continue
		}
		out.note("%s", what)
		state, code, reason = StateFailed, res.code, what
		if res.timedOut {
			state = StateTimedOut
		}
		break
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		var cc *cancelCause
		switch {
		case errors.As(cause, &cc):
			state, reason = StateCancelled, "cancelled by "+cc.by
			h.update(func(h *Handle) { h.cancelBy = cc.by })
		case errors.Is(cause, errReplicaLost):
			state, reason = StateInterrupted, "interrupted: this replica lost the database while the run was running"
		case errors.Is(cause, errShutdown):
			state, reason = StateInterrupted, "interrupted: tebura shut down while the run was running"
		case errors.Is(cause, errRunTimeout):
			state, reason = StateTimedOut, "timed out after "+shortDuration(job.Timeout)
		default:
			state, reason = StateFailed, "stopped: "+cause.Error()
		}
		if code == 0 {
			code = -1
		}
		out.note("%s", reason)
	} else if state == StateSucceeded {
		reason = fmt.Sprintf("%d of %d steps ran, in %s", ran, len(job.Steps), e.cfg.Clock().Sub(started).Round(time.Millisecond))
		out.note("succeeded")
	}
	if job.Masker != nil {
		reason = job.Masker.Mask(reason) // errors can quote a URL or an argument
	}
	if err := out.close(); err != nil {
		e.log.Error("run log incomplete", "run_id", run.ID, "err", err)
	}
	e.end(h, run, true, state, code, reason, out)
}

func (e *Executor) openLog(rel string) (*os.File, error) {
	if e.cfg.DataDir == "" {
		return nil, errors.New("no data dir")
	}
	path := filepath.Join(e.cfg.DataDir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
}

// end releases the lock, stores the final state, publishes the final
// snapshot, frees the slot and starts the next queued run.
func (e *Executor) end(h *Handle, run *Run, hadSlot bool, state State, code int, reason string, out *output) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if run.LockKey != "" {
		if err := e.store.ReleaseLock(ctx, run.LockKey, run.ID); err != nil {
			e.log.Error("lock not released", "run_id", run.ID, "lock", run.LockKey, "err", err)
		}
	}
	ended := e.cfg.Clock()
	h.mu.Lock()
	by, truncated := h.cancelBy, h.truncated
	h.mu.Unlock()
	var written int64
	if out != nil {
		written = out.written
	}
	if _, err := e.journal.update(ctx, run.ID, func(r *Run) error {
		r.State, r.ExitCode, r.Reason, r.EndedAt = state, code, reason, ended
		r.CancelledBy, r.LogBytes, r.Truncated = by, written, truncated
		return nil
	}); err != nil {
		e.log.Error("run state not stored", "run_id", run.ID, "state", state, "err", err)
	}
	e.log.Info("run ended", "run_id", run.ID, "state", state, "exit_code", code)

	// Leave the table before Done is closed, so that whoever waited on Done
	// no longer finds the run live.
	e.mu.Lock()
	delete(e.handles, run.ID)
	var next *queued
	if hadSlot {
		next = e.freeSlotLocked()
	}
	e.mu.Unlock()
	h.finalize(func(h *Handle) {
		h.state, h.exitCode, h.reason, h.ended = state, code, reason, ended
	})
	e.wg.Done()
	if next != nil {
		e.begin(next.h, next.run, next.job)
	}
}
