package incidentchat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/oncall"
	"github.com/tebura/tebura/runbooks"
)

// Timeline entry kinds and data keys the reaction layer writes; they are
// also its durable memory (see Incidents).
const (
	kindCard         = incident.KindBookkeeping + "card"
	kindChannelUse   = incident.KindBookkeeping + "channel"
	kindAnnounce     = incident.KindBookkeeping + "announce"
	kindArchived     = "channel.archived"
	kindChatDelay    = "chat.delayed"
	reactDiagnostic  = "diagnostic"
	reactSuggest     = "suggest"
	channelCreated   = "created"
	channelShared    = "shared"
	dataReaction     = "reaction"
	dataRunEnd       = "run_end"
	dataApprovedBy   = "approved_by"
	dataLogCommand   = "log_command"
	callbackPrefix   = "inc_"
	actionIncAck     = "incident_ack"
	actionIncResolve = "incident_resolve"
	actionIncDiag    = "incident_diagnostics"
	actionIncPropose = "incident_propose"
	actionIncSuggest = "incident_suggest"
)

// incState is what the reaction layer knows of one incident. It is loaded
// from the timeline once per process and kept up to date as it acts.
type incState struct {
	channel   incident.Channel // where the card lives (attached or shared)
	mode      string           // channelCreated, channelShared or "" (attached by someone else)
	card      bot.MessageRef
	announced bool
	archived  bool
	started   map[string]string // "diagnostic|rule|runbook" → run ID, this open cycle
	recorded  map[string]bool   // runs whose end is on the timeline
	approved  map[string]bool   // "run|identity": approvals on the timeline
	proposals []proposal        // this cycle's suggestions, for the card's buttons
	suggest   []Suggestion      // the card parts' suggestions when it was last drawn
	alert     *incident.Alert   // a representative alert, for annotations and links
	callbacks bool              // the card's callbacks are stored
	synced    bool              // the card was drawn by this process
	cycle     int               // Incident.Reopened when started and proposals were reset
	failed    error             // the chat's first failure in the current reconcile, if any
	delayed   bool              // a chat delay is on the timeline (once per process)
}

// fail keeps the first chat failure of a reconcile (see reconcile).
func (st *incState) fail(err error) {
	if st.failed == nil {
		st.failed = err
	}
}

// proposal is a suggested remediation of the current cycle.
type proposal struct {
	Rule, Runbook, Run string
	Params             map[string]string
}

func actionKey(kind, rule, runbook string) string { return kind + "|" + rule + "|" + runbook }

