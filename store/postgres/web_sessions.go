package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura"
)

// errNoSession is what every lookup of an absent, expired or used key
// answers.
func errNoSession() error {
	return tebura.Errorf(tebura.ENOTFOUND, "This sign-in is not valid (expired, used, or signed out); ask for a new link with /tebura login.")
}

// PutSession stores data under key until expires, replacing what was
// there.
func (s *Store) PutSession(ctx context.Context, key string, data []byte, expires time.Time) error {
	if key == "" {
		return tebura.Errorf(tebura.EINTERNAL, "A session needs a key.")
	}
	if data == nil {
		data = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO web_sessions (key, expires, data) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET expires = EXCLUDED.expires, data = EXCLUDED.data`, key, expires.UnixNano(), data)
	return storageError(err, "put session")
}

// GetSession returns the data under key, or a tebura ENOTFOUND error when
// there is none or it has expired (on the store's clock).
func (s *Store) GetSession(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, "SELECT data FROM web_sessions WHERE key = $1 AND expires > $2", key, s.clock().UnixNano()).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSession()
	}
	if err != nil {
		return nil, storageError(err, "get session")
	}
	return data, nil
}

// TakeSession returns the data under key and deletes it in one statement:
// of concurrent callers, on any replica, exactly one gets it.
func (s *Store) TakeSession(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, "DELETE FROM web_sessions WHERE key = $1 AND expires > $2 RETURNING data", key, s.clock().UnixNano()).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSession()
	}
	if err != nil {
		return nil, storageError(err, "take session")
	}
	return data, nil
}

// DeleteSession removes key; an absent key is not an error.
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM web_sessions WHERE key = $1", key)
	return storageError(err, "delete session")
}

// PruneSessions removes the expired sessions and links and returns how
// many.
func (s *Store) PruneSessions(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM web_sessions WHERE expires <= $1", s.clock().UnixNano())
	if err != nil {
		return 0, storageError(err, "prune sessions")
	}
	return int(tag.RowsAffected()), nil
}
