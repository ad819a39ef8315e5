package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

var (
	_ runbooks.Store         = (*Store)(nil)
	_ runbooks.StartingStore = (*Store)(nil)
)

// runID formats a run sequence number as a run ID.
func runID(seq int64) string { return "r" + strconv.FormatInt(seq, 10) }

// parseRunID returns the sequence number of "r42"; ok is false for anything
// that is not a run ID.
func parseRunID(id string) (int64, bool) {
	rest, ok := strings.CutPrefix(id, "r")
	if !ok || rest == "" || rest[0] == '0' || rest[0] == '+' || rest[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil && n > 0
}

// notFoundRun is the error for a run that does not exist.
func notFoundRun(id string) error {
	return tebura.Errorf(tebura.ENOTFOUND, "There is no run %q; `/runbook status` lists the recent runs.", id)
}

// CreateRun assigns run.ID ("r" + the next number) and stores it.
func (s *Store) CreateRun(ctx context.Context, run *runbooks.Run) error {
	return s.CreateRunAudited(ctx, run, nil)
}

// CreateRunAudited implements runbooks.AuditedStore: the run and the audit
// entries that record its request are one transaction. entries gets the
// run with its ID and the chain's last entry; nil entries stores the run
// alone.
func (s *Store) CreateRunAudited(ctx context.Context, run *runbooks.Run, entries runbooks.AuditEntries) error {
	if run == nil {
		return tebura.Errorf(tebura.EINTERNAL, "CreateRun needs a run.")
	}
	var id string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.createRun(ctx, tx, run, nil, false, entries)
		if err == nil {
			id = r.ID
		}
		return err
	})
	if err != nil {
		run.ID = ""
		return storageError(err, "create run")
	}
	run.ID = id
	return nil
}

// CreateRunStarted implements runbooks.StartingStore: the run, its lock
// and the audit entries of its request and start are one transaction. A
// lock another run holds stores nothing and returns a *runbooks.LockedError
// naming the holder. On success run is as stored.
func (s *Store) CreateRunStarted(ctx context.Context, run *runbooks.Run, fn func(*runbooks.Run) error, entries runbooks.AuditEntries) error {
	if run == nil || fn == nil {
		return tebura.Errorf(tebura.EINTERNAL, "CreateRunStarted needs a run and what starts it.")
	}
	var stored *runbooks.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.createRun(ctx, tx, run, fn, true, entries)
		stored = r
		return err
	})
	if err != nil {
		return storageError(err, "create started run") // a *LockedError passes unchanged
	}
	*run = *stored
	return nil
}

// createRun stores a copy of run under the next number in tx: fn (when
// set) changes it once it has its ID, its lock is taken when lock is set
// and it has one, and entries are appended. It returns the run as stored.
func (s *Store) createRun(ctx context.Context, tx pgx.Tx, run *runbooks.Run, fn func(*runbooks.Run) error, lock bool, entries runbooks.AuditEntries) (*runbooks.Run, error) {
	seq, err := nextCounter(ctx, tx, "runs")
	if err != nil {
		return nil, err
	}
	r := *run
	r.ID = runID(seq)
	if fn != nil {
		if err := fn(&r); err != nil {
			return nil, err
		}
		r.ID = runID(seq)
	}
	if lock && r.LockKey != "" {
		l := runbooks.Lock{Key: r.LockKey, RunID: r.ID, Holder: r.RequestedBy, Since: r.StartedAt}
		if held, err := acquireLock(ctx, tx, l); err != nil {
			if tebura.ErrorCode(err) == tebura.ECONFLICT {
				return nil, &runbooks.LockedError{Lock: held}
			}
			return nil, err
		}
	}
	v, err := marshal(&r)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO runs (seq, state, final, data) VALUES ($1, $2, $3, $4)",
		seq, string(r.State), r.State.Final(), v); err != nil {
		return nil, err
	}
	if err := appendEntries(ctx, tx, &r, entries); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRun returns the run with id or a tebura ENOTFOUND error.
func (s *Store) GetRun(ctx context.Context, id string) (*runbooks.Run, error) {
	seq, ok := parseRunID(id)
	if !ok {
		return nil, notFoundRun(id)
	}
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT data FROM runs WHERE seq = $1", seq).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFoundRun(id)
	}
	if err != nil {
		return nil, storageError(err, "get run "+id)
	}
	run := new(runbooks.Run)
	if err := unmarshal(v, run); err != nil {
		return nil, storageError(err, "get run "+id)
	}
	return run, nil
}

// UpdateRun reads the run, calls fn on it and stores the result in one
// transaction that holds the run's row lock, so concurrent updates of a
// run, from any replica, are serialized: fn always sees the latest stored
// state. If fn returns an error nothing is written and that error is
// returned unchanged. fn must only compute; it cannot change the ID.
func (s *Store) UpdateRun(ctx context.Context, id string, fn func(*runbooks.Run) error) (*runbooks.Run, error) {
	return s.UpdateRunAudited(ctx, id, fn, nil)
}

