package bolt

import (
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
)

// sessionRecord is a stored web session or one-time sign-in link. Data is
// the web view's own encoding; the store only keeps it until Expires.
type sessionRecord struct {
	Expires time.Time `json:"exp"`
	Data    []byte    `json:"data"`
}

// errNoSession is what every lookup of an absent, expired or used key
// answers: the caller cannot tell them apart, and need not.
func errNoSession() error {
	return tebura.Errorf(tebura.ENOTFOUND, "This sign-in is not valid (expired, used, or signed out); ask for a new link with /tebura login.")
}

// PutSession stores data under key until expires (on the store's clock),
// replacing what was there. The web view keys sessions and links by a hash
// of their secret, so the file never holds a usable token.
func (s *Store) PutSession(ctx context.Context, key string, data []byte, expires time.Time) error {
	if key == "" {
		return tebura.Errorf(tebura.EINTERNAL, "A session needs a key.")
	}
	v, err := marshal(&sessionRecord{Expires: expires.UTC().Round(0), Data: data})
	if err != nil {
		return storageError(err, "encode session")
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketWebSessions)).Put([]byte(key), v)
	})
	return storageError(err, "put session")
}

// GetSession returns the data stored under key, or a tebura ENOTFOUND
// error when there is none or it has expired.
func (s *Store) GetSession(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = s.liveSession(tx, key)
		return err
	})
	if err != nil {
		return nil, storageError(err, "get session")
	}
	return out, nil
}

// TakeSession returns the data stored under key and deletes it in the same
// transaction: of concurrent callers exactly one gets it, which is what
// makes a sign-in link single-use.
func (s *Store) TakeSession(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		if out, err = s.liveSession(tx, key); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketWebSessions)).Delete([]byte(key))
	})
	if err != nil {
		return nil, storageError(err, "take session")
	}
	return out, nil
}

// DeleteSession removes key; an absent key is not an error (signing out
// twice is fine).
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketWebSessions)).Delete([]byte(key))
	})
	return storageError(err, "delete session")
}

// PruneSessions removes the expired sessions and links and returns how
// many.
func (s *Store) PruneSessions(ctx context.Context) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		now := s.clock()
		c := tx.Bucket([]byte(bucketWebSessions)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var rec sessionRecord
			if err := unmarshal(v, &rec); err != nil || !now.Before(rec.Expires) {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, storageError(err, "prune sessions")
}

// liveSession reads key inside tx, refusing an expired record.
func (s *Store) liveSession(tx *bbolt.Tx, key string) ([]byte, error) {
	v := tx.Bucket([]byte(bucketWebSessions)).Get([]byte(key))
	if v == nil {
		return nil, errNoSession()
	}
	var rec sessionRecord
	if err := unmarshal(v, &rec); err != nil {
		return nil, err
	}
	if !s.clock().Before(rec.Expires) {
		return nil, errNoSession()
	}
	return rec.Data, nil
}