// state returns the incident's state, loading it from the timeline and the
// alerts on first use. Call it with the incident's lock held.
func (i *Incidents) state(ctx context.Context, inc *incident.Incident) (*incState, error) {
	i.mu.Lock()
	st := i.states[inc.Number]
	i.mu.Unlock()
	if st != nil {
		return st, nil
	}
	tl, err := i.svc.Timeline(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	st = &incState{started: map[string]string{}, recorded: map[string]bool{}, approved: map[string]bool{}}
	for _, e := range tl {
		switch e.Kind {
		case incident.KindOpened, incident.KindReopened:
			// The domain counts Incident.Reopened in the transaction that
			// writes the entry, so cycle matches the incident's counter.
			st.started = map[string]string{}
			st.proposals = nil
			if e.Kind == incident.KindReopened {
				st.cycle++
			}
		case kindCard:
			st.card = bot.MessageRef{Platform: e.Data["platform"], Channel: e.Data["channel"], ID: e.Data["message"], Thread: e.Data["thread"]}
		case kindChannelUse:
			st.channel = incident.Channel{Platform: e.Data["platform"], ID: e.Data["channel"], Name: e.Data["name"], URL: e.Data["url"]}
			st.mode = e.Data["mode"]
		case kindAnnounce:
			st.announced = true
		case kindArchived:
			st.archived = true
		}
		if r := e.Data[dataReaction]; r != "" {
			st.started[actionKey(r, e.Data["rule"], e.Data["runbook"])] = e.Data["run"]
			if r == reactSuggest && e.Data["run"] != "" {
				p := proposal{Rule: e.Data["rule"], Runbook: e.Data["runbook"], Run: e.Data["run"]}
				_ = json.Unmarshal([]byte(e.Data["params"]), &p.Params)
				st.proposals = slices.DeleteFunc(st.proposals, func(q proposal) bool { return q.Rule == p.Rule && q.Runbook == p.Runbook })
				st.proposals = append(st.proposals, p)
			}
		}
		if id := e.Data[dataRunEnd]; id != "" {
			st.recorded[id] = true
		}
		if by := e.Data[dataApprovedBy]; by != "" && e.Kind == incident.KindApproval {
			st.approved[e.Data["run"]+"|"+by] = true
		}
	}
	if st.channel.IsZero() {
		st.channel = inc.Channel
	}
	if alerts, err := i.svc.Alerts(ctx, inc.ID); err == nil && len(alerts) > 0 {
		a := alerts[0].Alert
		st.alert = &a
	}
	i.mu.Lock()
	i.states[inc.Number] = st
	i.mu.Unlock()
	return st, nil
}

// mark appends a timeline entry of the reaction layer, logging a failure.
func (i *Incidents) mark(ctx context.Context, inc *incident.Incident, actor, kind, text string, data map[string]string) {
	if err := i.svc.AddTimeline(ctx, inc.ID, incident.TimelineEntry{Actor: actor, Kind: kind, Text: text, Data: data}); err != nil {
		i.log.Error("timeline entry not written", "incident", inc.Number, "kind", kind, "err", err)
	}
}

// React acts on the result of one Ingest: it opens channels, posts or
// edits the incident cards, starts diagnostics, proposes remediations and
// says when an incident resolved by itself. It returns at once and does
// the work on its own goroutine (chat APIs are slow and rate-limited; the
// webhook's answer should not wait for them); Wait waits for it. It never
// fails: what it could not do is logged and done again by the reconcile
// loop (see Incidents). Plug it into source.Ingester.
func (i *Incidents) React(ctx context.Context, res incident.Result) {
	if len(res.Changes) == 0 {
		return
	}
	i.mu.Lock()
	life := i.life
	i.mu.Unlock()
	i.reactions.Add(1)
	go func() {
		defer i.reactions.Done()
		// Detached from the webhook's request, bounded per change, and
		// ended with Recover's context: what is not done is done by the
		// next round of the loop.
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer context.AfterFunc(life, cancel)()
		for _, ch := range res.Changes {
			cctx, cancel := context.WithTimeout(ctx, i.timeout)
			i.reactChange(cctx, ch, "", "")
			cancel()
		}
	}()
}

// ReactSync is React on the caller's goroutine: it returns when the chat
// shows the result (tests, scripts).
func (i *Incidents) ReactSync(ctx context.Context, res incident.Result) {
	for _, ch := range res.Changes {
		i.reactChange(ctx, ch, "", "")
	}
}

// reactChange handles one Change. platform and fallback are where a
// declared incident was declared; empty for alert incidents.
func (i *Incidents) reactChange(ctx context.Context, ch incident.Change, platform, fallback string) {
	if ch.Incident == nil {
		return
	}
	unlock := i.lock(ch.Incident.Number)
	defer unlock()
	inc, err := i.svc.ByNumber(ctx, ch.Incident.Number)
	if err != nil {
		i.log.Error("incident not readable", "incident", ch.Incident.Number, "err", err)
		return
	}
	st, err := i.state(ctx, inc)
	if err != nil {
		i.log.Error("incident state not readable", "incident", inc.Number, "err", err)
		return
	}
	if ch.Opened || ch.Reopened {
		i.record(ctx, incident.ActorTebura, audit.ActionIncidentOpen, inc.ID, map[string]string{"title": inc.Title, "source": inc.Source,
			"reopened": fmt.Sprint(ch.Reopened)})
	}
	if alerts := slices.Concat(ch.NewAlerts, ch.Refired); len(alerts) > 0 && st.alert == nil {
		a := alerts[0]
		st.alert = &a
	}
	hint := ch.Actions
	i.ensure(ctx, inc, st, &hint, platform, fallback, true)
	switch {
	case ch.Reopened:
		i.say(ctx, st, bot.Message{Level: bot.LevelDanger, Text: []string{fmt.Sprintf("Incident %s reopened: its alerts fired again.", inc.Ref())}})
	case ch.Resolved:
		// The source may say who resolved it (a PagerDuty webhook's agent);
		// otherwise every alert resolved and Tebura resolved it.
		by := ch.Incident.ResolvedBy
		text := "Every alert resolved; incident " + inc.Ref() + " resolved automatically."
		if by != incident.ActorTebura {
			text = "Incident " + inc.Ref() + " resolved in " + inc.Source + " by " + bot.Verbatim(by) + "."
		}
		i.record(ctx, by, audit.ActionIncidentResolve, inc.ID, map[string]string{"auto": fmt.Sprint(by == incident.ActorTebura), "source": inc.Source})
		i.say(ctx, st, bot.Message{Level: bot.LevelSuccess, Text: []string{i.resolvedText(inc, text, st)}})
	case ch.Acknowledged:
		i.record(ctx, inc.AckedBy, audit.ActionIncidentAck, inc.ID, map[string]string{"source": inc.Source})
	}
}

// resolvedText adds when the channel will be archived.
func (i *Incidents) resolvedText(inc *incident.Incident, text string, st *incState) string {
	if i.cfg.ArchiveAfter > 0 && st.mode == channelCreated && !inc.ResolvedAt.IsZero() {
		text += " This channel will be archived at " + commands.Stamp(inc.ResolvedAt.Add(i.cfg.ArchiveAfter)) + "."
	}
	return text
}

// reconcileBounded is reconcile under the incident's deadline
// (ReconcileTimeout): a chat that hangs holds one incident, and its lock,
// that long at most.
func (i *Incidents) reconcileBounded(ctx context.Context, n int64) error {
	ctx, cancel := context.WithTimeout(ctx, i.timeout)
	defer cancel()
	return i.reconcile(ctx, n)
}

// reconcile re-derives the reaction of an open incident (see Incidents).
// It returns the chat's first failure, or the deadline, when the incident
// is not in line with the chat yet (no channel, a card not drawn); the
// next round tries again, and the first such failure of this process is
// noted on the incident's timeline, so that the postmortem says why the
// channel or the card came late.
func (i *Incidents) reconcile(ctx context.Context, n int64) error {
	unlock := i.lock(n)
	defer unlock()
	inc, err := i.svc.ByNumber(ctx, n)
	if err != nil {
		i.log.Error("incident not readable", "incident", n, "err", err)
		return err
	}
	st, err := i.state(ctx, inc)
	if err != nil {
		i.log.Error("incident state not readable", "incident", n, "err", err)
		return err
	}
	st.failed = nil
	i.ensure(ctx, inc, st, nil, "", "", false)
	err = st.failed
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil && inc.Status.Open() && st.channel.IsZero() && i.chats[i.platform] != nil {
		err = tebura.Errorf(tebura.EINTERNAL, "the incident has no channel; the log says why")
	}
	if err == nil {
		return nil
	}
	i.log.Warn("incident not reconciled; retrying next round", "incident", n, "next_in", i.interval, "err", err)
	if !st.delayed {
		st.delayed = true
		what := "update this incident's card"
		if st.channel.IsZero() {
			what = "create this incident's channel"
		}
		// A fresh deadline: the incident's may be the reason for the note.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noteTimeout)
		defer cancel()
		i.mark(wctx, inc, incident.ActorTebura, kindChatDelay,
			fmt.Sprintf("Tebura could not %s: %s. It tries again every %s.", what, i.delayReason(err), i.interval),
			map[string]string{"platform": i.platformOf(st.channel.Platform)})
	}
	return err
}

// delayReason says in a few words why the chat work failed.
func (i *Incidents) delayReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("the chat did not answer within %s", i.timeout)
	}
	return strings.TrimSuffix(tebura.ErrorMessage(err), ".")
}

