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
		b := tx.Bucket([]byte(bucketAudit))
		var last *audit.Entry
		want := uint64(1)
		if _, v := b.Cursor().Last(); v != nil {
			last = new(audit.Entry)
			if err := unmarshal(v, last); err != nil {
				return err
			}
			want = last.Seq + 1
		}
		e, err := fn(last)
		if err != nil {
			return err
		}
		if e.Seq != want {
			return tebura.Errorf(tebura.EINTERNAL, "Audit entry %d does not follow entry %d.", e.Seq, want-1)
		}
		v, err := marshal(&e)
		if err != nil {
			return err
		}
		out = e
		return b.Put(seqKey(e.Seq), v)
	})
	if err != nil {
		return audit.Entry{}, storageError(err, "append audit")
	}
	return out, nil
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
