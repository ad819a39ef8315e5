package runbookchat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// Manual steps in chat: while a run waits on a manual step its live
// message shows the instruction with [Done] [Failed] [Skip]; a click is
// checked against the runbook's allow list and handed to the run service
// (runbooks.Service.Answer), which lets exactly one answer per step count.

// actionAnswer is the callback action of the three answer buttons; the
// callback's Data says the step and the answer. Each button's own action
// ID is actionAnswer + "_" + its answer: Slack refuses a block whose
// buttons share an action_id.
const actionAnswer = "answer"

// Labels of the answer buttons, also what tests click.
const (
	labelDone   = "Done"
	labelFailed = "Failed"
	labelSkip   = "Skip"
)

// promptButtons are the stored callbacks of the answer buttons of the
// step a run waits on; one follower (one goroutine) owns it.
type promptButtons struct {
	step    int
	buttons []bot.Button
}

// withPrompt adds to a live frame the manual step the run waits on: its
// instruction and the answer buttons, stored the first time the step is
// shown (three callbacks; they need no expiry: once the step is answered
// or the run ended, the service refuses them with a sentence). Without
// stored buttons the frame still says what the run waits for.
func (b *Flows) withPrompt(ctx context.Context, msg bot.Message, run *runbooks.Run, snap runbooks.Snapshot, pb *promptButtons) bot.Message {
	p := snap.Waiting
	if p == nil || snap.State.Final() {
		return msg
	}
	if pb.step != p.Step {
		pb.step, pb.buttons = p.Step, nil
		for _, a := range []struct {
			label string
			style bot.ButtonStyle
			ans   runbooks.Answer
		}{{labelDone, bot.StylePrimary, runbooks.AnswerDone}, {labelFailed, bot.StyleDanger, runbooks.AnswerFailed}, {labelSkip, bot.StyleDefault, runbooks.AnswerSkipped}} {
			cb, err := b.callback(actionAnswer, run.ID, time.Time{})
			if err == nil {
				cb.Data = map[string]string{"step": strconv.Itoa(p.Step), "answer": string(a.ans)}
				err = b.d.Store.PutCallback(ctx, cb)
			}
			if err != nil {
				b.log.Error("answer button not stored", "run_id", run.ID, "step", p.Step, "err", err)
				pb.buttons = nil
				break
			}
			pb.buttons = append(pb.buttons, bot.Button{Label: a.label, Style: a.style, ActionID: actionAnswer + "_" + string(a.ans), CallbackID: cb.ID})
		}
	}
	text := fmt.Sprintf("*Step %d, %s, waits for an answer* since %s:", p.Step, bot.Verbatim(p.Name), commands.Stamp(p.Since))
	msg.Text = append(msg.Text, text, bot.Verbatim(p.Instruction))
	if len(pb.buttons) == 0 {
		msg.Text = append(msg.Text, "The answer buttons could not be shown; cancel the run if nobody can answer.")
		return msg
	}
	msg.Buttons = append(append([]bot.Button(nil), pb.buttons...), msg.Buttons...)
	return msg
}

// answer handles a click on [Done], [Failed] or [Skip]: only people who
// may run the runbook answer its steps.
func (b *Flows) answer(ctx context.Context, c *bot.Click, cb bot.Callback) error {
	step, err := strconv.Atoi(cb.Data["step"])
	if err != nil {
		return tebura.Errorf(tebura.EINTERNAL, "answer button of run %s has no step", cb.Subject)
	}
	ans, err := runbooks.ParseAnswer(cb.Data["answer"])
	if err != nil {
		return tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	run, err := b.d.Store.GetRun(ctx, cb.Subject)
	if err != nil {
		return err
	}
	rb, ok := b.registry().Get(run.Runbook)
	if !ok {
		return tebura.Errorf(tebura.ECONFLICT, "The runbook `%s` is no longer loaded, so nobody may answer its steps; cancel run %s with `%s cancel %s`.",
			run.Runbook, run.ID, b.names.Typed(commands.RootRunbook), run.ID)
	}
	if !commands.Allowed(b.policy(), commands.Subject(c.Actor), access.ActionRun, rb) {
		return tebura.Errorf(tebura.EFORBIDDEN, "You may not answer the steps of `%s`: only people who may run it (roles %s) may. Ask one of them.",
			rb.Name, commands.OrNone(strings.Join(rb.Allow, ", ")))
	}
	_, err = b.d.Runs.Answer(ctx, run.ID, runbooks.StepAnswer{Step: step, Answer: ans, By: c.Actor.ID, ByName: c.Actor.Name})
	if err != nil {
		return err
	}
	return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{
		fmt.Sprintf("You answered %s to step %d of run %s; it is recorded.", ans.Label(), step, run.ID)}})
}
