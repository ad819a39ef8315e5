package runbooks

import (
	"context"
	"time"
)

// State is where a run is in its life. Final states never change again.
type State string

// Run states.
const (
	StatePendingApproval State = "pending_approval"
	StateApproved        State = "approved"
	StateQueued          State = "queued"
	StateRunning         State = "running"
	StateSucceeded       State = "succeeded"
	StateFailed          State = "failed"
	StateTimedOut        State = "timed_out"
	StateCancelled       State = "cancelled"
	StateDenied          State = "denied"
	StateExpired         State = "expired"
	StateInterrupted     State = "interrupted"
)

// Final reports whether s is a terminal state.
func (s State) Final() bool {
	switch s {
	case StateSucceeded, StateFailed, StateTimedOut, StateCancelled, StateDenied, StateExpired, StateInterrupted:
		return true
	}
	return false
}

// Decision is one approval or denial.
type Decision struct {
	By   string    `json:"by"` // identity, e.g. "slack:U123"
	Name string    `json:"name,omitempty"`
	At   time.Time `json:"at"`
}

// Origin is where a run was requested and where its live message lives, so
// the message can be updated after a restart. It mirrors bot.MessageRef as
// plain data; runbooks does not import bot.
type Origin struct {
	Platform string `json:"platform,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Thread   string `json:"thread,omitempty"`
	Message  string `json:"message,omitempty"` // the approval card / stream message ID
	Incident string `json:"incident,omitempty"`
}

// Run is one request to run a runbook, from request to final state. It is
// stored as JSON with a version field by the store.
type Run struct {
	ID      string `json:"id"` // assigned by Store.CreateRun: "r" + sequence, e.g. "r42"
	Runbook string `json:"runbook"`
	Kind    Kind   `json:"kind"`
	// Params are the validated values, as strings, including defaults,
	// except the values of secret params, which are never stored in clear:
	// a secret param with a value is named in Secret and left out here.
	Params map[string]string `json:"params"`
	// Secret names the params whose values must be masked everywhere.
	Secret []string `json:"secret,omitempty"`
	// Sealed holds the secret params' values of a run waiting for
	// approval, sealed with the key of secrets.key (see Sealer), so that
	// an approval after a restart can start it. It is empty without a key
	// and wiped when the run leaves pending_approval.
	Sealed   []byte `json:"sealed,omitempty"`
	PlanHash string `json:"plan_hash"`
	// PlanCheck is the plan's Check (plan_check runbooks: the masked
	// --check --diff output made with the request), kept so that an
	// approval card redrawn later still shows what approvers read.
	PlanCheck string `json:"plan_check,omitempty"`
	LockKey   string `json:"lock_key,omitempty"`

	RequestedBy   string    `json:"requested_by"`
	RequestedName string    `json:"requested_name,omitempty"`
	RequestedAt   time.Time `json:"requested_at"`

	// Approval bookkeeping: Required approvals from distinct people, by
	// ExpiresAt (zero when no approval is needed).
	Required  int        `json:"required,omitempty"`
	Approvals []Decision `json:"approvals,omitempty"`
	Denied    *Decision  `json:"denied,omitempty"`
	ExpiresAt time.Time  `json:"expires_at,omitempty"`

	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"` // why it ended: "timeout after 5m", "cancelled by @bob"
	// CancelledBy is who cancelled the run; empty for a request Close
	// ended because what it was for is over (see Closed).
	CancelledBy string    `json:"cancelled_by,omitempty"`
	ExitCode    int       `json:"exit_code"`
	StartedAt   time.Time `json:"started_at,omitempty"`
	EndedAt     time.Time `json:"ended_at,omitempty"`

	// LogPath is the full (capped, redacted) log file, relative to the data dir.
	LogPath   string `json:"log_path,omitempty"`
	LogBytes  int64  `json:"log_bytes,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`

	Origin Origin `json:"origin,omitempty"`
	// Replica names the replica that executes the run (replica.id): the
	// one where it was approved or, without approval, requested. When
	// that replica is lost the leader marks the run interrupted (see
	// Service.InterruptLost). Empty for runs of a release before replicas.
	Replica string `json:"replica,omitempty"`

	// Answers are the answers to the run's manual steps, one per step, in
	// the order they were given.
	Answers []StepAnswer `json:"answers,omitempty"`
}

// Closed reports whether r is a request that Close ended unapproved
// because what it was for is over: cancelled before it started, by nobody.
func (r *Run) Closed() bool {
	return r.State == StateCancelled && r.CancelledBy == "" && r.StartedAt.IsZero() && r.Reason != ""
}

// ListOptions filters ListRuns. Runs come newest first.
type ListOptions struct {
	Limit  int
	States []State
}

// Lock is a held named lock.
type Lock struct {
	Key    string    `json:"key"`
	RunID  string    `json:"run_id"`
	Holder string    `json:"holder"` // identity that requested the holding run
	Since  time.Time `json:"since"`
}

// Store is what the runbook engine needs from storage. Implementations live
// in store/* and pass store/storetest.
type Store interface {
	// CreateRun assigns run.ID from a monotonic sequence and stores it.
	CreateRun(ctx context.Context, run *Run) error
	// GetRun returns the run or a tebura ENOTFOUND error.
	GetRun(ctx context.Context, id string) (*Run, error)
	// UpdateRun reads the run, calls fn on a copy and stores the result, all
	// in one transaction: concurrent updates of the same run are serialized,
	// which is what makes approvals and state changes race-free. If fn returns
	// an error nothing is written and the error is returned.
	UpdateRun(ctx context.Context, id string, fn func(*Run) error) (*Run, error)
	// ListRuns returns runs newest first.
	ListRuns(ctx context.Context, opt ListOptions) ([]*Run, error)

	// AcquireLock takes key for lock.RunID, atomically. If the key is held by
	// another run it returns the current holder and a tebura ECONFLICT error.
	AcquireLock(ctx context.Context, lock Lock) (Lock, error)
	// ReleaseLock frees key if runID holds it; releasing a free key is no error.
	ReleaseLock(ctx context.Context, key, runID string) error
	// Locks lists the held locks.
	Locks(ctx context.Context) ([]Lock, error)
}
