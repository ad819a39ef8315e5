package runbooks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
)

const checklistBook = `
name: failover
kind: remediation
allow: [dev]
params:
  - {name: db, type: enum, values: [main, replica], default: main}
steps:
  - name: before
    script: echo "automated before on $TEBURA_PARAM_DB"
  - name: check replication
    manual: "Open the {{ .Params.db }} dashboard; is replication lag under 5 s?"
  - name: after
    run: [echo, automated after]
`

// startChecklist requests and starts rb through the service and waits
// until the run waits on its manual step number n.
func startChecklist(t *testing.T, sh *svcHarness, rb *Runbook, n int) (*Handle, *Run) {
	t.Helper()
	ctx := context.Background()
	p, err := sh.svc.Request(ctx, Request{Runbook: rb, By: "slack:UREQ", Via: ViaChat})
	if err != nil {
		t.Fatal(err)
	}
	h, err := sh.svc.Start(ctx, p.Run, rb, "slack:UREQ")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, fmt.Sprintf("the prompt of step %d", n), func(s Snapshot) bool { return s.Waiting != nil && s.Waiting.Step == n })
	return h, p.Run
}

// TestManualMixedRunbook: automated steps run, the manual one waits for
// its answer with the instruction rendered (no secret, params filled),
// and each answer decides what follows, recorded on the run, on the audit
// chain and in the transition that carries it.
func TestManualMixedRunbook(t *testing.T) {
	for _, tc := range []struct {
		answer    Answer
		state     State
		afterRuns bool
		reason    string
	}{
		{AnswerDone, StateSucceeded, true, "3 of 3 steps ran"},
		{AnswerSkipped, StateSucceeded, true, "3 of 3 steps ran"},
		{AnswerFailed, StateFailed, false, "step check replication was answered Failed by @Bob"},
	} {
		t.Run(string(tc.answer), func(t *testing.T) {
			var mu sync.Mutex
			var answers []StepAnswer
			sh := newSvcHarness(t, func(tr Transition) {
				if tr.Answer != nil {
					mu.Lock()
					answers = append(answers, *tr.Answer)
					mu.Unlock()
					if tr.From != StateRunning || tr.To != StateRunning || len(tr.Run.Answers) != 1 {
						t.Errorf("answer transition %s>%s with %d answers on the run", tr.From, tr.To, len(tr.Run.Answers))
					}
				}
			})
			rb := sh.load(checklistBook)
			h, run := startChecklist(t, sh, rb, 2)
			snap := h.Snapshot()
			if snap.Waiting.Name != "check replication" || snap.Waiting.Instruction != "Open the main dashboard; is replication lag under 5 s?" {
				t.Fatalf("prompt = %+v", snap.Waiting)
			}
			if !tailHas(snap, "automated before on main") || tailHas(snap, "automated after") {
				t.Fatalf("tail before the answer:\n%s", strings.Join(snap.Tail, "\n"))
			}
			ctx := context.Background()
			if _, err := sh.svc.Answer(ctx, run.ID, StepAnswer{Step: 2, Answer: tc.answer, By: "slack:UB", ByName: "Bob"}); err != nil {
				t.Fatal(err)
			}
			end := sh.wait(h)
			if end.State != tc.state || !strings.Contains(end.Reason, tc.reason) {
				t.Fatalf("ended %s (%s), want %s (%s)", end.State, end.Reason, tc.state, tc.reason)
			}
			if end.Waiting != nil {
				t.Errorf("an ended run still waits on %+v", end.Waiting)
			}
			log := sh.logOf(run.ID)
			if got := strings.Contains(log, "automated after"); got != tc.afterRuns {
				t.Errorf("the step after the manual one ran: %v, want %v\n%s", got, tc.afterRuns, log)
			}
			if !strings.Contains(log, "step check replication answered "+tc.answer.Label()+" by @Bob") {
				t.Errorf("log does not say who answered:\n%s", log)
			}
			stored := sh.store.run(run.ID)
			if len(stored.Answers) != 1 || stored.Answers[0].Answer != tc.answer || stored.Answers[0].By != "slack:UB" || stored.Answers[0].Name != "check replication" {
				t.Errorf("stored answers = %+v", stored.Answers)
			}
			if err := sh.svc.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			want := []string{"slack:UREQ run.request r1", "slack:UREQ run.start r1", "slack:UB run.answer r1", "system run.end r1"}
			if got := sh.audit.actions(); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if e := sh.audit.entries[2]; e.Detail["answer"] != string(tc.answer) || e.Detail["step"] != "2" || e.Detail["step_name"] != "check replication" {
				t.Errorf("answer entry detail = %v", e.Detail)
			}
			if _, err := audit.Verify(ctx, sh.audit); err != nil {
				t.Errorf("chain: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(answers) != 1 || answers[0].Answer != tc.answer {
				t.Errorf("transitions carried answers %+v", answers)
			}
		})
	}
}

// TestManualConcurrentAnswers: people answer the same step at once; the
// store lets exactly one answer count, and every other person is told who
// answered first and what.
func TestManualConcurrentAnswers(t *testing.T) {
	sh := newSvcHarness(t)
	rb := sh.load(checklistBook)
	h, run := startChecklist(t, sh, rb, 2)
	ctx := context.Background()
	const people = 8
	gate := make(chan struct{})
	errs := make([]error, people)
	var wg sync.WaitGroup
	for i := range people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			ans := AnswerDone
			if i%2 == 1 {
				ans = AnswerFailed
			}
			_, errs[i] = sh.svc.Answer(ctx, run.ID, StepAnswer{Step: 2, Answer: ans, By: fmt.Sprintf("slack:U%d", i), ByName: fmt.Sprintf("P%d", i)})
		}()
	}
	close(gate)
	wg.Wait()
	end := sh.wait(h)
	stored := sh.store.run(run.ID)
	if len(stored.Answers) != 1 {
		t.Fatalf("%d answers stored, want 1: %+v", len(stored.Answers), stored.Answers)
	}
	first := stored.Answers[0]
	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
			if fmt.Sprintf("slack:U%d", i) != first.By {
				t.Errorf("P%d was told their answer counted, but the stored one is %s's", i, first.By)
			}
			continue
		}
		msg := tebura.ErrorMessage(err)
		if tebura.ErrorCode(err) != tebura.ECONFLICT || !strings.Contains(msg, "already answered "+first.Answer.Label()+" by @"+first.ByName) {
			t.Errorf("P%d refused with %q (%s), want who answered first", i, msg, tebura.ErrorCode(err))
		}
	}
	if wins != 1 {
		t.Errorf("%d answers counted, want 1", wins)
	}
	wantState := StateSucceeded
	if first.Answer == AnswerFailed {
		wantState = StateFailed
	}
	if end.State != wantState {
		t.Errorf("run ended %s after the answer %s", end.State, first.Answer)
	}
	n := 0
	for _, e := range sh.audit.entries {
		if e.Action == audit.ActionRunAnswer {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d run.answer entries, want 1", n)
	}
}