// noteTimeout bounds writing the note of a chat delay (the store only).
const noteTimeout = 5 * time.Second

// ensure brings the chat in line with the incident: channel, card,
// diagnostics, suggestions. hint is the Change's actions, nil when
// reconciling; edit says whether an existing card is redrawn.
func (i *Incidents) ensure(ctx context.Context, inc *incident.Incident, st *incState, hint *incident.Actions, platform, fallback string, edit bool) {
	if inc.Reopened > st.cycle {
		// Reopened since this state was loaded: a new open period, whose
		// rules fire anew (the domain reset Incident.Fired).
		st.started, st.proposals, st.cycle = map[string]string{}, nil, inc.Reopened
	}
	if st.channel.IsZero() && !inc.Channel.IsZero() {
		st.channel = inc.Channel
	}
	if st.channel.IsZero() && inc.Status.Open() {
		inc = i.openChannel(ctx, inc, st, hint, platform, fallback)
		edit = true
	} else if hint != nil && len(hint.Invite) > 0 && !hint.OpenChannel {
		i.invite(ctx, inc, st, hint.Invite)
	}
	if !st.synced {
		edit = true // the first look of this process redraws what changed while it was down
	}
	if inc.Status.Open() && st.channel.IsZero() && i.chats[i.platformOf(platform)] != nil {
		return // no channel yet (creation failed): the reconcile loop retries, then runs the rest there
	}
	if inc.Status.Open() {
		var diags, suggs []incident.RunbookAction
		if hint != nil {
			diags, suggs = hint.Diagnostics, hint.Suggest
		}
		derived := i.svc.Actions(inc)
		diags = append(diags, derived.Diagnostics...)
		suggs = append(suggs, derived.Suggest...)
		// The card first, then the diagnostics' live messages, then the
		// approval cards of the suggestions: people read what is known
		// before what they are asked to decide.
		i.card(ctx, inc, st, edit)
		for _, ra := range diags {
			if _, done := st.started[actionKey(reactDiagnostic, ra.Rule, ra.Runbook)]; !done {
				i.diagnose(ctx, inc, st, ra, "")
			}
		}
		proposed := false
		for _, ra := range suggs {
			if _, done := st.started[actionKey(reactSuggest, ra.Rule, ra.Runbook)]; !done {
				proposed = i.propose(ctx, inc, st, ra, nil) == nil || proposed
			}
		}
		if proposed {
			i.card(ctx, inc, st, true) // one button per suggestion
		}
		return
	}
	i.card(ctx, inc, st, edit)
	i.closeApprovals(ctx, inc)
}

// closeApprovals closes the approval requests still pending for inc, which
// is no longer open, however it resolved (its alerts, PagerDuty, a person):
// a remediation asked for a problem that is over must not start on a
// later click. A request is the incident's when it carries the incident
// (suggestions, [Propose X]) or was typed in a channel the incident owns
// (see link). The run service closes each (a request decided meanwhile is
// left as it is) and publishes the transition: the runbook flows redraw the
// card saying why it closed, and the timeline learns of it like of a denial
// (onTransition, recordRun).
func (i *Incidents) closeApprovals(ctx context.Context, inc *incident.Incident) {
	pending, err := i.store.ListRuns(ctx, runbooks.ListOptions{States: []runbooks.State{runbooks.StatePendingApproval}})
	if err != nil {
		i.log.Error("pending approvals not readable", "incident", inc.Number, "err", err)
		return
	}
	slices.Reverse(pending) // oldest first, as they were asked
	reason := "incident " + inc.Ref() + " resolved — request again if still needed"
	for _, run := range pending {
		if !belongsTo(run, inc) {
			continue
		}
		if _, _, err := i.runs.Close(ctx, run.ID, reason, inc.ID); err != nil {
			i.log.Error("approval request not closed", "incident", inc.Number, "run_id", run.ID, "err", err)
		}
	}
}

