package replica

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of replica.lease_duration and replica.renew_interval: a leader
// that dies is replaced within LeaseDuration+RenewInterval (4 s), and two
// renewals may fail before it steps down.
const (
	DefaultLeaseDuration = 3 * time.Second
	DefaultRenewInterval = time.Second
)

// releaseTimeout bounds handing the lease back when the elector stops.
const releaseTimeout = time.Second

// Config is what an Elector needs.
type Config struct {
	// Store keeps the lease.
	Store LeaseStore
	// ID names this replica; it is the lease's holder while it leads.
	ID string
	// Lease is the lease's name; empty means LeaderLease.
	Lease string
	// LeaseDuration is how long a renewal holds the lease; zero means
	// DefaultLeaseDuration.
	LeaseDuration time.Duration
	// RenewInterval is how often the lease is renewed (or, by followers,
	// tried); zero means DefaultRenewInterval. It must be well under
	// LeaseDuration.
	RenewInterval time.Duration
	// Logger gets one line per change of leadership.
	Logger *slog.Logger
}

// Elector takes and renews the leader lease, and runs leader work (Do)
// only while this replica surely holds it.
//
// Fencing: a renewal sent at local time t makes the store hold the lease
// until its own now+LeaseDuration, which is no earlier than t+LeaseDuration.
// The elector ends its term at t + 9/10 of LeaseDuration unless a later
// renewal succeeds, cancelling every Do's context; so a leader cut off from
// the database (or too slow to renew) has stopped its leader work a tenth of
// the lease before any other replica can take the lease, as long as its
// clock does not run more than 10% slow. A renewal whose answer arrives
// after that point is not trusted. The lease's Token (Leading) lets a store
// transaction check that its work is still the current leader's where a
// late write would matter.
type Elector struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	term    *term
	holder  string    // the holder the last answer named
	renewed time.Time // when the current term was last confirmed
}

// term is one unbroken stretch of leadership under one token.
type term struct {
	token    uint64
	ctx      context.Context
	cancel   context.CancelFunc
	deadline time.Time
	timer    *time.Timer
}

// NewElector returns an elector; Run makes it take part.
func NewElector(cfg Config) *Elector {
	cfg.Lease = cmp.Or(cfg.Lease, LeaderLease)
	cfg.LeaseDuration = cmp.Or(cfg.LeaseDuration, DefaultLeaseDuration)
	cfg.RenewInterval = cmp.Or(cfg.RenewInterval, DefaultRenewInterval)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Elector{cfg: cfg, log: log.With("replica_id", cfg.ID, "lease", cfg.Lease)}
}

// fence is how long after a renewal was sent the term may last.
func (e *Elector) fence() time.Duration { return e.cfg.LeaseDuration / 10 * 9 }

// Run takes part in the election until ctx ends: it tries to take (or
// renew) the lease now and every RenewInterval. When ctx ends it stops its
// leader work and releases the lease, so that another replica takes over
// at its next try instead of after the lease lapses. It returns nil.
func (e *Elector) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.RenewInterval)
	defer t.Stop()
	for {
		e.attempt(ctx)
		select {
		case <-ctx.Done():
			e.resign(ctx)
			return nil
		case <-t.C:
		}
	}
}

// TryNow asks for the lease once, as Run does every RenewInterval: a server
// calls it before its start-up work, so that a lone replica leads from its
// first moment (and expires overdue approvals before it serves).
func (e *Elector) TryNow(ctx context.Context) { e.attempt(ctx) }

// attempt asks the store for the lease once and follows its answer.
func (e *Elector) attempt(ctx context.Context) {
	sent := time.Now()
	actx, cancel := context.WithTimeout(ctx, e.cfg.RenewInterval)
	l, err := e.cfg.Store.AcquireLease(actx, e.cfg.Lease, e.cfg.ID, e.cfg.LeaseDuration)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("lease renewal failed", "err", err)
		}
		return // a term in progress ends at its deadline
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if l.Holder != e.holder {
		e.log.Info("leader seen", "leader_id", l.Holder, "token", l.Token)
		e.holder = l.Holder
	}
	if l.Holder != e.cfg.ID {
		e.endLocked("another replica holds the lease")
		return
	}
	now := time.Now()
	deadline := sent.Add(e.fence())
	if !now.Before(deadline) {
		e.log.Warn("lease answer came too late to lead on", "waited_ms", now.Sub(sent).Milliseconds())
		return
	}
	if t := e.term; t != nil && t.token == l.Token {
		t.deadline = deadline
		t.timer.Reset(deadline.Sub(now))
		e.renewed = now
		return
	}
	e.endLocked("the lease changed hands")
	tctx, tcancel := context.WithCancel(context.Background())
	t := &term{token: l.Token, ctx: tctx, cancel: tcancel, deadline: deadline}
	t.timer = time.AfterFunc(deadline.Sub(now), func() { e.expire(t) })
	e.term, e.renewed = t, now
	e.log.Info("leading", "token", l.Token)
}

// expire ends t when its deadline has passed without a renewal.
func (e *Elector) expire(t *term) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term != t || time.Now().Before(t.deadline) {
		return // renewed meanwhile, or already ended
	}
	e.endLocked("the lease was not renewed in time")
}

// endLocked ends the current term, if any, cancelling its leader work.
func (e *Elector) endLocked(why string) {
	t := e.term
	if t == nil {
		return
	}
	t.timer.Stop()
	t.cancel()
	e.term = nil
	e.log.Warn("leadership ended", "token", t.token, "reason", why)
}

// resign ends the term and hands the lease back.
func (e *Elector) resign(ctx context.Context) {
	e.mu.Lock()
	t := e.term
	e.endLocked("stopping")
	e.mu.Unlock()
	if t == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := e.cfg.Store.ReleaseLease(rctx, e.cfg.Lease, e.cfg.ID, t.token); err != nil {
		e.log.Warn("lease release failed; the next leader waits for it to lapse", "err", err)
	}
}

// Do runs f when this replica leads, with a context that also ends when
// the term does (or ctx does), and reports whether it ran f. Leader work
// is every periodic task that must happen once across the replicas; f must
// stop soon after its context ends.
func (e *Elector) Do(ctx context.Context, f func(ctx context.Context)) bool {
	e.mu.Lock()
	t := e.term
	e.mu.Unlock()
	if t == nil || t.ctx.Err() != nil {
		return false
	}
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()
	f(c)
	return true
}

// Leading reports whether this replica leads now, and under which fencing
// token.
func (e *Elector) Leading() (token uint64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == nil {
		return 0, false
	}
	return e.term.token, true
}

// Leader is the ID of the replica the store last named as the lease's
// holder ("" before the first answer, or when the lease was released).
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.holder
}

// LeaseAge is how long ago this replica last confirmed its lease; zero when
// it does not lead. It stays under RenewInterval while renewals succeed, so
// a rising value on the leader means the database is slow or unreachable.
func (e *Elector) LeaseAge() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == nil {
		return 0
	}
	return time.Since(e.renewed)
}

// ID is this replica's ID.
func (e *Elector) ID() string { return e.cfg.ID }
