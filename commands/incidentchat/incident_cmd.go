package incidentchat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/oncall"
	"github.com/tebura/tebura/runbooks"
)

// incidentVerbs are the /incident subcommands.
var incidentVerbs = []string{"declare", "ack", "resolve", "status", "note", "commander", "timeline", "postmortem", "list", "stats", "oncall", "page", "help"}

// defaultStatsWindow is the window of /incident stats without one.
const defaultStatsWindow = 30 * 24 * time.Hour

// HandleCommand answers /incident. Declaring, acknowledging, resolving,
// notes and naming the commander need any role (or admin); reading
// (status, timeline, postmortem, list, stats) is open to everyone who can
// talk to the bot. Inside an incident channel the incident is the
// channel's (in a shared channel, its most recent open incident);
// elsewhere it is named by number (#42).
func (i *Incidents) HandleCommand(ctx context.Context, c *bot.Command, req commands.Request) error {
	words := req.Words
	if len(words) == 0 {
		return i.help(ctx, c)
	}
	verb, args := words[0], words[1:]
	switch verb {
	case "help":
		return i.help(ctx, c)
	case "declare":
		return i.declare(ctx, c, args)
	case "list":
		return i.list(ctx, c, args)
	case "stats":
		return i.stats(ctx, c, args)
	case "oncall":
		return i.oncallCmd(ctx, c, args)
	case "ack", "resolve", "note", "commander", "page":
		if !i.mayAct(c.Actor) {
			return tebura.Errorf(tebura.EFORBIDDEN, "Working an incident needs a role in the bot's access config, and you have none. Ask an admin for one; `%s whoami` shows what you have.", i.names.Typed(commands.RootTebura))
		}
	case "status", "timeline", "postmortem":
	default:
		return i.names.Unknown(commands.RootIncident, verb, incidentVerbs)
	}
	inc, rest, err := i.target(ctx, c, verb, args)
	if err != nil {
		return err
	}
	switch verb {
	case "ack":
		return i.ack(ctx, c.Actor, c.Reply, inc)
	case "resolve":
		return i.resolve(ctx, c.Actor, c.Reply, inc, strings.Join(rest, " "))
	case "note":
		return i.note(ctx, c, inc, strings.Join(rest, " "))
	case "commander":
		return i.commander(ctx, c, inc, rest)
	case "page":
		return i.pageCmd(ctx, c, inc, rest)
	case "status":
		return i.status(ctx, c, inc)
	case "timeline":
		return i.timeline(ctx, c, inc)
	}
	return i.postmortem(ctx, c, inc)
}

// target finds the incident a command is about: a "#N" word, or the
// channel's incident. It returns the other words.
func (i *Incidents) target(ctx context.Context, c *bot.Command, verb string, args []string) (*incident.Incident, []string, error) {
	var rest []string
	var ref string
	for _, w := range args {
		if ref == "" && len(w) > 1 && w[0] == '#' {
			if _, err := strconv.ParseInt(w[1:], 10, 64); err == nil {
				ref = w
				continue
			}
		}
		rest = append(rest, w)
	}
	if ref != "" {
		inc, err := i.svc.Get(ctx, ref)
		if tebura.ErrorCode(err) == tebura.ENOTFOUND {
			return nil, nil, tebura.Errorf(tebura.ENOTFOUND, "There is no incident %s. `%s list` shows the incidents.", ref, i.names.Typed(commands.RootIncident))
		}
		return inc, rest, err
	}
	inc, others, err := i.svc.ChannelIncidents(ctx, c.Platform, c.Channel)
	if tebura.ErrorCode(err) == tebura.ENOTFOUND {
		return nil, nil, tebura.Errorf(tebura.EINVALID, "This channel belongs to no incident, so name one: `%s %s #42`. `%s list --open` shows the open ones.",
			i.names.Typed(commands.RootIncident), verb, i.names.Typed(commands.RootIncident))
	}
	if err != nil {
		return nil, nil, err
	}
	if len(others) > 0 {
		// A shared channel with several open incidents: say which one this
		// is about before answering.
		refs := make([]string, 0, len(others))
		for _, o := range others {
			refs = append(refs, o.Ref())
		}
		note := fmt.Sprintf("%d incidents are open in this channel; this is about the most recent, %s (%s). For another, name it: `%s %s %s`.",
			len(others)+1, inc.Ref(), bot.Verbatim(inc.Title), i.names.Typed(commands.RootIncident), verb, refs[0])
		if err := c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{note}}); err != nil {
			i.log.Warn("incident choice not shown", "incident", inc.Number, "err", err)
		}
	}
	return inc, rest, nil
}

