package runbooks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
)

// Via says which door a request came in by; it is recorded in the audit
// entry of the request.
type Via string

// The doors of the run service.
const (
	ViaChat       Via = "chat"
	ViaCLI        Via = "cli"
	ViaAutomation Via = "automation"
)

// Gate says what a request does with a runbook that needs approval.
type Gate int

const (
	// AskApproval stores a runbook that needs approval as pending (the
	// caller posts its card); one that needs none is approved at once.
	AskApproval Gate = iota
	// NoApproval refuses a runbook that needs approval: an automation may
	// only start what nobody has to approve.
	NoApproval
	// ProposeOnly refuses a runbook that needs no approval: a suggestion is
	// always decided by people.
	ProposeOnly
	// BreakGlass approves a runbook that needs approval in the requester's
	// name, recorded as such (tebura run --break-glass). The caller checked
	// that the requester may.
	BreakGlass
)

// Request is one ask to run a runbook, from whichever door.
type Request struct {
	Runbook *Runbook
	// Params are the values as given (k=v); Bind validates them and adds
	// defaults, like any user input.
	Params map[string]string
	// By is the requester's identity; Name how chat shows it.
	By, Name string
	Via      Via
	// Authorize is asked after the params are bound, before anything is
	// planned: it returns the refusal a requester who may not run the
	// runbook sees, in the words of the door. Nil: the door has no allow
	// list to apply (an automation rule's author chose the runbook).
	Authorize func(rb *Runbook) error
	Gate      Gate
	Origin    Origin
	// RefuseWhenLocked refuses (*LockedError) a request whose lock another
	// run holds now, storing nothing: chat answers "locked" at once. Other
	// doors store the run, which fails at start if the lock is still held.
	RefuseWhenLocked bool
	// SuggestedBy is the automation that suggested a request a person
	// made (the incident card's [Propose X]), for the audit entry.
	SuggestedBy string
}

// Requested is a request that passed every check: the run to store (State
// set, ID empty until Create), with what its door needs to show it.
type Requested struct {
	Run     *Run
	Runbook *Runbook
	Values  Values
	Plan    *Plan
	Masker  Masker
	via     Via
	suggest string
	hidden  map[string]string // the secret values Run.Params leaves out
}

// Transition is one change of a run's state, published by the service to
// every subscriber in the order it was stored. Run is the run as stored
// after the change (a copy of the stored record, shared by the subscribers:
// read it, never change it). A decision that was
// refused without changing the state (an approval by the requester, a
// stale plan) is published with From == To and Refused set, so that
// counters of refusals need no store decorator.
type Transition struct {
	Run      *Run
	From, To State
	Actor    string
	At       time.Time
	Refused  bool
	// Answer is set on the transition that recorded a person's answer to
	// a manual step (From == To == running).
	Answer *StepAnswer
}

// Approved reports whether t recorded an approval (one more approver),
// whether or not it reached the quorum.
func (t Transition) Approved() bool {
	return !t.Refused && t.To != StateDenied && (t.From == StatePendingApproval && (t.To == StatePendingApproval || t.To == StateApproved))
}

// ServiceConfig is what the service is built from.
type ServiceConfig struct {
	Store    Store
	Executor *Executor
	// Audit records each transition; nil records nothing (tests).
	Audit *audit.Log
	// Redactor returns the configured secrets and patterns, read at each
	// use so that a reload applies; nil or a nil result masks only the
	// runs' secret params.
	Redactor func() *Redactor
	Clock    func() time.Time
	Logger   *slog.Logger
	// Sealer keeps the secret values of runs waiting for approval sealed
	// in the store (secrets.key); nil keeps them in memory only, and a
	// restart expires those requests (ReasonSecretsLost).
	Sealer *Sealer
	// Subscribers get every transition; more can be added with Subscribe.
	Subscribers []func(Transition)
	// Replica names this process among the replicas sharing the store
	// (replica.id); it is stored on the runs this process executes.
	Replica string
	// Alive, when set, reports whether another replica still runs (its
	// heartbeat is fresh): Recover and InterruptLost leave the runs of
	// live replicas alone. Nil means this process is alone on its store,
	// so every run left executing belongs to a process that is gone.
	Alive func(ctx context.Context, replica string) (bool, error)
}

