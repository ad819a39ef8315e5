package postgres

import (
	"cmp"
	"context"
	"slices"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

var _ bot.OutboxStore = (*Store)(nil)

// PutDelivery stores a chat message the platform has not accepted yet (or
// the message a late post became), replacing the one with its platform
// and ID, so that the outbox delivers it after a restart.
func (s *Store) PutDelivery(ctx context.Context, d bot.Delivery) error {
	if d.Platform == "" || d.ID == "" {
		return tebura.Errorf(tebura.EINTERNAL, "A delivery needs a platform and an ID.")
	}
	v, err := marshal(&d)
	if err != nil {
		return storageError(err, "encode delivery")
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO outbox (platform, id, data) VALUES ($1, $2, $3)
		ON CONFLICT (platform, id) DO UPDATE SET data = EXCLUDED.data`, d.Platform, d.ID, v)
	return storageError(err, "put delivery")
}

// DeleteDelivery forgets a delivery; an unknown one is no error.
func (s *Store) DeleteDelivery(ctx context.Context, platform, id string) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM outbox WHERE platform = $1 AND id = $2", platform, id)
	return storageError(err, "delete delivery")
}

// Deliveries lists platform's deliveries in the order they were made
// (Created, then ID).
func (s *Store) Deliveries(ctx context.Context, platform string) ([]bot.Delivery, error) {
	rows, err := s.pool.Query(ctx, "SELECT data FROM outbox WHERE platform = $1", platform)
	if err != nil {
		return nil, storageError(err, "list deliveries")
	}
	var out []bot.Delivery
	for rows.Next() {
		var v []byte
		var d bot.Delivery
		err := rows.Scan(&v)
		if err == nil {
			err = unmarshal(v, &d)
		}
		if err != nil {
			rows.Close()
			return nil, storageError(err, "list deliveries")
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err, "list deliveries")
	}
	slices.SortStableFunc(out, func(a, b bot.Delivery) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
