package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/runbooks"
)

var _ audit.Store = (*Store)(nil)

// AppendAudit reads the last audit entry, calls fn with it (nil when the
// chain is empty) and stores the entry fn returns, in one transaction that
// holds the chain's advisory lock: appenders on every replica take turns,
// so two never link to the same entry. An entry whose Seq is not the last
// Seq plus one is refused. fn must only compute.
func (s *Store) AppendAudit(ctx context.Context, fn func(last *audit.Entry) (audit.Entry, error)) (audit.Entry, error) {
	var out audit.Entry
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		last, err := lastAudit(ctx, tx)
		if err != nil {
			return err
		}
		e, err := fn(last)
		if err != nil {
			return err
		}
		out = e
		return putAudit(ctx, tx, last, e)
	})
	if err != nil {
		return audit.Entry{}, storageError(err, "append audit")
	}
	return out, nil
}

// lastAudit takes the chain's lock for the rest of tx and returns the
// chain's last entry, nil when it is empty.
func lastAudit(ctx context.Context, tx pgx.Tx) (*audit.Entry, error) {
	if err := lockXact(ctx, tx, lockAudit); err != nil {
		return nil, err
	}
	var v []byte
	err := tx.QueryRow(ctx, "SELECT data FROM audit ORDER BY seq DESC LIMIT 1").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	last := new(audit.Entry)
	if err := unmarshal(v, last); err != nil {
		return nil, err
	}
	return last, nil
}

// putAudit stores e after last, refusing an entry that does not follow it.
func putAudit(ctx context.Context, tx pgx.Tx, last *audit.Entry, e audit.Entry) error {
	want := uint64(1)
	if last != nil {
		want = last.Seq + 1
	}
	if e.Seq != want {
		return tebura.Errorf(tebura.EINTERNAL, "Audit entry %d does not follow entry %d.", e.Seq, want-1)
	}
	v, err := marshal(&e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO audit (seq, data) VALUES ($1, $2)", int64(e.Seq), v)
	return err
}

// appendEntries appends the entries that record a change of run, in the
// caller's transaction; nil entries appends nothing (and takes no lock).
func appendEntries(ctx context.Context, tx pgx.Tx, run *runbooks.Run, entries runbooks.AuditEntries) error {
	if entries == nil {
		return nil
	}
	last, err := lastAudit(ctx, tx)
	if err != nil {
		return err
	}
	es, err := entries(run, last)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := putAudit(ctx, tx, last, e); err != nil {
			return err
		}
		last = &e
	}
	return nil
}

// auditPage is how many entries AuditEntries reads per query.
const auditPage = 256

// AuditEntries calls fn for every entry in Seq order. It reads a page at a
// time and calls fn between queries, so fn may write to a slow writer
// without holding a connection.
func (s *Store) AuditEntries(ctx context.Context, fn func(audit.Entry) error) error {
	var after int64
	for {
		page, err := s.auditPage(ctx, after)
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
		if len(page) < auditPage {
			return nil
		}
		after = int64(page[len(page)-1].Seq)
	}
}

// auditPage reads up to auditPage entries after seq.
func (s *Store) auditPage(ctx context.Context, after int64) ([]audit.Entry, error) {
	rows, err := s.pool.Query(ctx, "SELECT data FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2", after, auditPage)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := make([]audit.Entry, 0, auditPage)
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		var e audit.Entry
		if err := unmarshal(v, &e); err != nil {
			return nil, err
		}
		page = append(page, e)
	}
	return page, rows.Err()
}
