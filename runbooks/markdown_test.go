package runbooks

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestMarkdownRunbookGoldenPlan: a Markdown page with front matter, a
// title and intro, prose-only steps and sh/bash steps loads as the runbook
// a person would have written in YAML; its plan is the golden one. The
// README.md beside it is not read as a runbook.
func TestMarkdownRunbookGoldenPlan(t *testing.T) {
	dir := filepath.Join("testdata", "markdown")
	reg, problems := Load(LoadOptions{Dirs: []string{dir}})
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if got := reg.List(); len(got) != 1 || got[0].Name != "db-failover" {
		t.Fatalf("loaded %d runbooks, want only db-failover (README.md is no runbook)", len(got))
	}
	rb, _ := reg.Get("db-failover")
	if rb.Source != filepath.Join(dir, "db-failover.runbook.md")+":2" {
		t.Errorf("source = %s", rb.Source)
	}
	v, err := rb.ParseArgs([]string{"cluster=billing"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rb.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	got := plan.String()
	path := filepath.Join(dir, "db-failover.plan.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestMarkdownRunbookRuns: the Markdown runbook's script steps run with
// their params as environment, and its prose step waits for an answer.
func TestMarkdownRunbookRuns(t *testing.T) {
	sh := newSvcHarness(t)
	dir := t.TempDir()
	writeRunbook(t, dir, "mixed.runbook.md", "---\nname: mixed\nkind: diagnostic\nparams: [{name: who, default: \"a b; rm -rf /\"}]\n---\n"+
		"## greet\n\n```sh\necho \"hello $TEBURA_PARAM_WHO\"\n```\n\n## look\n\nIs it green?\n")
	reg, problems := Load(LoadOptions{Dirs: []string{dir}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, _ := reg.Get("mixed")
	h, run := startChecklist(t, sh, rb, 2)
	if p := h.Snapshot().Waiting; p.Name != "look" || p.Instruction != "Is it green?" {
		t.Fatalf("prompt = %+v", p)
	}
	if _, err := sh.svc.Answer(t.Context(), run.ID, StepAnswer{Step: 2, Answer: AnswerDone, By: "slack:UB"}); err != nil {
		t.Fatal(err)
	}
	if end := sh.wait(h); end.State != StateSucceeded {
		t.Fatalf("ended %s: %s", end.State, end.Reason)
	}
	if log := sh.logOf(run.ID); !strings.Contains(log, "hello a b; rm -rf /") {
		t.Errorf("the param did not reach the script as one value:\n%s", log)
	}
}

// TestMarkdownRunbookProblems: what is wrong in a Markdown runbook is
// reported like in a YAML one, with the file's line.
func TestMarkdownRunbookProblems(t *testing.T) {
	const good = "## look\n\nIs it green?\n"
	for _, tc := range []struct {
		name, body string
		want       string // "line: message part"
	}{
		{"no front matter", "# Title\n\n" + good, "1: has no front matter"},
		{"front matter never ends", "---\nname: x\nkind: diagnostic\n" + good, "1: front matter never ends"},
		{"bad yaml", "---\nname: x\nkind: diagnostic\nparams: [\n  {name: a\n---\n" + good, "4: front matter is not valid YAML: line 4:"},
		{"unknown key", "---\nname: x\nkind: diagnostic\ntimout: 5m\n---\n" + good, "4: runbook x: timout: unknown key \"timout\""},
		{"bad kind", "---\nname: x\nkind: fix\n---\n" + good, "3: runbook x: kind: \"fix\" must be diagnostic or remediation"},
		{"front matter is a list", "---\n- name: x\n---\n" + good, "2: front matter must be a mapping of keys"},
		{"steps in front matter", "---\nname: x\nkind: diagnostic\nsteps: []\n---\n" + good, "4: runbook x: steps: the steps of a Markdown runbook are its ## headings"},
		{"no headings", "---\nname: x\nkind: diagnostic\n---\n# Only a title\n\nSome text.\n", "2: runbook x: has no steps; each ## heading is a step"},
		{"empty section", "---\nname: x\nkind: diagnostic\n---\n## look\n## act\n\nDo it.\n", "5: runbook x: step \"look\" has neither text nor an sh/bash code block"},
		{"two scripts", "---\nname: x\nkind: diagnostic\n---\n## act\n\n```sh\necho 1\n```\n\n```bash\necho 2\n```\n", "11: runbook x: step \"act\" has 2 sh/bash code blocks"},
		{"bad fence option", "---\nname: x\nkind: diagnostic\n---\n## act\n\n```sh retries=3\necho 1\n```\n", "7: runbook x: step \"act\": \"retries=3\" after the code block's language is not an option"},
		{"bad fence timeout", "---\nname: x\nkind: diagnostic\n---\n## act\n\n```sh timeout=soon\necho 1\n```\n", "7: runbook x: steps[0].timeout: \"soon\" is not a duration"},
		{"secret in a manual step", "---\nname: x\nkind: diagnostic\nparams: [{name: t, secret: true, default: s}]\n---\n## look\n\nUse {{ .Params.t }}.\n", "8: runbook x: steps[0].manual: must not use the secret param t"},
		{"same step twice", "---\nname: x\nkind: diagnostic\n---\n## look\n\nA.\n\n## look\n\nB.\n", "9: runbook x: steps[1].name: step name \"look\" is used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeRunbook(t, dir, "x.runbook.md", tc.body)
			reg, problems := Load(LoadOptions{Dirs: []string{dir}})
			var all []string
			for _, p := range problems {
				all = append(all, p.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), file+":"+tc.want) {
				t.Errorf("problems:\n%s\nwant %s:%s", strings.Join(all, "\n"), file, tc.want)
			}
			if _, ok := reg.Get("x"); ok {
				t.Errorf("a runbook with problems was loaded")
			}
		})
	}
}
