package main

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Set by the Makefile with -ldflags "-X main.version=… -X main.commit=…
// -X main.date=…" (see docs/release.md). Empty means: ask the binary's own
// build information, which `go build` fills from git (but `go run` and
// `go test` do not).
var (
	version string // the release tag, "v0.1.0", or "v0.0.0-dev"
	commit  string // the short commit hash
	date    string // the commit's time, RFC 3339 in UTC
)

// devVersion is the version of any build that is not of a release tag.
const devVersion = "v0.0.0-dev"

// build says which source a binary was built from. `tebura version`
// prints it and tebura_build_info reports it, so that a bug report or a
// dashboard names the exact commit.
type build struct {
	Version string    // "v0.1.0", devVersion when untagged; "+dirty" when built from a modified tree
	Commit  string    // 7 hex digits, "unknown" when nothing says
	Date    time.Time // the commit's time; zero when unknown
	Go      string    // the toolchain, "go1.26.8"
}

// String is the line `tebura version` prints:
// "tebura v0.1.0 (commit abc1234, built 2026-11-26T16:59:37Z, go1.26.8)".
func (b build) String() string {
	s := "tebura " + b.Version + " (commit " + b.Commit
	if !b.Date.IsZero() {
		s += ", built " + b.Date.UTC().Format(time.RFC3339)
	}
	return s + ", " + b.Go + ")"
}

// currentBuild is this binary's build.
func currentBuild() build {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(version, commit, date, bi, runtime.Version())
}

// pseudoVersion matches the version Go stamps for a commit that is not
// tagged: v0.0.0-20261126165937-e8e218d519ff, v0.1.1-0.20261126165937-….
var pseudoVersion = regexp.MustCompile(`-(?:0\.)?\d{14}-[0-9a-f]{12}$`)

// resolveBuild takes each field from the ldflags values when set, else
// from the build information (vcs.revision, vcs.time, vcs.modified and
// the main module's version, which Go sets to the tag when the commit has
// one). Only a release tag is a version; anything else is devVersion.
func resolveBuild(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo, goVersion string) build {
	b := build{Version: ldVersion, Commit: ldCommit, Go: goVersion}
	if ldDate != "" {
		b.Date, _ = time.Parse(time.RFC3339, ldDate)
	}
	vcs := map[string]string{}
	modVersion := ""
	if bi != nil {
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
		modVersion = bi.Main.Version
	}
	if b.Version == "" {
		tag, dirty := strings.CutSuffix(modVersion, "+dirty")
		b.Version = devVersion
		if strings.HasPrefix(tag, "v") && !pseudoVersion.MatchString(tag) {
			b.Version = tag
		}
		if dirty || vcs["vcs.modified"] == "true" {
			b.Version += "+dirty"
		}
	}
	if b.Commit == "" {
		b.Commit = vcs["vcs.revision"]
	}
	if len(b.Commit) > 7 {
		b.Commit = b.Commit[:7]
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date.IsZero() {
		b.Date, _ = time.Parse(time.RFC3339, vcs["vcs.time"])
	}
	return b
}
