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
// lease is still kept, with its token, so that leadership works the same
// way on every store. A lease changing hands is written (its token must
// never go back, also across restarts); a renewal by its holder is kept
// in memory only: no other process can read this file while it is held,
// and Open frees whatever a previous process held (freeLeases), so the
// stored expiry is never read. The elector renews every second: written,
// that would be a disk commit a second for as long as Tebura runs.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (replica.Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return replica.Lease{}, tebura.Errorf(tebura.EINTERNAL, "A lease needs a name, a holder and a positive duration.")
	}
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	cur, err := s.leaseLocked(ctx, name)
	if err != nil {
		return replica.Lease{}, err
	}
	now := s.clock()
	switch {
	case cur.Holder == holder && now.Before(cur.Expires):
		cur.Expires = now.Add(ttl)
		s.leases[name] = cur
	case cur.Holder == "" || !now.Before(cur.Expires):
		next := leaseRecord{Holder: holder, Token: cur.Token + 1, Expires: now.Add(ttl)}
		if err := s.putLease(ctx, name, next); err != nil {
			return replica.Lease{}, storageError(err, "acquire lease")
		}
		cur = next
	}
	return replica.Lease{Name: name, Holder: cur.Holder, Token: cur.Token, Expires: cur.Expires}, nil
}

// leaseLocked returns the lease as this process knows it, reading it from
// the file the first time. Call it with leaseMu held.
func (s *Store) leaseLocked(ctx context.Context, name string) (leaseRecord, error) {
	if cur, ok := s.leases[name]; ok {
		return cur, nil
	}
	var cur leaseRecord
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte(bucketLeases)).Get([]byte(name)); v != nil {
			return unmarshal(v, &cur)
		}
		return nil
	})
	if err != nil {
		return leaseRecord{}, storageError(err, "read lease")
	}
	if s.leases == nil {
		s.leases = map[string]leaseRecord{}
	}
	s.leases[name] = cur
	return cur, nil
}

// putLease writes a lease that changed hands, then keeps it in memory.
// Call it with leaseMu held.
func (s *Store) putLease(ctx context.Context, name string, l leaseRecord) error {
	v, err := marshal(&l)
	if err != nil {
		return err
	}
	if err := s.update(ctx, func(tx *bbolt.Tx) error { return tx.Bucket([]byte(bucketLeases)).Put([]byte(name), v) }); err != nil {
		return err
	}
	s.leases[name] = l
	return nil
}

// ReleaseLease implements replica.LeaseStore: the token stays, so the next
// holder gets the one after it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string, token uint64) error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	cur, err := s.leaseLocked(ctx, name)
	if err != nil {
		return err
	}
	if cur.Holder != holder || cur.Token != token {
		return nil
	}
	cur.Holder, cur.Expires = "", s.clock()
	return storageError(s.putLease(ctx, name, cur), "release lease")
}

// Lease implements replica.LeaseStore.
func (s *Store) Lease(ctx context.Context, name string) (replica.Lease, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	cur, err := s.leaseLocked(ctx, name)
	if err != nil {
		return replica.Lease{}, err
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
