package runbookchat_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/runbooks"
)

var (
	alice = bottest.User("alice") // dev: may request
	bob   = bottest.User("bob")   // sre: may request and approve
	carol = bottest.User("carol") // sre
	dave  = bottest.User("dave")  // nobody
)

// restartAPI needs one approval from sre, not the requester's own.
const restartAPI = commandstest.RestartAPI

func roles() map[string][]string { return commandstest.Roles() }

func newHarness(t *testing.T, o commandstest.Options) *commandstest.Harness {
	t.Helper()
	if o.Roles == nil {
		o.Roles = roles()
	}
	if o.Runbooks == nil {
		o.Runbooks = []string{restartAPI}
	}
	return commandstest.New(t, o)
}

func mustContain(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q, want it to contain %q", what, got, want)
	}
}

func TestApproveThenRunSucceeds(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	first := card.Last()
	mustContain(t, "card", bottest.Text(first), "Approval needed: restart-api")
	mustContain(t, "card", bottest.Text(first), `echo "restarting api in prod"`)
	h.Click(bob, card, "Approve")
	run := h.WaitFinal(h.LastRun().ID)
	if run.State != runbooks.StateSucceeded {
		t.Fatalf("run state = %s (%s), want succeeded", run.State, run.Reason)
	}
	last := card.Last()
	if len(last.Buttons) != 0 {
		t.Errorf("final message still has buttons %v", last.Buttons)
	}
	text := bottest.Text(last)
	for _, want := range []string{"restart-api — succeeded", "Approved by: @bob", "Requested by: @alice", "restarting api in prod", "Exit code: 0"} {
		mustContain(t, "final message", text, want)
	}
	var actions []string
	for _, e := range h.AuditEntries() {
		actions = append(actions, e.Actor+" "+string(e.Action))
	}
	got := strings.Join(actions, ", ")
	for _, want := range []string{"console:alice run.request", "console:bob run.approve", "console:bob run.start", "system run.end"} {
		mustContain(t, "audit", got, want)
	}
}

func TestSelfApprovalRefused(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	card := h.Say(bob, "/runbook run restart-api env=prod").Card(t)
	before := card.Versions()
	turn := h.Click(bob, card, "Approve")
	mustContain(t, "private reply", turn.PrivateText(), "needs someone else to approve")
	if got := h.LastRun(); got.State != runbooks.StatePendingApproval || len(got.Approvals) != 0 {
		t.Errorf("run = %s with %d approvals, want still pending with none", got.State, len(got.Approvals))
	}
	if after := card.Versions(); len(after) != len(before) || len(turn.Posted()) != 0 {
		t.Errorf("a refused approval changed the card (%d → %d versions) or posted", len(before), len(after))
	}
}

func TestNonApproverRefused(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	for _, who := range []bot.Actor{dave, alice} {
		turn := h.Click(who, card, "Approve")
		if who.ID == dave.ID {
			mustContain(t, "private reply to dave", turn.PrivateText(), "not an approver of `restart-api`")
			mustContain(t, "private reply to dave", turn.PrivateText(), "Nothing was changed")
		}
	}
	if got := h.LastRun(); got.State != runbooks.StatePendingApproval || len(got.Approvals) != 0 {
		t.Errorf("run = %s with %d approvals, want still pending with none", got.State, len(got.Approvals))
	}
	if n := len(card.Versions()); n != 1 {
		t.Errorf("card has %d versions, want 1 (unchanged)", n)
	}
}

