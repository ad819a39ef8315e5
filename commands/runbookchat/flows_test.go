package runbookchat_test

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/runbooks"
)

const sreOnly = `
name: drain-node
description: Drain a node
kind: remediation
allow: [sre]
approval: {required: 1, approvers: [sre]}
timeout: 1m
steps:
  - {name: drain, run: [echo, drained]}
`

const quick = `
name: quick
description: Say hi
kind: diagnostic
params:
  - {name: who, type: string, default: world}
  - {name: password, type: string, secret: true, default: hunter2}
allow: [dev, sre]
timeout: 1m
steps:
  - {name: hi, run: [echo, "hi {{ .Params.who }}"]}
`

func TestHelpAndListShowOnlyWhatCallerMayRun(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI, sreOnly, quick}})
	tests := []struct {
		who         bot.Actor
		want, unwan []string
	}{
		{alice, []string{"restart-api", "quick"}, []string{"drain-node"}},
		{bob, []string{"restart-api", "quick", "drain-node"}, nil},
		{dave, []string{"You may not run any runbook yet"}, []string{"restart-api", "quick", "drain-node"}},
	}
	for _, tt := range tests {
		for _, line := range []string{"/tebura help", "/runbook list", "/runbook"} {
			got := h.Say(tt.who, line).PrivateText()
			for _, w := range tt.want {
				mustContain(t, tt.who.Name+" "+line, got, w)
			}
			for _, u := range tt.unwan {
				if strings.Contains(got, u) {
					t.Errorf("%s %s shows %q:\n%s", tt.who.Name, line, u, got)
				}
			}
		}
	}
}

func TestDescribe(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI, sreOnly, quick}})
	got := h.Say(alice, "/runbook describe restart-api").PrivateText()
	for _, want := range []string{"Kind: remediation", "env (enum, required) one of staging | prod", "service (string) default api matching [a-z][a-z0-9-]{0,40}",
		"Approval: 1 from sre; not the requester; expires after 15m", "Lock: restart-{{ .Params.service }}", "Timeout: 1m"} {
		mustContain(t, "describe", got, want)
	}
	got = h.Say(alice, "/runbook describe quick").PrivateText()
	mustContain(t, "describe quick", got, "password (string, secret) default ••••••")
	if strings.Contains(got, "hunter2") {
		t.Errorf("describe shows a secret default:\n%s", got)
	}
	// A runbook the caller may neither run nor approve does not exist for them.
	mustContain(t, "describe drain-node", h.Say(alice, "/runbook describe drain-node").PrivateText(), "There is no runbook `drain-node`")
	mustContain(t, "describe typo", h.Say(alice, "/runbook describe restrat-api").PrivateText(), "Did you mean `restart-api`?")
}

func TestCommandErrorsAnswerPrivately(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI, quick}})
	tests := []struct {
		who        bot.Actor
		line, want string
	}{
		{alice, "/runbook lsit", "There is no `/runbook lsit`. Did you mean `/runbook list`? Type `/tebura help` for everything you can do."},
		{alice, "/runbook restart-ap env=prod", "Did you mean `/runbook restart-api`?"},
		{alice, "/runbook run restart-api", "env"},
		{alice, "/runbook run restart-api env=dev", "env"},
		{alice, "/runbook run restart-api env=prod bogus=1", "bogus"},
		{alice, `/runbook run quick who="unterminated`, "never closed"},
		{alice, "/runbook run quick who", "Parameters are written name=value"},
		{dave, "/runbook run quick", "There is no runbook `quick`"},
		{alice, "/incident declare db down", "Incidents are not enabled"},
		{alice, "/runbook status r999", "There is no run `r999`"},
		{alice, "/runbook cancel r999", "There is no run `r999`"},
	}
	for _, tt := range tests {
		turn := h.Say(tt.who, tt.line)
		if len(turn.Posted()) != 0 {
			t.Errorf("%s: posted to the channel", tt.line)
		}
		mustContain(t, tt.line, turn.PrivateText(), tt.want)
	}
	if n := len(h.Runs()); n != 0 {
		t.Errorf("refused commands stored %d runs", n)
	}
}