func (i *Incidents) help(ctx context.Context, c *bot.Command) error {
	in := i.names.Typed(commands.RootIncident)
	lines := []string{
		"`" + in + " declare TITLE [sev=N]` — open an incident by hand",
		"`" + in + " ack [#N]` — acknowledge it",
		"`" + in + " resolve [#N] [note]` — resolve it",
		"`" + in + " status [#N]` — where it stands",
		"`" + in + " note [#N] TEXT` — add a note to the timeline",
		"`" + in + " commander [#N] @user` — name the incident commander",
		"`" + in + " timeline [#N]` — everything that happened",
		"`" + in + " postmortem [#N]` — the postmortem draft, as a file",
		"`" + in + " list [--open]` — recent incidents",
		"`" + in + " stats [30d]` — MTTA and MTTR by severity and service, and responder load",
		"`" + in + " oncall [SCHEDULE]` — who is on call now and next",
		"`" + in + " page [#N] oncall:SCHEDULE` — invite who is on call now (or role:NAME, @person)",
	}
	return c.Reply.Private(ctx, bot.Message{Header: "Incidents", Level: bot.LevelInfo, Text: []string{strings.Join(lines, "\n"),
		"Inside an incident channel, #N may be left out; in a channel several incidents share (the console's, or one a rule names) it is the most recent open one. Working an incident needs a role; reading does not."}})
}

// declare opens an incident by hand: /incident declare "Checkout is failing" sev=2.
func (i *Incidents) declare(ctx context.Context, c *bot.Command, args []string) error {
	if !i.mayAct(c.Actor) {
		return tebura.Errorf(tebura.EFORBIDDEN, "Declaring an incident needs a role in the bot's access config, and you have none. Ask an admin for one; `%s whoami` shows what you have.", i.names.Typed(commands.RootTebura))
	}
	var title []string
	sev := ""
	for _, w := range args {
		if v, ok := strings.CutPrefix(w, "sev="); ok {
			sev = v
			continue
		}
		title = append(title, w)
	}
	ch, err := i.svc.Declare(ctx, strings.Join(title, " "), sev, c.Actor.ID)
	if err != nil {
		return err
	}
	inc := ch.Incident
	i.record(ctx, c.Actor.ID, audit.ActionIncidentOpen, inc.ID, map[string]string{"title": inc.Title, "severity": inc.Severity, "source": "declared"})
	i.reactChange(ctx, ch, c.Platform, c.Channel)
	inc, err = i.svc.ByNumber(ctx, inc.Number)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s declared incident %s: %s.", c.Actor.Mention(), inc.Ref(), bot.Verbatim(inc.Title))
	if inc.Channel.Name != "" && !inc.Channel.Shared {
		text += " Channel: #" + inc.Channel.Name + "."
	}
	_, err = c.Reply.Reply(ctx, bot.Message{Level: bot.LevelDanger, Text: []string{text}})
	return err
}

// refresh brings the chat in line with the incident after a change made
// by a person, as the reconcile loop would, redrawing the card: so a
// resolve by hand closes the incident's pending approvals like one by its
// alerts (ensure).
func (i *Incidents) refresh(ctx context.Context, n int64) *incState {
	unlock := i.lock(n)
	defer unlock()
	inc, err := i.svc.ByNumber(ctx, n)
	if err != nil {
		return nil
	}
	st, err := i.state(ctx, inc)
	if err != nil {
		return nil
	}
	i.ensure(ctx, inc, st, nil, "", "", true)
	return st
}