// Service is the single owner of a run's life: request (bind, authorize,
// plan, lock, create, audit), approve, deny, expire, close, start, cancel,
// end and recover. Chat, the CLI and automation rules are its clients:
// each run record is built here, each audit entry of a run is written
// here, and each change of state is published as a Transition.
type Service struct {
	store Store
	exec  *Executor
	audit *audit.Log
	red   func() *Redactor
	now   func() time.Time
	log   *slog.Logger

	stripes [64]sync.Mutex // per run (hashed): a store write and its publication in one order
	pub     publisher
	starts  byRun[audit.Note]        // run.start entries until the executor's first write
	vault   byRun[map[string]string] // secret values, from the request until the run ends
	sealer  *Sealer
	replica string
	alive   func(ctx context.Context, replica string) (bool, error)
}

// NewService builds the service and takes over cfg.Executor's state
// writes, so that the executor's queued, running and ended states are
// published and audited like every other transition.
func NewService(cfg ServiceConfig) *Service {
	s := &Service{store: cfg.Store, exec: cfg.Executor, audit: cfg.Audit, red: cfg.Redactor, now: cfg.Clock, log: cfg.Logger, sealer: cfg.Sealer,
		replica: cfg.Replica, alive: cfg.Alive}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, fn := range cfg.Subscribers {
		s.Subscribe(fn)
	}
	if s.exec != nil {
		s.exec.journal = s
	}
	return s
}

// Store is the store the service writes runs to.
func (s *Service) Store() Store { return s.store }

// Executor is the executor that runs the service's runs.
func (s *Service) Executor() *Executor { return s.exec }

// Subscribe adds fn, which gets every transition published from now on,
// in order, on a goroutine of its own: a slow subscriber delays only
// itself, and nothing is dropped (its queue grows). Subscribe before
// events flow; Stop stops the goroutines.
func (s *Service) Subscribe(fn func(Transition)) { s.pub.add(fn) }

// Flush waits until every transition published so far has been handed to
// every subscriber and they returned, or ctx ends.
func (s *Service) Flush(ctx context.Context) error { return s.pub.flush(ctx) }

// Stop delivers what is queued and stops the subscribers' goroutines.
func (s *Service) Stop() { s.pub.close() }

// Masker masks run's secret params (while this process holds them) and
// the configured secrets.
func (s *Service) Masker(run *Run) Masker { return s.maskerWith(s.secretValues(run)) }

// SealsSecrets reports whether the secret values of runs waiting for
// approval are kept sealed in the store (a key is configured), rather than
// in memory only.
func (s *Service) SealsSecrets() bool { return s.sealer != nil }

func (s *Service) maskerWith(secrets []string) Masker {
	var r *Redactor
	if s.red != nil {
		r = s.red()
	}
	if r == nil {
		var err error
		if r, err = NewRedactor(nil, nil); err != nil {
			return nil
		}
	}
	return r.With(secrets...)
}

