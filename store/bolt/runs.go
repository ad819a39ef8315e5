package bolt

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

var _ runbooks.Store = (*Store)(nil)

// runID formats a run sequence number as a run ID.
func runID(seq uint64) string { return "r" + strconv.FormatUint(seq, 10) }

// parseRunID returns the sequence number of "r42"; ok is false for anything
// that is not a run ID.
func parseRunID(id string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, "r")
	if !ok || rest == "" || rest[0] == '0' || rest[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// notFoundRun is the error for a run that does not exist.
func notFoundRun(id string) error {
	return tebura.Errorf(tebura.ENOTFOUND, "There is no run %q; `/runbook status` lists the recent runs.", id)
}

// CreateRun assigns run.ID ("r" + the next sequence number) and stores it.
func (s *Store) CreateRun(ctx context.Context, run *runbooks.Run) error {
	return s.CreateRunAudited(ctx, run, nil)
}

// CreateRunAudited implements runbooks.AuditedStore: the run and the audit
// entries that record its request are written in one transaction, so one
// fsync makes both durable and neither exists without the other. entries
// gets the run with its ID and the chain's last entry; nil entries stores
// the run alone.
func (s *Store) CreateRunAudited(ctx context.Context, run *runbooks.Run, entries runbooks.AuditEntries) error {
	if run == nil {
		return tebura.Errorf(tebura.EINTERNAL, "CreateRun needs a run.")
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		r, err := createRun(tx, run, nil, false, entries)
		if err == nil {
			run.ID = r.ID // only once the transaction's work succeeded
		}
		return err
	})
	if err != nil {
		run.ID = ""
	}
	return storageError(err, "create run")
}

// CreateRunStarted implements runbooks.StartingStore: a run that starts as
// it is created (fn marks it running once it has its ID), its lock and the
// audit entries of its request and start are one transaction, so a quick
// run's request and start cost one fsync, and it is never stored running
// without its lock or its entries. A lock another run holds stores nothing
// and returns a *runbooks.LockedError naming the holder. On success run is
// as stored.
func (s *Store) CreateRunStarted(ctx context.Context, run *runbooks.Run, fn func(*runbooks.Run) error, entries runbooks.AuditEntries) error {
	if run == nil || fn == nil {
		return tebura.Errorf(tebura.EINTERNAL, "CreateRunStarted needs a run and what starts it.")
	}
	var stored *runbooks.Run
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		r, err := createRun(tx, run, fn, true, entries)
		stored = r
		return err
	})
	if err != nil {
		return storageError(err, "create started run") // a *LockedError passes unchanged
	}
	*run = *stored
	return nil
}

// createRun stores a copy of run under the next ID in tx: fn (when set)
// changes it once it has its ID, its lock is taken when lock is set and it
// has one, and entries are appended. It returns the run as stored.
func createRun(tx *bbolt.Tx, run *runbooks.Run, fn func(*runbooks.Run) error, lock bool, entries runbooks.AuditEntries) (*runbooks.Run, error) {
	b := tx.Bucket([]byte(bucketRuns))
	seq, err := b.NextSequence()
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
		if held, err := acquireLock(tx, l); err != nil {
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
	if err := b.Put(seqKey(seq), v); err != nil {
		return nil, err
	}
	if err := indexRun(tx, seq, r.State); err != nil {
		return nil, err
	}
	if err := appendEntries(tx, &r, entries); err != nil {
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
	var run *runbooks.Run
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketRuns)).Get(seqKey(seq))
		if v == nil {
			return notFoundRun(id)
		}
		run = new(runbooks.Run)
		return unmarshal(v, run)
	})
	if err != nil {
		return nil, storageError(err, "get run "+id)
	}
	return run, nil
}

// UpdateRun reads the run, calls fn on it and stores the result in one write
// transaction, so concurrent updates of a run are serialized: fn always sees
// the latest stored state. If fn returns an error nothing is written and that
// error is returned unchanged. fn must not do I/O or call the store; it runs
// while the database's single writer lock is held. fn cannot change the ID.
func (s *Store) UpdateRun(ctx context.Context, id string, fn func(*runbooks.Run) error) (*runbooks.Run, error) {
	return s.UpdateRunAudited(ctx, id, fn, nil)
}

// UpdateRunAudited implements runbooks.AuditedStore: UpdateRun, with the
// audit entries that record the change (entries gets the changed run and
// the chain's last entry) written in the same transaction, so one fsync
// makes both durable and neither exists without the other.
func (s *Store) UpdateRunAudited(ctx context.Context, id string, fn func(*runbooks.Run) error, entries runbooks.AuditEntries) (*runbooks.Run, error) {
	seq, ok := parseRunID(id)
	if !ok {
		return nil, notFoundRun(id)
	}
	var run *runbooks.Run
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketRuns))
		key := seqKey(seq)
		v := b.Get(key)
		if v == nil {
			return notFoundRun(id)
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
		if err := b.Put(key, nv); err != nil {
			return err
		}
		if err := indexRun(tx, seq, r.State); err != nil {
			return err
		}
		if err := appendEntries(tx, r, entries); err != nil {
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

// appendEntries appends the entries that record a change of run, in the
// caller's transaction; nil entries appends nothing.
func appendEntries(tx *bbolt.Tx, run *runbooks.Run, entries runbooks.AuditEntries) error {
	if entries == nil {
		return nil
	}
	last, err := lastAudit(tx)
	if err != nil {
		return err
	}
	es, err := entries(run, last)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := putAudit(tx, last, e); err != nil {
			return err
		}
		last = &e
	}
	return nil
}

// ListRuns returns runs newest first, keeping only opt.States when given and
// at most opt.Limit runs when it is positive. Asked only for states that are
// not final (what recovery at start-up and the expiry of approvals ask),
// it reads the index of active runs: the cost is the number of active runs,
// not the length of the history.
func (s *Store) ListRuns(ctx context.Context, opt runbooks.ListOptions) ([]*runbooks.Run, error) {
	var runs []*runbooks.Run
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketRuns))
		keys, indexed := b.Cursor(), activeOnly(opt.States)
		if indexed {
			keys = tx.Bucket([]byte(bucketActive)).Cursor()
		}
		for k, v := keys.Last(); k != nil; k, v = keys.Prev() {
			if opt.Limit > 0 && len(runs) >= opt.Limit {
				return nil
			}
			if indexed {
				if v = b.Get(k); v == nil {
					continue
				}
			}
			r := new(runbooks.Run)
			if err := unmarshal(v, r); err != nil {
				return err
			}
			if len(opt.States) > 0 && !slices.Contains(opt.States, r.State) {
				continue
			}
			runs = append(runs, r)
		}
		return nil
	})
	if err != nil {
		return nil, storageError(err, "list runs")
	}
	return runs, nil
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

