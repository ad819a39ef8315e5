package runbookchat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/runbooks"
)

// finalDeliveryTimeout bounds how long a finished run's last frame and log
// upload are retried when the chat is down.
const finalDeliveryTimeout = 2 * time.Minute

// elapsedRefresh is how often a quiet run's message is redrawn so that its
// elapsed time moves.
const elapsedRefresh = 10 * time.Second

// start has the run service start a run with launch and follows it in
// ref: the message already posted for it (the approval card), or, with
// post, the message post makes (ref then has no ID and says where). launch
// stores the run (if it is not stored yet) and starts it; run is the run
// it starts, with its ID once stored. Either way the message is a
// bot.Stream holding its first send for bot.DefaultStreamHold, so a run
// that ends by then is one message carrying its final frame; with post,
// start returns once the message is posted. When launch stored nothing,
// its error is the answer.
func (b *Flows) start(ctx context.Context, run *runbooks.Run, ref bot.MessageRef, post func(context.Context, bot.Message) (bot.MessageRef, error), launch func() (*runbooks.Handle, error)) error {
	m := b.d.Runs.Masker(run)
	if !ref.IsZero() && ref.ID != run.Origin.Message {
		if updated, err := b.d.Runs.SetOrigin(ctx, run.ID, originOf(ref, run.Origin)); err == nil {
			run = updated
		}
	}
	h, err := launch()
	if run.ID == "" {
		return err
	}
	// The run is followed before start returns, so that WaitRun and Wait
	// cover its last message even when it failed at once.
	release := b.track(run.ID)
	var cancelCB *pendingCallback
	if err == nil {
		cancelCB = b.pendingCallback(actionCancel, run.ID)
	}
	st := b.runStream(ctx, run, ref, post, cancelCB)
	if st != nil && post != nil {
		// The command's answer is this message: wait for it, as a handler
		// bound to its event's lifetime must.
		defer func() {
			select {
			case <-st.Posted():
			case <-ctx.Done():
			}
		}()
	}
	if err != nil {
		defer release()
		var locked *runbooks.LockedError
		if errors.As(err, &locked) {
			msg, merr := b.lockMessage(ctx, run.Runbook, locked.Lock)
			if merr != nil {
				b.showFinal(ctx, run.ID, st, frame(run, runbooks.Snapshot{}, m, b.now(), "", ""))
				return merr
			}
			b.showFinal(ctx, run.ID, st, msg)
			return nil
		}
		// The service ended the run failed with the reason; show it as
		// stored, or as it was when the store cannot be read.
		shown := run
		if failed, gerr := b.d.Store.GetRun(ctx, run.ID); gerr == nil && failed.State.Final() {
			shown = failed
		}
		b.showFinal(ctx, run.ID, st, frame(shown, runbooks.Snapshot{}, m, b.now(), "", ""))
		return err
	}
	go func() {
		defer release()
		b.follow(context.WithoutCancel(ctx), h, run, m, st, ref, cancelCB.id())
	}()
	return nil
}

// runStream is the live message of run (see start), or nil when there is
// no chat to show it on. Before it sends a frame carrying the [Cancel]
// button, cancel is stored. A message it posts while the run is live is
// stored as the run's origin, so that it is redrawn if the run is
// interrupted; one posted once the run ended already shows how it ended,
// and nothing redraws it.
func (b *Flows) runStream(ctx context.Context, run *runbooks.Run, ref bot.MessageRef, post func(context.Context, bot.Message) (bot.MessageRef, error), cancel *pendingCallback) *bot.Stream {
	chat := b.chat(ref.Platform)
	if chat == nil || (ref.IsZero() && post == nil) {
		b.log.Warn("run has no live message", "run_id", run.ID, "platform", ref.Platform)
		return nil
	}
	opt := bot.StreamOptions{Interval: b.d.Config.StreamInterval, Hold: bot.DefaultStreamHold, Budget: b.budget[ref.Platform],
		Logger: b.log.With("run_id", run.ID), OnClose: b.d.StreamObserver}
	if ref.IsZero() {
		opt.Post = func(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
			return post(ctx, b.withRunLink(run.ID, cancel.ready(ctx, m)))
		}
		// Where the run's message is, recorded once it is posted, for a
		// run still going: a restart redraws it if the run is interrupted.
		// A run that has ended is never redrawn, so its message's place
		// would be a store commit (two fsyncs) for nothing.
		opt.OnPost = func(posted bot.MessageRef) {
			if !b.live(run.ID) {
				return
			}
			posted.Platform = cmp.Or(posted.Platform, ref.Platform)
			if _, err := b.d.Runs.SetOrigin(context.WithoutCancel(ctx), run.ID, originOf(posted, run.Origin)); err != nil {
				b.log.Error("store run message failed", "run_id", run.ID, "err", err)
			}
		}
	}
	if cancel != nil {
		chat = callbackChat{Chat: chat, cb: cancel}
	}
	if b.d.RunLink != nil {
		chat = linkChat{Chat: chat, b: b, runID: run.ID}
	}
	return bot.NewStream(chat, ref, opt)
}