// sweepApprovals closes the pending requests of incidents that are no
// longer open: the net for a resolve whose reaction a crash lost (the loop
// reconciles only open incidents).
func (i *Incidents) sweepApprovals(ctx context.Context) error {
	pending, err := i.store.ListRuns(ctx, runbooks.ListOptions{States: []runbooks.State{runbooks.StatePendingApproval}})
	if err != nil {
		return err
	}
	done := map[int64]bool{}
	for _, run := range pending {
		var inc *incident.Incident
		switch {
		case run.Origin.Incident != "":
			inc, err = i.svc.Get(ctx, run.Origin.Incident)
		case run.Origin.Channel != "":
			inc, err = i.svc.ChannelOwner(ctx, run.Origin.Platform, run.Origin.Channel)
		default:
			continue
		}
		if err != nil || inc.Status.Open() || done[inc.Number] {
			continue
		}
		done[inc.Number] = true
		unlock := i.lock(inc.Number)
		if inc, err = i.svc.ByNumber(ctx, inc.Number); err == nil && !inc.Status.Open() {
			i.closeApprovals(ctx, inc)
		}
		unlock()
	}
	return nil
}

// belongsTo reports whether run serves inc: it carries the incident, or it
// was requested in the channel inc owns (not a shared one).
func belongsTo(run *runbooks.Run, inc *incident.Incident) bool {
	if run.Origin.Incident != "" {
		return run.Origin.Incident == inc.ID
	}
	c := inc.Channel
	return !c.IsZero() && !c.Shared && run.Origin.Platform == c.Platform && run.Origin.Channel == c.ID
}

// platformOf is the chat of a declared incident, or the alert platform.
func (i *Incidents) platformOf(platform string) string {
	if platform == "" {
		return i.platform
	}
	return platform
}

// openChannel creates the incident's channel, attaches it at once, invites
// the responders and announces it; where the chat cannot create channels
// (the console) or a rule names an existing channel, that channel is
// attached as Shared (several incidents may use it) and used as it is.
func (i *Incidents) openChannel(ctx context.Context, inc *incident.Incident, st *incState, hint *incident.Actions, platform, fallback string) *incident.Incident {
	platform = i.platformOf(platform)
	chat := i.chats[platform]
	if chat == nil {
		i.log.Error("no chat for incident channel", "incident", inc.Number, "platform", platform)
		return inc
	}
	derived := i.svc.Actions(inc)
	name, use := derived.ChannelName, derived.UseChannel
	if hint != nil && hint.OpenChannel {
		name, use = hint.ChannelName, hint.UseChannel
	}
	cm, canCreate := chat.(bot.ChannelManager)
	if use != "" || !canCreate {
		target := use
		if target == "" {
			target = fallback
		}
		if target == "" {
			target = i.announce(platform)
		}
		if target == "" {
			i.log.Error("no channel for incident", "incident", inc.Number, "platform", platform)
			return inc
		}
		// Attached as Shared: the incident knows its channel (commands typed
		// there find it) without owning it (other incidents may use it too).
		updated, _, err := i.svc.AttachChannel(ctx, inc.ID, incident.Channel{Platform: platform, ID: target, Name: target, Shared: true})
		if err != nil {
			i.log.Error("shared channel not attached", "incident", inc.Number, "channel", target, "err", err)
			return inc
		}
		inc = updated
		st.channel = inc.Channel // another one, when someone attached one first
		if inc.Channel.Shared {
			st.mode = channelShared
			i.mark(ctx, inc, incident.ActorTebura, kindChannelUse, "Posting in "+target+" (shared channel)",
				map[string]string{"platform": inc.Channel.Platform, "channel": inc.Channel.ID, "name": inc.Channel.Name, "mode": channelShared})
			// Nobody is invited into a shared channel, but the on-call
			// schedules are still paged: the card and the timeline say who
			// is on call.
			invite := derived.Invite
			if hint != nil {
				invite = append(hint.Invite, invite...)
			}
			i.invite(ctx, inc, st, invite)
		}
		return inc
	}
	c, err := cm.CreateChannel(ctx, bot.ChannelSpec{Name: name, Topic: topic(inc), Private: i.private[platform]})
	if err != nil {
		st.fail(err)
		i.log.Error("incident channel not created", "incident", inc.Number, "name", name, "err", err)
		return inc
	}
	updated, attached, err := i.svc.AttachChannel(ctx, inc.ID, incident.Channel{Platform: platform, ID: c.ID, Name: c.Name, URL: c.URL})
	if err != nil {
		i.log.Error("incident channel not attached", "incident", inc.Number, "channel", c.ID, "err", err)
		return inc
	}
	if !attached && updated.Channel.ID != c.ID {
		// Another process attached one first: ours is an orphan.
		if err := cm.Archive(ctx, c.ID); err != nil {
			i.log.Warn("orphan channel not archived", "incident", inc.Number, "channel", c.ID, "err", err)
		}
	}
	inc = updated
	st.channel, st.mode = inc.Channel, channelCreated
	i.mark(ctx, inc, incident.ActorTebura, kindChannelUse, "Channel "+commands.OrNone(inc.Channel.Name)+" created",
		map[string]string{"platform": inc.Channel.Platform, "channel": inc.Channel.ID, "name": inc.Channel.Name, "url": inc.Channel.URL, "mode": channelCreated})
	i.record(ctx, incident.ActorTebura, audit.ActionIncidentChannel, inc.ID, map[string]string{"channel": inc.Channel.ID, "name": inc.Channel.Name})
	invite := derived.Invite
	if hint != nil {
		invite = append(hint.Invite, invite...)
	}
	if len(invite) > 0 {
		i.invite(ctx, inc, st, invite)
	}
	if announce := i.announce(platform); !st.announced && announce != "" {
		where := "#" + commands.OrNone(inc.Channel.Name)
		msg := bot.Message{Level: bot.LevelDanger, Header: fmt.Sprintf("Incident %s: %s", inc.Ref(), inc.Title),
			Text: []string{fmt.Sprintf("Severity %s. Join %s to follow it.", bot.Verbatim(commands.OrNone(inc.Severity)), where)}}
		if inc.Channel.URL != "" {
			msg.Links = []bot.Link{{Label: where, URL: inc.Channel.URL}}
		}
		msg.Links = append(msg.Links, i.bridgeLinks(inc)...)
		if _, err := chat.Post(ctx, bot.Target{Channel: announce}, bot.Fit(msg, bot.LimitsOf(chat))); err != nil {
			i.log.Error("incident announcement failed", "incident", inc.Number, "err", err)
		} else {
			st.announced = true
			i.mark(ctx, inc, incident.ActorTebura, kindAnnounce, "Announced in "+announce, nil)
		}
	}
	return inc
}

