package runbooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
)

// The decisions on a stored run that the service owns besides its
// request and start: approve, deny, close, expire and recover after a
// crash. Each goes through Service.write: stored, audited, published.

// Persons says which person an identity belongs to (access.people links
// several accounts to one person), so that four-eyes and quorum count
// people, not accounts. *access.Policy implements it; a nil Persons makes
// every identity its own person.
type Persons interface {
	Person(identity string) string
}

// samePerson reports whether identities a and b are one person.
func samePerson(p Persons, a, b string) bool {
	if a == b {
		return true
	}
	return p != nil && p.Person(a) == p.Person(b)
}

// Approve records d's approval of a pending run, checked against
// planHash (the plan as rendered now) and allowSelf, with persons telling
// which accounts are one person. approvedNow is true for exactly one
// caller: the one whose approval reached the quorum, who then starts the
// run. An approval window that passed expires the run and refuses.
func (s *Service) Approve(ctx context.Context, runID string, d Decision, allowSelf bool, planHash string, persons Persons) (run *Run, approvedNow bool, err error) {
	now := s.now()
	if d.At.IsZero() {
		d.At = now
	}
	var refusal error
	run, err = s.write(ctx, runID, d.By, func(r *Run) (audit.Action, map[string]string, error) {
		approvedNow, refusal = false, nil
		if r.State != StatePendingApproval {
			return "", nil, notPending(r)
		}
		if expired(r, now) {
			refusal = expiredError(r)
			a, detail := expire(r, now)
			return a, detail, nil
		}
		if _, ok := s.secretsOf(r); !ok {
			reason := s.markLost(r, now)
			refusal = tebura.Errorf(tebura.ECONFLICT, "This request expired: %s.", reason)
			return audit.ActionRunExpire, map[string]string{"runbook": r.Runbook, "reason": reason}, nil
		}
		if err := approvable(r, d, allowSelf, planHash, persons); err != nil {
			return "", nil, err
		}
		r.Approvals = append(r.Approvals, d)
		if len(r.Approvals) >= max(r.Required, 1) {
			r.State = StateApproved
			approvedNow = true
		}
		return audit.ActionRunApprove, map[string]string{
			"runbook": r.Runbook, "plan_hash": planHash, "approvals": fmt.Sprintf("%d/%d", len(r.Approvals), r.Required)}, nil
	})
	if err != nil {
		if tebura.ErrorCode(err) == tebura.EFORBIDDEN || tebura.ErrorCode(err) == tebura.ECONFLICT {
			s.refused(ctx, runID, d.By)
		}
		return nil, false, err
	}
	if refusal != nil {
		return run, false, refusal
	}
	return run, approvedNow, nil
}

// approvable checks d against a pending run that has not expired. The
// requester and earlier approvers are compared as persons: approving from
// another account of one's own is the same person approving.
func approvable(r *Run, d Decision, allowSelf bool, planHash string, persons Persons) error {
	if samePerson(persons, d.By, r.RequestedBy) && !allowSelf {
		if d.By != r.RequestedBy {
			return tebura.Errorf(tebura.EFORBIDDEN, "You requested this run from another account of yours (%s); this runbook needs someone else to approve it.", r.RequestedBy)
		}
		return tebura.Errorf(tebura.EFORBIDDEN, "You requested this run; this runbook needs someone else to approve it.")
	}
	for _, a := range r.Approvals {
		if a.By == d.By {
			return tebura.Errorf(tebura.ECONFLICT, "You already approved this run; it needs %d more approval(s) from someone else.", r.Required-len(r.Approvals))
		}
		if samePerson(persons, a.By, d.By) {
			return tebura.Errorf(tebura.ECONFLICT, "You already approved this run from another account of yours (%s); it needs %d more approval(s) from someone else.", a.By, r.Required-len(r.Approvals))
		}
	}
	if planHash != r.PlanHash {
		return tebura.Errorf(tebura.ECONFLICT, "The runbook or its parameters changed since the request, so this approval no longer matches the plan. Request the run again.")
	}
	return nil
}

