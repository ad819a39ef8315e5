package runbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsNameEveryKey: docs/runbooks.md names every key a runbook may
// have, so a key added to the loader cannot stay undocumented.
func TestDocsNameEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for what, keys := range map[string][]string{
		"runbook": runbookKeys, "param": paramKeys, "approval": approvalKeys, "step": stepKeys, "http step": httpKeys,
	} {
		for _, k := range keys {
			if !strings.Contains(page, "`"+k+"`") {
				t.Errorf("docs/runbooks.md does not name the %s key `%s`", what, k)
			}
		}
	}
	for _, typ := range []ParamType{TypeString, TypeInt, TypeBool, TypeEnum, TypeDuration} {
		if !strings.Contains(page, "`"+string(typ)+"`") {
			t.Errorf("docs/runbooks.md does not name the param type `%s`", typ)
		}
	}
}
