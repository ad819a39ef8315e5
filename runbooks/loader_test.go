package runbooks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeRunbook(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func knownRole(r string) bool { return r == "sre" || r == "dev" }

const goodRunbook = `name: restart-api
description: Restart the API
kind: remediation
params:
  - {name: env, type: enum, values: [staging, prod], required: true}
  - {name: service, type: string, pattern: '[a-z][a-z0-9-]{0,40}', default: api}
  - {name: token, secret: true}
allow: [sre, dev]
approval: {required: 1, approvers: [sre]}
lock: "restart-{{ .Params.service }}"
timeout: 5m
steps:
  - name: restart
    run: [kubectl, rollout, restart, "deployment/{{ .Params.service }}", -n, "{{ .Params.env }}"]
    env: {TOKEN: "{{ .Params.token }}"}
  - name: health
    http: {url: "http://127.0.0.1:8080/health/{{ .Params.service }}", expect: [200]}
  - name: script
    script: echo "$TEBURA_PARAM_SERVICE"
`

func TestLoadGood(t *testing.T) {
	dir := t.TempDir()
	writeRunbook(t, dir, "a.yaml", goodRunbook)
	writeRunbook(t, dir, "ignored.txt", "not: yaml: at all: [")
	reg, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole, MaxTimeout: time.Hour})
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	rb, ok := reg.Get("restart-api")
	if !ok {
		t.Fatal("restart-api not loaded")
	}
	if rb.Timeout != 5*time.Minute || rb.Approval.Expires != DefaultApprovalExpiry || rb.Steps[1].HTTP.Method != "GET" {
		t.Errorf("defaults not applied: %+v", rb)
	}
	if rb.Source != filepath.Join(dir, "a.yaml")+":1" {
		t.Errorf("source = %q", rb.Source)
	}
}

