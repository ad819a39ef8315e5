package bolt

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tebura/tebura/runbooks"
)

// TestBackup: the copy has the announced size, opens read-only (without
// a write) and holds what was stored.
func TestBackup(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	for range 3 {
		if err := s.CreateRun(ctx, &runbooks.Run{Runbook: "rb", State: runbooks.StateSucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	var announced int64
	n, err := s.Backup(ctx, func(size int64) (io.Writer, error) {
		announced = size
		return f, nil
	})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n != announced || n == 0 {
		t.Errorf("wrote %d bytes, announced %d", n, announced)
	}
	before, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(out, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := c.ListRuns(ctx, runbooks.ListOptions{})
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 {
		t.Errorf("the copy holds %d runs, want the 3 stored before it began", len(runs))
	}
	after, _ := os.Stat(out)
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Error("opening the copy read-only changed it")
	}
}