// Prepare checks a request and builds its run, storing nothing: bind the
// params, authorize, apply the approval rule, plan, and (when asked)
// refuse when the run's lock is held (*LockedError). A door that must act
// between the checks and the first write calls Prepare, then Create.
func (s *Service) Prepare(ctx context.Context, req Request) (*Requested, error) {
	rb := req.Runbook
	if rb == nil {
		return nil, tebura.Errorf(tebura.EINTERNAL, "A run request needs a runbook.")
	}
	vals, err := rb.Bind(req.Params)
	if err != nil {
		return nil, err
	}
	if req.Authorize != nil {
		if err := req.Authorize(rb); err != nil {
			return nil, err
		}
	}
	switch {
	case req.Gate == NoApproval && rb.NeedsApproval():
		return nil, tebura.Errorf(tebura.EFORBIDDEN, "The runbook `%s` needs approval, so an automation cannot start it; propose it to people instead.", rb.Name)
	case req.Gate == ProposeOnly && !rb.NeedsApproval():
		return nil, tebura.Errorf(tebura.EINVALID, "The runbook `%s` needs no approval, so there is nothing to propose; list it under diagnostics instead.", rb.Name)
	}
	plan, err := rb.Plan(vals)
	if err != nil {
		return nil, err
	}
	lockKey, err := rb.LockKey(vals)
	if err != nil {
		return nil, err
	}
	if req.RefuseWhenLocked {
		if held, ok, err := s.heldLock(ctx, lockKey); err != nil {
			return nil, err
		} else if ok {
			return nil, &LockedError{Lock: held}
		}
	}
	now := s.now()
	public, hidden := splitSecrets(vals, rb.SecretNames())
	run := &Run{
		Runbook: rb.Name, Kind: rb.Kind, Params: public, Secret: rb.SecretNames(), PlanHash: plan.Hash, LockKey: lockKey,
		RequestedBy: req.By, RequestedName: req.Name, RequestedAt: now,
		State: StateApproved, Origin: req.Origin, Replica: s.replica,
	}
	if rb.NeedsApproval() {
		switch req.Gate {
		case BreakGlass:
			run.Required = rb.Approval.Required
			run.Approvals = []Decision{{By: req.By, Name: "break-glass", At: now}}
		default:
			exp := rb.Approval.Expires
			if exp <= 0 {
				exp = DefaultApprovalExpiry
			}
			run.State, run.Required, run.ExpiresAt = StatePendingApproval, rb.Approval.Required, now.Add(exp)
		}
	}
	masker := s.maskerWith(rb.Secrets(vals))
	plan.Check = s.checkPlan(ctx, rb, vals, masker)
	run.PlanCheck = plan.Check
	return &Requested{Run: run, Runbook: rb, Values: vals, Plan: plan, Masker: masker, via: req.Via, suggest: req.SuggestedBy, hidden: hidden}, nil
}

// heldLock reports who holds key, if anyone.
func (s *Service) heldLock(ctx context.Context, key string) (Lock, bool, error) {
	if key == "" {
		return Lock{}, false, nil
	}
	locks, err := s.store.Locks(ctx)
	if err != nil {
		return Lock{}, false, err
	}
	for _, l := range locks {
		if l.Key == key {
			return l, true, nil
		}
	}
	return Lock{}, false, nil
}

// AuditEntries computes, inside a store's write transaction, the audit
// entries that record a change of run: last is the chain's last entry (nil
// when it is empty), run the run as it will be stored. It must only
// compute.
type AuditEntries func(run *Run, last *audit.Entry) ([]audit.Entry, error)

// AuditedStore is a Store that writes a run and the audit entries that
// record its change in one transaction (store/bolt keeps both in one
// file): one fsync per transition instead of two, and never a change
// without its entry on the chain, nor an entry without its change.
type AuditedStore interface {
	// CreateRunAudited is CreateRun with the entries of the request.
	CreateRunAudited(ctx context.Context, run *Run, entries AuditEntries) error
	// UpdateRunAudited is UpdateRun with the entries of the change; nil
	// entries (or none returned) writes the run alone.
	UpdateRunAudited(ctx context.Context, id string, fn func(*Run) error, entries AuditEntries) (*Run, error)
}

// StartingStore is an AuditedStore that also stores a run that starts as
// it is created: the run, its lock and the audit entries of its request
// and its start in one transaction, so that a run that needs no approval
// costs one fsync before it runs instead of two or three.
type StartingStore interface {
	AuditedStore
	// CreateRunStarted assigns run its ID, calls fn on it (fn marks it
	// started, with what depends on the ID; it must only compute), takes
	// its lock (run.LockKey, for run.RequestedBy since run.StartedAt) when
	// it has one, and stores it with the entries, all in one transaction.
	// A lock another run holds stores nothing and returns a *LockedError.
	// On success run is as stored.
	CreateRunStarted(ctx context.Context, run *Run, fn func(*Run) error, entries AuditEntries) error
}

