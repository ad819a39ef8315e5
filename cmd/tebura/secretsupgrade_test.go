package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// prevReleaseHead is the chain head `tebura audit verify` printed for
// testdata/secrets-release-5e1f117.db.gz when the release that wrote it
// (commit 5e1f117, `tebura run --yes hello token=prev12-Secret-Zq7 who=abc`
// then `tebura run --yes hello` with secrets-release-5e1f117.yaml, whose
// token defaults to dflt-Secret-Kx9) verified it. That release kept both
// secret values in clear in its run records, and in a free page each.
const prevReleaseHead = "6:ee371e2cd85fddf3d56b8e7a038629f808da659f96705d993a258199f3633bdc"

// prevReleaseSecrets are the secret param values the fixture holds.
var prevReleaseSecrets = []string{"prev12-Secret-Zq7", "dflt-Secret-Kx9"}

// TestUpgradeScrubsSecretParams: the first open by this build removes the
// secret values a previous release stored, from every byte of the data
// dir (free pages included), and the release's audit chain still
// verifies from its anchor.
func TestUpgradeScrubsSecretParams(t *testing.T) {
	cleanEnv(t)
	t.Setenv("USER", "fixture")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tebura.yaml")
	body, err := os.ReadFile("testdata/secrets-release-5e1f117.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	gunzip(t, "testdata/secrets-release-5e1f117.db.gz", filepath.Join(data, dbFile))
	for _, s := range prevReleaseSecrets {
		if len(grepDir(t, data, s)) == 0 {
			t.Fatalf("the fixture does not hold %s in clear; it no longer tests the scrub", s)
		}
	}

	out, errOut, code := runCLI(t, "", "audit", "verify", "--config", cfg, "--anchor", prevReleaseHead)
	if code != 0 || !strings.Contains(out, "ok: 6 audit entries, chain intact, head "+prevReleaseHead) {
		t.Fatalf("verify the release's chain after the scrub: exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range prevReleaseSecrets {
		if files := grepDir(t, data, s); len(files) > 0 {
			t.Errorf("%s still in clear after the first open, in %v", s, files)
		}
	}
	out, errOut, code = runCLI(t, "", "runs", "--config", cfg, "--json")
	if code != 0 || strings.Count(out, `"token":"***"`) != 2 || !strings.Contains(out, `"who":"abc"`) {
		t.Fatalf("runs after the scrub: exit %d, want both tokens masked and who kept\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "", "run", "--config", cfg, "--yes", "hello", "token=after-Upgrade-Q3"); code != 0 {
		t.Fatalf("run on the scrubbed database: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "", "audit", "verify", "--config", cfg, "--anchor", prevReleaseHead)
	if code != 0 || !strings.Contains(out, "chain intact") || strings.Contains(out, "ok: 6 ") {
		t.Fatalf("verify after this build appended: exit %d\n%s%s", code, out, errOut)
	}
	if files := grepDir(t, data, "after-Upgrade-Q3"); len(files) > 0 {
		t.Errorf("a run of this build left its secret in %v", files)
	}
}

// grepDir returns the files under dir whose bytes contain s.
func grepDir(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() { // the admin socket keeps nothing
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}
