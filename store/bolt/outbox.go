package bolt

import (
	"cmp"
	"context"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

var _ bot.OutboxStore = (*Store)(nil)

// outboxKey is platform NUL id: one platform's deliveries share a prefix.
func outboxKey(platform, id string) []byte {
	return append(append([]byte(platform), 0), id...)
}

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
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketOutbox)).Put(outboxKey(d.Platform, d.ID), v)
	})
	return storageError(err, "put delivery")
}

// DeleteDelivery forgets a delivery; an unknown one is no error.
func (s *Store) DeleteDelivery(ctx context.Context, platform, id string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketOutbox)).Delete(outboxKey(platform, id))
	})
	return storageError(err, "delete delivery")
}

// Deliveries lists platform's deliveries in the order they were made
// (Created, then ID).
func (s *Store) Deliveries(ctx context.Context, platform string) ([]bot.Delivery, error) {
	var out []bot.Delivery
	prefix := outboxKey(platform, "")
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketOutbox)).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var d bot.Delivery
			if err := unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, storageError(err, "list deliveries")
	}
	slices.SortStableFunc(out, func(a, b bot.Delivery) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