// Create stores p's run (assigning its ID) with the audit entries of its
// request, in one transaction where the store allows it, and publishes its
// first state.
func (s *Service) Create(ctx context.Context, p *Requested) error {
	run := p.Run
	notes := p.requestNotes
	if p.hidden != nil && run.State == StatePendingApproval && s.sealer != nil {
		sealed, err := s.sealer.seal(run, p.hidden)
		if err != nil {
			return tebura.Wrap(tebura.EINTERNAL, err, "")
		}
		run.Sealed = sealed
	}
	as, atomic := s.store.(AuditedStore)
	var err error
	switch {
	case s.audit == nil:
		err = s.store.CreateRun(ctx, run)
	case atomic:
		err = as.CreateRunAudited(ctx, run, s.entries(notes))
	default:
		if err = s.store.CreateRun(ctx, run); err == nil {
			for _, n := range notes(run) {
				s.record(ctx, n)
			}
		}
	}
	if err != nil {
		return err
	}
	if p.hidden != nil {
		s.vault.put(run.ID, p.hidden)
	}
	s.publish(Transition{Run: copyRun(run), From: "", To: run.State, Actor: run.RequestedBy, At: run.RequestedAt})
	return nil
}

// requestNotes are the audit entries of run's request: run.request, and
// the approval of a break-glass request.
func (p *Requested) requestNotes(run *Run) []audit.Note {
	detail := map[string]string{
		"runbook": run.Runbook, "params": ParamsText(run.Params, run.Secret, p.Masker),
		"plan_hash": run.PlanHash, "lock": run.LockKey, "via": string(p.via),
	}
	if p.suggest != "" {
		detail["suggested_by"] = p.suggest
	}
	out := []audit.Note{{Actor: run.RequestedBy, Action: audit.ActionRunRequest, Subject: run.ID, Detail: detail}}
	if len(run.Approvals) > 0 && run.Approvals[0].Name == "break-glass" {
		out = append(out, audit.Note{Actor: run.RequestedBy, Action: audit.ActionRunApprove, Subject: run.ID, Detail: map[string]string{
			"break_glass": "true", "reason": "approval bypassed locally with tebura run --break-glass",
			"required": fmt.Sprint(p.Runbook.Approval.Required), "approvers": strings.Join(p.Runbook.ApproverRoles(), ","),
		}})
	}
	return out
}

// entries chains the notes that notes returns for a run after last.
func (s *Service) entries(notes func(r *Run) []audit.Note) AuditEntries {
	return func(r *Run, last *audit.Entry) ([]audit.Entry, error) {
		var es []audit.Entry
		for _, n := range notes(r) {
			e := s.audit.Next(last, n)
			es = append(es, e)
			last = &e
		}
		return es, nil
	}
}

