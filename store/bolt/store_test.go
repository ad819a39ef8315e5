package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/runbooks"
)

// raw runs fn on the store's bbolt file in a write transaction, bypassing
// the Store: this is how tests tamper with data.
func raw(t *testing.T, s *Store, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	if err := s.db.Update(fn); err != nil {
		t.Fatalf("raw update: %v", err)
	}
}

func TestBucketsCreatedAtOpen(t *testing.T) {
	s, _, _ := openTest(t)
	err := s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range append(allBuckets(), "incidents", "incident_keys", "alerts", "timeline", "incident_seq") {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("bucket %s missing", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestValuesAreVersionedJSON(t *testing.T) {
	s, clock, _ := openTest(t)
	ctx := t.Context()
	if err := s.CreateRun(ctx, &runbooks.Run{Runbook: "x", State: runbooks.StateQueued}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mark(ctx, "s", "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCallback(ctx, bot.Callback{ID: "cb"}); err != nil {
		t.Fatal(err)
	}
	if err := audit.New(s, nil, clock.Now).Record(ctx, "system", audit.ActionConfigLoad, "", nil); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{bucketRuns, bucketDedupe, bucketCallbacks, bucketAudit} {
			_, v := tx.Bucket([]byte(name)).Cursor().First()
			var hdr struct{ V int }
			if err := json.Unmarshal(v, &hdr); err != nil || hdr.V != 1 {
				return fmt.Errorf("bucket %s value %s: version %d, %v", name, v, hdr.V, err)
			}
		}
		k, _ := tx.Bucket([]byte(bucketRuns)).Cursor().First()
		if !bytes.Equal(k, []byte{0, 0, 0, 0, 0, 0, 0, 1}) {
			return fmt.Errorf("run key %x is not big-endian 1", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMarshalUnmarshal(t *testing.T) {
	type rec struct {
		A string `json:"a,omitempty"`
	}
	tests := []struct {
		in   rec
		want string
	}{
		{rec{A: "x"}, `{"v":1,"a":"x"}`},
		{rec{}, `{"v":1}`},
	}
	for _, tt := range tests {
		b, err := marshal(&tt.in)
		if err != nil || string(b) != tt.want {
			t.Errorf("marshal(%+v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
		var out rec
		if err := unmarshal(b, &out); err != nil || out != tt.in {
			t.Errorf("unmarshal(%s) = %+v, %v", b, out, err)
		}
	}
	if _, err := marshal([]string{"x"}); err == nil {
		t.Error("marshal of a non-object succeeded")
	}
	for _, in := range []string{`{"v":2,"a":"x"}`, `{"a":"x"}`, `{"v":10,"a":"x"}`, `not json`} {
		var out rec
		if err := unmarshal([]byte(in), &out); err == nil {
			t.Errorf("unmarshal(%s) accepted a value this version cannot read", in)
		}
	}
	var out rec
	if err := unmarshal([]byte(`{"a":"y", "v":1}`), &out); err != nil || out.A != "y" {
		t.Errorf("unmarshal with v not first = %+v, %v", out, err)
	}
}

func TestNewerVersionRefused(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := t.Context()
	if err := s.CreateRun(ctx, &runbooks.Run{Runbook: "x"}); err != nil {
		t.Fatal(err)
	}
	raw(t, s, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketRuns)).Put(seqKey(1), []byte(`{"v":2,"id":"r1"}`))
	})
	_, err := s.GetRun(ctx, "r1")
	if tebura.ErrorCode(err) != tebura.EINTERNAL || !strings.Contains(err.Error(), "upgrade tebura") {
		t.Errorf("GetRun of a v2 record = %v; want an internal error asking to upgrade", err)
	}
}

func TestCanceledContext(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := t.Context()
	cctx, stop := context.WithCancel(ctx)
	stop()
	if err := s.CreateRun(cctx, &runbooks.Run{}); err == nil {
		t.Error("CreateRun with a canceled context succeeded")
	}
	if runs, _ := s.ListRuns(ctx, runbooks.ListOptions{}); len(runs) != 0 {
		t.Errorf("a canceled CreateRun stored %d runs", len(runs))
	}
}

func TestAuditTamperingThroughTheStore(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(tx *bbolt.Tx) error
		wantSeq uint64
	}{
		{"edit a detail", func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketAudit))
			v := bytes.Replace(b.Get(seqKey(3)), []byte(`"runbook":"restart-api"`), []byte(`"runbook":"drop-db"`), 1)
			return b.Put(seqKey(3), v)
		}, 3},
		{"delete one", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketAudit)).Delete(seqKey(2))
		}, 2},
		{"swap two", func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketAudit))
			v4, v5 := bytes.Clone(b.Get(seqKey(4))), bytes.Clone(b.Get(seqKey(5)))
			if err := b.Put(seqKey(4), v5); err != nil {
				return err
			}
			return b.Put(seqKey(5), v4)
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock, _ := openTest(t)
			ctx := t.Context()
			l := audit.New(s, nil, clock.Now)
			for i := range 6 {
				clock.Advance(time.Second)
				if err := l.Record(ctx, "slack:U1", audit.ActionRunStart, fmt.Sprintf("r%d", i), map[string]string{"runbook": "restart-api"}); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := audit.Verify(ctx, s); n != 6 || err != nil {
				t.Fatalf("Verify before tampering = %d, %v", n, err)
			}
			raw(t, s, tt.tamper)
			_, err := audit.Verify(ctx, s)
			var ce *audit.ChainError
			if !errors.As(err, &ce) || ce.Seq != tt.wantSeq {
				t.Errorf("Verify after tampering = %v; want a break at seq %d", err, tt.wantSeq)
			}
		})
	}
}

