package runbooks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"go.yaml.in/yaml/v3"
)

// Manual steps: a runbook written as a checklist before it is automated.
// The executor reaches a manual step and waits (under the step's and the
// run's timeout, and cancel) for a person to answer it; the answer goes
// through Service.Answer, which stores it on the run with its audit entry
// in one write and publishes it as a transition of the running run, then
// hands it to the waiting step. Nothing else decides a manual step.

// Answer is what a person said of a manual step.
type Answer string

// The answers of a manual step.
const (
	// AnswerDone: the step was done; the run goes on.
	AnswerDone Answer = "done"
	// AnswerFailed: the step failed; the run fails as with any failed step
	// (unless the step has continue_on_error).
	AnswerFailed Answer = "failed"
	// AnswerSkipped: the step was skipped; the run goes on.
	AnswerSkipped Answer = "skipped"
)

// ParseAnswer reads an answer as buttons and commands give it.
func ParseAnswer(s string) (Answer, error) {
	switch a := Answer(strings.ToLower(strings.TrimSpace(s))); a {
	case AnswerDone, AnswerFailed, AnswerSkipped:
		return a, nil
	case "skip":
		return AnswerSkipped, nil
	case "fail":
		return AnswerFailed, nil
	}
	return "", tebura.Errorf(tebura.EINVALID, "%q is not an answer to a manual step; answer done, failed or skipped.", s)
}

// Label is the answer as its button reads.
func (a Answer) Label() string {
	switch a {
	case AnswerDone:
		return "Done"
	case AnswerFailed:
		return "Failed"
	case AnswerSkipped:
		return "Skipped"
	}
	return string(a)
}

// StepAnswer is one person's answer to one manual step of a run, as stored
// on the run: exactly one per step.
type StepAnswer struct {
	// Step is the step's number, from 1, as the log's "step 2/3" counts.
	Step   int       `json:"step"`
	Name   string    `json:"name"` // the step's name
	Answer Answer    `json:"answer"`
	By     string    `json:"by"` // identity
	ByName string    `json:"by_name,omitempty"`
	At     time.Time `json:"at"`
}

// Who names the person who answered, as messages mention people.
func (a StepAnswer) Who() string { return who(Decision{By: a.By, Name: a.ByName}) }

// Prompt is the manual step a running run waits on, as its snapshot shows
// it: the live message offers [Done] [Failed] [Skip] for it.
type Prompt struct {
	Step        int       // number, from 1
	Name        string    // the step's name
	Instruction string    // masked
	Since       time.Time // when the run began waiting
}

// answerOf returns the stored answer to step n, if any.
func (r *Run) answerOf(n int) (StepAnswer, bool) {
	for _, a := range r.Answers {
		if a.Step == n {
			return a, true
		}
	}
	return StepAnswer{}, false
}

// ask marks the handle waiting on p and returns where its answer arrives.
func (h *Handle) ask(p Prompt) <-chan StepAnswer {
	c := make(chan StepAnswer, 1)
	h.update(func(h *Handle) { h.prompt, h.answers = &p, c })
	return c
}

// settle ends the wait on the prompt of step n.
func (h *Handle) settle(n int) {
	h.update(func(h *Handle) {
		if h.prompt != nil && h.prompt.Step == n {
			h.prompt, h.answers = nil, nil
		}
	})
}

// waiting returns the prompt the run waits on.
func (h *Handle) waiting() (Prompt, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.prompt == nil {
		return Prompt{}, false
	}
	return *h.prompt, true
}

// deliver hands a stored answer to the step waiting for it; false when the
// run no longer waits on that step (it ended meanwhile).
func (h *Handle) deliver(a StepAnswer) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.prompt == nil || h.prompt.Step != a.Step {
		return false
	}
	select {
	case h.answers <- a:
		return true
	default: // one answer per step: the store let only one through
		return false
	}
}

// runManual waits for the answer to manual step n (from 1) until ctx ends
// (the step's or the run's timeout, cancel, shutdown).
func (e *Executor) runManual(ctx context.Context, h *Handle, n int, s RenderedStep, out *output) stepResult {
	out.note("waiting for an answer in chat ([Done], [Failed] or [Skip]): %s", oneLine(s.Instruction))
	answers := h.ask(Prompt{Step: n, Name: s.Name, Instruction: maskString(h.masker, s.Instruction), Since: e.cfg.Clock()})
	defer h.settle(n)
	select {
	case a := <-answers:
		out.note("step %s answered %s by %s", s.Name, a.Answer.Label(), a.Who())
		switch a.Answer {
		case AnswerFailed:
			return stepResult{code: 1, answered: fmt.Sprintf("step %s was answered Failed by %s", s.Name, a.Who())}
		default:
			return stepResult{}
		}
	case <-ctx.Done():
		return stepResult{code: -1}
	}
}

