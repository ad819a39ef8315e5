package bolt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	bbolt "go.etcd.io/bbolt"
)

// Releases before the secrets rework stored the values of secret params
// in clear in the run records ("params":{"token":"…"}), for good. The
// first open by this release scrubs them (the record keeps the param's
// name in "secret" and drops its value, as this release writes runs) and
// then rewrites the file compactly, because bbolt leaves the replaced
// pages, values included, in the file's free pages until they happen to
// be reused. The audit chain is not touched: its entries always masked
// secret params, so it verifies as written.

// metaScrubbed marks a database whose run records hold no secret value in
// clear: set by the scrub, and at the creation of a new file.
const metaScrubbed = "store.secret_params_scrubbed"

// scrubbed reports whether the database was scrubbed already.
func scrubbed(tx *bbolt.Tx) bool {
	m := tx.Bucket([]byte(bucketMeta))
	return m != nil && m.Get([]byte(metaScrubbed)) != nil
}

// scrubSecretParams drops the value of every secret param from every run
// record and marks the database scrubbed. It returns how many records
// changed.
func scrubSecretParams(tx *bbolt.Tx) (int, error) {
	runs := tx.Bucket([]byte(bucketRuns))
	type change struct{ k, v []byte }
	var changes []change
	err := runs.ForEach(func(k, v []byte) error {
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("run %x: %w", k, err)
		}
		var params map[string]string
		var secret []string
		if err := json.Unmarshal(rec["params"], &params); err != nil && rec["params"] != nil {
			return fmt.Errorf("run %x params: %w", k, err)
		}
		if err := json.Unmarshal(rec["secret"], &secret); err != nil && rec["secret"] != nil {
			return fmt.Errorf("run %x secret: %w", k, err)
		}
		dropped := false
		for name, val := range params {
			if val != "" && slices.Contains(secret, name) {
				delete(params, name)
				dropped = true
			}
		}
		if !dropped {
			return nil
		}
		b, err := json.Marshal(params)
		if err != nil {
			return err
		}
		rec["params"] = b
		delete(rec, "v") // marshal writes it first
		out, err := marshal(rec)
		if err != nil {
			return err
		}
		changes = append(changes, change{k: slices.Clone(k), v: out})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scrub secret params: %w", err)
	}
	for _, c := range changes { // a bucket is not written while it is iterated
		if err := runs.Put(c.k, c.v); err != nil {
			return 0, err
		}
	}
	if err := tx.Bucket([]byte(bucketMeta)).Put([]byte(metaScrubbed), []byte("1")); err != nil {
		return 0, err
	}
	return len(changes), nil
}

// compact rewrites the file at path from db (which it closes) into a new
// file holding only live data, replaces the file with it and opens it: the
// free pages of the old file, with whatever values they held, are gone.
func compact(db *bbolt.DB, path string, opts *bbolt.Options) (*bbolt.DB, error) {
	tmp := path + ".compact"
	_ = os.Remove(tmp) // left by a compaction that died; the original is intact
	dst, err := bbolt.Open(tmp, 0o600, opts)
	if err != nil {
		return db, err
	}
	if err := bbolt.Compact(dst, db, 0); err != nil {
		dst.Close()
		os.Remove(tmp)
		return db, err
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return db, err
	}
	if err := db.Close(); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return bbolt.Open(path, 0o600, opts)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename is durable before anything is written
		d.Close()
	}
	return bbolt.Open(path, 0o600, opts)
}
