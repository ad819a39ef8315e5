package runbooks

import (
	"fmt"
	"github.com/tebura/tebura/audit"
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

// expire ends the pending request r as expired and returns what the audit
// records of it: every decision that finds a request past its time ends
// it so, whoever clicked.
func expire(r *Run, now time.Time) (audit.Action, map[string]string) {
	r.State, r.EndedAt = StateExpired, now
	r.Reason = "approval request expired at " + r.ExpiresAt.UTC().Format("15:04 UTC")
	return audit.ActionRunExpire, map[string]string{"runbook": r.Runbook}
}

// neverStarted is the reason of an approved run that a previous process
// stored but never handed to the executor.
const neverStarted = "approved, but the bot stopped before it started; request it again"

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
		return nil, tebura.Wrap(tebura.ENOTFOUND, err, fmt.Sprintf("The log of run %s is gone from the data directory (runbooks.log_retention and runbooks.log_total_bytes prune old logs).", run.ID))
	}
	if err != nil {
		return nil, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	return f, nil
}
