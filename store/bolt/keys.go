package bolt

import (
	"bytes"
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

var _ bot.Deduper = (*Store)(nil)

// PutCallback stores a button's callback under cb.ID, replacing any callback
// with the same ID.
func (s *Store) PutCallback(ctx context.Context, cb bot.Callback) error {
	if cb.ID == "" {
		return tebura.Errorf(tebura.EINTERNAL, "A callback needs an ID.")
	}
	v, err := marshal(&cb)
	if err != nil {
		return storageError(err, "encode callback")
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketCallbacks)).Put([]byte(cb.ID), v)
	})
	return storageError(err, "put callback")
}

// GetCallback returns the callback with id, or a tebura ENOTFOUND error when
// there is none (never stored, or pruned after it expired). It does not
// check Expires itself: the click handler decides what an expired button
// means.
func (s *Store) GetCallback(ctx context.Context, id string) (bot.Callback, error) {
	var cb bot.Callback
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketCallbacks)).Get([]byte(id))
		if v == nil {
			return tebura.Errorf(tebura.ENOTFOUND, "This button is no longer valid; run the command again to get a fresh one.")
		}
		return unmarshal(v, &cb)
	})
	if err != nil {
		return bot.Callback{}, storageError(err, "get callback")
	}
	return cb, nil
}

// GetMeta returns a copy of the value stored under key, or nil and no error
// when there is none.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte(bucketMeta)).Get([]byte(key)); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, storageError(err, "get meta "+key)
	}
	return out, nil
}

// PutMeta stores v under key. Meta values are the caller's bytes, stored as
// given (the caller owns their format and its versioning); a nil v deletes
// the key.
func (s *Store) PutMeta(ctx context.Context, key string, v []byte) error {
	if key == "" {
		return tebura.Errorf(tebura.EINTERNAL, "A meta value needs a key.")
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketMeta))
		if v == nil {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), v)
	})
	return storageError(err, "put meta "+key)
}

// dedupeRecord is the stored value of a dedupe key.
type dedupeRecord struct {
	Expires time.Time `json:"exp"`
}

// dedupeKey joins scope and key with a NUL byte, which neither contains in
// practice, so ("a", "b:c") and ("a:b", "c") stay apart.
func dedupeKey(scope, key string) []byte {
	k := make([]byte, 0, len(scope)+1+len(key))
	k = append(k, scope...)
	k = append(k, 0)
	return append(k, key...)
}

// Mark records scope/key until ttl has passed on the store's clock. It
// returns true the first time, false while the key is remembered, and true
// again once it expired. The check and the insert are one transaction, so of
// concurrent callers exactly one sees true.
func (s *Store) Mark(ctx context.Context, scope, key string, ttl time.Duration) (bool, error) {
	if scope == "" || key == "" || ttl <= 0 {
		return false, tebura.Errorf(tebura.EINTERNAL, "Mark needs a scope, a key and a positive TTL.")
	}
	k := dedupeKey(scope, key)
	first := false
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		now := s.clock()
		b := tx.Bucket([]byte(bucketDedupe))
		if v := b.Get(k); v != nil {
			var rec dedupeRecord
			if err := unmarshal(v, &rec); err != nil {
				return err
			}
			if now.Before(rec.Expires) {
				return nil
			}
		}
		v, err := marshal(&dedupeRecord{Expires: now.Add(ttl).UTC().Round(0)})
		if err != nil {
			return err
		}
		first = true
		return b.Put(k, v)
	})
	if err != nil {
		return false, storageError(err, "mark "+scope)
	}
	return first, nil
}

// PruneStats says what Prune removed.
type PruneStats struct {
	Dedupe    int // expired dedupe keys
	Callbacks int // callbacks whose Expires is before now
}

// Prune deletes dedupe keys and callbacks that expired before now. Expired
// dedupe keys are already ignored by Mark; pruning only reclaims space, so
// the caller runs it now and then (say hourly). It works in batches so that
// no write transaction stays open for long.
func (s *Store) Prune(ctx context.Context, now time.Time) (PruneStats, error) {
	var st PruneStats
	var err error
	st.Dedupe, err = s.pruneBucket(ctx, bucketDedupe, func(v []byte) (bool, error) {
		var rec dedupeRecord
		if err := unmarshal(v, &rec); err != nil {
			return false, err
		}
		return !now.Before(rec.Expires), nil
	})
	if err != nil {
		return st, err
	}
	st.Callbacks, err = s.pruneBucket(ctx, bucketCallbacks, func(v []byte) (bool, error) {
		var cb bot.Callback
		if err := unmarshal(v, &cb); err != nil {
			return false, err
		}
		return !cb.Expires.IsZero() && cb.Expires.Before(now), nil
	})
	return st, err
}

// pruneBatch bounds how many keys one Prune transaction visits.
const pruneBatch = 1000

// pruneBucket deletes the values expired reports true for, in batches.
func (s *Store) pruneBucket(ctx context.Context, name string, expired func(v []byte) (bool, error)) (int, error) {
	total := 0
	var after []byte // last key visited, copied out of the transaction
	for {
		done := false
		deleted := 0
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			c := tx.Bucket([]byte(name)).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for n := 0; ; n++ {
				if k == nil {
					done = true
					return nil
				}
				if n == pruneBatch {
					return nil
				}
				after = bytes.Clone(k)
				gone, err := expired(v)
				if err != nil {
					return err
				}
				if gone {
					if err := c.Delete(); err != nil {
						return err
					}
					deleted++
					// Delete moves the cursor; re-seek past the deleted key.
					k, v = c.Seek(after)
					if k != nil && bytes.Equal(k, after) {
						k, v = c.Next()
					}
					continue
				}
				k, v = c.Next()
			}
		})
		if err != nil {
			return total, storageError(err, "prune "+name)
		}
		total += deleted
		if done {
			return total, nil
		}
	}
}
