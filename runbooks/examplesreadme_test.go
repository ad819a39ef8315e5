package runbooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// places says where a step of each kind acts, in the words of the
// examples README's "runs where" column: an ansible step's
// ansible-playbook runs on Tebura's own host and acts on the targets.
var places = map[string][]string{
	string(StepRun):     {"Tebura's own host"},
	string(StepScript):  {"Tebura's own host"},
	string(StepHTTP):    {"Tebura's own host"},
	string(StepSSH):     {"over SSH"},
	string(StepAnsible): {"Tebura's own host", "over SSH"},
	"kubernetes":        {"Kubernetes API"},
	string(StepManual):  {"people in chat"},
}

// commonStepKeys are the keys any step may have; the one other key a step has
// is its kind.
var commonStepKeys = []string{"name", "interpreter", "env", "dir", "timeout", "continue_on_error"}

// stepKind is the kind of a loaded step: the key of its kind's block, so
// that a step kind added later needs no change here but a row in places.
func stepKind(t *testing.T, s Step) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for k := range m {
		if !slices.Contains(commonStepKeys, k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		t.Fatalf("step %q: kinds %v", s.Name, kinds)
	}
	return kinds[0]
}

// TestExamplesReadme keeps runbooks/examples/README.md true: every example
// file has one row, with its runbook's kind, and a "runs where" column that
// names exactly the places its steps act (Tebura's own host, the targets
// over SSH, the Kubernetes API, people in chat), so nobody tries a
// remediation believing it runs elsewhere.
func TestExamplesReadme(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("examples", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ kind, where string }
	rows := map[string]row{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.SplitN(strings.TrimPrefix(line, "|"), "|", 4)
		if len(cells) < 4 {
			t.Errorf("README row %q: want file | kind | runs where | shows", line)
			continue
		}
		file := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if _, dup := rows[file]; dup {
			t.Errorf("README: %s has two rows", file)
		}
		rows[file] = row{kind: strings.TrimSpace(cells[1]), where: strings.TrimSpace(cells[2])}
	}

	reg, problems := Load(LoadOptions{Dirs: []string{"examples"}, KnownRole: knownRole, MaxTimeout: time.Hour})
	for _, p := range problems {
		t.Error(p)
	}
	byFile := map[string][]*Runbook{}
	for _, rb := range reg.List() {
		file, _, _ := strings.Cut(filepath.Base(rb.Source), ":")
		byFile[file] = append(byFile[file], rb)
	}
	entries, err := os.ReadDir("examples")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".runbook.md")) {
			files = append(files, n)
		}
	}
	for file := range rows {
		if !slices.Contains(files, file) {
			t.Errorf("README lists %s, which is not an example", file)
		}
	}
	for _, file := range files {
		r, ok := rows[file]
		if !ok {
			t.Errorf("README has no row for %s", file)
			continue
		}
		want := map[string]bool{}
		for _, rb := range byFile[file] {
			if string(rb.Kind) != r.kind {
				t.Errorf("README: %s is a %s, the row says %q", file, rb.Kind, r.kind)
			}
			for _, s := range rb.Steps {
				kind := stepKind(t, s)
				ps, ok := places[kind]
				if !ok {
					t.Errorf("%s: step kind %q: say in places (and in the README's paragraph) where it acts", file, kind)
				}
				for _, p := range ps {
					want[p] = true
				}
			}
		}
		if len(byFile[file]) == 0 {
			t.Errorf("%s holds no runbook", file)
		}
		var all, acts []string
		for _, ps := range places {
			all = append(all, ps...)
		}
		for p := range want {
			acts = append(acts, p)
		}
		slices.Sort(all)
		slices.Sort(acts)
		for _, p := range slices.Compact(all) {
			if strings.Contains(r.where, p) != want[p] {
				t.Errorf("README: %s runs where %q, but its steps act on %q", file, r.where, acts)
				break
			}
		}
	}
}
