package runbooks

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tebura/tebura"
)

// who names a decision's author for messages: "@Name" when the platform
// gave a display name, else the identity.
func who(d Decision) string {
	if d.Name != "" {
		return "@" + strings.TrimPrefix(d.Name, "@")
	}
	return d.By
}

func whoList(ds []Decision) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = who(d)
	}
	return strings.Join(names, " and ")
}

// notPending explains why a run that is no longer pending cannot be
// approved or denied.
func notPending(r *Run) error {
	switch r.State {
	case StateDenied:
		by := "someone"
		if r.Denied != nil {
			by = who(*r.Denied)
		}
		return tebura.Errorf(tebura.ECONFLICT, "Already denied by %s.", by)
	case StateExpired:
		return expiredError(r)
	case StateCancelled:
		if r.Closed() {
			return tebura.Errorf(tebura.ECONFLICT, "Run %s was closed: %s.", r.ID, r.Reason)
		}
		fallthrough
	case StateApproved, StateQueued, StateRunning, StateSucceeded, StateFailed, StateTimedOut, StateInterrupted:
		if len(r.Approvals) > 0 {
			return tebura.Errorf(tebura.ECONFLICT, "Already approved by %s.", whoList(r.Approvals))
		}
		return tebura.Errorf(tebura.ECONFLICT, "Run %s needs no approval; it is %s.", r.ID, r.State)
	default:
		return tebura.Errorf(tebura.ECONFLICT, "Run %s is %s; there is nothing to approve.", r.ID, r.State)
	}
}

func expiredError(r *Run) error {
	return tebura.Errorf(tebura.ECONFLICT, "This request expired at %s; request it again.", r.ExpiresAt.UTC().Format("15:04 UTC"))
}

