package runbookchat

import (
	"context"
	"fmt"
	"strings"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// Limits of the status and logs answers.
const (
	statusScan   = 500      // runs read to find the caller's recent ones
	statusMine   = 10       // recent runs of the caller shown
	logsTailSize = 64 << 10 // bytes of log read for an inline answer
	logsUpload   = 2900     // above this many bytes the log goes as a file when possible
	maxLogUpload = 50 << 20 // never upload more than this; the cap usually is far below
)

// canView reports whether a may see a run: its requester, anyone who may
// run or approve its runbook, admins.
func (b *Flows) canView(a bot.Actor, run *runbooks.Run) bool {
	if a.ID == run.RequestedBy {
		return true
	}
	pol, s := b.policy(), commands.Subject(a)
	if pol != nil && pol.IsAdmin(s) {
		return true
	}
	rb, ok := b.registry().Get(run.Runbook)
	return ok && commands.Allowed(pol, s, access.ActionView, rb)
}

// getRun returns a run the actor may see; others get the same "not found"
// as a run that does not exist.
func (b *Flows) getRun(ctx context.Context, a bot.Actor, id string) (*runbooks.Run, error) {
	run, err := b.d.Store.GetRun(ctx, id)
	if tebura.ErrorCode(err) == tebura.ENOTFOUND || (err == nil && !b.canView(a, run)) {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no run `%s` you may see. `%s status` lists your recent runs.", id, b.names.Typed(commands.RootRunbook))
	}
	return run, err
}

// status shows one run, or the caller's recent runs and everything running.
func (b *Flows) status(ctx context.Context, r bot.Replier, a bot.Actor, id string) error {
	if id != "" {
		run, err := b.getRun(ctx, a, id)
		if err != nil {
			return err
		}
		snap := runbooks.Snapshot{}
		if b.d.Executor != nil {
			if h, ok := b.d.Executor.Handle(run.ID); ok {
				snap = h.Snapshot()
			}
		}
		msg := frame(run, snap, b.storedMasker(run), b.now(), "", "")
		msg.Buttons = nil
		return r.Private(ctx, msg)
	}
	runs, err := b.d.Store.ListRuns(ctx, runbooks.ListOptions{Limit: statusScan})
	if err != nil {
		return err
	}
	var active, mine []string
	for _, run := range runs {
		line := b.statusLine(run)
		switch {
		case !run.State.Final():
			if b.canView(a, run) {
				active = append(active, line)
			}
		case run.RequestedBy == a.ID && len(mine) < statusMine:
			mine = append(mine, line)
		}
	}
	msg := bot.Message{Header: "Runs", Level: bot.LevelInfo}
	if len(active) == 0 {
		msg.Text = append(msg.Text, "Nothing is running or waiting for approval.")
	} else {
		msg.Text = append(msg.Text, "*Running or waiting*\n"+strings.Join(active, "\n"))
	}
	if len(mine) > 0 {
		msg.Text = append(msg.Text, "*Your recent runs*\n"+strings.Join(mine, "\n"))
	}
	msg.Context = "`" + b.names.Typed(commands.RootRunbook) + " status RUN` for one run"
	return r.Private(ctx, msg)
}

func (b *Flows) statusLine(run *runbooks.Run) string {
	line := fmt.Sprintf("`%s` %s — %s, requested by %s", run.ID, run.Runbook, StateLabel(run.State), commands.Who(run.RequestedBy, run.RequestedName))
	switch {
	case run.State == runbooks.StateRunning && !run.StartedAt.IsZero():
		line += ", for " + commands.Human(b.now().Sub(run.StartedAt))
	case run.State.Final() && !run.EndedAt.IsZero():
		line += ", ended " + commands.Stamp(run.EndedAt)
	}
	return line
}

// cancel stops a run (or withdraws a pending request). The requester, the
// runbook's approvers and admins may.
func (b *Flows) cancel(ctx context.Context, r bot.Replier, a bot.Actor, id string) error {
	run, err := b.getRun(ctx, a, id)
	if err != nil {
		return err
	}
	pol, s := b.policy(), commands.Subject(a)
	rb, ok := b.registry().Get(run.Runbook)
	may := a.ID == run.RequestedBy || (pol != nil && pol.IsAdmin(s)) || (ok && commands.Allowed(pol, s, access.ActionCancel, rb))
	if !may {
		return tebura.Errorf(tebura.EFORBIDDEN, "You may not cancel %s: only its requester (%s), approvers of `%s` and admins may.",
			run.ID, commands.Who(run.RequestedBy, run.RequestedName), run.Runbook)
	}
	if run.State.Final() {
		return tebura.Errorf(tebura.ECONFLICT, "Run %s already ended: it %s.", run.ID, StateLabel(run.State))
	}
	if run.State == runbooks.StatePendingApproval {
		cancelled, err := b.d.Runs.Withdraw(ctx, run.ID, runbooks.Decision{By: a.ID, Name: a.Mention()}, decidedError)
		if err != nil {
			return err
		}
		// The card is redrawn from the transition (onTransition).
		return r.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf("Request %s withdrawn.", cancelled.ID)}})
	}
	if err := b.d.Runs.Cancel(ctx, run.ID, runbooks.Decision{By: a.ID, Name: a.Mention()}, ""); err != nil {
		return err
	}
	return r.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf("Cancelling %s: its processes are being stopped.", run.ID)}})
}