func TestQuorumOfTwoNeedsTwoPeople(t *testing.T) {
	quorum := strings.Replace(restartAPI, "required: 1", "required: 2", 1)
	h := newHarness(t, commandstest.Options{Runbooks: []string{quorum}})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	mustContain(t, "first approval", h.Click(bob, card, "Approve").PrivateText(), "1 of 2")
	if got := h.LastRun(); got.State != runbooks.StatePendingApproval {
		t.Fatalf("after one approval run is %s, want pending", got.State)
	}
	mustContain(t, "card after one approval", bottest.Text(card.Last()), "@bob (1 of 2)")
	// The same person again does not count.
	h.Click(bob, card, "Approve")
	if got := h.LastRun(); got.State != runbooks.StatePendingApproval || len(got.Approvals) != 1 {
		t.Fatalf("after bob twice run is %s with %d approvals, want pending with 1", got.State, len(got.Approvals))
	}
	h.Click(carol, card, "Approve")
	run := h.WaitFinal(h.LastRun().ID)
	if run.State != runbooks.StateSucceeded || len(run.Approvals) != 2 {
		t.Fatalf("run = %s with %d approvals, want succeeded with 2", run.State, len(run.Approvals))
	}
	mustContain(t, "final", bottest.Text(card.Last()), "Approved by: @bob, @carol")
}

func TestApprovalExpires(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h := newHarness(t, commandstest.Options{Clock: clock})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	clock.Advance(14 * time.Minute)
	if err := h.Runbooks.ExpireNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := h.LastRun(); got.State != runbooks.StatePendingApproval {
		t.Fatalf("after 14m run is %s, want still pending", got.State)
	}
	clock.Advance(2 * time.Minute)
	if err := h.Runbooks.ExpireNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := h.LastRun(); got.State != runbooks.StateExpired {
		t.Fatalf("after 16m run is %s, want expired", got.State)
	}
	h.Settle() // the card is redrawn from the expiry's transition
	last := card.Last()
	if len(last.Buttons) != 0 {
		t.Errorf("expired card still has buttons")
	}
	mustContain(t, "expired card", bottest.Text(last), "Expired")
	// The old button now answers privately and starts nothing.
	turn := h.Press(bob, card, card.Versions()[0].Buttons[0])
	mustContain(t, "late click", turn.PrivateText(), "expired")
	if got := h.LastRun(); got.State != runbooks.StateExpired {
		t.Errorf("late click changed the run to %s", got.State)
	}
}

func TestApprovalRefusedWhenPlanChanged(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	// A config reload changes what the runbook would run.
	h.SetRunbooks(strings.Replace(restartAPI, `run: [echo, "restarting`, `run: [echo, "RESTARTING`, 1))
	turn := h.Click(bob, card, "Approve")
	mustContain(t, "private reply", strings.ToLower(turn.PrivateText()), "request the run again")
	got := h.LastRun()
	if got.State != runbooks.StatePendingApproval || len(got.Approvals) != 0 {
		t.Errorf("run = %s with %d approvals, want pending with none", got.State, len(got.Approvals))
	}
	if n := len(card.Versions()); n != 1 {
		t.Errorf("card changed (%d versions)", n)
	}
}

func TestDeny(t *testing.T) {
	h := newHarness(t, commandstest.Options{})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	approve := h.Button(card, "Approve")
	h.Click(bob, card, "Deny")
	run := h.LastRun()
	if run.State != runbooks.StateDenied || run.Denied == nil || run.Denied.By != bob.ID {
		t.Fatalf("run = %s denied %+v, want denied by bob", run.State, run.Denied)
	}
	last := card.Last()
	if len(last.Buttons) != 0 {
		t.Errorf("denied card still has buttons")
	}
	mustContain(t, "denied card", bottest.Text(last), "Denied by @bob")
	turn := h.Press(carol, card, approve)
	mustContain(t, "approve after deny", strings.ToLower(turn.PrivateText()), "denied by @bob")
	if got := h.LastRun(); got.State != runbooks.StateDenied {
		t.Errorf("approve after deny changed the run to %s", got.State)
	}
	if n := len(h.Runs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

func TestConcurrentApprovalsStartOneRun(t *testing.T) {
	approvers := make([]string, 50)
	for i := range approvers {
		approvers[i] = fmt.Sprintf("console:sre%d", i)
	}
	h := newHarness(t, commandstest.Options{Roles: map[string][]string{"dev": {"console:alice"}, "sre": approvers}})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	approve := h.Button(card, "Approve")
	var wg sync.WaitGroup
	turns := make([]*commandstest.Turn, len(approvers))
	start := make(chan struct{})
	for i := range approvers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			turns[i] = h.Press(bottest.User(fmt.Sprintf("sre%d", i)), card, approve)
		}()
	}
	close(start)
	wg.Wait()
	run := h.WaitFinal(h.LastRun().ID)
	if run.State != runbooks.StateSucceeded || len(run.Approvals) != 1 {
		t.Fatalf("run = %s with %d approvals, want succeeded with exactly 1", run.State, len(run.Approvals))
	}
	if n := len(h.Runs()); n != 1 {
		t.Errorf("%d runs stored, want 1", n)
	}
	starts, already := 0, 0
	for _, e := range h.AuditEntries() {
		if e.Action == "run.start" {
			starts++
		}
	}
	for _, turn := range turns {
		if strings.Contains(strings.ToLower(turn.PrivateText()), "already approved by") {
			already++
		} else {
			t.Logf("reply: %q", turn.PrivateText())
		}
	}
	if starts != 1 {
		t.Errorf("%d run.start audit entries, want 1", starts)
	}
	if already != len(approvers)-1 {
		t.Errorf("%d clicks were told \"already approved by\", want %d", already, len(approvers)-1)
	}
}