func TestRunWithoutApprovalMasksSecrets(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{quick}})
	msg := h.Say(alice, "/runbook quick who=“the team” password=s3cret-pass").Card(t)
	run := h.WaitFinal(h.LastRun().ID)
	if run.State != runbooks.StateSucceeded {
		t.Fatalf("state %s", run.State)
	}
	text := bottest.Text(msg.Last())
	mustContain(t, "final", text, "hi the team")
	mustContain(t, "final", text, "password=•••••• who='the team'")
	for _, v := range msg.Versions() {
		if strings.Contains(bottest.Text(v), "s3cret-pass") {
			t.Fatalf("a frame shows the secret:\n%s", bottest.Text(v))
		}
	}
	for _, e := range h.AuditEntries() {
		for k, v := range e.Detail {
			if strings.Contains(v, "s3cret-pass") {
				t.Errorf("audit %s %s: %s shows the secret", e.Action, k, v)
			}
		}
	}
	if n, err := audit.Verify(t.Context(), h.Store); err != nil || n == 0 {
		t.Errorf("audit chain: %d entries, %v", n, err)
	}
}

func TestWhoami(t *testing.T) {
	h := newHarness(t, commandstest.Options{Admins: []string{"console:carol"}})
	got := h.Say(bottest.User("carol", "slack-group:S1"), "/tebura whoami").PrivateText()
	for _, want := range []string{"Identity: console:carol", "Groups: slack-group:S1", "Roles: sre", "Admin: yes"} {
		mustContain(t, "whoami", got, want)
	}
	mustContain(t, "whoami dave", h.Say(dave, "/tebura whoami").PrivateText(), "Roles: none")
}

func TestStatusListsMineAndRunning(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI, quick}})
	h.Say(alice, "/runbook run quick")
	h.WaitFinal(h.LastRun().ID)
	h.Say(alice, "/runbook run restart-api env=staging")
	got := h.Say(alice, "/runbook status").PrivateText()
	mustContain(t, "status", got, "`r2` restart-api — waiting for approval, requested by @alice")
	mustContain(t, "status", got, "`r1` quick — succeeded, requested by @alice")
	// Bob may approve restart-api, so he sees the pending one, but not alice's finished runs.
	got = h.Say(bob, "/runbook status").PrivateText()
	mustContain(t, "bob status", got, "`r2` restart-api")
	if strings.Contains(got, "`r1`") {
		t.Errorf("bob's status shows alice's finished run:\n%s", got)
	}
	mustContain(t, "status r1", h.Say(alice, "/runbook status r1").PrivateText(), "quick — succeeded")
}

func TestCancelPendingByRequesterAndRefusals(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	id := h.LastRun().ID
	mustContain(t, "dave", h.Say(dave, "/runbook cancel "+id).PrivateText(), "There is no run")
	mustContain(t, "alice", h.Say(alice, "/runbook cancel "+id).PrivateText(), "withdrawn")
	run := h.LastRun()
	if run.State != runbooks.StateCancelled {
		t.Fatalf("state %s, want cancelled", run.State)
	}
	last := card.Last()
	if len(last.Buttons) != 0 {
		t.Errorf("withdrawn card still has buttons")
	}
	mustContain(t, "card", bottest.Text(last), "Cancelled by @alice")
	mustContain(t, "again", h.Say(alice, "/runbook cancel "+id).PrivateText(), "already ended")
	mustContain(t, "logs", h.Say(alice, "/runbook logs "+id).PrivateText(), "has no log: it never started")
}

func TestStartRunForAutomation(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI, quick}})
	ctx := t.Context()
	run, err := h.Runbooks.StartRun(ctx, runbookchat.RunRequest{Runbook: "quick", Params: map[string]string{"who": "pager"},
		By: "automation:disk-full", Platform: bottest.Platform, Target: bot.Target{Channel: "C9"}, Incident: "inc-1"})
	if err != nil {
		t.Fatal(err)
	}
	final := h.WaitFinal(run.ID)
	if final.State != runbooks.StateSucceeded || final.RequestedBy != "automation:disk-full" || final.Origin.Incident != "inc-1" {
		t.Fatalf("run = %+v", final)
	}
	msgs := h.Chat.Messages()
	if len(msgs) != 1 || msgs[0].Ref.Channel != "C9" {
		t.Fatalf("messages = %v, want one in C9", msgs)
	}
	mustContain(t, "automation message", bottest.Text(msgs[0].Last()), "hi pager")

	_, err = h.Runbooks.StartRun(ctx, runbookchat.RunRequest{Runbook: "restart-api", Params: map[string]string{"env": "prod"}, By: "automation:x"})
	if tebura.ErrorCode(err) != tebura.EFORBIDDEN {
		t.Errorf("StartRun of a runbook needing approval: %v, want EFORBIDDEN", err)
	}
	_, err = h.Runbooks.StartRun(ctx, runbookchat.RunRequest{Runbook: "quick", By: alice.ID})
	if tebura.ErrorCode(err) != tebura.EINVALID {
		t.Errorf("StartRun by a person: %v, want EINVALID", err)
	}
}

