package main

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionLine: the version line is built from the Makefile's ldflags,
// or, for a plain `go build`, from what Go stamped in the binary; only a
// release tag is a version, anything else is v0.0.0-dev with its commit.
func TestVersionLine(t *testing.T) {
	const rev = "e8e218d519ff8915c1d7888c40000d6f31347168"
	stamped := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/tebura/tebura", Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	tests := []struct {
		name                string
		ldVersion, ldCommit string
		ldDate              string
		bi                  *debug.BuildInfo
		want                string
	}{
		{"make build of a tag", "v0.1.0", "e8e218d", "2026-11-26T16:59:37Z", nil,
			"tebura v0.1.0 (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"make build, untagged", "v0.0.0-dev", "e8e218d", "2026-11-26T16:59:37Z", nil,
			"tebura v0.0.0-dev (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"ldflags win over the stamp", "v0.2.0", "abcdef1", "2026-12-01T08:00:00Z",
			stamped("v0.1.0", "vcs.revision", rev, "vcs.time", "2026-11-26T16:59:37Z"),
			"tebura v0.2.0 (commit abcdef1, built 2026-12-01T08:00:00Z, go1.26.8)"},
		{"ldflags date in another zone", "v0.1.0", "e8e218d", "2026-11-27T01:59:37+09:00", nil,
			"tebura v0.1.0 (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"go build of a tag", "", "", "",
			stamped("v0.1.0", "vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-26T16:59:37Z", "vcs.modified", "false"),
			"tebura v0.1.0 (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"go build, untagged", "", "", "",
			stamped("v0.0.0-20261126165937-e8e218d519ff", "vcs.revision", rev, "vcs.time", "2026-11-26T16:59:37Z"),
			"tebura v0.0.0-dev (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"go build, commits after a tag", "", "", "",
			stamped("v0.1.1-0.20261126165937-e8e218d519ff", "vcs.revision", rev, "vcs.time", "2026-11-26T16:59:37Z"),
			"tebura v0.0.0-dev (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"go build of a tag, modified tree", "", "", "",
			stamped("v0.1.0+dirty", "vcs.revision", rev, "vcs.time", "2026-11-26T16:59:37Z", "vcs.modified", "true"),
			"tebura v0.1.0+dirty (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"go build, untagged, modified tree", "", "", "",
			stamped("v0.0.0-20261126165937-e8e218d519ff+dirty", "vcs.revision", rev, "vcs.time", "2026-11-26T16:59:37Z", "vcs.modified", "true"),
			"tebura v0.0.0-dev+dirty (commit e8e218d, built 2026-11-26T16:59:37Z, go1.26.8)"},
		{"go run: nothing stamped", "", "", "", stamped("(devel)"),
			"tebura v0.0.0-dev (commit unknown, go1.26.8)"},
		{"no build information", "", "", "", nil,
			"tebura v0.0.0-dev (commit unknown, go1.26.8)"},
		{"docker build: ldflags without a date", "v0.1.0", "e8e218d", "", nil,
			"tebura v0.1.0 (commit e8e218d, go1.26.8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveBuild(tt.ldVersion, tt.ldCommit, tt.ldDate, tt.bi, "go1.26.8").String()
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestVersion: `tebura version` prints the line of this binary (a test
// binary has no ldflags and no VCS stamp).
func TestVersion(t *testing.T) {
	out, errOut, code := runCLI(t, "", "version")
	want := regexp.MustCompile(`^tebura v\d+\.\d+\.\d+\S* \(commit ([0-9a-f]{7}|unknown)[,)]`)
	if code != 0 || errOut != "" || !want.MatchString(out) || !strings.HasSuffix(out, ", "+runtime.Version()+")\n") {
		t.Fatalf("version: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}
