package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

// TestDocsMarkdownRunbookSnippets loads every ````markdown runbook block
// of the docs as a *.runbook.md file, as TestDocsRunbookSnippets loads the
// YAML ones, and checks that the plan the page shows after it (a ```text
// block starting with the runbook's name) is the one it renders.
func TestDocsMarkdownRunbookSnippets(t *testing.T) {
	all := docFences(t)
	snippets := marked(all, "markdown", "runbook")
	if len(snippets) == 0 {
		t.Fatal("no ````markdown runbook block in the docs")
	}
	for _, sn := range snippets {
		t.Run(sn.String(), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "snippet"+runbooks.MarkdownSuffix), []byte(sn.Body), 0o600); err != nil {
				t.Fatal(err)
			}
			def := config.Default()
			reg, ps := runbooks.Load(runbooks.LoadOptions{Dirs: []string{dir},
				DefaultTimeout: def.Runbooks.DefaultTimeout, MaxTimeout: def.Runbooks.MaxTimeout,
				KnownRole: func(r string) bool { return r == "sre" || r == "dev" }})
			for _, p := range ps {
				t.Errorf("%s: line %d of the snippet: %s", sn, p.Line, p.Msg)
			}
			list := reg.List()
			if len(list) != 1 {
				t.Fatalf("%s: %d runbooks loaded, want 1", sn, len(list))
			}
			rb := list[0]
			for _, f := range all {
				if f.File != sn.File || f.Lang != "text" || !strings.HasPrefix(f.Body, rb.Name+" (") {
					continue
				}
				vals := map[string]string{}
				for _, p := range rb.Params {
					if p.Required && len(p.Values) > 0 {
						vals[p.Name] = p.Values[0]
					}
				}
				bound, err := rb.Bind(vals)
				if err != nil {
					t.Fatal(err)
				}
				plan, err := rb.Plan(bound)
				if err != nil {
					t.Fatal(err)
				}
				got := plan.String()
				got = got[:strings.LastIndex(got, "plan ")] // the hash line is not shown
				if got != f.Body {
					t.Errorf("%s: the plan shown differs from the one rendered\n--- shown\n%s--- rendered\n%s", f, f.Body, got)
				}
			}
		})
	}
}