func (i *Incidents) ack(ctx context.Context, a bot.Actor, r bot.Replier, inc *incident.Incident) error {
	inc, err := i.svc.Ack(ctx, inc.ID, a.ID)
	if err != nil {
		return err
	}
	i.record(ctx, a.ID, audit.ActionIncidentAck, inc.ID, nil)
	i.refresh(ctx, inc.Number)
	_, err = r.Reply(ctx, bot.Message{Level: bot.LevelWarning, Text: []string{fmt.Sprintf("%s acknowledged incident %s.", a.Mention(), inc.Ref())}})
	return err
}

func (i *Incidents) resolve(ctx context.Context, a bot.Actor, r bot.Replier, inc *incident.Incident, note string) error {
	inc, err := i.svc.Resolve(ctx, inc.ID, a.ID, note)
	if err != nil {
		return err
	}
	i.record(ctx, a.ID, audit.ActionIncidentResolve, inc.ID, map[string]string{"note": note})
	st := i.refresh(ctx, inc.Number)
	text := fmt.Sprintf("%s resolved incident %s.", a.Mention(), inc.Ref())
	if st != nil {
		text = i.resolvedText(inc, text, st)
	}
	_, err = r.Reply(ctx, bot.Message{Level: bot.LevelSuccess, Text: []string{text}})
	return err
}

func (i *Incidents) note(ctx context.Context, c *bot.Command, inc *incident.Incident, text string) error {
	if err := i.svc.Note(ctx, inc.ID, c.Actor.ID, text); err != nil {
		return err
	}
	i.record(ctx, c.Actor.ID, audit.ActionIncidentNote, inc.ID, map[string]string{"text": text})
	return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{"Noted on the timeline of " + inc.Ref() + "."}})
}

// identity turns a mention into an identity: "<@U1>" and "@U1" on Slack
// become "slack:U1", "<@!5>" on Discord "discord:5", "@bob" on the console
// "console:bob"; "slack:U1" stays as it is.
func identity(platform, m string) string {
	m = strings.TrimSpace(m)
	if strings.HasPrefix(m, "<@") && strings.HasSuffix(m, ">") {
		m = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "<@"), "!"), ">")
		m, _, _ = strings.Cut(m, "|")
		return platform + ":" + m
	}
	if v, ok := strings.CutPrefix(m, "@"); ok {
		return platform + ":" + v
	}
	return m
}

func (i *Incidents) commander(ctx context.Context, c *bot.Command, inc *incident.Incident, args []string) error {
	if len(args) != 1 {
		return tebura.Errorf(tebura.EINVALID, "Name one commander, like `%s commander @alice`.", i.names.Typed(commands.RootIncident))
	}
	who := identity(c.Platform, args[0])
	inc, err := i.svc.SetCommander(ctx, inc.ID, c.Actor.ID, who)
	if err != nil {
		return err
	}
	i.record(ctx, c.Actor.ID, audit.ActionIncidentCommander, inc.ID, map[string]string{"commander": who})
	i.refresh(ctx, inc.Number)
	_, err = c.Reply.Reply(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf("%s is the commander of incident %s.", who, inc.Ref())}})
	return err
}

func (i *Incidents) status(ctx context.Context, c *bot.Command, inc *incident.Incident) error {
	unlock := i.lock(inc.Number)
	st, err := i.state(ctx, inc)
	var msg bot.Message
	if err == nil {
		msg = i.cardMessage(ctx, inc, st)
		msg.Buttons = nil
	}
	unlock()
	if err != nil {
		return err
	}
	return c.Reply.Private(ctx, msg)
}

