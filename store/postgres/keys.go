package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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
	var expires *int64
	if !cb.Expires.IsZero() {
		n := cb.Expires.UnixNano()
		expires = &n
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO callbacks (id, expires, data) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires, data = EXCLUDED.data`, cb.ID, expires, v)
	return storageError(err, "put callback")
}

// GetCallback returns the callback with id, or a tebura ENOTFOUND error when
// there is none (never stored, or pruned after it expired). It does not
// check Expires itself: the click handler decides what an expired button
// means.
func (s *Store) GetCallback(ctx context.Context, id string) (bot.Callback, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT data FROM callbacks WHERE id = $1", id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return bot.Callback{}, tebura.Errorf(tebura.ENOTFOUND, "This button is no longer valid; run the command again to get a fresh one.")
	}
	var cb bot.Callback
	if err == nil {
		err = unmarshal(v, &cb)
	}
	if err != nil {
		return bot.Callback{}, storageError(err, "get callback")
	}
	return cb, nil
}

// GetMeta returns the value stored under key, or nil and no error when
// there is none.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, storageError(err, "get meta "+key)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutMeta stores v under key. Meta values are the caller's bytes, stored as
// given; a nil v deletes the key.
func (s *Store) PutMeta(ctx context.Context, key string, v []byte) error {
	if key == "" {
		return tebura.Errorf(tebura.EINTERNAL, "A meta value needs a key.")
	}
	var err error
	if v == nil {
		_, err = s.pool.Exec(ctx, "DELETE FROM meta WHERE key = $1", key)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, key, v)
	}
	return storageError(err, "put meta "+key)
}

// Mark records scope/key until ttl has passed on the store's clock. It
// returns true the first time, false while the key is remembered, and true
// again once it expired. One statement inserts the key, or renews it only
// when it expired, and says whether it did: of concurrent callers on any
// replica exactly one sees true.
func (s *Store) Mark(ctx context.Context, scope, key string, ttl time.Duration) (bool, error) {
	if scope == "" || key == "" || ttl <= 0 {
		return false, tebura.Errorf(tebura.EINTERNAL, "Mark needs a scope, a key and a positive TTL.")
	}
	now := s.clock()
	tag, err := s.pool.Exec(ctx, `INSERT INTO dedupe (scope, key, expires) VALUES ($1, $2, $3)
		ON CONFLICT (scope, key) DO UPDATE SET expires = EXCLUDED.expires WHERE dedupe.expires <= $4`,
		[]byte(scope), []byte(key), now.Add(ttl).UnixNano(), now.UnixNano())
	if err != nil {
		return false, storageError(err, "mark "+scope)
	}
	return tag.RowsAffected() == 1, nil
}

// PruneStats says what Prune removed.
type PruneStats struct {
	Dedupe    int // expired dedupe keys
	Callbacks int // callbacks whose Expires is before now
}

// Prune deletes dedupe keys and callbacks that expired before now. Expired
// dedupe keys are already ignored by Mark; pruning only reclaims space, so
// the caller runs it now and then (say hourly). Any replica may run it.
func (s *Store) Prune(ctx context.Context, now time.Time) (PruneStats, error) {
	var st PruneStats
	tag, err := s.pool.Exec(ctx, "DELETE FROM dedupe WHERE expires <= $1", now.UnixNano())
	if err != nil {
		return st, storageError(err, "prune dedupe")
	}
	st.Dedupe = int(tag.RowsAffected())
	tag, err = s.pool.Exec(ctx, "DELETE FROM callbacks WHERE expires < $1", now.UnixNano())
	if err != nil {
		return st, storageError(err, "prune callbacks")
	}
	st.Callbacks = int(tag.RowsAffected())
	return st, nil
}