// topic is the incident channel's topic, as plain text: each adapter
// escapes it for its platform (title and severity come from an alert).
func topic(inc *incident.Incident) string {
	t := fmt.Sprintf("Incident %s: %s", inc.Ref(), inc.Title)
	if inc.Severity != "" {
		t += " (" + inc.Severity + ")"
	}
	return t
}

// invite adds the members of roles and the named identities to the
// incident's channel and records them as responders.
// oncall:NAME pages who is on call now (see resolveOnCall); in a channel
// the bot did not create, pages are recorded but nobody is invited.
func (i *Incidents) invite(ctx context.Context, inc *incident.Incident, st *incState, list []string) ([]oncall.Page, error) {
	list, pages := i.resolveOnCall(ctx, inc, st.channel.Platform, list)
	members := i.expand(list)
	if len(members) == 0 || st.mode != channelCreated {
		return pages, nil
	}
	cm, ok := i.chats[st.channel.Platform].(bot.ChannelManager)
	if !ok {
		return pages, nil
	}
	if err := cm.Invite(ctx, st.channel.ID, members); err != nil {
		i.log.Error("incident invite failed", "incident", inc.Number, "err", err)
		return pages, err
	}
	if _, err := i.svc.AddResponders(ctx, inc.ID, incident.ActorTebura, members); err != nil {
		i.log.Error("responders not recorded", "incident", inc.Number, "err", err)
	}
	return pages, nil
}

// say posts a message in the incident's channel.
func (i *Incidents) say(ctx context.Context, st *incState, m bot.Message) {
	chat := i.chats[st.channel.Platform]
	if chat == nil || st.channel.IsZero() {
		return
	}
	if _, err := chat.Post(ctx, bot.Target{Channel: st.channel.ID}, bot.Fit(m, bot.LimitsOf(chat))); err != nil {
		i.log.Error("incident message not posted", "channel", st.channel.ID, "err", err)
	}
}

// card posts the incident card once and stores its ref; afterwards it
// edits that message when edit is set.
func (i *Incidents) card(ctx context.Context, inc *incident.Incident, st *incState, edit bool) {
	chat := i.chats[st.channel.Platform]
	if chat == nil || st.channel.IsZero() {
		return
	}
	if !st.card.IsZero() && !edit {
		return
	}
	// drawn first: the parts' suggestions it keeps in st need callbacks too
	msg := bot.Fit(i.cardMessage(ctx, inc, st), bot.LimitsOf(chat))
	if err := i.storeCallbacks(ctx, inc, st); err != nil {
		i.log.Error("card buttons not stored", "incident", inc.Number, "err", err)
	}
	if !st.card.IsZero() {
		err := chat.Edit(ctx, st.card, msg)
		if err == nil {
			st.synced = true
			return
		}
		if tebura.ErrorCode(err) != tebura.ENOTFOUND {
			st.fail(err)
			i.log.Error("incident card not edited", "incident", inc.Number, "message", st.card.ID, "err", err)
			return
		}
		// The card is gone (deleted in the channel, or a console's messages
		// after a restart): post a new one, or the incident has none.
		i.log.Warn("incident card gone; posting a new one", "incident", inc.Number, "message", st.card.ID)
	}
	ref, err := chat.Post(ctx, bot.Target{Channel: st.channel.ID}, msg)
	if err != nil {
		st.fail(err)
		i.log.Error("incident card not posted", "incident", inc.Number, "err", err)
		return
	}
	ref.Platform = st.channel.Platform
	st.card, st.synced = ref, true
	i.mark(ctx, inc, incident.ActorTebura, kindCard, "Incident card posted",
		map[string]string{"platform": ref.Platform, "channel": ref.Channel, "message": ref.ID, "thread": ref.Thread})
}

// callbackID is the card button's callback: one per incident and action,
// so that every edit of the card keeps working buttons.
func callbackID(inc *incident.Incident, action string, k int) string {
	id := callbackPrefix + inc.ID + "_" + strings.TrimPrefix(action, "incident_")
	if action == actionIncPropose || action == actionIncSuggest {
		id += fmt.Sprint("_", k)
	}
	return id
}

