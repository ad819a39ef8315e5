package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura/hints"
)

var _ hints.ChangeStore = (*Store)(nil)

// changeKey orders changes by the time they took effect; the ID after it
// keeps two changes of the same nanosecond apart.
func changeKey(at time.Time, id string) []byte {
	k := make([]byte, 8, 9+len(id))
	binary.BigEndian.PutUint64(k, uint64(max(at.UnixNano(), 0)))
	k = append(k, 0)
	return append(k, id...)
}

// PutChange stores c unless its ID is stored already.
func (s *Store) PutChange(ctx context.Context, c hints.Change) (bool, error) {
	v, err := marshal(&c)
	if err != nil {
		return false, storageError(err, "encode change")
	}
	stored := false
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		stored = false
		ids := tx.Bucket([]byte(bucketChangeIDs))
		if ids.Get([]byte(c.ID)) != nil {
			return nil
		}
		k := changeKey(c.At, c.ID)
		if err := tx.Bucket([]byte(bucketChanges)).Put(k, v); err != nil {
			return err
		}
		stored = true
		return ids.Put([]byte(c.ID), k)
	})
	if err != nil {
		return false, storageError(err, "put change")
	}
	return stored, nil
}

// Changes returns service's changes with At in [from, to], newest first.
func (s *Store) Changes(ctx context.Context, service string, from, to time.Time, limit int) ([]hints.Change, error) {
	var out []hints.Change
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketChanges)).Cursor()
		lo := changeKey(from, "")[:8]
		hi := changeKey(to.Add(time.Nanosecond), "")[:8]
		k, v := c.Seek(hi)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.Compare(k[:8], lo) >= 0; k, v = c.Prev() {
			var ch hints.Change
			if err := unmarshal(v, &ch); err != nil {
				return err
			}
			if ch.Service != service {
				continue
			}
			out = append(out, ch)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, storageError(err, "list changes")
	}
	return out, nil
}

// PruneChanges deletes the changes that took effect before before.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		b, ids := tx.Bucket([]byte(bucketChanges)), tx.Bucket([]byte(bucketChangeIDs))
		lo := changeKey(before, "")[:8]
		c := b.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], lo) < 0; k, _ = c.First() {
			if err := ids.Delete(k[9:]); err != nil {
				return err
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, storageError(err, "prune changes")
	}
	return n, nil
}
