package runbookchat_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/runbooks"
)

// checkingPlaybooks answers every check with a fixed diff and counts them.
type checkingPlaybooks struct{ checks, runs atomic.Int32 }

func (c *checkingPlaybooks) RunPlaybook(_ context.Context, _ runbooks.AnsibleRequest, check bool, out io.Writer, _ func(runbooks.TaskEvent)) (int, error) {
	if check {
		c.checks.Add(1)
		_, _ = io.WriteString(out, "TASK [Write config]\n+max_conn=100\nchanged: [api-1]\n")
	} else {
		c.runs.Add(1)
	}
	return 0, nil
}

// TestApprovalCardShowsPlanCheck: a plan_check runbook's approval card
// shows the --check --diff output made with the request, and still shows
// it when redrawn after the first of two approvals, without checking
// again.
func TestApprovalCardShowsPlanCheck(t *testing.T) {
	dir := t.TempDir()
	pb, inv := filepath.Join(dir, "write.yml"), filepath.Join(dir, "hosts.ini")
	for _, p := range []string{pb, inv} {
		if err := os.WriteFile(p, []byte("# test\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	book := `name: write-config
kind: remediation
plan_check: true
allow: [dev, sre]
approval: {required: 2, approvers: [sre]}
steps:
  - name: write
    ansible: {playbook: ` + pb + `, inventory: ` + inv + `}
`
	fp := &checkingPlaybooks{}
	h := newHarness(t, commandstest.Options{Runbooks: []string{book}, Executor: runbooks.ExecutorConfig{Playbooks: fp}})
	card := h.Say(alice, "/runbook run write-config").Card(t)
	mustContain(t, "approval card", bottest.Text(card.Last()), "+max_conn=100")
	mustContain(t, "first approval", h.Click(bob, card, "Approve").PrivateText(), "1 of 2")
	redrawn := bottest.Text(card.Last())
	mustContain(t, "card after one approval", redrawn, "@bob (1 of 2)")
	mustContain(t, "card after one approval", redrawn, "+max_conn=100")
	if n := fp.checks.Load(); n != 1 {
		t.Errorf("%d checks; want the one made with the request", n)
	}
	if n := fp.runs.Load(); n != 0 {
		t.Errorf("%d runs before the quorum", n)
	}
}
