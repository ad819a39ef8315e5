package runbooks

import (
	"strings"
	"testing"
	"time"
)

func planRunbook(t *testing.T) *Runbook {
	t.Helper()
	dir := t.TempDir()
	writeRunbook(t, dir, "a.yaml", goodRunbook)
	reg, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, _ := reg.Get("restart-api")
	return rb
}

func TestRender(t *testing.T) {
	rb := planRunbook(t)
	v, err := rb.ParseArgs([]string{"env=prod", "service=web", "token=s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := rb.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps[0].Argv, "|"); got != "kubectl|rollout|restart|deployment/web|-n|prod" {
		t.Errorf("argv = %q", got)
	}
	env := strings.Join(steps[0].Env, " ")
	if !strings.Contains(env, "TOKEN=s3cr3t") || !strings.Contains(env, "TEBURA_PARAM_SERVICE=web") {
		t.Errorf("env = %q", env)
	}
	if steps[1].HTTP.URL != "http://127.0.0.1:8080/health/web" {
		t.Errorf("url = %q", steps[1].HTTP.URL)
	}
	if steps[2].Script != `echo "$TEBURA_PARAM_SERVICE"` || steps[2].Interpreter[0] != "/bin/sh" {
		t.Errorf("script step = %+v", steps[2])
	}
	if key, _ := rb.LockKey(v); key != "restart-web" {
		t.Errorf("lock = %q", key)
	}
}

func TestRenderURLEscapes(t *testing.T) {
	rb := &Runbook{Name: "h", Params: []Param{{Name: "q", Type: TypeString}, {Name: "u", Type: TypeString}}, Steps: []Step{
		{Name: "a", HTTP: &HTTPStep{Method: "GET", URL: "http://example.test/x/{{ .Params.q }}?q={{ .Params.q }}"}},
		{Name: "b", HTTP: &HTTPStep{Method: "GET", URL: "{{ .Params.u }}"}},
	}}
	steps, err := rb.Render(Values{"q": "a b/../c?d=1&e#f", "u": "http://127.0.0.1:8080/healthz?x=1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://example.test/x/a%20b%2F..%2Fc%3Fd%3D1%26e%23f?q=a%20b%2F..%2Fc%3Fd%3D1%26e%23f"; steps[0].HTTP.URL != want {
		t.Errorf("url = %q, want %q", steps[0].HTTP.URL, want)
	}
	if steps[1].HTTP.URL != "http://127.0.0.1:8080/healthz?x=1" {
		t.Errorf("whole-URL param = %q", steps[1].HTTP.URL)
	}
	if _, err := rb.Render(Values{"q": "", "u": "file:///etc/passwd"}); err == nil {
		t.Error("a file:// URL was accepted")
	}
}

func TestPlanMasksAndHashes(t *testing.T) {
	rb := planRunbook(t)
	plan := func(args ...string) *Plan {
		t.Helper()
		v, err := rb.ParseArgs(args)
		if err != nil {
			t.Fatal(err)
		}
		p, err := rb.Plan(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := plan("env=prod", "token=s3cr3t")
	text := p1.String()
	for _, want := range []string{"restart-api (remediation), timeout 5m, lock restart-api", "token=***", "1. restart: kubectl rollout restart deployment/api -n prod", "env: TOKEN", "2. health: GET http://127.0.0.1:8080/health/api (expect 200)", "   | echo \"$TEBURA_PARAM_SERVICE\"", "plan " + p1.Hash[:12]} {
		if !strings.Contains(text, want) {
			t.Errorf("plan text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "s3cr3t") || strings.Contains(text, "TOKEN=") {
		t.Errorf("plan shows a secret or an env value:\n%s", text)
	}
	if len(p1.Hash) != 64 {
		t.Errorf("hash = %q", p1.Hash)
	}
	if p2 := plan("env=prod", "token=s3cr3t"); p2.Hash != p1.Hash {
		t.Error("hash is not stable")
	}
	if p3 := plan("env=prod", "token=other"); p3.Hash == p1.Hash {
		t.Error("changing a secret did not change the hash")
	}
	if p4 := plan("env=staging", "token=s3cr3t"); p4.Hash == p1.Hash {
		t.Error("changing a param did not change the hash")
	}
	rb.Timeout = time.Hour
	if p5 := plan("env=prod", "token=s3cr3t"); p5.Hash == p1.Hash {
		t.Error("changing the timeout did not change the hash")
	}
	rb.Timeout = 5 * time.Minute
	rb.Steps[2].Script = "echo changed"
	if p6 := plan("env=prod", "token=s3cr3t"); p6.Hash == p1.Hash {
		t.Error("changing a script did not change the hash")
	}
}

func TestQuoteArg(t *testing.T) {
	tests := map[string]string{"plain": "plain", "a b": `"a b"`, "": `""`, "x\ny": `"x\ny"`, "$(rm)": `"$(rm)"`, "--flag=1": "--flag=1"}
	for in, want := range tests {
		if got := quoteArg(in); got != want {
			t.Errorf("quoteArg(%q) = %s, want %s", in, got, want)
		}
	}
}