// afterRestart posts a card saying header, stores run with that card as its
// message, as a previous process left it, runs the bot's Recover as a
// restart does, and returns the run as stored afterwards.
func afterRestart(t *testing.T, h *commandstest.Harness, header string, run *runbooks.Run) (*runbooks.Run, error) {
	t.Helper()
	ctx := t.Context()
	ref, err := h.Chat.Post(ctx, bot.Target{Channel: bottest.Channel}, bot.Message{Header: header})
	if err != nil {
		t.Fatal(err)
	}
	run.Origin = runbooks.Origin{Platform: ref.Platform, Channel: ref.Channel, Message: ref.ID}
	if err := h.Store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := h.Runbooks.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	return h.Store.GetRun(ctx, run.ID)
}

func TestRecoverRedrawsInterruptedRuns(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{quick}})
	// A run the previous process was running when it died.
	run := &runbooks.Run{Runbook: "quick", Kind: runbooks.KindDiagnostic, Params: map[string]string{"who": "x"}, RequestedBy: alice.ID, RequestedName: "alice",
		RequestedAt: time.Now(), State: runbooks.StateRunning, StartedAt: time.Now()}
	got, err := afterRestart(t, h, "quick — running", run)
	if err != nil || got.State != runbooks.StateInterrupted {
		t.Fatalf("run after recover: %v, %v", got, err)
	}
	msgs := h.Chat.Messages()
	mustContain(t, "redrawn", bottest.Text(msgs[0].Last()), "quick — interrupted")
	var found bool
	for _, e := range h.AuditEntries() {
		found = found || (e.Action == "run.interrupt" && e.Subject == run.ID)
	}
	if !found {
		t.Errorf("no run.interrupt audit entry")
	}
}

// TestRecoverInterruptsApprovedRunsThatNeverStarted: the previous process
// stored an approval that reached the quorum and died before the executor
// took the run. After the restart the run does not start by itself and
// its card no longer says "starting": it is interrupted, and says to
// request it again.
func TestRecoverInterruptsApprovedRunsThatNeverStarted(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI}})
	run := &runbooks.Run{Runbook: "restart-api", Kind: runbooks.KindRemediation, Params: map[string]string{"env": "prod", "service": "api"},
		RequestedBy: alice.ID, RequestedName: "alice", RequestedAt: time.Now(), Required: 1,
		Approvals: []runbooks.Decision{{By: bob.ID, Name: "bob", At: time.Now()}}, State: runbooks.StateApproved}
	got, err := afterRestart(t, h, "restart-api — starting", run)
	if err != nil || got.State != runbooks.StateInterrupted || !got.StartedAt.IsZero() {
		t.Fatalf("run after recover: %+v, %v; want interrupted, never started", got, err)
	}
	text := bottest.Text(h.Chat.Messages()[0].Last())
	mustContain(t, "redrawn", text, "restart-api — interrupted")
	mustContain(t, "redrawn", text, "Approved, but the bot stopped before it started; request it again.")
	mustContain(t, "redrawn", text, "Approved by")
	if strings.Contains(text, "starting") {
		t.Errorf("the card still says starting:\n%s", text)
	}
	var interrupted bool
	for _, e := range h.AuditEntries() {
		interrupted = interrupted || (e.Action == "run.interrupt" && e.Subject == run.ID)
		if e.Action == "run.start" {
			t.Errorf("the run started after the restart: %+v", e)
		}
	}
	if !interrupted {
		t.Errorf("no run.interrupt audit entry")
	}
	mustContain(t, "status", h.Say(alice, "/runbook status "+run.ID).PrivateText(), "interrupted")
}