// Request is Prepare then Create.
func (s *Service) Request(ctx context.Context, req Request) (*Requested, error) {
	p, err := s.Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := s.Create(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// SetOrigin records where a run's message lives (a door learns it after
// posting). It changes no state and publishes nothing.
func (s *Service) SetOrigin(ctx context.Context, runID string, o Origin) (*Run, error) {
	return s.store.UpdateRun(ctx, runID, func(r *Run) error {
		o.Incident = cmpOr(o.Incident, r.Origin.Incident)
		r.Origin = o
		return nil
	})
}

// Link records that a run serves incident (a run typed in a channel the
// incident owns), unless it already names one. It changes no state.
func (s *Service) Link(ctx context.Context, runID, incident string) (*Run, error) {
	return s.store.UpdateRun(ctx, runID, func(r *Run) error {
		if r.Origin.Incident == "" {
			r.Origin.Incident = incident
		}
		return nil
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Start hands a stored approved run to the executor with rb's steps as
// rendered from the run's params now; by (who caused the start) is
// audited. A held lock ends the run failed (a *LockedError is returned); a
// run that cannot be rendered or started ends failed with the reason.
func (s *Service) Start(ctx context.Context, run *Run, rb *Runbook, by string) (*Handle, error) {
	return s.start(ctx, run, rb, by, nil)
}

// StartEcho is Start with every masked line of output also written to
// echo, beyond the log cap too: what `tebura run` prints when a server
// runs it for the CLI (the admin socket), which needs the run's ID before
// its output.
func (s *Service) StartEcho(ctx context.Context, run *Run, rb *Runbook, by string, echo io.Writer) (*Handle, error) {
	return s.start(ctx, run, rb, by, echo)
}

func (s *Service) start(ctx context.Context, run *Run, rb *Runbook, by string, echo io.Writer) (*Handle, error) {
	m := s.Masker(run)
	if s.exec == nil {
		return nil, s.fail(ctx, run, m, tebura.Errorf(tebura.EINTERNAL, "no executor configured"))
	}
	given, err := s.Values(run)
	if err != nil {
		return nil, s.fail(ctx, run, m, err)
	}
	vals, err := rb.Bind(given)
	if err != nil {
		return nil, s.fail(ctx, run, m, err)
	}
	steps, err := rb.Render(vals)
	if err != nil {
		return nil, s.fail(ctx, run, m, err)
	}
	if err := sameTargets(run, rb, vals, steps); err != nil {
		return nil, s.fail(ctx, run, m, err)
	}
	// The entry of the start is written with the executor's first write of
	// the run (queued or running), before any step runs: one transaction.
	s.starts.put(run.ID, startNote(run, by, m))
	h, err := s.exec.Start(context.WithoutCancel(ctx), run, Job{Steps: steps, Timeout: rb.Timeout, Masker: m, Echo: echo})
	if err != nil {
		s.starts.drop(run.ID) // it never started
		var locked *LockedError
		if !errors.As(err, &locked) {
			return nil, s.fail(ctx, run, m, err)
		}
		return nil, err // the executor ended it failed
	}
	return h, nil
}

// startNote is the audit entry of run's start, caused by by.
func startNote(run *Run, by string, m Masker) audit.Note {
	return audit.Note{Actor: by, Action: audit.ActionRunStart, Subject: run.ID, Detail: map[string]string{
		"runbook": run.Runbook, "params": ParamsText(run.Params, run.Secret, m)}}
}

// CreateAndStart stores p's run already started and runs it: the door's
// one call for a run that needs no approval (or whose approval break-glass
// recorded). The run, its lock and the audit entries of its request and of
// its start (by, who caused it) are one transaction, one fsync, where the
// store allows it (a StartingStore), and no step runs before it is
// durable. The request and the start are published as two transitions,
// as Create then Start publish them. echo, when set, gets every masked
// line of output, beyond the log cap too: what `tebura run` prints.
//
// When every slot is taken (the run queues), its lock is held or its steps
// cannot be rendered, or the store cannot, it is Create then Start: the
// run is stored as requested first, and Start starts it, or ends it failed
// and returns why. p.Run.ID is empty when nothing was stored.
func (s *Service) CreateAndStart(ctx context.Context, p *Requested, by string, echo io.Writer) (*Handle, error) {
	if p.Run.State != StateApproved {
		return nil, tebura.Errorf(tebura.EINTERNAL, "A request for %s that is %s cannot start at once.", p.Runbook.Name, p.Run.State)
	}
	if h, done, err := s.createStarted(ctx, p, by, echo); done {
		return h, err
	}
	if err := s.Create(ctx, p); err != nil {
		return nil, err
	}
	return s.start(ctx, p.Run, p.Runbook, by, echo)
}

// createStarted is CreateAndStart's one transaction. done is false when it
// stored nothing and the run is to be created, then started.
func (s *Service) createStarted(ctx context.Context, p *Requested, by string, echo io.Writer) (h *Handle, done bool, err error) {
	st, ok := s.store.(StartingStore)
	if !ok || s.exec == nil {
		return nil, false, nil
	}
	// The request's own values and masker: the run record holds no secret
	// value (see Prepare), and the vault gets them once the run has its ID.
	m, vals := p.Masker, p.Values
	steps, err := p.Runbook.Render(vals)
	if err != nil || len(steps) == 0 {
		return nil, false, nil // Start ends it failed with the reason
	}
	var entries AuditEntries
	if s.audit != nil {
		entries = s.entries(func(r *Run) []audit.Note { return append(p.requestNotes(r), startNote(r, by, m)) })
	}
	job := Job{Steps: steps, Timeout: p.Runbook.Timeout, Masker: m, Echo: echo}
	h, err = s.exec.startNew(p.Run, job, func(run *Run, mark func(*Run) error) error {
		requested := copyRun(run)
		if err := st.CreateRunStarted(ctx, run, mark, entries); err != nil {
			return err
		}
		if p.hidden != nil {
			s.vault.put(run.ID, p.hidden)
		}
		// Published before the steps begin, so before the run's end.
		requested.ID = run.ID
		s.publish(Transition{Run: requested, From: "", To: requested.State, Actor: run.RequestedBy, At: run.RequestedAt})
		s.publish(Transition{Run: copyRun(run), From: requested.State, To: run.State, Actor: "system", At: s.now()})
		return nil
	})
	var locked *LockedError
	if errors.Is(err, errNoSlot) || errors.As(err, &locked) {
		return nil, false, nil
	}
	return h, true, err
}

// fail ends a run that could not be started and returns cause.
func (s *Service) fail(ctx context.Context, run *Run, m Masker, cause error) error {
	reason := "it could not be started: " + tebura.ErrorMessage(cause)
	if m != nil {
		reason = m.Mask(reason)
	}
	_, err := s.write(ctx, run.ID, "system", func(r *Run) (audit.Action, map[string]string, error) {
		if r.State.Final() {
			return "", nil, errUnchanged
		}
		r.State, r.Reason, r.EndedAt = StateFailed, reason, s.now()
		return audit.ActionRunEnd, map[string]string{"runbook": r.Runbook, "state": string(StateFailed), "reason": "start failed"}, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		s.log.Error("run state not stored", "run_id", run.ID, "state", StateFailed, "err", err)
	}
	return cause
}

// Cancel stops a queued or running run of this process: the executor
// ends it cancelled "by" d (its Name when it has one, as chat mentions
// people), and d.By is audited.
func (s *Service) Cancel(ctx context.Context, runID string, d Decision, via Via) error {
	if s.exec == nil {
		return tebura.Errorf(tebura.ENOTFOUND, "Run %s is not running; it may have finished already.", runID)
	}
	run, err := s.store.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	if err := s.exec.Cancel(ctx, runID, cmpOr(d.Name, d.By)); err != nil {
		return err
	}
	detail := map[string]string{"runbook": run.Runbook, "state": string(run.State)}
	if via != "" {
		detail["via"] = string(via)
	}
	s.record(ctx, audit.Note{Actor: d.By, Action: audit.ActionRunCancel, Subject: runID, Detail: detail})
	return nil
}

// Withdraw ends a request still waiting for approval on the word of d
// (its requester, an approver, an admin: the door checked): it becomes
// cancelled by d. A run no longer pending is refused with refuse(run).
func (s *Service) Withdraw(ctx context.Context, runID string, d Decision, refuse func(*Run) error) (*Run, error) {
	by := cmpOr(d.Name, d.By)
	return s.write(ctx, runID, d.By, func(r *Run) (audit.Action, map[string]string, error) {
		if r.State != StatePendingApproval {
			return "", nil, refuse(r)
		}
		r.State, r.CancelledBy, r.Reason, r.EndedAt = StateCancelled, by, "cancelled by "+by+" before approval", s.now()
		return audit.ActionRunCancel, map[string]string{"runbook": r.Runbook, "state": string(StatePendingApproval)}, nil
	})
}

// errUnchanged ends a write that found nothing to change.
var errUnchanged = errors.New("unchanged")

// write is every state change of a stored run: fn changes the run and
// names the audit action that records it (none: no entry); the change is
// stored, audited and published, in that order, and the writes of one run
// are published in the order they were stored.
func (s *Service) write(ctx context.Context, id, actor string, fn func(r *Run) (audit.Action, map[string]string, error)) (*Run, error) {
	return s.writeNotes(ctx, id, actor, func(r *Run) ([]audit.Note, error) {
		action, detail, err := fn(r)
		if err != nil || action == "" {
			return nil, err
		}
		return []audit.Note{{Actor: actor, Action: action, Subject: id, Detail: detail}}, nil
	})
}

// writeNotes is write with the audit entries given as notes. With an
// AuditedStore the change and its entries are one transaction (one fsync);
// otherwise the entries follow the change.
func (s *Service) writeNotes(ctx context.Context, id, actor string, fn func(r *Run) ([]audit.Note, error)) (*Run, error) {
	return s.writeTransition(ctx, id, actor, fn, nil)
}

// writeTransition is writeNotes whose published transition mark adds to
// (nil: nothing), such as the answer it records.
func (s *Service) writeTransition(ctx context.Context, id, actor string, fn func(r *Run) ([]audit.Note, error), mark func(*Transition)) (*Run, error) {
	mu := &s.stripes[stripe(id)]
	mu.Lock()
	defer mu.Unlock()
	var from State
	var notes []audit.Note
	change := func(r *Run) error {
		from = r.State
		var err error
		if notes, err = fn(r); err != nil {
			return err
		}
		if from != r.State && (r.State == StateApproved || r.State == StateQueued || r.State == StateRunning) {
			r.Replica = s.replica // the replica that approves or starts a run executes it
		}
		if r.State != StatePendingApproval {
			r.Sealed = nil // the values are in memory from here to the end
		}
		return nil
	}
	var run *Run
	var err error
	if as, atomic := s.store.(AuditedStore); atomic && s.audit != nil {
		run, err = as.UpdateRunAudited(ctx, id, change, s.entries(func(*Run) []audit.Note { return notes }))
	} else if run, err = s.store.UpdateRun(ctx, id, change); err == nil {
		for _, n := range notes {
			s.record(ctx, n)
		}
	}
	if err != nil {
		return nil, err
	}
	if run.State.Final() {
		s.vault.drop(id)
	}
	t := Transition{Run: copyRun(run), From: from, To: run.State, Actor: actor, At: s.now()}
	if mark != nil {
		mark(&t)
	}
	s.publish(t)
	return run, nil
}

// update implements the executor's journal: its queued, running and end
// writes go through write. The entry of the run's start rides with the
// executor's first write of a started run (queued or running), in its
// transaction; the entry of its end with the end.
func (s *Service) update(ctx context.Context, id string, fn func(r *Run) error) (*Run, error) {
	var start *audit.Note
	run, err := s.writeNotes(ctx, id, "system", func(r *Run) ([]audit.Note, error) {
		start = nil
		if err := fn(r); err != nil {
			return nil, err
		}
		if r.State == StateQueued || r.State == StateRunning {
			if n, ok := s.starts.get(id); ok {
				start = &n
				return []audit.Note{n}, nil
			}
		}
		if !r.State.Final() {
			return nil, nil
		}
		return []audit.Note{{Actor: "system", Action: audit.ActionRunEnd, Subject: id, Detail: map[string]string{
			"runbook": r.Runbook, "state": string(r.State), "exit_code": fmt.Sprint(r.ExitCode), "reason": r.Reason,
		}}}, nil
	})
	if start != nil {
		s.starts.drop(id)
		if err != nil { // the entry must not be lost with the write
			s.record(ctx, *start)
		}
	}
	return run, err
}

func stripe(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % 64)
}

// record appends an audit entry; a failure is logged, never hides the
// change it records (the change is stored already).
func (s *Service) record(ctx context.Context, n audit.Note) {
	if s.audit == nil {
		return
	}
	if err := s.audit.Record(context.WithoutCancel(ctx), n.Actor, n.Action, n.Subject, n.Detail); err != nil {
		s.log.Error("audit entry not recorded", "action", n.Action, "subject", n.Subject, "err", err)
	}
}

func copyRun(r *Run) *Run {
	c := *r
	c.Params = make(map[string]string, len(r.Params))
	for k, v := range r.Params {
		c.Params[k] = v
	}
	c.Secret = slices.Clone(r.Secret)
	c.Sealed = slices.Clone(r.Sealed)
	c.Approvals = slices.Clone(r.Approvals)
	c.Answers = cloneAnswers(r.Answers)
	if r.Denied != nil {
		d := *r.Denied
		c.Denied = &d
	}
	return &c
}

// ParamsText is how a run's params read in its audit entries and messages:
// k="v" sorted by key, secret params (whether or not params holds their
// values) as SecretMask, everything through m.
func ParamsText(params map[string]string, secret []string, m Masker) string {
	keys := make([]string, 0, len(params)+len(secret))
	for k := range params {
		keys = append(keys, k)
	}
	for _, k := range secret {
		if _, ok := params[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "none"
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := params[k]
		if slices.Contains(secret, k) {
			v = SecretMask
		}
		parts[i] = k + "=" + QuoteValue(v)
	}
	out := strings.Join(parts, " ")
	if m != nil {
		out = m.Mask(out)
	}
	return out
}