func maskString(m Masker, s string) string {
	if m == nil {
		return s
	}
	return m.Mask(s)
}

// oneLine joins an instruction's lines for the log's one-line note.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Answer records a's answer to the manual step a running run waits on: the
// answer and its audit entry are one write (one answer per step, whoever
// comes second is told who answered first), published as a transition of
// the running run carrying the answer, and then handed to the waiting
// step. The door checked that a.By may answer (the runbook's allow list).
func (s *Service) Answer(ctx context.Context, runID string, a StepAnswer) (*Run, error) {
	if a.At.IsZero() {
		a.At = s.now()
	}
	var h *Handle
	if s.exec != nil {
		h, _ = s.exec.Handle(runID)
	}
	var prompt Prompt
	waiting := false
	if h != nil {
		prompt, waiting = h.waiting()
	}
	answer := a
	run, err := s.writeTransition(ctx, runID, a.By, func(r *Run) ([]audit.Note, error) {
		if prev, ok := r.answerOf(a.Step); ok {
			return nil, tebura.Errorf(tebura.ECONFLICT, "Step %d (%s) of run %s was already answered %s by %s.",
				prev.Step, prev.Name, r.ID, prev.Answer.Label(), prev.Who())
		}
		if r.State != StateRunning {
			return nil, tebura.Errorf(tebura.ECONFLICT, "Run %s is %s, so its step %d can no longer be answered.", r.ID, r.State, a.Step)
		}
		if !waiting || prompt.Step != a.Step {
			return nil, tebura.Errorf(tebura.ECONFLICT, "Run %s is not waiting for an answer to step %d; type `status %s` to see where it is.", r.ID, a.Step, r.ID)
		}
		answer.Name = prompt.Name
		r.Answers = append(r.Answers, answer)
		return []audit.Note{{Actor: a.By, Action: audit.ActionRunAnswer, Subject: r.ID, Detail: map[string]string{
			"runbook": r.Runbook, "step": fmt.Sprint(a.Step), "step_name": prompt.Name, "answer": string(a.Answer)}}}, nil
	}, func(t *Transition) { t.Answer = &answer })
	if err != nil {
		return nil, err
	}
	if !h.deliver(answer) {
		s.log.Warn("step answer stored but the run no longer waits for it", "run_id", runID, "step", a.Step)
	}
	return run, nil
}

// checkManual checks a manual step: an instruction, whose templates never
// use a secret param (people read it), and none of the keys that only
// mean something to a process.
func (d *decoder) checkManual(s *Step, sn *stepNodes, path string, params map[string]*Param) {
	if strings.TrimSpace(s.Manual) == "" {
		d.problem(orNode(sn.manual, sn.node), path+".manual", "is empty; write what people should do and check")
	}
	d.checkTemplate(sn.manual, path+".manual", s.Manual, params, true)
	for _, k := range []struct {
		set  bool
		key  string
		node *yaml.Node
	}{{len(s.Env) > 0, "env", sn.env}, {s.Dir != "", "dir", sn.dir}} {
		if k.set {
			d.problem(orNode(k.node, sn.node), path+"."+k.key, "does not apply to manual steps (nothing runs; people answer in chat)")
		}
	}
}

func orNode(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

// TerminalRunnable refuses, with a sentence, a runbook with manual steps
// for a door that shows no buttons (tebura run): its manual steps are
// answered in chat, and nobody could answer them there.
func TerminalRunnable(rb *Runbook) error {
	var manual []string
	for _, s := range rb.Steps {
		if s.Manual != "" {
			manual = append(manual, s.Name)
		}
	}
	if len(manual) == 0 {
		return nil
	}
	return tebura.Errorf(tebura.EINVALID, "Runbook %s has manual steps (%s), which people answer with buttons in chat; run it from chat with `/runbook run %s`.",
		rb.Name, strings.Join(manual, ", "), rb.Name)
}

// cloneAnswers copies a run's answers for copyRun.
func cloneAnswers(as []StepAnswer) []StepAnswer { return slices.Clone(as) }