// indexRun keeps run seq in the index of active runs while its state is
// not final, and records that the index has seen the runs up to the runs
// bucket's sequence.
func indexRun(tx *bbolt.Tx, seq uint64, state runbooks.State) error {
	idx := tx.Bucket([]byte(bucketActive))
	if state.Final() {
		if err := idx.Delete(seqKey(seq)); err != nil {
			return err
		}
	} else if err := idx.Put(seqKey(seq), nil); err != nil {
		return err
	}
	return idx.SetSequence(tx.Bucket([]byte(bucketRuns)).Sequence())
}

// activeIndexCurrent reports whether the index of active runs has seen
// every run created: false on a database written by a release that did not
// keep it (it then holds runs the index misses). A run such a release only
// ended stays in the index until a rebuild, which is harmless: ListRuns
// checks each run's state.
func activeIndexCurrent(tx *bbolt.Tx) bool {
	return tx.Bucket([]byte(bucketActive)).Sequence() == tx.Bucket([]byte(bucketRuns)).Sequence()
}

// rebuildActiveIndex builds the index of active runs from every run: once,
// on the first open of a database the index is behind.
func rebuildActiveIndex(tx *bbolt.Tx) error {
	if err := tx.DeleteBucket([]byte(bucketActive)); err != nil {
		return err
	}
	idx, err := tx.CreateBucket([]byte(bucketActive))
	if err != nil {
		return err
	}
	runs := tx.Bucket([]byte(bucketRuns))
	err = runs.ForEach(func(k, v []byte) error {
		var r struct {
			State runbooks.State `json:"state"`
		}
		if err := unmarshal(v, &r); err != nil {
			return err
		}
		if r.State.Final() {
			return nil
		}
		return idx.Put(k, nil)
	})
	if err != nil {
		return fmt.Errorf("index active runs: %w", err)
	}
	return idx.SetSequence(runs.Sequence())
}

// AcquireLock takes lock.Key for lock.RunID atomically. Since defaults to
// the store's clock. If another run holds the key it returns that holder and
// a tebura ECONFLICT error; if the same run holds it, it returns the held
// lock and no error.
func (s *Store) AcquireLock(ctx context.Context, lock runbooks.Lock) (runbooks.Lock, error) {
	if lock.Key == "" || lock.RunID == "" {
		return runbooks.Lock{}, tebura.Errorf(tebura.EINTERNAL, "A lock needs a key and a run ID.")
	}
	if lock.Since.IsZero() {
		lock.Since = s.clock()
	}
	var got runbooks.Lock
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		got, err = acquireLock(tx, lock)
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

// acquireLock takes lock in tx: see AcquireLock. Since must be set.
func acquireLock(tx *bbolt.Tx, lock runbooks.Lock) (runbooks.Lock, error) {
	lock.Since = lock.Since.UTC().Round(0)
	b := tx.Bucket([]byte(bucketLocks))
	if v := b.Get([]byte(lock.Key)); v != nil {
		var got runbooks.Lock
		if err := unmarshal(v, &got); err != nil {
			return runbooks.Lock{}, err
		}
		if got.RunID == lock.RunID {
			return got, nil
		}
		return got, tebura.Errorf(tebura.ECONFLICT, "The lock %s is held by run %s (requested by %s) since %s; wait for it to end or cancel it.",
			got.Key, got.RunID, got.Holder, got.Since.Format(time.RFC3339))
	}
	v, err := marshal(&lock)
	if err != nil {
		return runbooks.Lock{}, err
	}
	return lock, b.Put([]byte(lock.Key), v)
}

// ReleaseLock frees key if runID holds it. Releasing a free key, or a key
// held by another run, changes nothing and is no error.
func (s *Store) ReleaseLock(ctx context.Context, key, runID string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketLocks))
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		var l runbooks.Lock
		if err := unmarshal(v, &l); err != nil {
			return err
		}
		if l.RunID != runID {
			return nil
		}
		return b.Delete([]byte(key))
	})
	return storageError(err, "release lock "+key)
}

// Locks lists the held locks, sorted by key.
func (s *Store) Locks(ctx context.Context) ([]runbooks.Lock, error) {
	var locks []runbooks.Lock
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketLocks)).ForEach(func(_, v []byte) error {
			var l runbooks.Lock
			if err := unmarshal(v, &l); err != nil {
				return err
			}
			locks = append(locks, l)
			return nil
		})
	})
	if err != nil {
		return nil, storageError(err, "list locks")
	}
	return locks, nil
}