func TestCancelRunningShowsWho(t *testing.T) {
	slow := `
name: sleepy
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - name: sleep
    script: "echo started; sleep 30"
`
	h := newHarness(t, commandstest.Options{Runbooks: []string{slow}})
	msg := h.Say(alice, "/runbook run sleepy").Card(t)
	id := h.LastRun().ID
	// Wait for the first output so the process is surely running.
	h.WaitText(msg, "started")
	mustContain(t, "dave cancels", h.Say(dave, "/runbook cancel "+id).PrivateText(), "no run")
	h.Click(alice, msg, "Cancel")
	run := h.WaitFinal(id)
	if run.State != runbooks.StateCancelled {
		t.Fatalf("state = %s, want cancelled", run.State)
	}
	text := bottest.Text(msg.Last())
	mustContain(t, "final", text, "cancelled by @alice")
	if len(msg.Last().Buttons) != 0 {
		t.Errorf("cancelled message still has buttons")
	}
}

func TestLockHeldAnswersWithHolder(t *testing.T) {
	slow := `
name: migrate
kind: remediation
allow: [dev]
lock: db
timeout: 1m
steps:
  - name: sleep
    script: "echo migrating; sleep 30"
`
	h := newHarness(t, commandstest.Options{Runbooks: []string{slow}})
	msg := h.Say(alice, "/runbook run migrate").Card(t)
	first := h.LastRun().ID
	turn := h.Say(alice, "/runbook run migrate")
	text := turn.PrivateText()
	mustContain(t, "lock answer", text, "migrate is locked")
	mustContain(t, "lock answer", text, "held by run "+first+" of @alice")
	view := turn.Private()[0]
	if len(view.Buttons) != 1 || view.Buttons[0].Label != "View" {
		t.Fatalf("lock answer buttons = %v, want [View]", view.Buttons)
	}
	status := h.Press(alice, msg, view.Buttons[0])
	mustContain(t, "view", status.PrivateText(), "migrate — running")
	h.WaitText(msg, "[Cancel]")
	h.Click(alice, msg, "Cancel")
	h.WaitFinal(first)
}

func TestExpiryLoopRedrawsCards(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h := newHarness(t, commandstest.Options{Clock: clock, ExpiryInterval: 5 * time.Millisecond})
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	clock.Advance(16 * time.Minute)
	h.WaitText(card, "Expired")
	if got := h.LastRun(); got.State != runbooks.StateExpired {
		t.Errorf("run = %s, want expired", got.State)
	}
	var expired bool
	for _, e := range h.AuditEntries() {
		expired = expired || e.Action == "run.expire"
	}
	if !expired {
		t.Errorf("no run.expire audit entry")
	}
}

