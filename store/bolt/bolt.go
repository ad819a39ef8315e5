// Package bolt stores Tebura's state in one bbolt file under the data dir:
// runs, locks, button callbacks, dedupe keys, the audit chain, small metadata
// and (in incidents*.go) incidents, alerts and their timeline. It implements
// runbooks.Store, audit.Store, bot.Deduper and incident.Store, and passes
// store/storetest.
//
// The habits it keeps (STYLE.md, habit 12): the file is opened with a timeout
// so a second tebura on the same data dir fails fast; every bucket is created
// at Open from the one list in allBuckets; keys whose order matters are
// big-endian sequence numbers; values are JSON objects carrying a "v"
// version field; bytes never leave a transaction without being copied
// (decoding copies); and no transaction is held across I/O: callbacks that
// run inside a transaction (UpdateRun, AppendAudit) must only compute.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/store/record"
)

// DefaultTimeout is how long Open waits for the file lock held by another
// process before giving up.
const DefaultTimeout = time.Second

// Bucket names. Every bucket is listed in allBuckets and created at Open.
const (
	bucketRuns      = "runs"      // be64(seq) → run; the bucket's sequence numbers runs
	bucketLocks     = "locks"     // lock key → Lock
	bucketAudit     = "audit"     // be64(seq) → audit.Entry
	bucketCallbacks = "callbacks" // callback ID → bot.Callback
	bucketDedupe    = "dedupe"    // scope NUL key → expiry
	bucketMeta      = "meta"      // key → caller's bytes (not versioned: callers own the format)
	bucketOutbox    = "outbox"    // platform NUL delivery ID → bot.Delivery (chat messages not delivered yet)
	bucketLeases    = "leases"    // lease name → leaseRecord (lease.go)
	bucketLogs      = "run_logs"  // run ID NUL be64(seq) → logChunk (logs.go)
	// bucketActive indexes the runs that are not final: be64(seq) → empty.
	// Its sequence is the runs bucket's sequence it has seen, so that runs
	// created by a release that did not keep it are noticed at Open (runs.go).
	bucketActive = "runs_active"

	// Incident buckets, used by incidents*.go (the incident engineer's files).
	bucketIncidents    = "incidents"     // incident records
	bucketIncidentKeys = "incident_keys" // open-incident index by group key
	bucketAlerts       = "alerts"        // alerts by fingerprint
	bucketTimeline     = "timeline"      // timeline entries, ordered
	bucketIncidentSeq  = "incident_seq"  // incident numbering
	// bucketWebSessions holds the web view's sessions and one-time sign-in
	// links (web_sessions.go): key → expiry and the caller's bytes.
	bucketWebSessions = "web_sessions"

	// Change buckets (changes.go): the changes to services that the
	// incident card lists as hints.
	bucketChanges   = "changes"    // be64(at unix ns) NUL change ID → hints.Change
	bucketChangeIDs = "change_ids" // change ID → its key in bucketChanges
)

// allBuckets is the one list of buckets; Open creates them all.
func allBuckets() []string {
	return []string{
		bucketRuns, bucketLocks, bucketAudit, bucketCallbacks, bucketDedupe, bucketMeta, bucketActive, bucketOutbox, bucketLeases, bucketLogs,
		bucketIncidents, bucketIncidentKeys, bucketAlerts, bucketTimeline, bucketIncidentSeq,
		bucketWebSessions,
		bucketChanges, bucketChangeIDs,
	}
}

// Options tune Open.
type Options struct {
	// Timeout is how long to wait for another process's lock on the file;
	// zero means DefaultTimeout.
	Timeout time.Duration
	// Clock returns the current time, for lock timestamps and dedupe expiry;
	// nil means time.Now.
	Clock func() time.Time
	// ReadOnly opens the file for reading only (a shared lock, no
	// buckets created): for a backup taken while no server runs.
	ReadOnly bool
}

// Store is the bbolt-backed store. It is safe for concurrent use; bbolt
// serializes writers and lets readers run alongside.
type Store struct {
	db    *bbolt.DB
	path  string
	clock func() time.Time
	// incidentBatch groups concurrent UpdateIncidents into one commit
	// (batch.go); its zero value is ready.
	incidentBatch batcher
	// leases are the leases as this process knows them (lease.go): a
	// renewal by the holder changes only this, so a held lease costs no
	// disk commit a second.
	leaseMu sync.Mutex
	leases  map[string]leaseRecord
}

