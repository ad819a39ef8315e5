package bolt

import (
	"context"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
)

var _ audit.Store = (*Store)(nil)

// AppendAudit reads the last audit entry, calls fn with it (nil when the
// chain is empty) and stores the entry fn returns, in one write transaction:
// two appenders never link to the same entry. An entry whose Seq is not the
// last Seq plus one is refused. fn must only compute.
func (s *Store) AppendAudit(ctx context.Context, fn func(last *audit.Entry) (audit.Entry, error)) (audit.Entry, error) {
	var out audit.Entry
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		last, err := lastAudit(tx)
		if err != nil {
			return err
		}
		e, err := fn(last)
		if err != nil {
			return err
		}
		out = e
		return putAudit(tx, last, e)
	})
	if err != nil {
		return audit.Entry{}, storageError(err, "append audit")
	}
	return out, nil
}

// lastAudit is the chain's last entry, nil when it is empty.
func lastAudit(tx *bbolt.Tx) (*audit.Entry, error) {
	_, v := tx.Bucket([]byte(bucketAudit)).Cursor().Last()
	if v == nil {
		return nil, nil
	}
	last := new(audit.Entry)
	if err := unmarshal(v, last); err != nil {
		return nil, err
	}
	return last, nil
}

// putAudit stores e after last, refusing an entry that does not follow it.
func putAudit(tx *bbolt.Tx, last *audit.Entry, e audit.Entry) error {
	want := uint64(1)
	if last != nil {
		want = last.Seq + 1
	}
	if e.Seq != want {
		return tebura.Errorf(tebura.EINTERNAL, "Audit entry %d does not follow entry %d.", e.Seq, want-1)
	}
	v, err := marshal(&e)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketAudit)).Put(seqKey(e.Seq), v)
}

// auditPage is how many entries AuditEntries reads per read transaction.
const auditPage = 256

// AuditEntries calls fn for every entry in key (Seq) order. It reads a page
// at a time and calls fn between transactions, so fn may write to a slow
// writer without holding the database.
func (s *Store) AuditEntries(ctx context.Context, fn func(audit.Entry) error) error {
	var next []byte // first key of the next page
	for {
		page := make([]audit.Entry, 0, auditPage)
		err := s.view(ctx, func(tx *bbolt.Tx) error {
			c := tx.Bucket([]byte(bucketAudit)).Cursor()
			k, v := c.First()
			if next != nil {
				k, v = c.Seek(next)
			}
			next = nil
			for ; k != nil; k, v = c.Next() {
				if len(page) == auditPage {
					next = append([]byte(nil), k...)
					return nil
				}
				var e audit.Entry
				if err := unmarshal(v, &e); err != nil {
					return err
				}
				page = append(page, e)
			}
			return nil
		})
		if err != nil {
			return storageError(err, "read audit")
		}
		for _, e := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
	}
}