func expired(r *Run, now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

func markExpired(r *Run, now time.Time) {
	r.State, r.EndedAt = StateExpired, now
	r.Reason = "approval request expired at " + r.ExpiresAt.UTC().Format("15:04 UTC")
}

// Approve records d's approval of a pending run in one UpdateRun
// transaction. planHash is the hash of the plan as rendered now (the
// runbook and values may have changed since the request); it must equal the
// run's. approvedNow is true for exactly one caller: the one whose approval
// reached the quorum, who should then start the run. An approval that does
// not reach the quorum returns the run, false, nil.
func Approve(ctx context.Context, s Store, runID string, d Decision, allowSelf bool, planHash string, now time.Time) (run *Run, approvedNow bool, err error) {
	var refusal error
	run, err = s.UpdateRun(ctx, runID, func(r *Run) error {
		approvedNow, refusal = false, nil
		if r.State != StatePendingApproval {
			return notPending(r)
		}
		if expired(r, now) {
			markExpired(r, now)
			refusal = expiredError(r)
			return nil // store the expiry, refuse after
		}
		if d.By == r.RequestedBy && !allowSelf {
			return tebura.Errorf(tebura.EFORBIDDEN, "You requested this run; this runbook needs someone else to approve it.")
		}
		for _, a := range r.Approvals {
			if a.By == d.By {
				return tebura.Errorf(tebura.ECONFLICT, "You already approved this run; it needs %d more approval(s) from someone else.", r.Required-len(r.Approvals))
			}
		}
		if planHash != r.PlanHash {
			return tebura.Errorf(tebura.ECONFLICT, "The runbook or its parameters changed since the request, so this approval no longer matches the plan. Request the run again.")
		}
		if d.At.IsZero() {
			d.At = now
		}
		r.Approvals = append(r.Approvals, d)
		if len(r.Approvals) >= max(r.Required, 1) {
			r.State = StateApproved
			approvedNow = true
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if refusal != nil {
		return run, false, refusal
	}
	return run, approvedNow, nil
}

// Deny records d's denial of a pending run. The requester may deny (that
// is, withdraw) their own request.
func Deny(ctx context.Context, s Store, runID string, d Decision, now time.Time) (*Run, error) {
	var refusal error
	run, err := s.UpdateRun(ctx, runID, func(r *Run) error {
		refusal = nil
		if r.State != StatePendingApproval {
			return notPending(r)
		}
		if expired(r, now) {
			markExpired(r, now)
			refusal = expiredError(r)
			return nil
		}
		if d.At.IsZero() {
			d.At = now
		}
		r.State, r.Denied, r.EndedAt = StateDenied, &d, now
		r.Reason = "denied by " + who(d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return run, refusal
}

// Close ends a request still waiting for approval because what it was
// for is over (its incident resolved): it becomes cancelled by nobody,
// with reason as its Reason, and no later click can approve or deny it.
// closed is false when the run was no longer pending (decided, expired or
// withdrawn meanwhile); it is then left as it was.
func Close(ctx context.Context, s Store, runID, reason string, now time.Time) (run *Run, closed bool, err error) {
	run, err = s.UpdateRun(ctx, runID, func(r *Run) error {
		closed = r.State == StatePendingApproval
		if closed {
			r.State, r.CancelledBy, r.Reason, r.EndedAt = StateCancelled, "", reason, now
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return run, closed, nil
}

// ExpirePending marks every pending run whose approval window has passed
// as expired, and returns them (to update their cards).
func ExpirePending(ctx context.Context, s Store, now time.Time) ([]*Run, error) {
	pending, err := s.ListRuns(ctx, ListOptions{States: []State{StatePendingApproval}})
	if err != nil {
		return nil, err
	}
	var out []*Run
	for _, p := range pending {
		if !expired(p, now) {
			continue
		}
		changed := false
		r, err := s.UpdateRun(ctx, p.ID, func(r *Run) error {
			changed = false
			if r.State == StatePendingApproval && expired(r, now) {
				markExpired(r, now)
				changed = true
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		if changed {
			out = append(out, r)
		}
	}
	return out, nil
}

// neverStarted is the reason of an approved run that a previous process
// stored but never handed to the executor.
const neverStarted = "approved, but the bot stopped before it started; request it again"

// Recover runs at start-up, before the executor takes work: runs left
// running or queued by a previous process become interrupted and their
// locks are freed, as is any lock whose run is no longer active. So do
// runs stored approved that never started (the process died, or the disk
// filled, between the approval and the executor): they are not started
// now, because the situation that justified them may have changed, and a
// person should decide again. It returns the interrupted runs (to update
// their messages).
func Recover(ctx context.Context, s Store, now time.Time) ([]*Run, error) {
	stale, err := s.ListRuns(ctx, ListOptions{States: []State{StateRunning, StateQueued, StateApproved}})
	if err != nil {
		return nil, err
	}
	var out []*Run
	for _, st := range stale {
		changed := false
		r, err := s.UpdateRun(ctx, st.ID, func(r *Run) error {
			changed = false
			switch {
			case r.State == StateRunning || r.State == StateQueued:
				r.Reason = fmt.Sprintf("interrupted: tebura stopped while the run was %s", r.State)
			case r.State == StateApproved && r.StartedAt.IsZero():
				r.Reason = neverStarted
			default:
				return nil
			}
			r.State, r.EndedAt, r.ExitCode = StateInterrupted, now, -1
			changed = true
			return nil
		})
		if err != nil {
			return out, err
		}
		if r.LockKey != "" {
			if err := s.ReleaseLock(ctx, r.LockKey, r.ID); err != nil {
				return out, err
			}
		}
		if changed {
			out = append(out, r)
		}
	}
	locks, err := s.Locks(ctx)
	if err != nil {
		return out, err
	}
	for _, l := range locks {
		r, err := s.GetRun(ctx, l.RunID)
		if err != nil && tebura.ErrorCode(err) != tebura.ENOTFOUND {
			return out, err
		}
		if err != nil || r.State.Final() {
			if err := s.ReleaseLock(ctx, l.Key, l.RunID); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// ReadLog opens a run's log file (already masked and capped).
func ReadLog(dataDir string, run *Run) (io.ReadCloser, error) {
	if run.LogPath == "" {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "Run %s has no log; it never started.", run.ID)
	}
	rel := filepath.Clean(run.LogPath)
	if filepath.IsAbs(rel) || !strings.HasPrefix(rel, "logs"+string(filepath.Separator)) {
		return nil, tebura.Errorf(tebura.EINTERNAL, "Run %s has a log path outside the logs directory.", run.ID)
	}
	f, err := os.Open(filepath.Join(dataDir, rel))
	if os.IsNotExist(err) {
		return nil, tebura.Wrap(tebura.ENOTFOUND, err, fmt.Sprintf("The log of run %s is gone from the data directory.", run.ID))
	}
	if err != nil {
		return nil, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	return f, nil
}
