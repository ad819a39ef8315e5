package runbooks

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// LogRetention bounds the run logs kept under the data dir: each run keeps
// up to log_cap_bytes for good otherwise, and big runs add up (44 runs
// left 441 MB). Zero turns a bound off.
type LogRetention struct {
	// MaxAge prunes a log whose last write is older (runbooks.log_retention).
	MaxAge time.Duration
	// MaxTotalBytes prunes the oldest logs until the rest fit
	// (runbooks.log_total_bytes).
	MaxTotalBytes int64
}

// Pruned is what one PruneLogs removed.
type Pruned struct {
	Files int
	Bytes int64
}

// logFile is a run log found on disk.
type logFile struct {
	path  string
	runID string
	size  int64
	mod   time.Time
}

// PruneLogs removes run logs older than r.MaxAge, then the oldest ones
// until the rest fit r.MaxTotalBytes. The log of a run queued or running
// in this executor is never removed, whatever its age or size: it is still
// being written and read. A removed log's run says, when its log is asked
// for, that the log is gone (ReadLog).
func (e *Executor) PruneLogs(r LogRetention) (Pruned, error) {
	var out Pruned
	if e.cfg.DataDir == "" || (r.MaxAge <= 0 && r.MaxTotalBytes <= 0) {
		return out, nil
	}
	dir := filepath.Join(e.cfg.DataDir, "logs")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	var logs []logFile
	var total int64
	for _, de := range entries {
		id, ok := strings.CutSuffix(de.Name(), ".log")
		if !ok || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		logs = append(logs, logFile{path: filepath.Join(dir, de.Name()), runID: id, size: info.Size(), mod: info.ModTime()})
		total += info.Size()
	}
	sort.Slice(logs, func(i, j int) bool { return logs[i].mod.Before(logs[j].mod) })
	now := e.cfg.Clock()
	var errs []error
	for _, l := range logs {
		old := r.MaxAge > 0 && now.Sub(l.mod) > r.MaxAge
		over := r.MaxTotalBytes > 0 && total > r.MaxTotalBytes
		if !old && !over {
			continue
		}
		removed, err := e.removeLog(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if removed {
			out.Files++
			out.Bytes += l.size
			total -= l.size
		}
	}
	if out.Files > 0 {
		e.log.Info("run logs pruned", "files", out.Files, "bytes", out.Bytes, "kept_bytes", total)
	}
	return out, errors.Join(errs...)
}

// removeLog removes l unless its run is queued or running here; the check
// and the removal happen under the executor's lock, so a run cannot begin
// writing in between.
func (e *Executor) removeLog(l logFile) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, live := e.handles[l.runID]; live {
		return false, nil
	}
	err := os.Remove(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