// TestCardsRedrawnFromTransitions: a request decided by any client of the
// run service, not only by a click on its card, has its card redrawn
// without buttons, saying how it ended: the runbook flows draw it from the
// service's transitions.
func TestCardsRedrawnFromTransitions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decide func(ctx context.Context, runs *runbooks.Service, id string) error
		want   string
	}{
		{"deny", func(ctx context.Context, runs *runbooks.Service, id string) error {
			_, err := runs.Deny(ctx, id, runbooks.Decision{By: bob.ID, Name: bob.Name})
			return err
		}, "Denied by @bob"},
		{"close", func(ctx context.Context, runs *runbooks.Service, id string) error {
			_, _, err := runs.Close(ctx, id, "maintenance over", "")
			return err
		}, "Closed: maintenance over"},
		{"withdraw", func(ctx context.Context, runs *runbooks.Service, id string) error {
			_, err := runs.Withdraw(ctx, id, runbooks.Decision{By: alice.ID, Name: alice.Mention()}, nil)
			return err
		}, "Cancelled by " + alice.Mention() + " before it started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, commandstest.Options{})
			card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
			if len(card.Last().Buttons) == 0 {
				t.Fatal("the approval card has no buttons")
			}
			if err := tc.decide(t.Context(), h.Runbooks.Runs(), h.LastRun().ID); err != nil {
				t.Fatal(err)
			}
			h.Settle()
			last := card.Last()
			if len(last.Buttons) != 0 {
				t.Errorf("decided card still has buttons:\n%s", bottest.Text(last))
			}
			mustContain(t, "decided card", bottest.Text(last), tc.want)
		})
	}
}

// TestPeopleCountNotAccounts: with access.people linking bob's console and
// Slack accounts, bob cannot approve his own request from the other
// account, nor count twice toward a quorum of two.
func TestPeopleCountNotAccounts(t *testing.T) {
	bobSlack := bot.Actor{ID: "slack:UBOB", Name: "bob (slack)"}
	rolesWithSlack := roles()
	rolesWithSlack["sre"] = append(rolesWithSlack["sre"], bobSlack.ID)
	people := map[string][]string{"bob": {"console:bob", bobSlack.ID}}
	quorum := strings.Replace(restartAPI, "required: 1", "required: 2", 1)

	t.Run("four eyes", func(t *testing.T) {
		h := newHarness(t, commandstest.Options{Roles: rolesWithSlack, People: people})
		card := h.Say(bob, "/runbook run restart-api env=prod").Card(t)
		turn := h.Click(bobSlack, card, "Approve")
		mustContain(t, "private reply", turn.PrivateText(), "from another account of yours (console:bob)")
		if got := h.LastRun(); got.State != runbooks.StatePendingApproval || len(got.Approvals) != 0 {
			t.Errorf("run = %s with %d approvals, want still pending with none", got.State, len(got.Approvals))
		}
	})
	t.Run("quorum", func(t *testing.T) {
		h := newHarness(t, commandstest.Options{Roles: rolesWithSlack, People: people, Runbooks: []string{quorum}})
		card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
		mustContain(t, "first approval", h.Click(bob, card, "Approve").PrivateText(), "1 of 2")
		turn := h.Click(bobSlack, card, "Approve")
		mustContain(t, "second account", turn.PrivateText(), "already approved this run from another account of yours (console:bob)")
		if got := h.LastRun(); got.State != runbooks.StatePendingApproval || len(got.Approvals) != 1 {
			t.Fatalf("after bob's two accounts run is %s with %d approvals, want pending with 1", got.State, len(got.Approvals))
		}
		h.Click(carol, card, "Approve")
		if run := h.WaitFinal(h.LastRun().ID); run.State != runbooks.StateSucceeded || len(run.Approvals) != 2 {
			t.Fatalf("run = %s with %d approvals, want succeeded with 2", run.State, len(run.Approvals))
		}
	})
	t.Run("unlinked accounts are people of their own", func(t *testing.T) {
		h := newHarness(t, commandstest.Options{Roles: rolesWithSlack})
		card := h.Say(bob, "/runbook run restart-api env=prod").Card(t)
		h.Click(bobSlack, card, "Approve")
		if run := h.WaitFinal(h.LastRun().ID); run.State != runbooks.StateSucceeded {
			t.Fatalf("without access.people the Slack account is someone else: run = %s, want succeeded", run.State)
		}
	})
}
