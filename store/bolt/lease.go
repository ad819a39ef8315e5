package bolt

import (
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/replica"
)

var _ replica.LeaseStore = (*Store)(nil)

// leaseRecord is a lease as stored: name → leaseRecord.
type leaseRecord struct {
	Holder  string    `json:"holder"`
	Token   uint64    `json:"token"`
	Expires time.Time `json:"expires"`
}

// AcquireLease implements replica.LeaseStore on the store's clock. One
// process holds a bolt file, so its replica always gets the lease; the
// lease is still kept here, with its token, so that leadership works the
// same way on every store.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (replica.Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return replica.Lease{}, tebura.Errorf(tebura.EINTERNAL, "A lease needs a name, a holder and a positive duration.")
	}
	var out leaseRecord
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketLeases))
		var cur leaseRecord
		if v := b.Get([]byte(name)); v != nil {
			if err := unmarshal(v, &cur); err != nil {
				return err
			}
		}
		now := s.clock()
		switch {
		case cur.Holder == holder && now.Before(cur.Expires):
			cur.Expires = now.Add(ttl)
		case cur.Holder == "" || !now.Before(cur.Expires):
			cur = leaseRecord{Holder: holder, Token: cur.Token + 1, Expires: now.Add(ttl)}
		default:
			out = cur
			return nil // another holder's, unlapsed
		}
		v, err := marshal(&cur)
		if err != nil {
			return err
		}
		out = cur
		return b.Put([]byte(name), v)
	})
	if err != nil {
		return replica.Lease{}, storageError(err, "acquire lease")
	}
	return replica.Lease{Name: name, Holder: out.Holder, Token: out.Token, Expires: out.Expires}, nil
}

// ReleaseLease implements replica.LeaseStore: the token stays, so the next
// holder gets the one after it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string, token uint64) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketLeases))
		v := b.Get([]byte(name))
		if v == nil {
			return nil
		}
		var cur leaseRecord
		if err := unmarshal(v, &cur); err != nil {
			return err
		}
		if cur.Holder != holder || cur.Token != token {
			return nil
		}
		cur.Holder, cur.Expires = "", s.clock()
		nv, err := marshal(&cur)
		if err != nil {
			return err
		}
		return b.Put([]byte(name), nv)
	})
	return storageError(err, "release lease")
}

// Lease implements replica.LeaseStore.
func (s *Store) Lease(ctx context.Context, name string) (replica.Lease, error) {
	var cur leaseRecord
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte(bucketLeases)).Get([]byte(name)); v != nil {
			return unmarshal(v, &cur)
		}
		return nil
	})
	if err != nil {
		return replica.Lease{}, storageError(err, "read lease")
	}
	return replica.Lease{Name: name, Holder: cur.Holder, Token: cur.Token, Expires: cur.Expires}, nil
}

// freeLeases frees, at Open, the leases a previous process left held: one
// process holds a bolt file, so their holder is gone, and a restart after a
// crash leads at once instead of waiting for its old lease to lapse. Their
// tokens stay, so the next holder gets a new one. A file with no lease held
// is only read.
func freeLeases(db *bbolt.DB, now time.Time) error {
	held := false
	err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketLeases)).ForEach(func(_, v []byte) error {
			var l leaseRecord
			if err := unmarshal(v, &l); err != nil {
				return err
			}
			held = held || l.Holder != ""
			return nil
		})
	})
	if err != nil || !held {
		return err
	}
	return db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketLeases))
		return b.ForEach(func(k, v []byte) error {
			var l leaseRecord
			if err := unmarshal(v, &l); err != nil {
				return err
			}
			if l.Holder == "" {
				return nil
			}
			l.Holder, l.Expires = "", now
			nv, err := marshal(&l)
			if err != nil {
				return err
			}
			return b.Put(k, nv)
		})
	})
}
