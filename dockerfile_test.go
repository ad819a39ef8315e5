package tebura

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// No Docker engine runs where these tests run, so the Dockerfile is kept
// true by reading it: its two images, and a build whose flags are the
// Makefile's (which `make release-check` builds and checks in CI).

// stage is one FROM of a Dockerfile with its instructions, continuation
// lines joined.
type stage struct {
	from, name string
	lines      []string
}

func readDockerfile(t *testing.T) []stage {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	flush := func() {
		line := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if line == "" {
			return
		}
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			f := strings.Fields(rest)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case "ARG", "RUN", "COPY", "ENV", "USER", "VOLUME", "EXPOSE", "WORKDIR", "HEALTHCHECK", "ENTRYPOINT", "CMD":
			if len(stages) == 0 {
				t.Fatalf("Dockerfile: %s before the first FROM", word)
			}
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		default:
			t.Fatalf("Dockerfile: unknown instruction %q", word)
		}
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if c, ok := strings.CutSuffix(l, `\`); ok {
			cur.WriteString(c + " ")
			continue
		}
		cur.WriteString(l)
		flush()
	}
	flush()
	return stages
}

// vars turns $(X) (make) and ${X} (Dockerfile) into X, so the two
// spellings of one flag compare equal.
var vars = regexp.MustCompile(`\$[({]([A-Z]+)[)}]`)

// buildFlags is a go build command line's environment and flags without
// the output path, the build variables spelled alike.
func buildFlags(cmd string) []string {
	cmd = vars.ReplaceAllString(cmd, "$1")
	cmd = strings.NewReplacer(`"`, "", `'`, "").Replace(cmd)
	f := strings.Fields(cmd)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-o" {
			f = append(f[:i], f[i+2:]...)
			break
		}
	}
	return f
}

func find(s stage, prefix string) []string {
	var out []string
	for _, l := range s.lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func TestDockerfileBuildsTheMakefilesBinary(t *testing.T) {
	stages := readDockerfile(t)
	if len(stages) == 0 || stages[0].name != "build" {
		t.Fatal("the first stage must be the build stage")
	}
	var dockerBuild string
	for _, r := range find(stages[0], "RUN ") {
		if i := strings.Index(r, "CGO_ENABLED=0 go build"); i >= 0 {
			dockerBuild, _, _ = strings.Cut(r[i:], " && ")
		}
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	ldflags := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.+)$`).FindStringSubmatch(string(mk))
	makeBuild := regexp.MustCompile(`(?m)^\t(CGO_ENABLED=0 go build .*)$`).FindStringSubmatch(string(mk))
	if dockerBuild == "" || ldflags == nil || makeBuild == nil {
		t.Fatalf("build commands not found: Dockerfile %q, Makefile LDFLAGS %v, build %v", dockerBuild, ldflags, makeBuild)
	}
	want := buildFlags(strings.ReplaceAll(makeBuild[1], "$(LDFLAGS)", ldflags[1]))
	if got := buildFlags(dockerBuild); !slices.Equal(got, want) {
		t.Errorf("the Dockerfile builds with\n  %q\nthe Makefile with\n  %q", got, want)
	}
}

func TestDockerfileHasTheTwoImages(t *testing.T) {
	stages := readDockerfile(t)
	last := stages[len(stages)-1]
	if !strings.HasPrefix(last.from, "gcr.io/distroless/static-") {
		t.Errorf("the default image (last stage) is %s, want distroless static", last.from)
	}
	var tools *stage
	for i := range stages {
		if stages[i].name == "tools" {
			tools = &stages[i]
		}
	}
	if tools == nil || !regexp.MustCompile(`^debian:[0-9a-z]+-slim$`).MatchString(tools.from) {
		t.Fatalf("no tools stage on a Debian slim image: %+v", tools)
	}
	installs := strings.Join(find(*tools, "RUN "), " ")
	for _, pkg := range []string{"curl", "jq", "ansible", "openssh-client"} {
		if !regexp.MustCompile(`apt-get install [^&]*\b` + pkg + `\b`).MatchString(installs) {
			t.Errorf("the tools image does not install %s", pkg)
		}
	}
	// Both images: the build stage's binary, the same config, user, data
	// directory and entry point.
	for _, s := range []stage{*tools, last} {
		for _, want := range []string{
			"COPY --from=build /out/tebura /usr/local/bin/tebura",
			"USER 65532:65532",
			"ENV TEBURA_CONFIG=/etc/tebura/tebura.yaml TEBURA_DATA_DIR=/data TEBURA_HTTP_LISTEN=0.0.0.0:8080",
			"COPY --from=build --chown=65532:65532 /out/data /data",
			`ENTRYPOINT ["/usr/local/bin/tebura"]`,
			`CMD ["serve"]`,
		} {
			if !slices.Contains(s.lines, want) {
				t.Errorf("stage %s (%s) lacks %q", s.name, s.from, want)
			}
		}
	}
}
