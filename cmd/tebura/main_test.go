package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// cleanEnv removes every TEBURA_* variable for the duration of the test, so
// the developer's environment cannot change what a test loads.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TEBURA_") {
			t.Setenv(name, "") // restores the value after the test
			os.Unsetenv(name)
		}
	}
}

// writeConfig writes body as a configuration file in a new temporary
// directory and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tebura.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCLI runs the program in-process and returns stdout, stderr and the
// exit code.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	_, errOut, code := runCLI(t, "", "frobnicate")
	if code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("code %d, stderr %q; want 2 and unknown command", code, errOut)
	}
}

func TestValidateGolden(t *testing.T) {
	cleanEnv(t)
	os.Unsetenv("TEBURA_TEST_UNSET_VARIABLE")
	out, errOut, code := runCLI(t, "", "validate", "--config", filepath.Join("testdata", "broken", "tebura.yaml"))
	if code != 1 {
		t.Errorf("exit code %d, want 1 (stderr %q)", code, errOut)
	}
	golden := filepath.Join("testdata", "validate-broken.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if out != string(want) {
		t.Errorf("validate output differs from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", golden, out, want)
	}
}

func TestValidateExampleConfig(t *testing.T) {
	cleanEnv(t)
	out, errOut, code := runCLI(t, "", "validate", "--config", filepath.Join("..", "..", "config.example.yaml"))
	if code != 0 {
		t.Fatalf("config.example.yaml: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "ok:") || strings.Contains(out, " 0 runbook(s)") {
		t.Fatalf("want ok with the example runbooks loaded, got %q", out)
	}
}

func TestExampleConfigLoadsAndValidates(t *testing.T) {
	cleanEnv(t)
	w, ps, _ := loadWorld(filepath.Join("..", "..", "config.example.yaml"))
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	if err := w.Config.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(w.Registry.List()) == 0 {
		t.Fatal("no example runbooks loaded")
	}
	if w.Policy == nil || !w.Policy.Known("sre") || !w.Policy.Known("dev") {
		t.Fatal("roles sre and dev must exist")
	}
}

// TestExampleConfigOptionalSections: the sections config.example.yaml
// leaves commented out load and validate once uncommented (with their
// ${ENV} references set, and the secrets key the PostgreSQL store asks
// for), so what a user uncomments works.
func TestExampleConfigOptionalSections(t *testing.T) {
	cleanEnv(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(string(raw), "# Everything below is off until you uncomment it")
	if !ok {
		t.Fatal("config.example.yaml lost its optional sections")
	}
	yamlLine := regexp.MustCompile(`^# ([a-z_]+:|  )`)
	var b strings.Builder
	b.WriteString(head)
	n := 0
	for _, line := range strings.Split(tail, "\n") {
		if yamlLine.MatchString(line) {
			b.WriteString(line[2:] + "\n")
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d commented YAML lines found", n)
	}
	full := strings.Replace(b.String(), "  # key_file: /run/secrets/tebura-key", "  key: "+strings.Repeat("ab", 32), 1)
	full = strings.Replace(full, "dirs: [runbooks/examples]", "dirs: ["+filepath.Join(root, "runbooks", "examples")+"]", 1)
	for _, env := range []string{"TEBURA_CHANGES_TOKEN", "GITHUB_WEBHOOK_SECRET", "PAGERDUTY_API_TOKEN", "JIRA_API_TOKEN", "TEBURA_DEPLOY_BOT_TOKEN"} {
		t.Setenv(env, "value-of-"+strings.ToLower(env))
	}
	t.Setenv("TEBURA_PG_DSN", "postgres://tebura@db.example:5432/tebura")
	f := filepath.Join(t.TempDir(), "tebura.yaml")
	if err := os.WriteFile(f, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "", "validate", "--config", f)
	if code != 0 {
		t.Fatalf("config.example.yaml with its optional sections uncommented: exit %d\n%s%s", code, out, errOut)
	}
}