// live reports whether run id is queued or running in this process.
func (b *Flows) live(id string) bool {
	ex := b.d.Runs.Executor()
	if ex == nil {
		return false
	}
	_, ok := ex.Handle(id)
	return ok
}

// pendingCallback is a button's callback stored only when a message
// carrying the button is about to be sent: a run that ends within its
// message's hold never shows [Cancel], so it costs no store write.
type pendingCallback struct {
	cb  bot.Callback
	put func(context.Context, bot.Callback) error
	log *slog.Logger

	mu     sync.Mutex
	stored bool
}

// pendingCallback returns the callback of a button for action on runID,
// not stored yet.
func (b *Flows) pendingCallback(action, runID string) *pendingCallback {
	cb, err := b.callback(action, runID, time.Time{})
	if err != nil {
		b.log.Error("button callback not made", "run_id", runID, "action", action, "err", err)
		return nil
	}
	return &pendingCallback{cb: cb, put: b.d.Store.PutCallback, log: b.log.With("run_id", runID)}
}

// id is the callback's ID; empty for nil (frames then show no button).
func (p *pendingCallback) id() string {
	if p == nil {
		return ""
	}
	return p.cb.ID
}

// ready returns m once the callback of its button is stored, storing it
// the first time. When it cannot be stored, the button is taken off m
// (a click would find nothing) and the next message tries again.
func (p *pendingCallback) ready(ctx context.Context, m bot.Message) bot.Message {
	if p == nil || !slices.ContainsFunc(m.Buttons, p.carried) {
		return m
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stored {
		if err := p.put(ctx, p.cb); err != nil {
			p.log.Error("button not stored", "action", p.cb.Action, "err", err)
			m.Buttons = slices.DeleteFunc(slices.Clone(m.Buttons), p.carried)
			return m
		}
		p.stored = true
	}
	return m
}

func (p *pendingCallback) carried(bt bot.Button) bool { return bt.CallbackID == p.cb.ID }

// callbackChat is the chat a run's stream edits through: each edit
// carrying the pending button waits for its callback to be stored.
type callbackChat struct {
	bot.Chat
	cb *pendingCallback
}

// Limits are the chat's own.
func (c callbackChat) Limits() bot.Limits { return bot.LimitsOf(c.Chat) }

// Edit stores the button's callback first when m carries it.
func (c callbackChat) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	return c.Chat.Edit(ctx, ref, c.cb.ready(ctx, m))
}

// showFinal delivers msg as the one last frame of a run's message st
// (nil: none), logging a failure.
func (b *Flows) showFinal(ctx context.Context, runID string, st *bot.Stream, msg bot.Message) {
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, finalDeliveryTimeout)
	defer cancel()
	if err := st.Close(ctx, msg); err != nil {
		b.log.Error("run message not delivered", "run_id", runID, "err", err)
	}
}

// track registers that the bot is about to follow run id; the returned
// function marks the run's last message as delivered.
func (b *Flows) track(id string) (release func()) {
	b.streams.Add(1)
	done := make(chan struct{})
	b.mu.Lock()
	b.following[id] = done
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			if b.following[id] == done {
				delete(b.following, id)
			}
			b.mu.Unlock()
			close(done)
			b.streams.Done()
		})
	}
}

// show edits the message of run runID once, logging a failure.
func (b *Flows) show(ctx context.Context, runID string, ref bot.MessageRef, msg bot.Message) {
	chat := b.chat(ref.Platform)
	if chat == nil || ref.IsZero() {
		return
	}
	if err := chat.Edit(ctx, ref, bot.Fit(b.withRunLink(runID, msg), bot.LimitsOf(chat))); err != nil {
		b.log.Error("edit run message failed", "run_id", runID, "platform", ref.Platform, "message_id", ref.ID, "err", err)
	}
}