// refused publishes a refused decision on a run that is still pending.
func (s *Service) refused(ctx context.Context, runID, by string) {
	r, err := s.store.GetRun(ctx, runID)
	if err != nil || r.State != StatePendingApproval {
		return
	}
	s.publish(Transition{Run: r, From: r.State, To: r.State, Actor: by, At: s.now(), Refused: true})
}

// Deny records d's denial of a pending run. The requester may deny (that
// is, withdraw) their own request; who else may is the door's check.
func (s *Service) Deny(ctx context.Context, runID string, d Decision) (*Run, error) {
	now := s.now()
	if d.At.IsZero() {
		d.At = now
	}
	var refusal error
	run, err := s.write(ctx, runID, d.By, func(r *Run) (audit.Action, map[string]string, error) {
		refusal = nil
		if r.State != StatePendingApproval {
			return "", nil, notPending(r)
		}
		if expired(r, now) {
			refusal = expiredError(r)
			a, detail := expire(r, now)
			return a, detail, nil
		}
		r.State, r.Denied, r.EndedAt = StateDenied, &d, now
		r.Reason = "denied by " + who(d)
		return audit.ActionRunDeny, map[string]string{"runbook": r.Runbook}, nil
	})
	if err != nil {
		return nil, err
	}
	return run, refusal
}