func (i *Incidents) storeCallbacks(ctx context.Context, inc *incident.Incident, st *incState) error {
	put := func(action string, k int, data map[string]string) error {
		return i.store.PutCallback(ctx, bot.Callback{ID: callbackID(inc, action, k), Action: action, Subject: inc.ID, Data: data, Created: i.now()})
	}
	if !st.callbacks {
		for _, a := range []string{actionIncAck, actionIncResolve, actionIncDiag} {
			if err := put(a, 0, nil); err != nil {
				return err
			}
		}
		st.callbacks = true
	}
	for k, p := range st.proposals {
		if err := put(actionIncPropose, k, map[string]string{"rule": p.Rule, "runbook": p.Runbook}); err != nil {
			return err
		}
	}
	for k, sg := range st.suggest {
		params, err := json.Marshal(sg.Params)
		if err != nil {
			return err
		}
		if err := put(actionIncSuggest, k, map[string]string{"runbook": sg.Runbook, "params": string(params)}); err != nil {
			return err
		}
	}
	return nil
}

// diagnose starts a diagnostic runbook for the incident as the rule's
// automation identity, into the incident channel. Remediations and
// runbooks that need approval are refused and logged: they never run
// without people. by is who asked when a person pressed [Run diagnostics].
func (i *Incidents) diagnose(ctx context.Context, inc *incident.Incident, st *incState, ra incident.RunbookAction, by string) {
	key := actionKey(reactDiagnostic, ra.Rule, ra.Runbook)
	data := map[string]string{dataReaction: reactDiagnostic, "rule": ra.Rule, "runbook": ra.Runbook}
	actor := ra.Identity
	if actor == "" {
		actor = "automation:" + ra.Rule
	}
	refuse := func(why string) {
		st.started[key] = ""
		data["refused"] = "true"
		i.log.Warn("diagnostic refused", "incident", inc.Number, "rule", ra.Rule, "runbook", ra.Runbook, "reason", why)
		i.record(ctx, actor, audit.ActionIncidentDiagnosticRefused, inc.ID, map[string]string{"runbook": ra.Runbook, "reason": why})
		i.mark(ctx, inc, actor, incident.KindAutomation, "Diagnostic "+ra.Runbook+" not started: "+why, data)
	}
	if ra.Err != "" {
		refuse(ra.Err)
		return
	}
	rb, ok := i.registry().Get(ra.Runbook)
	switch {
	case !ok:
		refuse("there is no such runbook")
		return
	case rb.Kind == runbooks.KindRemediation || rb.NeedsApproval():
		refuse("it is a remediation or needs approval, and those never run by themselves; list it under suggest")
		return
	}
	ra.Params = paramsFor(rb, ra.Params)
	name := "" // shown as the identity, automation:<rule>
	if by != "" {
		name = actor + " (asked by " + by + ")"
	}
	run, err := i.runbooks.StartRun(ctx, runbookchat.RunRequest{Runbook: ra.Runbook, Params: ra.Params, By: actor, Name: name,
		Platform: st.channel.Platform, Target: bot.Target{Channel: st.channel.ID}, Incident: inc.ID})
	if err != nil {
		refuse(commands.ErrorText(err))
		return
	}
	st.started[key] = run.ID
	data["run"] = run.ID
	if by != "" {
		data["asked_by"] = by
	}
	text := fmt.Sprintf("Diagnostic %s started as run %s", ra.Runbook, run.ID)
	if by != "" {
		text += ", asked by " + by
	}
	i.mark(ctx, inc, actor, incident.KindAutomation, text, data)
}

// propose posts a remediation's approval card in the incident channel,
// requested by the rule's automation identity, or by asker when a person
// pressed [Propose X]: then that person is the requester, so they cannot
// approve the card alone (allow_self) and must be allowed to run it. It
// returns nil once the card is posted; otherwise an error whose sentence
// is for asker. A person who may not run the runbook changes nothing; any
// other refusal is noted on the timeline.
func (i *Incidents) propose(ctx context.Context, inc *incident.Incident, st *incState, ra incident.RunbookAction, asker *bot.Actor) error {
	key := actionKey(reactSuggest, ra.Rule, ra.Runbook)
	rule := ra.Identity
	if rule == "" {
		rule = "automation:" + ra.Rule
	}
	actor := rule
	if asker != nil {
		actor = asker.ID
	}
	data := map[string]string{dataReaction: reactSuggest, "rule": ra.Rule, "runbook": ra.Runbook}
	if asker != nil {
		data["asked_by"] = asker.ID
	}
	if ra.Err != "" {
		st.started[key] = ""
		data["refused"] = "true"
		i.mark(ctx, inc, actor, incident.KindAutomation, "Suggestion "+ra.Runbook+" not proposed: "+ra.Err, data)
		return tebura.Errorf(tebura.EINVALID, "%s is not proposed: %s", ra.Runbook, ra.Err)
	}
	if st.channel.IsZero() {
		// proposed once the channel exists
		return tebura.Errorf(tebura.ECONFLICT, "Incident %s has no channel yet; %s is proposed once it has one.", inc.Ref(), ra.Runbook)
	}
	if rb, ok := i.registry().Get(ra.Runbook); ok {
		ra.Params = paramsFor(rb, ra.Params)
	}
	req := runbookchat.RunRequest{Runbook: ra.Runbook, Params: ra.Params, By: rule,
		Platform: st.channel.Platform, Target: bot.Target{Channel: st.channel.ID}, Incident: inc.ID}
	var run *runbooks.Run
	var err error
	if asker != nil {
		run, err = i.runbooks.ProposeFor(ctx, *asker, req)
	} else {
		run, err = i.runbooks.ProposeRun(ctx, req)
	}
	if asker != nil && tebura.ErrorCode(err) == tebura.EFORBIDDEN {
		return err
	}
	if err != nil {
		st.started[key] = ""
		data["refused"] = "true"
		i.log.Warn("suggestion not proposed", "incident", inc.Number, "runbook", ra.Runbook, "err", err)
		i.mark(ctx, inc, actor, incident.KindAutomation, "Suggestion "+ra.Runbook+" not proposed: "+commands.ErrorText(err), data)
		return err
	}
	st.started[key] = run.ID
	p := proposal{Rule: ra.Rule, Runbook: ra.Runbook, Run: run.ID, Params: run.Params}
	replaced := false
	for k := range st.proposals {
		if st.proposals[k].Rule == p.Rule && st.proposals[k].Runbook == p.Runbook {
			st.proposals[k], replaced = p, true
		}
	}
	if !replaced {
		st.proposals = append(st.proposals, p)
	}
	data["run"] = run.ID
	// The run's params as stored: a secret param given by the rule is
	// left out, as in the run record, so the timeline never holds it.
	if b, err := json.Marshal(run.Params); err == nil {
		data["params"] = string(b)
	}
	text := fmt.Sprintf("Remediation %s proposed as run %s, waiting for approval", ra.Runbook, run.ID)
	if asker != nil {
		text = fmt.Sprintf("Remediation %s (suggested by %s) proposed again as run %s by %s, waiting for approval", ra.Runbook, rule, run.ID, commands.Who(asker.ID, asker.Name))
	}
	i.mark(ctx, inc, actor, incident.KindAutomation, text, data)
	return nil
}