// TestManualTimesOutWhileWaiting: nobody answers; the run's timeout (and,
// on its own, a step's timeout) ends the wait, and a late answer is
// refused and stores nothing.
func TestManualTimesOutWhileWaiting(t *testing.T) {
	for _, tc := range []struct{ name, book, reason string }{
		{"run timeout", `
name: wait
kind: diagnostic
timeout: 300ms
steps:
  - {name: ask, manual: "Look at the graph."}
`, "timed out after 300ms"},
		{"step timeout", `
name: wait
kind: diagnostic
timeout: 1m
steps:
  - {name: ask, manual: "Look at the graph.", timeout: 300ms}
`, "step ask timed out after 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := newSvcHarness(t)
			rb := sh.load(tc.book)
			h, run := startChecklist(t, sh, rb, 1)
			end := sh.wait(h)
			if end.State != StateTimedOut || end.Reason != tc.reason {
				t.Fatalf("ended %s (%q), want timed_out (%q)", end.State, end.Reason, tc.reason)
			}
			_, err := sh.svc.Answer(context.Background(), run.ID, StepAnswer{Step: 1, Answer: AnswerDone, By: "slack:UB"})
			if tebura.ErrorCode(err) != tebura.ECONFLICT || !strings.Contains(tebura.ErrorMessage(err), "timed_out, so its step 1 can no longer be answered") {
				t.Errorf("late answer: %v", err)
			}
			if got := sh.store.run(run.ID).Answers; len(got) != 0 {
				t.Errorf("late answer stored: %+v", got)
			}
		})
	}
}

