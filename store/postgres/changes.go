package postgres

import (
	"context"
	"time"

	"github.com/tebura/tebura/hints"
)

var _ hints.ChangeStore = (*Store)(nil)

// PutChange stores c unless a change with its ID is stored already; the
// primary key decides, so a delivery retried through another replica is
// stored once.
func (s *Store) PutChange(ctx context.Context, c hints.Change) (bool, error) {
	v, err := marshal(&c)
	if err != nil {
		return false, storageError(err, "encode change")
	}
	tag, err := s.pool.Exec(ctx, "INSERT INTO changes (id, service, at, data) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
		[]byte(c.ID), []byte(c.Service), c.At.UnixNano(), v)
	if err != nil {
		return false, storageError(err, "put change")
	}
	return tag.RowsAffected() == 1, nil
}

// Changes returns service's changes with At in [from, to], newest first
// (the same moment: the greater ID first, as store/bolt orders them), at
// most limit of them when limit is positive.
func (s *Store) Changes(ctx context.Context, service string, from, to time.Time, limit int) ([]hints.Change, error) {
	lim := int64(limit)
	if limit <= 0 {
		lim = -1
	}
	rows, err := s.pool.Query(ctx, `SELECT data FROM changes WHERE service = $1 AND at BETWEEN $2 AND $3
		ORDER BY at DESC, id DESC LIMIT CASE WHEN $4::bigint < 0 THEN NULL ELSE $4::bigint END`,
		[]byte(service), from.UnixNano(), to.UnixNano(), lim)
	if err != nil {
		return nil, storageError(err, "list changes")
	}
	defer rows.Close()
	var out []hints.Change
	for rows.Next() {
		var v []byte
		var c hints.Change
		err := rows.Scan(&v)
		if err == nil {
			err = unmarshal(v, &c)
		}
		if err != nil {
			return nil, storageError(err, "list changes")
		}
		out = append(out, c)
	}
	return out, storageError(rows.Err(), "list changes")
}

// PruneChanges deletes the changes that took effect before before.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM changes WHERE at < $1", before.UnixNano())
	if err != nil {
		return 0, storageError(err, "prune changes")
	}
	return int(tag.RowsAffected()), nil
}