// onTransition is the incident layer's subscription to the run service:
// a run that starts in a channel an incident owns is linked to it, and an
// approval or an end of a run of an incident goes on its timeline. It runs
// on the subscription's goroutine, so it may wait for the incident's lock
// (the runbook flows may be acting under it when the transition is
// published).
func (i *Incidents) onTransition(t runbooks.Transition) {
	if t.Refused {
		return
	}
	ctx := context.Background()
	switch {
	case t.Answer != nil:
		i.recordAnswer(ctx, t)
	case t.To.Final() || t.Approved():
		i.recordRun(ctx, t.Run.ID)
	case t.To == runbooks.StateRunning || t.To == runbooks.StateQueued:
		i.link(ctx, t.Run)
	}
}

// link returns run with its incident: Origin.Incident when it has one, or,
// for a run requested by hand in a channel an incident owns, that incident,
// stored on the run so that the run is the incident's everywhere (timeline,
// postmortem). Runs in shared channels stay unlinked: which incident they
// serve is a guess.
func (i *Incidents) link(ctx context.Context, run *runbooks.Run) *runbooks.Run {
	if run.Origin.Incident != "" || run.Origin.Channel == "" {
		return run
	}
	inc, err := i.svc.ChannelOwner(ctx, run.Origin.Platform, run.Origin.Channel)
	if err != nil {
		return run
	}
	linked, err := i.runs.Link(ctx, run.ID, inc.ID)
	if err != nil {
		i.log.Error("run not linked to its incident", "run_id", run.ID, "incident", inc.Number, "err", err)
		return run
	}
	return linked
}

// recordRun writes a run of an incident on its timeline: each approval
// once, as it happens, and once the run ended its denial or expiry, or its
// result and where its log is, once.
func (i *Incidents) recordRun(ctx context.Context, runID string) {
	run, err := i.store.GetRun(ctx, runID)
	if err != nil {
		i.log.Error("run not readable", "run_id", runID, "err", err)
		return
	}
	if !run.State.Final() && len(run.Approvals) == 0 {
		return
	}
	if run = i.link(ctx, run); run.Origin.Incident == "" {
		return
	}
	n, err := incident.ParseRef(run.Origin.Incident)
	if err != nil {
		return
	}
	unlock := i.lock(n)
	defer unlock()
	inc, err := i.svc.ByNumber(ctx, n)
	if err != nil {
		return
	}
	st, err := i.state(ctx, inc)
	if err != nil {
		return
	}
	if st.recorded[run.ID] {
		i.setRecorded(run.ID)
		return
	}
	for _, a := range run.Approvals {
		key := run.ID + "|" + a.By
		if st.approved[key] {
			continue
		}
		e := incident.TimelineEntry{Time: a.At, Actor: a.By, Kind: incident.KindApproval,
			Text: fmt.Sprintf("%s approved run %s (%s)", commands.Who(a.By, a.Name), run.ID, run.Runbook),
			Data: map[string]string{"run": run.ID, "runbook": run.Runbook, dataApprovedBy: a.By}}
		if err := i.svc.AddTimeline(ctx, inc.ID, e); err != nil {
			i.log.Error("timeline entry not written", "incident", inc.Number, "kind", e.Kind, "err", err)
			continue
		}
		st.approved[key] = true
	}
	if !run.State.Final() {
		return // its end comes later
	}
	data := map[string]string{"run": run.ID, "runbook": run.Runbook, "state": string(run.State), dataRunEnd: run.ID}
	switch run.State {
	case runbooks.StateDenied:
		actor, by := "", ""
		if run.Denied != nil {
			actor, by = run.Denied.By, commands.Who(run.Denied.By, run.Denied.Name)
			data["denied_by"] = run.Denied.By
		}
		i.mark(ctx, inc, commands.OrNone(actor), incident.KindDenial, fmt.Sprintf("Run %s (%s) denied by %s", run.ID, run.Runbook, commands.OrNone(by)), data)
	case runbooks.StateExpired:
		text := fmt.Sprintf("Run %s (%s) expired before it was approved", run.ID, run.Runbook)
		if run.LostSecrets() {
			text = fmt.Sprintf("Run %s (%s) expired: %s", run.ID, run.Runbook, run.Reason)
		}
		i.mark(ctx, inc, incident.ActorTebura, incident.KindDenial, text, data)
	case runbooks.StateCancelled:
		if !run.Closed() {
			i.recordEnd(ctx, inc, run, data)
			break
		}
		i.mark(ctx, inc, incident.ActorTebura, incident.KindDenial, fmt.Sprintf("Run %s (%s) closed: %s", run.ID, run.Runbook, run.Reason), data)
	default:
		i.recordEnd(ctx, inc, run, data)
	}
	st.recorded[run.ID] = true
	i.setRecorded(run.ID)
}

