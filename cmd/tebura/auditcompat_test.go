package main

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// releaseHead is the chain head `tebura audit verify` printed for
// testdata/audit-release-b53c2ec.db.gz when the release that wrote it
// (commit b53c2ec, `tebura run` of the runbooks in
// audit-release-b53c2ec.yaml: two hellos, a failure, a break-glass
// remediation) verified it.
const releaseHead = "13:c1bde296f73a78c2d0ff2661d4bfb46d58749843c122022312e435bdfbe82861"

// TestAuditVerifiesReleaseChain: the audit vocabulary and the CLI's
// request detail changed since that release; its chain must still verify
// as written, and go on verifying once this build appends to it.
func TestAuditVerifiesReleaseChain(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "fixture")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tebura.yaml")
	body, err := os.ReadFile("testdata/audit-release-b53c2ec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	gunzip(t, "testdata/audit-release-b53c2ec.db.gz", filepath.Join(dir, "data", dbFile))

	out, errOut, code := runCLI(t, "", "audit", "verify", "--config", cfg, "--anchor", releaseHead)
	if code != 0 || !strings.Contains(out, "ok: 13 audit entries, chain intact, head "+releaseHead) {
		t.Fatalf("verify the release's chain: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "hello"); code != 0 {
		t.Fatalf("run on the release's database: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "", "audit", "verify", "--config", cfg, "--anchor", releaseHead)
	if code != 0 || !strings.Contains(out, "chain intact") || strings.Contains(out, "ok: 13 ") {
		t.Fatalf("verify after this build appended: exit %d\n%s%s", code, out, errOut)
	}
}

func gunzip(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, zr); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