// TestManualCancelWhileWaiting: cancel ends a run waiting on a manual step.
func TestManualCancelWhileWaiting(t *testing.T) {
	sh := newSvcHarness(t)
	rb := sh.load(checklistBook)
	h, run := startChecklist(t, sh, rb, 2)
	if err := sh.svc.Cancel(context.Background(), run.ID, Decision{By: "slack:UB", Name: "Bob"}, ViaChat); err != nil {
		t.Fatal(err)
	}
	if end := sh.wait(h); end.State != StateCancelled || end.Reason != "cancelled by Bob" {
		t.Fatalf("ended %s (%q)", end.State, end.Reason)
	}
}

// TestManualAnswerRefusals: an answer to a step the run does not wait on,
// or to a run that a restart interrupted while it waited (the service's
// recovery rule for a running run), is refused with a sentence.
func TestManualAnswerRefusals(t *testing.T) {
	sh := newSvcHarness(t)
	rb := sh.load(checklistBook)
	h, run := startChecklist(t, sh, rb, 2)
	ctx := context.Background()
	_, err := sh.svc.Answer(ctx, run.ID, StepAnswer{Step: 3, Answer: AnswerDone, By: "slack:UB"})
	if tebura.ErrorCode(err) != tebura.ECONFLICT || !strings.Contains(tebura.ErrorMessage(err), "not waiting for an answer to step 3") {
		t.Errorf("answer to another step: %v", err)
	}
	// A restart: a new service over the same store, no executor holding
	// the run, recovers it as interrupted; its buttons then do nothing.
	later := NewService(ServiceConfig{Store: sh.st, Clock: func() time.Time { return t0.Add(time.Hour) }})
	defer later.Stop()
	// The old process's run is still going in this test: stop it first,
	// as the process's death would have.
	if err := sh.svc.Cancel(ctx, run.ID, Decision{By: "system"}, ""); err != nil {
		t.Fatal(err)
	}
	sh.wait(h)
	if _, err := sh.st.UpdateRun(ctx, run.ID, func(r *Run) error { r.State, r.EndedAt = StateRunning, time.Time{}; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := later.Recover(ctx); err != nil || len(got) != 1 || got[0].State != StateInterrupted {
		t.Fatalf("recover = %v, %v", got, err)
	}
	_, err = later.Answer(ctx, run.ID, StepAnswer{Step: 2, Answer: AnswerDone, By: "slack:UB"})
	if tebura.ErrorCode(err) != tebura.ECONFLICT || !strings.Contains(tebura.ErrorMessage(err), "interrupted, so its step 2 can no longer be answered") {
		t.Errorf("answer after a restart: %v", err)
	}
}

// TestManualStepChecks: the loader refuses manual steps that would show a
// secret, say nothing, or carry keys that only mean something to a process.
func TestManualStepChecks(t *testing.T) {
	for _, tc := range []struct{ name, step, want string }{
		{"secret in instruction", `{name: a, manual: "use {{ .Params.token }}"}`, "must not use the secret param token"},
		{"empty", `{name: a, manual: " "}`, "steps[0].manual: is empty"},
		{"env", `{name: a, manual: "look", env: {A: b}}`, "steps[0].env: does not apply to manual steps"},
		{"two kinds", `{name: a, manual: "look", run: [true]}`, "has manual and run; a step needs exactly one of " + stepKindList},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRunbook(t, dir, "rb.yaml", `
name: x
kind: diagnostic
params: [{name: token, secret: true, default: s3cret}]
steps:
  - `+tc.step+"\n")
			_, problems := Load(LoadOptions{Dirs: []string{dir}})
			var all []string
			for _, p := range problems {
				all = append(all, p.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Errorf("problems:\n%s\nwant one with %q", strings.Join(all, "\n"), tc.want)
			}
			for _, p := range problems {
				if p.Line == 0 {
					t.Errorf("problem without a line: %s", p)
				}
			}
		})
	}
}
