package bolt

import (
	"bytes"
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura/runbooks"
)

var _ runbooks.LogStore = (*Store)(nil)

// logChunk is one chunk of a run's log as stored: run ID NUL be64(seq) →
// logChunk.
type logChunk struct {
	Data    []byte    `json:"data"`
	Written time.Time `json:"written"`
}

// logKey is run ID NUL be64(seq): a run's chunks share a prefix, in order.
func logKey(runID string, seq int) []byte {
	return append(append([]byte(runID), 0), seqKey(uint64(seq))...)
}

// AppendLog implements runbooks.LogStore.
func (s *Store) AppendLog(ctx context.Context, runID string, seq int, chunk []byte) error {
	v, err := marshal(&logChunk{Data: chunk, Written: s.clock()})
	if err != nil {
		return storageError(err, "encode log chunk")
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketLogs)).Put(logKey(runID, seq), v)
	})
	return storageError(err, "append log chunk")
}

// LogChunks implements runbooks.LogStore.
func (s *Store) LogChunks(ctx context.Context, runID string, fn func(chunk []byte) error) error {
	var chunks [][]byte
	prefix := append([]byte(runID), 0)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketLogs)).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var lc logChunk
			if err := unmarshal(v, &lc); err != nil {
				return err
			}
			chunks = append(chunks, lc.Data)
		}
		return nil
	})
	if err != nil {
		return storageError(err, "read log chunks")
	}
	for _, c := range chunks {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// PruneLogs implements runbooks.LogStore.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int, error) {
	runs := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketLogs))
		last := map[string]time.Time{}
		var order []string
		err := b.ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return nil
			}
			var lc logChunk
			if err := unmarshal(v, &lc); err != nil {
				return err
			}
			id := string(k[:i])
			if _, ok := last[id]; !ok {
				order = append(order, id)
			}
			if lc.Written.After(last[id]) {
				last[id] = lc.Written
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range order {
			if !last[id].Before(before) {
				continue
			}
			prefix := append([]byte(id), 0)
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			runs++
		}
		return nil
	})
	return runs, storageError(err, "prune log chunks")
}