func TestLoadInline(t *testing.T) {
	inline := []map[string]any{
		{"name": "hello", "kind": "diagnostic", "steps": []any{map[string]any{"run": []any{"echo", "hi"}}}},
		{"name": "bad", "kind": "diagnostic", "timeout": "soon", "steps": []any{map[string]any{"run": []any{"echo"}}}},
	}
	reg, problems := Load(LoadOptions{Inline: inline, InlineSource: "tebura.yaml"})
	if _, ok := reg.Get("hello"); !ok {
		t.Error("hello not loaded")
	}
	if len(problems) != 1 {
		t.Fatalf("problems = %v", problems)
	}
	want := `tebura.yaml: runbook bad: runbooks.inline[1].timeout: "soon" is not a duration`
	if got := problems[0].String(); !strings.HasPrefix(got, want) {
		t.Errorf("problem = %q, want prefix %q", got, want)
	}
	if rb, _ := reg.Get("hello"); rb.Timeout != DefaultTimeout {
		t.Errorf("timeout = %v", rb.Timeout)
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "line: substring"
	}{
		{"unknown key", "name: a\nkind: diagnostic\nfoo: 1\nsteps: [{run: [echo]}]\n", []string{`3: foo: unknown key "foo"`}},
		{"unknown step key", "name: a\nkind: diagnostic\nsteps:\n  - run: [echo]\n    shell: true\n", []string{`5: steps[0].shell: unknown key`}},
		{"bad types", "name: a\nkind: diagnostic\nallow: sre\nsteps:\n  - run: [echo]\n    continue_on_error: maybe\n", []string{"3: allow: must be a list", "6: steps[0].continue_on_error: must be true or false"}},
		{"bad duration", "name: a\nkind: diagnostic\ntimeout: 5 minutes\nsteps: [{run: [echo]}]\n", []string{`3: timeout: "5 minutes" is not a duration`}},
		{"bad step duration", "name: a\nkind: diagnostic\nsteps:\n  - run: [echo]\n    timeout: 10\n", []string{`5: steps[0].timeout: "10" is not a duration`}},
		{"timeout over max", "name: a\nkind: diagnostic\ntimeout: 3h\nsteps: [{run: [echo]}]\n", []string{"3: timeout: 3h0m0s is longer than the configured maximum"}},
		{"step timeout over runbook", "name: a\nkind: diagnostic\ntimeout: 1m\nsteps:\n  - run: [echo]\n    timeout: 2m\n", []string{"6: steps[0].timeout: 2m0s is longer than the runbook's timeout"}},
		{"bad kind", "name: a\nkind: fix\nsteps: [{run: [echo]}]\n", []string{`2: kind: "fix" must be diagnostic or remediation`}},
		{"missing kind", "name: a\nsteps: [{run: [echo]}]\n", []string{"1: kind: is missing"}},
		{"bad name", "name: Restart_API\nkind: diagnostic\nsteps: [{run: [echo]}]\n", []string{`1: name: "Restart_API" must start with a lowercase letter`}},
		{"no steps", "name: a\nkind: diagnostic\n", []string{"1: steps: is empty"}},
		{"no step kind", "name: a\nkind: diagnostic\nsteps:\n  - name: x\n", []string{"4: steps[0]: needs exactly one of " + stepKindList}},
		{"two step kinds", "name: a\nkind: diagnostic\nsteps:\n  - run: [echo]\n    script: echo\n", []string{"4: steps[0]: has run and script"}},
		{"bad regex", "name: a\nkind: diagnostic\nparams:\n  - {name: x, pattern: '[a-'}\nsteps: [{run: [echo]}]\n", []string{"4: params[0].pattern: is not a valid regular expression"}},
		{"unknown role", "name: a\nkind: remediation\nallow: [sre, ops]\napproval:\n  required: 1\n  approvers:\n    - dev\n    - boss\nsteps: [{run: [echo]}]\n", []string{`3: allow[1]: role "ops" is not defined`, `8: approval.approvers[1]: role "boss" is not defined`}},
		{"approval without approvers", "name: a\nkind: remediation\napproval: {required: 2}\nsteps: [{run: [echo]}]\n", []string{"3: approval.approvers: is empty but approval.required is 2"}},
		{"unknown template param", "name: a\nkind: diagnostic\nsteps:\n  - run:\n    - echo\n    - \"{{ .Params.nope }}\"\n", []string{`6: steps[0].run[1]: template uses .Params.nope but the runbook declares no param "nope"`}},
		{"template unknown field", "name: a\nkind: diagnostic\nsteps:\n  - run: [echo, \"{{ .Env.HOME }}\"]\n", []string{"4: steps[0].run[1]: template uses .Env.HOME"}},
		{"template syntax", "name: a\nkind: diagnostic\nsteps:\n  - run: [echo, \"{{ .Params.x \"]\n", []string{"4: steps[0].run[1]: template does not parse"}},
		{"lock unknown param", "name: a\nkind: diagnostic\nlock: \"x-{{ .Params.svc }}\"\nsteps: [{run: [echo]}]\n", []string{"3: lock: template uses .Params.svc"}},
		{"lock secret", "name: a\nkind: diagnostic\nparams: [{name: t, secret: true}]\nlock: \"x-{{ .Params.t }}\"\nsteps: [{run: [echo]}]\n", []string{"4: lock: must not use the secret param t"}},
		{"env template", "name: a\nkind: diagnostic\nsteps:\n  - run: [echo]\n    env:\n      A: \"{{ .Params.q }}\"\n      bad-name: x\n", []string{"6: steps[0].env.A: template uses .Params.q", "7: steps[0].env.bad-name: is not a valid environment variable name"}},
		{"http url param", "name: a\nkind: diagnostic\nsteps:\n  - http:\n      url: \"http://h/{{ .Params.p }}\"\n      method: FETCH\n", []string{"4: steps[0].http.method", "5: steps[0].http.url: template uses .Params.p"}},
		{"http bad url", "name: a\nkind: diagnostic\nsteps:\n  - http: {url: \"ftp://h/x\"}\n", []string{"4: steps[0].http.url"}},
		{"enum without values", "name: a\nkind: diagnostic\nparams:\n  - name: env\n    type: enum\nsteps: [{run: [echo]}]\n", []string{"4: params[0].values: param env is an enum but lists no values"}},
		{"bad param type", "name: a\nkind: diagnostic\nparams: [{name: n, type: float}]\nsteps: [{run: [echo]}]\n", []string{`3: params[0].type: "float" must be one of`}},
		{"bad param name", "name: a\nkind: diagnostic\nparams: [{name: my-param}]\nsteps: [{run: [echo]}]\n", []string{`3: params[0].name: "my-param" must start`}},
		{"default bad int", "name: a\nkind: diagnostic\nparams:\n  - name: n\n    type: int\n    default: many\nsteps: [{run: [echo]}]\n", []string{`6: params[0].default: is not valid for its own param: n must be a whole number (got "many").`}},
		{"default misses pattern", "name: a\nkind: diagnostic\nparams:\n  - name: s\n    pattern: '[a-z]+'\n    default: ABC\nsteps: [{run: [echo]}]\n", []string{"6: params[0].default: is not valid for its own param: s must be text matching [a-z]+"}},
		{"default enum", "name: a\nkind: diagnostic\nparams:\n  - {name: e, type: enum, values: [x, y], default: z}\nsteps: [{run: [echo]}]\n", []string{"4: params[0].default: is not valid for its own param: e must be one of x, y"}},
		{"duplicate key", "name: a\nkind: diagnostic\nkind: diagnostic\nsteps: [{run: [echo]}]\n", []string{"3: kind: key appears more than once"}},
		{"invalid yaml", "name: a\n  kind: [\n", []string{"is not valid YAML"}},
		{"relative dir", "name: a\nkind: diagnostic\nsteps:\n  - run: [ls]\n    dir: tmp\n", []string{`5: steps[0].dir: "tmp" must be an absolute path`}},
		{"interpreter without script", "name: a\nkind: diagnostic\nsteps:\n  - run: [ls]\n    interpreter: [bash]\n", []string{"4: steps[0].interpreter: only applies to script steps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeRunbook(t, dir, "rb.yaml", tt.yaml)
			reg, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole, MaxTimeout: time.Hour})
			var got []string
			for _, p := range problems {
				got = append(got, strings.TrimPrefix(p.String(), file+":"))
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					if problemMatches(g, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q; got:\n%s", w, strings.Join(got, "\n"))
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			if len(reg.List()) != 0 {
				t.Errorf("a runbook with problems was registered")
			}
		})
	}
}