// TestRunTransitions: a subscriber of the run service hears every run the
// executor accepted — typed, approved, started by an automation — start
// once, with its ID, and none that never started; and it hears the denial.
func TestRunTransitions(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI, quick}})
	var (
		mu      sync.Mutex
		started []string
	)
	var denials []string
	h.Runbooks.Runs().Subscribe(func(tr runbooks.Transition) {
		mu.Lock()
		defer mu.Unlock()
		switch tr.To {
		case runbooks.StateRunning:
			if tr.From != runbooks.StateApproved {
				t.Errorf("run %s started from %s, want approved", tr.Run.ID, tr.From)
			}
			started = append(started, tr.Run.ID)
		case runbooks.StateDenied:
			denials = append(denials, tr.Run.ID+" by "+tr.Actor)
		}
	})
	typed := h.Say(alice, "/runbook run quick").Posted()
	if len(typed) != 1 {
		t.Fatalf("quick posted %d messages", len(typed))
	}
	typedRun := h.LastRun().ID
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	approved := h.LastRun().ID
	h.Click(bob, card, "Approve")
	h.WaitFinal(approved) // frees its lock
	denied := h.Say(alice, "/runbook run restart-api env=staging").Card(t)
	h.Click(bob, denied, "Deny")
	auto, err := h.Runbooks.StartRun(t.Context(), runbookchat.RunRequest{Runbook: "quick", By: "automation:x", Platform: bottest.Platform, Target: bot.Target{Channel: bottest.Channel}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{typedRun, approved, auto.ID} {
		h.WaitFinal(id)
	}
	if err := h.Runbooks.Runs().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{typedRun, approved, auto.ID}; !slices.Equal(started, want) {
		t.Errorf("started %v, want %v (not the denied one)", started, want)
	}
	if len(denials) != 1 || !strings.HasSuffix(denials[0], " by "+bob.ID) {
		t.Errorf("denials %v, want one by %s", denials, bob.ID)
	}
}

// TestAutomationRunsPlanLikeTypedRuns: StartRun and ProposeRun validate
// and plan through the same helper, and agree with /runbook run on the
// stored values (defaults filled), secret names, plan hash and lock key —
// so an approval of either is bound to the plan a person would have seen.
func TestAutomationRunsPlanLikeTypedRuns(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{restartAPI, quick}})
	ctx := t.Context()
	to := bot.Target{Channel: bottest.Channel}
	same := func(what string, got, want *runbooks.Run) {
		t.Helper()
		if got.PlanHash != want.PlanHash || got.LockKey != want.LockKey || !maps.Equal(got.Params, want.Params) || !slices.Equal(got.Secret, want.Secret) {
			t.Errorf("%s = hash %s lock %q params %v secret %v; typed = hash %s lock %q params %v secret %v", what,
				got.PlanHash, got.LockKey, got.Params, got.Secret, want.PlanHash, want.LockKey, want.Params, want.Secret)
		}
		if got.Origin.Incident != "i7" || got.Origin.Channel != bottest.Channel {
			t.Errorf("%s origin = %+v", what, got.Origin)
		}
	}

	h.Say(alice, "/runbook run quick who=pager")
	typed := h.WaitFinal(h.LastRun().ID)
	auto, err := h.Runbooks.StartRun(ctx, runbookchat.RunRequest{Runbook: "quick", Params: map[string]string{"who": "pager"}, By: "automation:x",
		Platform: bottest.Platform, Target: to, Incident: "i7"})
	if err != nil {
		t.Fatal(err)
	}
	same("StartRun", auto, typed)

	h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	typed = h.LastRun()
	proposed, err := h.Runbooks.ProposeRun(ctx, runbookchat.RunRequest{Runbook: "restart-api", Params: map[string]string{"env": "prod"}, By: "automation:x",
		Platform: bottest.Platform, Target: to, Incident: "i7"})
	if err != nil {
		t.Fatal(err)
	}
	same("ProposeRun", proposed, typed)
	if proposed.State != runbooks.StatePendingApproval || proposed.RequestedBy != "automation:x" || proposed.Required != 1 ||
		!proposed.ExpiresAt.Equal(proposed.RequestedAt.Add(15*time.Minute)) {
		t.Errorf("proposal = %+v", proposed)
	}
	for _, bad := range []map[string]string{{"env": "moon"}, {"env": "prod", "nope": "1"}} {
		if _, err := h.Runbooks.ProposeRun(ctx, runbookchat.RunRequest{Runbook: "restart-api", Params: bad, By: "automation:x", Platform: bottest.Platform, Target: to}); tebura.ErrorCode(err) != tebura.EINVALID {
			t.Errorf("ProposeRun %v: %v, want EINVALID", bad, err)
		}
	}
	h.WaitFinal(auto.ID)
}