// timelineText is the timeline as lines, for chat, without the reaction
// layer's bookkeeping.
func timelineText(tl []incident.TimelineEntry) string {
	lines := make([]string, 0, len(tl))
	for _, e := range tl {
		if incident.Bookkeeping(e.Kind) {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s  %-14s %s", e.Time.UTC().Format("01-02 15:04:05"), e.Actor, e.Text))
	}
	return strings.Join(lines, "\n")
}

func (i *Incidents) timeline(ctx context.Context, c *bot.Command, inc *incident.Incident) error {
	tl, err := i.svc.Timeline(ctx, inc.ID)
	if err != nil {
		return err
	}
	text, shown := timelineText(tl), 0
	for _, e := range tl {
		if !incident.Bookkeeping(e.Kind) {
			shown++
		}
	}
	return c.Reply.Private(ctx, bot.Message{Header: "Timeline of " + inc.Ref() + ": " + inc.Title, Level: bot.LevelInfo,
		Code:    &bot.Code{Text: text, Tail: true},
		Context: fmt.Sprintf("%d entries (UTC) · `%s postmortem %s` for the whole document", shown, i.names.Typed(commands.RootIncident), inc.Ref())})
}

// Postmortem renders the Markdown postmortem of incident ref ("42", "#42").
func (i *Incidents) Postmortem(ctx context.Context, ref string) (string, error) {
	return Postmortem(ctx, i.svc, i.store, ref)
}

// Postmortem renders the Markdown postmortem of incident ref from
// the incident service and the run store alone: what `tebura incident
// postmortem N` prints without building a bot. Runs are those whose origin
// names the incident, oldest first.
func Postmortem(ctx context.Context, svc *incident.Service, store runbooks.Store, ref string) (string, error) {
	inc, err := svc.Get(ctx, ref)
	if err != nil {
		return "", err
	}
	tl, err := svc.Timeline(ctx, inc.ID)
	if err != nil {
		return "", err
	}
	runs, err := store.ListRuns(ctx, runbooks.ListOptions{})
	if err != nil {
		return "", err
	}
	// The log command as the timeline wrote it, with this bot's names.
	logs := map[string]string{}
	for _, e := range tl {
		if c := e.Data[dataLogCommand]; c != "" {
			logs[e.Data["run"]] = c
		}
	}
	var sums []incident.RunSummary
	for k := len(runs) - 1; k >= 0; k-- { // oldest first
		r := runs[k]
		if r.Origin.Incident != inc.ID {
			continue
		}
		s := incident.RunSummary{ID: r.ID, Runbook: r.Runbook, Kind: string(r.Kind), State: string(r.State), RequestedBy: r.RequestedBy,
			StartedAt: r.StartedAt, EndedAt: r.EndedAt, ExitCode: r.ExitCode, Reason: r.Reason}
		for _, a := range r.Approvals {
			s.ApprovedBy = append(s.ApprovedBy, a.By)
		}
		s.LogCommand = logs[r.ID]
		sums = append(sums, s)
	}
	return incident.Postmortem(inc, tl, sums), nil
}

func (i *Incidents) postmortem(ctx context.Context, c *bot.Command, inc *incident.Incident) error {
	md, err := i.Postmortem(ctx, inc.ID)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("postmortem-%d.md", inc.Number)
	if err := i.svc.AddTimeline(ctx, inc.ID, incident.TimelineEntry{Actor: c.Actor.ID, Kind: incident.KindCommand, Text: "Postmortem draft generated"}); err != nil {
		i.log.Error("timeline entry not written", "incident", inc.Number, "err", err)
	}
	i.record(ctx, c.Actor.ID, audit.ActionIncidentPostmortem, inc.ID, nil)
	if up, ok := i.chats[c.Platform].(bot.FileUploader); ok {
		if err := up.Upload(ctx, bot.Target{Channel: c.Channel, Thread: c.Thread}, bot.File{Name: name, Title: "Postmortem draft of " + inc.Ref(), Content: []byte(md)}); err == nil {
			_, err = c.Reply.Reply(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf("Postmortem draft of %s attached as %s.", inc.Ref(), name)}})
			return err
		} else {
			i.log.Error("postmortem upload failed", "incident", inc.Number, "err", err)
		}
	}
	_, err = c.Reply.Reply(ctx, bot.Message{Header: "Postmortem draft of " + inc.Ref(), Level: bot.LevelInfo,
		Code:    &bot.Code{Title: name, Text: md},
		Context: fmt.Sprintf("This chat cannot take files; `tebura incident postmortem %d` prints the whole document.", inc.Number)})
	return err
}