func TestAuditEntriesPages(t *testing.T) {
	s, clock, _ := openTest(t)
	ctx := t.Context()
	// Append directly in a few big transactions; Record would cost one
	// commit per entry.
	const n = 2*auditPage + 17
	var prev string
	raw(t, s, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketAudit))
		for i := uint64(1); i <= n; i++ {
			e := audit.Entry{Seq: i, Time: clock.Now(), Actor: "system", Action: "x", Prev: prev}
			e.Hash = audit.Hash(e)
			prev = e.Hash
			v, err := marshal(&e)
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(i), v); err != nil {
				return err
			}
		}
		return nil
	})
	// fn may do I/O: no read transaction is open while it runs.
	var seqs []uint64
	err := s.AuditEntries(ctx, func(e audit.Entry) error {
		seqs = append(seqs, e.Seq)
		if open := s.db.Stats().OpenTxN; open != 0 {
			return fmt.Errorf("%d transactions open while fn runs on seq %d", open, e.Seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != n || seqs[0] != 1 || seqs[n-1] != n {
		t.Fatalf("read %d entries (%v…); want %d in order", len(seqs), seqs[:3], n)
	}
	for i, q := range seqs {
		if q != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, q)
		}
	}
	if got, err := audit.Verify(ctx, s); got != n || err != nil {
		t.Errorf("Verify = %d, %v", got, err)
	}
}

func TestPrune(t *testing.T) {
	s, clock, _ := openTest(t)
	ctx := t.Context()
	now := clock.Now()
	// More keys than one prune batch, written in one transaction (Mark
	// would cost one commit each); odd keys outlive the prune.
	raw(t, s, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketDedupe))
		for i := range 2*pruneBatch + 500 {
			ttl := time.Minute
			if i%2 == 1 {
				ttl = time.Hour
			}
			v, err := marshal(&dedupeRecord{Expires: now.Add(ttl)})
			if err != nil {
				return err
			}
			if err := b.Put(dedupeKey("ev", fmt.Sprint(i)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if first, _ := s.Mark(ctx, "ev", "0", time.Hour); first {
		t.Fatal("Mark does not see the keys written for the test")
	}
	for _, cb := range []bot.Callback{
		{ID: "old", Expires: now.Add(time.Minute)},
		{ID: "fresh", Expires: now.Add(time.Hour)},
		{ID: "forever"},
	} {
		if err := s.PutCallback(ctx, cb); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Prune(ctx, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st.Dedupe != 1250 || st.Callbacks != 1 {
		t.Errorf("Prune = %+v; want 1250 dedupe keys and 1 callback", st)
	}
	if _, err := s.GetCallback(ctx, "old"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("expired callback still there: %v", err)
	}
	for _, id := range []string{"fresh", "forever"} {
		if _, err := s.GetCallback(ctx, id); err != nil {
			t.Errorf("callback %s pruned: %v", id, err)
		}
	}
	var left int
	s.db.View(func(tx *bbolt.Tx) error { left = tx.Bucket([]byte(bucketDedupe)).Stats().KeyN; return nil })
	if left != 1250 {
		t.Errorf("%d dedupe keys left, want 1250", left)
	}
	if first, _ := s.Mark(ctx, "ev", "1", time.Hour); first {
		t.Error("a live key was pruned")
	}
}