func TestStaleButton(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	msg := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	turn := h.Press(bob, msg, bot.Button{Label: "Approve", ActionID: "approve", CallbackID: "cb_forged"})
	mustContain(t, "forged", turn.PrivateText(), "This button no longer works")
	if h.LastRun().State != runbooks.StatePendingApproval {
		t.Errorf("a forged callback changed the run")
	}
}

func TestConfiguredSecretsMaskedOnCard(t *testing.T) {
	h := newHarness(t, commandstest.Options{Redact: []string{"topsecret"}})
	card := h.Say(alice, "/runbook run restart-api env=prod service=topsecret").Card(t)
	text := bottest.Text(card.Last())
	if strings.Contains(text, "topsecret") {
		t.Fatalf("the card shows a configured secret:\n%s", text)
	}
	mustContain(t, "card", text, "restart-")
}

func TestQueuedRunSaysSo(t *testing.T) {
	sleepy := `
name: sleepy
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - {name: sleep, script: "echo up; sleep 30"}
`
	h := newHarness(t, commandstest.Options{Runbooks: []string{sleepy}, Executor: runbooks.ExecutorConfig{MaxConcurrent: 1}})
	first := h.Say(alice, "/runbook run sleepy").Card(t)
	h.WaitText(first, "up")
	second := h.Say(alice, "/runbook run sleepy").Card(t)
	queued := h.WaitText(second, "queued")
	if len(queued.Buttons) != 1 || queued.Buttons[0].Label != "Cancel" {
		t.Errorf("a queued run should offer [Cancel]; buttons %v", queued.Buttons)
	}
	t.Logf("queued frame:\n%s", bottest.Text(queued))
	h.Click(alice, second, "Cancel")
	if run := h.WaitFinal(h.LastRun().ID); run.State != runbooks.StateCancelled {
		t.Errorf("queued run after cancel: %s", run.State)
	}
	h.Click(alice, first, "Cancel")
}

// A lock taken between the request and the approval: the approved run
// fails with the lock answer on its card, and the holder keeps running.
func TestApprovedRunFindsLockHeld(t *testing.T) {
	migrate := `
name: migrate
kind: remediation
allow: [dev]
approval: {required: 1, approvers: [sre]}
lock: db
timeout: 1m
steps:
  - {name: migrate, run: [echo, migrating]}
`
	backup := `
name: backup
kind: diagnostic
allow: [dev]
lock: db
timeout: 1m
steps:
  - {name: dump, script: "echo dumping; sleep 30"}
`
	h := newHarness(t, commandstest.Options{Runbooks: []string{migrate, backup}})
	card := h.Say(alice, "/runbook run migrate").Card(t)
	migrateID := h.LastRun().ID
	holder := h.Say(alice, "/runbook run backup").Card(t)
	backupID := h.LastRun().ID
	h.WaitText(holder, "dumping")
	h.Click(bob, card, "Approve")
	run := h.WaitFinal(migrateID)
	if run.State != runbooks.StateFailed {
		t.Fatalf("migrate = %s, want failed on the held lock", run.State)
	}
	last := card.Last()
	text := bottest.Text(last)
	mustContain(t, "card", text, "migrate is locked")
	mustContain(t, "card", text, "held by run "+backupID+" of @alice")
	if len(last.Buttons) != 1 || last.Buttons[0].Label != "View" {
		t.Errorf("card buttons = %v, want [View]", last.Buttons)
	}
	if got, _ := h.Store.GetRun(t.Context(), backupID); got.State != runbooks.StateRunning {
		t.Errorf("holder = %s, want still running", got.State)
	}
	h.Click(alice, holder, "Cancel")
	h.WaitFinal(backupID)
}

func TestDenyRefusedForOutsidersAllowedForRequester(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	mustContain(t, "dave denies", h.Click(dave, card, "Deny").PrivateText(), "You may not deny this request")
	if got := h.LastRun(); got.State != runbooks.StatePendingApproval {
		t.Fatalf("dave's deny changed the run to %s", got.State)
	}
	h.Click(alice, card, "Deny")
	if got := h.LastRun(); got.State != runbooks.StateDenied || got.Denied.By != alice.ID {
		t.Fatalf("run = %s, want denied by alice", got.State)
	}
	mustContain(t, "card", bottest.Text(card.Last()), "Denied by @alice")
}