func (i *Incidents) list(ctx context.Context, c *bot.Command, args []string) error {
	open := false
	for _, a := range args {
		if a != "--open" && a != "open" {
			return tebura.Errorf(tebura.EINVALID, "`%s list` takes only --open.", i.names.Typed(commands.RootIncident))
		}
		open = true
	}
	incs, err := i.svc.List(ctx, incident.ListOptions{OpenOnly: open, Limit: 50})
	if err != nil {
		return err
	}
	if len(incs) == 0 {
		what := "no incidents"
		if open {
			what = "no open incidents"
		}
		return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{"There are " + what + "."}})
	}
	lines := make([]string, 0, len(incs))
	for _, inc := range incs {
		line := fmt.Sprintf("%-5s %-12s %-8s %s  (started %s", inc.Ref(), inc.Status, commands.OrNone(inc.Severity), inc.Title, commands.Stamp(inc.StartedAt))
		if inc.Channel.Name != "" {
			line += ", #" + inc.Channel.Name
		}
		lines = append(lines, line+")")
	}
	header := "Incidents"
	if open {
		header = "Open incidents"
	}
	return c.Reply.Private(ctx, bot.Message{Header: header, Level: bot.LevelInfo, Code: &bot.Code{Text: strings.Join(lines, "\n")}})
}

// parseWindow reads "30d", "7d", "12h", "90m".
func parseWindow(s string) (time.Duration, error) {
	bad := tebura.Errorf(tebura.EINVALID, "%q is not a window; write it like 30d, 7d or 12h.", s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return 0, bad
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

func (i *Incidents) stats(ctx context.Context, c *bot.Command, args []string) error {
	window := defaultStatsWindow
	if len(args) > 1 {
		return tebura.Errorf(tebura.EINVALID, "`%s stats` takes one window, like 30d.", i.names.Typed(commands.RootIncident))
	}
	if len(args) == 1 {
		var err error
		if window, err = parseWindow(args[0]); err != nil {
			return err
		}
	}
	st, err := i.svc.Stats(ctx, i.now().Add(-window))
	if err != nil {
		return err
	}
	text := statsText(st)
	if i.oncall != nil {
		loads, err := oncall.ResponderLoad(ctx, i.svc, i.calendar, i.now().Add(-window), i.now())
		if err != nil {
			return err
		}
		text += loadText(loads)
	}
	return c.Reply.Private(ctx, bot.Message{Header: "Incident stats, last " + commands.Human(window), Level: bot.LevelInfo,
		Code: &bot.Code{Text: text}, Context: "MTTA and MTTR count from when the incident opened."})
}

func statsText(st incident.Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d incidents since %s, %d open\n\n", st.All.Count, commands.Stamp(st.Since), st.Open)
	fmt.Fprintf(&b, "%-22s %5s %6s %9s %8s %9s\n", "", "count", "acked", "MTTA", "resolved", "MTTR")
	row := func(name string, f incident.Figures) {
		fmt.Fprintf(&b, "%-22s %5d %6d %9s %8d %9s\n", name, f.Count, f.Acked, dur(f.MTTA, f.Acked), f.Resolved, dur(f.MTTR, f.Resolved))
	}
	row("all", st.All)
	for _, k := range incident.Keys(st.BySeverity) {
		row("severity "+k, st.BySeverity[k])
	}
	for _, k := range incident.Keys(st.ByService) {
		row("service "+k, st.ByService[k])
	}
	return strings.TrimRight(b.String(), "\n")
}

func dur(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return d.String()
}

// HandleClick answers the incident card's buttons.
func (i *Incidents) HandleClick(ctx context.Context, c *bot.Click, cb bot.Callback) error {
	inc, err := i.svc.Get(ctx, cb.Subject)
	if err != nil {
		return err
	}
	if !i.mayAct(c.Actor) {
		return tebura.Errorf(tebura.EFORBIDDEN, "Working an incident needs a role in the bot's access config, and you have none. Ask an admin for one; `%s whoami` shows what you have.", i.names.Typed(commands.RootTebura))
	}
	switch cb.Action {
	case actionIncAck:
		return i.ack(ctx, c.Actor, c.Reply, inc)
	case actionIncResolve:
		return i.resolve(ctx, c.Actor, c.Reply, inc, "")
	case actionIncDiag:
		return i.rerunDiagnostics(ctx, c, inc)
	case actionIncPropose:
		return i.reproposal(ctx, c, inc, cb.Data["rule"], cb.Data["runbook"])
	case actionIncSuggest:
		return i.proposeSuggestion(ctx, c, inc, cb.Data["runbook"], cb.Data["params"])
	}
	return tebura.Errorf(tebura.ENOTFOUND, "This button no longer works. Type `%s status %s` to see where things stand.", i.names.Typed(commands.RootIncident), inc.Ref())
}

// rerunDiagnostics starts the fired rules' diagnostics again, as the
// rules' automation identities, noting who asked.
func (i *Incidents) rerunDiagnostics(ctx context.Context, c *bot.Click, inc *incident.Incident) error {
	if !inc.Status.Open() {
		return tebura.Errorf(tebura.ECONFLICT, "Incident %s is resolved; diagnostics run only for open incidents.", inc.Ref())
	}
	unlock := i.lock(inc.Number)
	defer unlock()
	st, err := i.state(ctx, inc)
	if err != nil {
		return err
	}
	diags := i.svc.Actions(inc).Diagnostics
	if len(diags) == 0 {
		return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{"No automation rule of this incident lists diagnostics. Run one by hand with `" + i.names.Typed(commands.RootRunbook) + " run NAME`."}})
	}
	// The runs carry the rule's automation identity, so the clicker's own
	// right to run each runbook is checked here: any role opens the card's
	// buttons, but it must not open runbooks whose allow list leaves the
	// clicker out.
	pol, reg, who := i.policy(), i.registry(), commands.Subject(c.Actor)
	var started int
	var skipped []string
	for _, ra := range diags {
		if rb, ok := reg.Get(ra.Runbook); ok && !commands.Allowed(pol, who, access.ActionRun, rb) {
			skipped = append(skipped, "`"+ra.Runbook+"`")
			continue
		}
		i.diagnose(ctx, inc, st, ra, c.Actor.ID)
		started++
	}
	if started == 0 {
		return tebura.Errorf(tebura.EFORBIDDEN, "You may not run the diagnostics of %s (%s): their runbooks' allow lists leave you out. Ask someone who may run them, or an admin.", inc.Ref(), strings.Join(skipped, ", "))
	}
	i.record(ctx, c.Actor.ID, audit.ActionIncidentDiagnostics, inc.ID, nil)
	text := []string{fmt.Sprintf("Started %d diagnostic(s) for %s.", started, inc.Ref())}
	if len(skipped) > 0 {
		text = append(text, fmt.Sprintf("Skipped %s: you may not run them.", strings.Join(skipped, ", ")))
	}
	return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: text})
}