// PrivateUploader is the optional capability of a bot.Replier to attach a
// file that only the actor of the event sees (a direct message, say).
// /runbook logs uses it for a long log; a chat's bot.FileUploader is not
// used there, because it uploads into the channel for everyone.
type PrivateUploader interface {
	UploadPrivate(ctx context.Context, f bot.File) error
}

// logs answers privately: the whole log as a private file when it is long
// and the replier can attach one (PrivateUploader), otherwise the end of
// the log inline with where the whole of it is. It never uploads into the
// channel: the command's answer is private, and a log may hold what the
// channel should not see.
func (b *Flows) logs(ctx context.Context, c *bot.Command, id string) error {
	run, err := b.getRun(ctx, c.Actor, id)
	if err != nil {
		return err
	}
	if run.LogPath == "" && run.StartedAt.IsZero() {
		return tebura.Errorf(tebura.ENOTFOUND, "Run %s has no log: it never started (it is %s).", run.ID, StateLabel(run.State))
	}
	long := run.LogBytes > logsUpload && run.State.Final()
	if up, ok := c.Reply.(PrivateUploader); ok && long {
		content, err := b.readLog(ctx, run, maxLogUpload)
		if err != nil {
			return err
		}
		if err := up.UploadPrivate(ctx, bot.File{Name: logName(run), Title: "Full log of " + run.Runbook + " " + run.ID, Content: content}); err != nil {
			return err
		}
		return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf("The full log of %s is attached as %s, for you only.", run.ID, logName(run))}})
	}
	content, err := b.readLog(ctx, run, logsTailSize)
	if err != nil {
		return err
	}
	text := strings.TrimRight(string(content), "\n")
	if text == "" {
		text = "(no output)"
	}
	m := bot.Message{
		Header:  "Log of " + run.ID + " (" + run.Runbook + ")",
		Level:   bot.LevelInfo,
		Code:    &bot.Code{Text: text, Tail: true},
		Context: fmt.Sprintf("%d bytes in all · %s", run.LogBytes, StateLabel(run.State)),
	}
	if long {
		where := fmt.Sprintf("This is the end of the log. For all of it, run `tebura logs %s` on the bot's host", run.ID)
		if _, files := b.chat(c.Platform).(bot.FileUploader); files {
			where += ", or open the log file attached to the run's own message if it has one"
		}
		m.Text = []string{where + "."}
	}
	return c.Reply.Private(ctx, m)
}
