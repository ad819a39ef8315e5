package runbooks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

// TestPruneLogs: logs older than MaxAge go, then the oldest until the rest
// fit MaxTotalBytes; the log of a run still running stays whatever its age
// and size, and a pruned run's log answers that it is gone.
func TestPruneLogs(t *testing.T) {
	now := time.Now()
	type file struct {
		name string
		size int
		age  time.Duration
	}
	files := []file{
		{"r101.log", 100, 72 * time.Hour},
		{"r102.log", 100, 30 * time.Hour},
		{"r103.log", 100, 3 * time.Hour},
		{"r104.log", 100, 2 * time.Hour},
		{"r105.log", 100, time.Hour},
	}
	tests := []struct {
		name      string
		ret       LogRetention
		wantKept  []string // besides the running run's log, always kept
		wantFiles int
	}{
		{"off", LogRetention{}, []string{"r101.log", "r102.log", "r103.log", "r104.log", "r105.log"}, 0},
		{"age", LogRetention{MaxAge: 24 * time.Hour}, []string{"r103.log", "r104.log", "r105.log"}, 2},
		// 500 bytes of old logs and the running run's 1000: the oldest go
		// first until the total fits; the running log counts but never goes,
		// even when it alone is over the bound.
		{"total", LogRetention{MaxTotalBytes: 250}, nil, 5},
		{"both", LogRetention{MaxAge: 48 * time.Hour, MaxTotalBytes: 1350}, []string{"r103.log", "r104.log", "r105.log"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, ExecutorConfig{})
			rb := h.load("name: long\nkind: diagnostic\nsteps:\n  - run: [sleep, '1000']\n")
			handle, live, err := h.start(rb, "console:a")
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, handle, "running", func(s Snapshot) bool { return s.State == StateRunning })
			liveLog := filepath.Join(h.dir, "logs", live.ID+".log")
			f, err := os.OpenFile(liveLog, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString(strings.Repeat("y", 1000))
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(liveLog, now.Add(-100*time.Hour), now.Add(-100*time.Hour)); err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				p := filepath.Join(h.dir, "logs", f.name)
				if err := os.WriteFile(p, []byte(strings.Repeat("x", f.size)), 0o640); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, now.Add(-f.age), now.Add(-f.age)); err != nil {
					t.Fatal(err)
				}
			}
			got, err := h.exec.PruneLogs(tc.ret)
			if err != nil {
				t.Fatal(err)
			}
			if got.Files != tc.wantFiles || got.Bytes != int64(tc.wantFiles*100) {
				t.Errorf("pruned %+v, want %d files of 100 bytes", got, tc.wantFiles)
			}
			entries, _ := os.ReadDir(filepath.Join(h.dir, "logs"))
			var kept []string
			for _, e := range entries {
				kept = append(kept, e.Name())
			}
			want := append(slices.Clone(tc.wantKept), live.ID+".log")
			slices.Sort(want)
			if !slices.Equal(kept, want) {
				t.Errorf("kept %v, want %v", kept, want)
			}
			if tc.wantFiles > 0 {
				_, err := ReadLog(h.dir, &Run{ID: "r101", LogPath: filepath.Join("logs", "r101.log")})
				if tebura.ErrorCode(err) != tebura.ENOTFOUND || !strings.Contains(tebura.ErrorMessage(err), "log_retention") {
					t.Errorf("reading a pruned log: %v", err)
				}
			}
			h.exec.Cancel(t.Context(), live.ID, "console:a")
			h.wait(handle)
		})
	}
}