// Open opens (or creates) the database file at path, creating its directory
// and every bucket. If another process holds the file it fails after
// opts.Timeout with a tebura ECONFLICT error saying the data dir is in use.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("The data dir %s cannot be created; check data_dir and its permissions.", dir))
	}
	bopts := &bbolt.Options{Timeout: opts.Timeout, FreelistType: bbolt.FreelistMapType, ReadOnly: opts.ReadOnly}
	db, err := bbolt.Open(path, 0o600, bopts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, tebura.Wrap(tebura.ECONFLICT, err, fmt.Sprintf("The data dir %s is in use by another tebura process (its database %s stayed locked for %s); stop that process or point data_dir elsewhere.", dir, filepath.Base(path), opts.Timeout))
	}
	if err != nil {
		return nil, tebura.Wrap(tebura.EINTERNAL, err, fmt.Sprintf("The database %s cannot be opened; check the file and its permissions.", path))
	}
	if opts.ReadOnly {
		return &Store{db: db, path: path, clock: opts.Clock}, nil
	}
	scrubbedRuns, err := prepare(db)
	if err == nil && scrubbedRuns > 0 {
		db, err = compact(db, path, bopts)
	}
	if err == nil {
		err = freeLeases(db, opts.Clock())
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, tebura.Wrap(tebura.EINTERNAL, err, fmt.Sprintf("The database %s cannot be prepared; check the disk and the file's permissions.", path))
	}
	return &Store{db: db, path: path, clock: opts.Clock}, nil
}

// prepare creates the buckets that are missing, rebuilds the index of
// active runs when it is behind the runs, and scrubs the secret values a
// previous release left in run records (scrub.go), returning how many
// records it scrubbed. A database that needs none of it (every open after
// the first) is only read: no write transaction, no fsync, for a one-shot
// command such as tebura run.
func prepare(db *bbolt.DB) (int, error) {
	ready := true
	err := db.View(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets() {
			if tx.Bucket([]byte(name)) == nil {
				ready = false
				return nil
			}
		}
		ready = activeIndexCurrent(tx) && openIndexCurrent(tx) && scrubbed(tx)
		return nil
	})
	if err != nil || ready {
		return 0, err
	}
	n := 0
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if !activeIndexCurrent(tx) {
			if err := rebuildActiveIndex(tx); err != nil {
				return err
			}
		}
		if !openIndexCurrent(tx) {
			if err := rebuildOpenIndex(tx); err != nil {
				return err
			}
		}
		if !scrubbed(tx) {
			var err error
			n, err = scrubSecretParams(tx)
			return err
		}
		return nil
	})
	return n, err
}

// Close closes the database file and releases its lock.
func (s *Store) Close() error {
	return s.db.Close()
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// view runs fn in a read transaction unless ctx is already done.
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// update runs fn in a write transaction unless ctx is already done. fn must
// not do I/O: bbolt has one writer at a time.
func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

// storageError wraps a bbolt failure unless err is already a tebura error or
// a context error.
func storageError(err error, what string) error {
	if err == nil {
		return nil
	}
	var te *tebura.Error
	if errors.As(err, &te) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if noSpace(err) {
		return diskFull(err, what)
	}
	return tebura.Wrap(tebura.EINTERNAL, fmt.Errorf("bolt: %s: %w", what, err), "The database could not be read or written; the operators can find the details in the bot's log.")
}

// marshal and unmarshal are the record format both stores share
// (store/record), with this store's name on its errors.
func marshal(v any) ([]byte, error) {
	b, err := record.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("bolt: %w", err)
	}
	return b, nil
}

func unmarshal(data []byte, v any) error {
	if err := record.Unmarshal(data, v); err != nil {
		return fmt.Errorf("bolt: %w", err)
	}
	return nil
}

// seqKey encodes a sequence number as a big-endian key, so that byte order
// is numeric order.
func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// keySeq decodes a key written by seqKey; ok is false for other keys.
func keySeq(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}