// recordEnd writes how a run ended and where its log is.
func (i *Incidents) recordEnd(ctx context.Context, inc *incident.Incident, run *runbooks.Run, data map[string]string) {
	text := fmt.Sprintf("Run %s (%s) %s", run.ID, run.Runbook, runbookchat.StateLabel(run.State))
	if run.State != runbooks.StateSucceeded || run.ExitCode != 0 {
		text += fmt.Sprintf(" (exit %d)", run.ExitCode)
	}
	if run.Reason != "" {
		text += ": " + run.Reason
	}
	data["exit_code"] = fmt.Sprint(run.ExitCode)
	data[dataLogCommand] = i.names.Typed(commands.RootRunbook) + " logs " + run.ID
	text += "; log: `" + data[dataLogCommand] + "`"
	i.mark(ctx, inc, run.RequestedBy, incident.KindRun, text, data)
}

// setRecorded remembers, for the start-up catch-up, that a run's end is on its
// incident's timeline.
func (i *Incidents) setRecorded(id string) {
	i.mu.Lock()
	i.recorded[id] = true
	i.mu.Unlock()
}

// catchUpLimit is how many of the newest runs the start-up catch-up
// looks at.
const catchUpLimit = 500

// catchUpRuns records, once at start-up, the ended runs of incidents whose
// transition a previous process published but did not get onto the
// timeline before it stopped (or whose timeline write failed).
func (i *Incidents) catchUpRuns(ctx context.Context) error {
	runs, err := i.store.ListRuns(ctx, runbooks.ListOptions{Limit: catchUpLimit})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Origin.Incident == "" || !r.State.Final() {
			continue
		}
		i.mu.Lock()
		done := i.recorded[r.ID]
		i.mu.Unlock()
		if !done {
			i.recordRun(ctx, r.ID)
		}
	}
	return nil
}

// archiveScan bounds how far back resolved incidents are looked at for a
// due archive.
const archiveScan = 30 * 24 * time.Hour

// archiveDue archives the channels the bot created for incidents resolved
// more than archive_after ago. The schedule is resolved_at +
// archive_after, both stored, so a restart keeps it.
func (i *Incidents) archiveDue(ctx context.Context) error {
	if i.cfg.ArchiveAfter <= 0 {
		return nil
	}
	all, err := i.svc.List(ctx, incident.ListOptions{})
	if err != nil {
		return err
	}
	now := i.now()
	for _, inc := range all {
		if inc.Status != incident.StatusResolved || inc.Channel.IsZero() || now.Before(inc.ResolvedAt.Add(i.cfg.ArchiveAfter)) ||
			now.Sub(inc.ResolvedAt) > archiveScan+i.cfg.ArchiveAfter {
			continue
		}
		i.archive(ctx, inc.Number)
	}
	return nil
}

func (i *Incidents) archive(ctx context.Context, n int64) {
	unlock := i.lock(n)
	defer unlock()
	inc, err := i.svc.ByNumber(ctx, n)
	if err != nil || inc.Status != incident.StatusResolved {
		return
	}
	st, err := i.state(ctx, inc)
	if err != nil || st.archived || st.mode != channelCreated {
		return
	}
	cm, ok := i.chats[inc.Channel.Platform].(bot.ChannelManager)
	if !ok {
		return
	}
	if err := cm.Archive(ctx, inc.Channel.ID); err != nil && tebura.ErrorCode(err) != tebura.ENOTFOUND {
		i.log.Error("incident channel not archived", "incident", n, "channel", inc.Channel.ID, "err", err)
		return
	}
	st.archived = true
	i.record(ctx, incident.ActorTebura, audit.ActionIncidentArchive, inc.ID, map[string]string{"channel": inc.Channel.ID})
	i.mark(ctx, inc, incident.ActorTebura, kindArchived, "Channel "+commands.OrNone(inc.Channel.Name)+" archived", map[string]string{"channel": inc.Channel.ID})
}

// paramsFor keeps the rule's parameters that rb declares. A rule's params
// are one pool for all its runbooks (a diagnostic may take service, the
// remediation service and env); what a runbook does not declare is not
// given to it, and what it does declare is validated by Bind like any
// user input.
func paramsFor(rb *runbooks.Runbook, raw map[string]string) map[string]string {
	if raw == nil {
		return nil
	}
	out := make(map[string]string, len(raw))
	for _, p := range rb.Params {
		if v, ok := raw[p.Name]; ok {
			out[p.Name] = v
		}
	}
	return out
}