// follow drives the live message of a started run until its final frame is
// delivered, then attaches (or points to) the full log when the message
// could not hold all of it.
func (b *Flows) follow(ctx context.Context, h *runbooks.Handle, run *runbooks.Run, m runbooks.Masker, st *bot.Stream, ref bot.MessageRef, cancelCB string) {
	sub := h.Subscribe()
	defer sub.Close()
	chat := b.chat(ref.Platform)
	var prompt promptButtons // the answer buttons of a manual step
	if st != nil {
		// The frame the hold ends on if nothing changes by then.
		snap := sub.Snapshot()
		st.Update(b.withPrompt(ctx, frame(run, snap, m, b.now(), cancelCB, ""), run, snap, &prompt))
	}
	// Frames follow the run's changes, and a quiet run still gets its
	// elapsed time refreshed now and then.
	refresh := time.NewTicker(max(elapsedRefresh, b.d.Config.StreamInterval))
	defer refresh.Stop()
	changed := sub.C()
	for changed != nil {
		select {
		case _, ok := <-changed:
			if !ok {
				changed = nil
				continue
			}
		case <-refresh.C:
		}
		if st != nil {
			snap := sub.Snapshot()
			st.Update(b.withPrompt(ctx, frame(run, snap, m, b.now(), cancelCB, ""), run, snap, &prompt))
		}
	}
	<-h.Done()
	snap := sub.Snapshot()
	if final, err := b.d.Store.GetRun(ctx, run.ID); err == nil {
		run = final
	} else {
		b.log.Error("read final run failed", "run_id", run.ID, "err", err)
	}
	ctx, cancel := context.WithTimeout(ctx, finalDeliveryTimeout)
	defer cancel()
	overflow := snap.Truncated || snap.Lines > int64(len(snap.Tail))
	note := ""
	var uploader bot.FileUploader
	if overflow {
		var ok bool
		if uploader, ok = chat.(bot.FileUploader); ok {
			note = "full log attached as " + logName(run)
		} else {
			note = "full log: `" + b.names.Typed(commands.RootRunbook) + " logs " + run.ID + "`"
		}
		if snap.Truncated {
			note += " (cut at the log size cap)"
		}
	}
	if st != nil {
		if err := st.Close(ctx, frame(run, snap, m, b.now(), "", note)); err != nil {
			b.log.Error("final frame not delivered", "run_id", run.ID, "err", err)
		}
		if shown := st.Ref(); !shown.IsZero() {
			ref = shown
		}
	}
	if uploader != nil {
		if err := b.upload(ctx, uploader, ref, run); err != nil {
			b.log.Error("log upload failed", "run_id", run.ID, "err", err)
			if _, perr := chat.Post(ctx, bot.Target{Channel: ref.Channel, Thread: ref.Thread}, bot.Message{Level: bot.LevelWarning,
				Text: []string{fmt.Sprintf("The full log of run %s could not be attached. Type `%s logs %s` to read it.", run.ID, b.names.Typed(commands.RootRunbook), run.ID)}}); perr != nil {
				b.log.Error("log hint not posted", "run_id", run.ID, "err", perr)
			}
		}
	}
}

func logName(run *runbooks.Run) string { return run.Runbook + "-" + run.ID + ".log" }

func (b *Flows) upload(ctx context.Context, u bot.FileUploader, ref bot.MessageRef, run *runbooks.Run) error {
	content, err := b.readLog(ctx, run, 0)
	if err != nil {
		return err
	}
	return u.Upload(ctx, bot.Target{Channel: ref.Channel, Thread: ref.Thread}, bot.File{Name: logName(run), Title: "Full log of " + run.Runbook + " " + run.ID, Content: content})
}