// Close ends a request still waiting for approval because what it was for
// is over (incident says which incident resolved): it becomes cancelled by
// nobody, with reason as its Reason, and no later click can approve or
// deny it. closed is false when the run was no longer pending.
func (s *Service) Close(ctx context.Context, runID, reason, incident string) (run *Run, closed bool, err error) {
	now := s.now()
	run, err = s.write(ctx, runID, "system", func(r *Run) (audit.Action, map[string]string, error) {
		if r.State != StatePendingApproval {
			return "", nil, errUnchanged
		}
		r.State, r.CancelledBy, r.Reason, r.EndedAt = StateCancelled, "", reason, now
		return audit.ActionRunClose, map[string]string{"runbook": r.Runbook, "incident": incident, "reason": reason}, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return run, true, nil
}

// Expire marks every pending run whose approval window has passed as
// expired, and every one whose secret values are gone (a restart without
// secrets.key: ReasonSecretsLost), and returns them (to redraw their
// cards). The first call after a start-up expires the latter at once.
func (s *Service) Expire(ctx context.Context) ([]*Run, error) {
	pending, err := s.store.ListRuns(ctx, ListOptions{States: []State{StatePendingApproval}})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []*Run
	for _, p := range pending {
		if _, held := s.secretsOf(p); held && !expired(p, now) {
			continue
		}
		r, err := s.write(ctx, p.ID, "system", func(r *Run) (audit.Action, map[string]string, error) {
			if r.State != StatePendingApproval {
				return "", nil, errUnchanged
			}
			if expired(r, now) {
				a, detail := expire(r, now)
				return a, detail, nil
			}
			if _, held := s.secretsOf(r); held {
				return "", nil, errUnchanged
			}
			reason := s.markLost(r, now)
			return audit.ActionRunExpire, map[string]string{"runbook": r.Runbook, "reason": reason}, nil
		})
		if errors.Is(err, errUnchanged) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// markLost expires pending r because its secret values are gone, and
// returns the reason.
func (s *Service) markLost(r *Run, now time.Time) string {
	reason := s.lostReason(r)
	r.State, r.EndedAt, r.Reason = StateExpired, now, reason
	return reason
}

// Recover runs at start-up, before the executor takes work: runs left
// running or queued by a previous process, and runs stored approved that
// never started, become interrupted (a person should decide again), and
// every lock whose run is not active is freed. It returns the
// interrupted runs (to redraw their messages).
func (s *Service) Recover(ctx context.Context) ([]*Run, error) {
	return s.interrupt(ctx, sweepStart)
}

// orphanGrace is how long a run of this replica must have been started
// (or requested, when queued) before InterruptOrphans may take it for
// orphaned: the executor writes a new run's record just before it holds
// the run.
const orphanGrace = 10 * time.Second

// sweep says which runs left executing interrupt marks.
type sweep int

const (
	sweepStart   sweep = iota // at start-up: this replica's and lost replicas'
	sweepLost                 // the leader's round: lost replicas' only
	sweepOrphans              // this replica's that its executor no longer runs
)

// InterruptOrphans marks interrupted this replica's runs that the store
// says are running or queued but its executor no longer holds: their end
// could not be written (the database was unreachable when they were
// stopped, see Executor.Abandon), and no other replica will take them for
// lost while this one's heartbeat is fresh. Every replica calls it every
// few seconds.
func (s *Service) InterruptOrphans(ctx context.Context) ([]*Run, error) {
	if s.alive == nil || s.exec == nil {
		return nil, nil
	}
	return s.interrupt(ctx, sweepOrphans)
}

// InterruptLost marks interrupted, as Recover does, the runs left
// executing by replicas that are gone (their heartbeat lapsed), and
// returns them; the runs of this replica and of live ones stay. Their
// reason names the lost replica. The leader calls it every few seconds;
// it changes nothing when ServiceConfig.Alive is not set (one process).
func (s *Service) InterruptLost(ctx context.Context) ([]*Run, error) {
	if s.alive == nil {
		return nil, nil
	}
	return s.interrupt(ctx, sweepLost)
}

// interrupt marks the runs left executing interrupted (see Recover) that
// the sweep covers: never the runs of other live replicas.
func (s *Service) interrupt(ctx context.Context, which sweep) ([]*Run, error) {
	stale, err := s.store.ListRuns(ctx, ListOptions{States: []State{StateRunning, StateQueued, StateApproved}})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []*Run
	alive := map[string]bool{}
	for _, st := range stale {
		if which == sweepOrphans {
			if st.Replica != s.replica || st.State == StateApproved {
				continue // an approved run is about to be handed to the executor
			}
			if _, held := s.exec.Handle(st.ID); held || now.Sub(cmp.Or(st.StartedAt, st.RequestedAt)) < orphanGrace {
				continue // the executor holds it, or is just taking it (its record is written first)
			}
		}
		if st.Replica != "" && s.alive != nil && which != sweepOrphans {
			if st.Replica == s.replica && which == sweepLost {
				continue
			}
			if st.Replica != s.replica {
				ok, seen := alive[st.Replica]
				if !seen {
					if ok, err = s.alive(ctx, st.Replica); err != nil {
						return out, err
					}
					alive[st.Replica] = ok
				}
				if ok {
					continue
				}
			}
		}
		r, err := s.write(ctx, st.ID, "system", func(r *Run) (audit.Action, map[string]string, error) {
			switch {
			case r.State == StateRunning || r.State == StateQueued:
				r.Reason = fmt.Sprintf("interrupted: tebura stopped while the run was %s", r.State)
				if which == sweepOrphans {
					r.Reason = fmt.Sprintf("interrupted: this replica lost the database while the run was %s", r.State)
				} else if r.Replica != "" && r.Replica != s.replica {
					r.Reason = fmt.Sprintf("interrupted: replica %s was lost while the run was %s", r.Replica, r.State)
				}
			case r.State == StateApproved && r.StartedAt.IsZero():
				r.Reason = neverStarted
			default:
				return "", nil, errUnchanged
			}
			r.State, r.EndedAt, r.ExitCode = StateInterrupted, now, -1
			detail := map[string]string{"runbook": r.Runbook, "reason": r.Reason}
			if r.Replica != "" {
				detail["replica"] = r.Replica
			}
			return audit.ActionRunInterrupt, detail, nil
		})
		if errors.Is(err, errUnchanged) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, freeLocks(ctx, s.store)
}

// freeLocks frees every lock whose run is gone or ended.
func freeLocks(ctx context.Context, st Store) error {
	locks, err := st.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		r, err := st.GetRun(ctx, l.RunID)
		if err != nil && tebura.ErrorCode(err) != tebura.ENOTFOUND {
			return err
		}
		if err != nil || r.State.Final() {
			if err := st.ReleaseLock(ctx, l.Key, l.RunID); err != nil {
				return err
			}
		}
	}
	return nil
}