// reproposal answers [Propose X]: the pending approval card, or a new one
// when the last proposal was decided, requested by the person who pressed
// the button (see propose).
func (i *Incidents) reproposal(ctx context.Context, c *bot.Click, inc *incident.Incident, rule, runbook string) error {
	if !inc.Status.Open() {
		return tebura.Errorf(tebura.ECONFLICT, "Incident %s is resolved; nothing is proposed for it any more.", inc.Ref())
	}
	unlock := i.lock(inc.Number)
	defer unlock()
	st, err := i.state(ctx, inc)
	if err != nil {
		return err
	}
	for _, p := range st.proposals {
		if p.Rule != rule || p.Runbook != runbook {
			continue
		}
		if run, err := i.store.GetRun(ctx, p.Run); err == nil && run.State == runbooks.StatePendingApproval {
			return c.Reply.Private(ctx, bot.Message{Level: bot.LevelInfo, Text: []string{fmt.Sprintf("%s is waiting for approval as run %s: its card with [Approve] and [Deny] is in this channel.", runbook, p.Run)}})
		}
	}
	if rule == ruleHint {
		for _, p := range st.proposals {
			if p.Rule == ruleHint && p.Runbook == runbook {
				return i.proposeHint(ctx, c, inc, st, runbook, p.Params)
			}
		}
	}
	for _, ra := range i.svc.Actions(inc).Suggest {
		if ra.Rule == rule && ra.Runbook == runbook {
			if err := i.propose(ctx, inc, st, ra, &c.Actor); err != nil {
				return err
			}
			i.card(ctx, inc, st, true)
			i.record(ctx, c.Actor.ID, audit.ActionIncidentPropose, inc.ID, map[string]string{"runbook": runbook})
			return nil
		}
	}
	return tebura.Errorf(tebura.ENOTFOUND, "No rule of incident %s suggests %s any more.", inc.Ref(), runbook)
}