// readLog reads a run's full (capped, redacted) log, or its last limit
// bytes when limit > 0.
func (b *Flows) readLog(ctx context.Context, run *runbooks.Run, limit int64) ([]byte, error) {
	var rc io.ReadCloser
	var err error
	if b.d.Executor != nil {
		rc, err = b.d.Executor.ReadLog(ctx, run) // the file, else the store's copy
	} else {
		rc, err = runbooks.ReadLog(b.d.DataDir, run)
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only: nothing to lose on close
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	if limit > 0 && int64(len(data)) > limit {
		data = data[int64(len(data))-limit:]
	}
	return data, nil
}

// RunRequest is a run started by the bot itself, for an automation rule.
type RunRequest struct {
	Runbook string
	Params  map[string]string
	// By is the identity, "automation:<rule>".
	By   string
	Name string
	// Platform and Target say where the live message goes; an empty
	// Platform runs without a message.
	Platform string
	Target   bot.Target
	Incident string
}

// StartRun starts a runbook for an automation. It skips the runbook's
// allow list (the rule's author chose it in the config) but refuses
// runbooks that need approval: those must be proposed to people.
func (b *Flows) StartRun(ctx context.Context, req RunRequest) (*runbooks.Run, error) {
	if !access.IsAutomation(req.By) {
		return nil, tebura.Errorf(tebura.EINVALID, "StartRun is for automations; %q is not an automation identity.", req.By)
	}
	rb, ok := b.registry().Get(req.Runbook)
	if !ok {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "There is no runbook `%s`; fix the automation rule.", req.Runbook)
	}
	p, err := b.d.Runs.Prepare(ctx, runbooks.Request{
		Runbook: rb, Params: req.Params, By: req.By, Name: req.Name, Via: runbooks.ViaAutomation, Gate: runbooks.NoApproval,
		Origin: req.origin(),
	})
	if err != nil {
		return nil, err
	}
	run := p.Run
	var ref bot.MessageRef
	var post func(context.Context, bot.Message) (bot.MessageRef, error)
	if chat := b.chat(req.Platform); chat != nil {
		ref = bot.MessageRef{Platform: req.Platform, Channel: req.Target.Channel, Thread: req.Target.Thread}
		post = func(ctx context.Context, msg bot.Message) (bot.MessageRef, error) {
			return chat.Post(ctx, req.Target, msg)
		}
	}
	launch := func() (*runbooks.Handle, error) { return b.d.Runs.CreateAndStart(ctx, p, req.By, nil) }
	if err := b.start(ctx, run, ref, post, launch); err != nil {
		return nil, err
	}
	return b.d.Store.GetRun(ctx, run.ID)
}

// origin is where req's run is requested and shown.
func (req RunRequest) origin() runbooks.Origin {
	return runbooks.Origin{Platform: req.Platform, Channel: req.Target.Channel, Thread: req.Target.Thread, Incident: req.Incident}
}

// Recover reconciles after a restart and starts the approval expiry loop,
// which runs until ctx ends. Call it once, before the chats deliver
// events: the run service marks every run still running or queued, or
// stored approved but never started, as interrupted (releasing their locks
// and auditing each; a second call finds nothing), and they are redrawn;
// approvals that ran out while the bot was down expire. A caller that had
// the service recover already passes what it returned to ShowInterrupted.
func (b *Flows) Recover(ctx context.Context) error {
	interrupted, err := b.d.Runs.Recover(ctx)
	if err != nil {
		return err
	}
	b.ShowInterrupted(ctx, interrupted)
	if err := b.ExpireNow(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	running := b.expiring
	b.expiring = true
	b.mu.Unlock()
	if !running {
		go b.expiryLoop(ctx)
	}
	return nil
}

// ShowInterrupted redraws the live messages of runs the run service's
// Recover marked interrupted, so nobody keeps watching a run that is gone.
func (b *Flows) ShowInterrupted(ctx context.Context, runs []*runbooks.Run) {
	for _, run := range runs {
		b.show(ctx, run.ID, refOf(run.Origin), frame(run, runbooks.Snapshot{}, b.storedMasker(run), b.now(), "", ""))
	}
}

func (b *Flows) expiryLoop(ctx context.Context) {
	every := b.d.ExpiryInterval
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	defer func() { b.mu.Lock(); b.expiring = false; b.mu.Unlock() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.ExpireNow(ctx); err != nil && ctx.Err() == nil {
				b.log.Error("expire approvals failed", "err", err)
			}
		}
	}
}

// ExpireNow expires the pending approvals whose time ran out; their cards
// are redrawn as expired from the transitions (onTransition). The expiry
// loop calls it; tests with an injected clock call it directly.
// With Deps.Lead set, a replica that does not lead expires nothing.
func (b *Flows) ExpireNow(ctx context.Context) error {
	if b.d.Lead == nil {
		_, err := b.d.Runs.Expire(ctx)
		return err
	}
	var err error
	b.d.Lead(ctx, func(ctx context.Context) { _, err = b.d.Runs.Expire(ctx) })
	return err
}

// storedMasker masks a stored run's secrets when its runbook may be gone.
func (b *Flows) storedMasker(run *runbooks.Run) runbooks.Masker { return b.d.Runs.Masker(run) }
