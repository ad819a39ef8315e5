package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/store/bolt"
)

// TestChangeRecordCLI: `tebura change record` stores a change once (the
// same --id again changes nothing), refuses a bad time with what to type,
// and the card's window query finds it.
func TestChangeRecordCLI(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	cfg := writeConfig(t, "data_dir: "+dir+"\n")
	args := []string{"-c", cfg, "change", "record", "--service", "api", "--version", "v1.42", "--by", "ci", "--id", "build-981",
		"--url", "https://ci.example/981", "--at", "2026-12-06T10:00:00Z"}
	out, errb, code := runCLI(t, "", args...)
	if code != 0 || !strings.Contains(out, "recorded change to api: v1.42") {
		t.Fatalf("record: code %d, out %q, err %q", code, out, errb)
	}
	out, _, code = runCLI(t, "", args...)
	if code != 0 || !strings.Contains(out, "recorded before") {
		t.Errorf("record again: code %d, out %q", code, out)
	}
	_, errb, code = runCLI(t, "", "-c", cfg, "change", "record", "--service", "api", "--at", "yesterday")
	if code != 2 || !strings.Contains(errb, "RFC 3339") {
		t.Errorf("bad --at: code %d, err %q", code, errb)
	}
	_, errb, code = runCLI(t, "", "-c", cfg, "change", "record", "--version", "v1")
	if code == 0 || !strings.Contains(errb, "service") {
		t.Errorf("no --service: code %d, err %q", code, errb)
	}
	st, err := bolt.Open(filepath.Join(dir, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	got, err := st.Changes(context.Background(), "api", at.Add(-time.Hour), at, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "build-981" || got[0].Source != "cli" || got[0].URL != "https://ci.example/981" {
		t.Errorf("changes = %+v", got)
	}
}