func TestLoadDuplicateNames(t *testing.T) {
	dir := t.TempDir()
	a := writeRunbook(t, dir, "a.yaml", "# first\nname: dup\nkind: diagnostic\nsteps: [{run: [echo]}]\n")
	b := writeRunbook(t, dir, "b.yml", "name: other\nkind: diagnostic\nsteps: [{run: [echo]}]\n---\nname: dup\nkind: diagnostic\nsteps: [{run: [echo]}]\n")
	reg, problems := Load(LoadOptions{Dirs: []string{dir}})
	want := []string{
		a + ":2: runbook dup: name is defined more than once (also at " + b + ":5)",
		b + ":5: runbook dup: name is defined more than once (also at " + a + ":2)",
	}
	if len(problems) != 2 || problems[0].String() != want[0] || problems[1].String() != want[1] {
		t.Fatalf("problems = %q, want %q", problems, want)
	}
	if names := reg.List(); len(names) != 1 || names[0].Name != "other" {
		t.Errorf("registry = %v", names)
	}
}

func TestLoadManyProblemsAtOnce(t *testing.T) {
	dir := t.TempDir()
	writeRunbook(t, dir, "a.yaml", "name: A\nkind: x\ntimeout: nope\nsteps:\n  - run: [echo, '{{ .Params.q }}']\n")
	_, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole})
	if len(problems) != 4 {
		t.Errorf("want 4 problems (name, kind, timeout, template), got %d: %v", len(problems), problems)
	}
	_, problems = Load(LoadOptions{Dirs: []string{filepath.Join(dir, "missing")}})
	if len(problems) != 1 || !strings.Contains(problems[0].Msg, "cannot read the runbooks directory") {
		t.Errorf("missing dir: %v", problems)
	}
}

func TestExamplesLoad(t *testing.T) {
	// The fleet examples select role=api targets of an environment.
	inv := []Target{{Name: "api-1", Labels: map[string]string{"role": "api", "env": "staging"}}}
	reg, problems := Load(LoadOptions{Dirs: []string{"examples"}, KnownRole: knownRole, MaxTimeout: time.Hour, Targets: inv})
	for _, p := range problems {
		t.Error(p)
	}
	// Every example file is one runbook (playbooks/ holds no runbooks).
	files, _ := filepath.Glob("examples/*.yaml")
	md, _ := filepath.Glob("examples/*.runbook.md")
	if n := len(reg.List()); n != len(files)+len(md) || n == 0 {
		t.Errorf("examples hold %d runbooks, want one for each of the %d example files", n, len(files)+len(md))
	}
	samples := map[string]string{"unit": "nginx.service", "env": "staging"} // required params
	for _, rb := range reg.List() {
		raw := map[string]string{}
		for _, p := range rb.Params {
			if p.Required {
				raw[p.Name] = samples[p.Name]
			}
		}
		v, err := rb.Bind(raw)
		if err != nil {
			t.Errorf("%s: defaults do not bind: %v", rb.Name, err)
			continue
		}
		if _, err := rb.Plan(v); err != nil {
			t.Errorf("%s: plan: %v", rb.Name, err)
		}
	}
}

// problemMatches reports whether a problem (without its file) matches a
// want of the form "LINE: text" (line exact, text contained) or "text".
func problemMatches(got, want string) bool {
	line, rest, ok := strings.Cut(want, ": ")
	if ok && strings.Trim(line, "0123456789") == "" {
		return strings.HasPrefix(got, line+": ") && strings.Contains(got, rest)
	}
	return strings.Contains(got, want)
}