// UpdateRunAudited implements runbooks.AuditedStore: UpdateRun, with the
// audit entries that record the change written in the same transaction.
func (s *Store) UpdateRunAudited(ctx context.Context, id string, fn func(*runbooks.Run) error, entries runbooks.AuditEntries) (*runbooks.Run, error) {
	seq, ok := parseRunID(id)
	if !ok {
		return nil, notFoundRun(id)
	}
	var run *runbooks.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var v []byte
		err := tx.QueryRow(ctx, "SELECT data FROM runs WHERE seq = $1 FOR UPDATE", seq).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundRun(id)
		}
		if err != nil {
			return err
		}
		r := new(runbooks.Run)
		if err := unmarshal(v, r); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		r.ID = id
		nv, err := marshal(r)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE runs SET state = $2, final = $3, data = $4 WHERE seq = $1",
			seq, string(r.State), r.State.Final(), nv); err != nil {
			return err
		}
		if err := appendEntries(ctx, tx, r, entries); err != nil {
			return err
		}
		run = r
		return nil
	})
	if err != nil {
		return nil, storageError(err, "update run "+id)
	}
	return run, nil
}

// ListRuns returns runs newest first, keeping only opt.States when given and
// at most opt.Limit runs when it is positive. Asked only for states that
// are not final, it reads the partial index of active runs.
func (s *Store) ListRuns(ctx context.Context, opt runbooks.ListOptions) ([]*runbooks.Run, error) {
	q := "SELECT data FROM runs"
	var args []any
	if len(opt.States) > 0 {
		states := make([]string, len(opt.States))
		for i, st := range opt.States {
			states[i] = string(st)
		}
		args = append(args, states)
		q += " WHERE state = ANY($1)"
		if activeOnly(opt.States) {
			q += " AND NOT final"
		}
	}
	q += " ORDER BY seq DESC"
	if opt.Limit > 0 {
		args = append(args, opt.Limit)
		q += " LIMIT $" + strconv.Itoa(len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, storageError(err, "list runs")
	}
	var runs []*runbooks.Run
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, storageError(err, "list runs")
		}
		r := new(runbooks.Run)
		if err := unmarshal(v, r); err != nil {
			rows.Close()
			return nil, storageError(err, "list runs")
		}
		runs = append(runs, r)
	}
	return runs, storageError(rows.Err(), "list runs")
}

// activeOnly reports whether states is a non-empty list of states that are
// not final, which the index of active runs answers.
func activeOnly(states []runbooks.State) bool {
	for _, st := range states {
		if st.Final() {
			return false
		}
	}
	return len(states) > 0
}

// AcquireLock takes lock.Key for lock.RunID atomically, across replicas:
// the lock's primary key decides. Since defaults to the store's clock. If
// another run holds the key it returns that holder and a tebura ECONFLICT
// error; if the same run holds it, it returns the held lock and no error.
func (s *Store) AcquireLock(ctx context.Context, lock runbooks.Lock) (runbooks.Lock, error) {
	if lock.Key == "" || lock.RunID == "" {
		return runbooks.Lock{}, tebura.Errorf(tebura.EINTERNAL, "A lock needs a key and a run ID.")
	}
	if lock.Since.IsZero() {
		lock.Since = s.clock()
	}
	var got runbooks.Lock
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		got, err = acquireLock(ctx, tx, lock)
		return err
	})
	if err != nil {
		if tebura.ErrorCode(err) == tebura.ECONFLICT {
			return got, err
		}
		return runbooks.Lock{}, storageError(err, "acquire lock "+lock.Key)
	}
	return got, nil
}

// acquireLock takes lock in tx: see AcquireLock. Since must be set. The
// insert waits for a transaction that is taking the same key; when the
// key is taken it reads the holder, and when the holder released it in
// between it tries again.
func acquireLock(ctx context.Context, tx pgx.Tx, lock runbooks.Lock) (runbooks.Lock, error) {
	lock.Since = lock.Since.UTC().Round(0)
	v, err := marshal(&lock)
	if err != nil {
		return runbooks.Lock{}, err
	}
	for {
		tag, err := tx.Exec(ctx, "INSERT INTO locks (key, run_id, data) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING", lock.Key, lock.RunID, v)
		if err != nil {
			return runbooks.Lock{}, err
		}
		if tag.RowsAffected() == 1 {
			return lock, nil
		}
		var held []byte
		err = tx.QueryRow(ctx, "SELECT data FROM locks WHERE key = $1", lock.Key).Scan(&held)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // released since the insert
		}
		if err != nil {
			return runbooks.Lock{}, err
		}
		var got runbooks.Lock
		if err := unmarshal(held, &got); err != nil {
			return runbooks.Lock{}, err
		}
		if got.RunID == lock.RunID {
			return got, nil
		}
		return got, tebura.Errorf(tebura.ECONFLICT, "The lock %s is held by run %s (requested by %s) since %s; wait for it to end or cancel it.",
			got.Key, got.RunID, got.Holder, got.Since.Format(time.RFC3339))
	}
}

// ReleaseLock frees key if runID holds it. Releasing a free key, or a key
// held by another run, changes nothing and is no error.
func (s *Store) ReleaseLock(ctx context.Context, key, runID string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM locks WHERE key = $1 AND run_id = $2", key, runID)
	return storageError(err, "release lock "+key)
}

// Locks lists the held locks, sorted by key.
func (s *Store) Locks(ctx context.Context) ([]runbooks.Lock, error) {
	rows, err := s.pool.Query(ctx, "SELECT data FROM locks ORDER BY key COLLATE \"C\"")
	if err != nil {
		return nil, storageError(err, "list locks")
	}
	var locks []runbooks.Lock
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, storageError(err, "list locks")
		}
		var l runbooks.Lock
		if err := unmarshal(v, &l); err != nil {
			rows.Close()
			return nil, storageError(err, "list locks")
		}
		locks = append(locks, l)
	}
	return locks, storageError(rows.Err(), "list locks")
}
