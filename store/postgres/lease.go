package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/replica"
)

var _ replica.LeaseStore = (*Store)(nil)

// AcquireLease implements replica.LeaseStore with one upsert whose row
// lock decides concurrent takers: it renews the caller's unlapsed lease
// (same token), takes a free or lapsed one (next token), and leaves
// another holder's alone, which a second statement then reads. Expiry is
// by the store's clock.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (replica.Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return replica.Lease{}, tebura.Errorf(tebura.EINTERNAL, "A lease needs a name, a holder and a positive duration.")
	}
	now := s.clock().UnixNano()
	var (
		got     string
		token   int64
		expires int64
	)
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, token, expires) VALUES ($1, $2, 1, $4::bigint)
		ON CONFLICT (name) DO UPDATE SET
			holder  = EXCLUDED.holder,
			token   = CASE WHEN leases.holder = EXCLUDED.holder AND leases.expires > $3::bigint THEN leases.token ELSE leases.token + 1 END,
			expires = EXCLUDED.expires
		WHERE (leases.holder = EXCLUDED.holder AND leases.expires > $3::bigint) OR leases.holder = '' OR leases.expires <= $3::bigint
		RETURNING holder, token, expires`, name, holder, now, now+int64(ttl)).Scan(&got, &token, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.pool.QueryRow(ctx, "SELECT holder, token, expires FROM leases WHERE name = $1", name).Scan(&got, &token, &expires)
	}
	if err != nil {
		return replica.Lease{}, storageError(err, "acquire lease")
	}
	return replica.Lease{Name: name, Holder: got, Token: uint64(token), Expires: time.Unix(0, expires).UTC()}, nil
}

// ReleaseLease implements replica.LeaseStore: the token stays, so the next
// holder gets the one after it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string, token uint64) error {
	_, err := s.pool.Exec(ctx, "UPDATE leases SET holder = '', expires = $4 WHERE name = $1 AND holder = $2 AND token = $3",
		name, holder, int64(token), s.clock().UnixNano())
	return storageError(err, "release lease")
}

// Lease implements replica.LeaseStore.
func (s *Store) Lease(ctx context.Context, name string) (replica.Lease, error) {
	var (
		holder  string
		token   int64
		expires int64
	)
	err := s.pool.QueryRow(ctx, "SELECT holder, token, expires FROM leases WHERE name = $1", name).Scan(&holder, &token, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return replica.Lease{Name: name}, nil
	}
	if err != nil {
		return replica.Lease{}, storageError(err, "read lease")
	}
	return replica.Lease{Name: name, Holder: holder, Token: uint64(token), Expires: time.Unix(0, expires).UTC()}, nil
}