// TestLoadRefusesTemplatesInProgramText refuses a param template inside the
// command string of a shell (`sh -c`) or an interpreter one-liner (`python
// -c`), wherever the shell appears in argv, and accepts the safe forms: the
// value as its own argument, a script file, or no template.
func TestLoadRefusesTemplatesInProgramText(t *testing.T) {
	const tpl = "{{ .Params.x }}"
	tests := []struct {
		name string
		run  []string
		bad  int // index of the refused argument; -1 when the step is fine
	}{
		{"sh -c", []string{"sh", "-c", "echo " + tpl}, 2},
		{"absolute bash -lc", []string{"/bin/bash", "-lc", "systemctl restart " + tpl}, 2},
		{"bash -ec", []string{"bash", "-ec", "x=" + tpl}, 2},
		{"bash -o pipefail -c", []string{"bash", "-o", "pipefail", "-c", "a | " + tpl}, 4},
		{"bash -c -x", []string{"bash", "-c", "-x", "echo " + tpl}, 3},
		{"dash -c --", []string{"dash", "-c", "--", "echo " + tpl}, 3},
		{"versioned bash", []string{"/usr/local/bin/bash5", "-c", tpl}, 2},
		{"env sh -c", []string{"env", "sh", "-c", "echo " + tpl}, 3},
		{"env -i VAR bash -c", []string{"/usr/bin/env", "-i", "PATH=/bin", "bash", "-c", "echo " + tpl}, 5},
		{"busybox sh -c", []string{"busybox", "sh", "-c", "echo " + tpl}, 3},
		{"sudo zsh -c", []string{"sudo", "-u", "app", "zsh", "-c", "echo " + tpl}, 5},
		{"kubectl exec sh -c", []string{"kubectl", "exec", "pod", "--", "sh", "-c", "kill " + tpl}, 6},
		{"timeout ksh -c", []string{"timeout", "5", "ksh", "-c", tpl}, 4},
		{"python3 -c", []string{"python3", "-c", "print('" + tpl + "')"}, 2},
		{"python3.12 -I -c", []string{"python3.12", "-I", "-c", "print('" + tpl + "')"}, 3},
		{"python -W arg -c", []string{"python", "-W", "ignore", "-c", tpl}, 4},
		{"perl -lne", []string{"perl", "-lne", "print if /" + tpl + "/"}, 2},
		{"perl -e attached", []string{"perl", "-eprint " + tpl}, 1},
		{"ruby -e", []string{"ruby", "-e", "puts " + tpl}, 2},
		{"node --eval", []string{"node", "--eval", "console.log(" + tpl + ")"}, 2},
		{"node --eval=", []string{"node", "--eval=console.log(" + tpl + ")"}, 1},
		{"node -p", []string{"nodejs", "-p", tpl}, 2},
		{"su -c", []string{"su", "app", "-c", "echo " + tpl}, 3},

		{"value as its own argument after sh -c", []string{"sh", "-c", `echo "$1"`, "sh", tpl}, -1},
		{"shell script file", []string{"sh", "/opt/fix.sh", tpl}, -1},
		{"bash without -c", []string{"bash", "--norc", "/opt/fix.sh", tpl}, -1},
		{"python script file", []string{"python3", "/opt/x.py", "-c", tpl}, -1},
		{"python -m", []string{"python3", "-m", "http.server", tpl}, -1},
		{"perl one-liner with the value in ARGV", []string{"perl", "-e", "print $ARGV[0]", tpl}, -1},
		{"grep -c sh", []string{"grep", "-c", "sh", tpl}, -1},
		{"plain argv", []string{"systemctl", "restart", tpl}, -1},
		{"sh -c without a template", []string{"sh", "-c", "uptime; df -h"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, loaded := loadRunStep(t, tt.run)
			if tt.bad < 0 {
				if len(got) != 0 || !loaded {
					t.Fatalf("refused a safe step:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			want := fmt.Sprintf("5: runbook a: steps[0].run[%d]: puts a template into program text", tt.bad)
			if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], "script:") || !strings.Contains(got[0], "$TEBURA_PARAM_X") {
				t.Fatalf("problems:\n%s\nwant one starting %q that points to script: and $TEBURA_PARAM_X", strings.Join(got, "\n"), want)
			}
			if loaded {
				t.Fatal("the runbook was registered")
			}
		})
	}
}

// loadRunStep loads a one-step runbook "a" (param x) whose run step is
// argv, written as one flow sequence on line 5 (JSON is YAML). It returns
// the problems without their file name, and whether the runbook loaded.
func loadRunStep(t *testing.T, argv []string) (problems []string, loaded bool) {
	t.Helper()
	run, err := json.Marshal(argv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := writeRunbook(t, dir, "rb.yaml", "name: a\nkind: diagnostic\nparams: [{name: x}]\nsteps:\n  - run: "+string(run)+"\n")
	reg, ps := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole, MaxTimeout: time.Hour})
	for _, p := range ps {
		problems = append(problems, strings.TrimPrefix(p.String(), file+":"))
	}
	return problems, len(reg.List()) == 1
}
