package incidentchat

import (
	"context"
	"fmt"
	"strings"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/incident"
)

// Button labels of the incident card.
const (
	labelAck         = "Acknowledge"
	labelResolve     = "Resolve"
	labelDiagnostics = "Run diagnostics"
	labelPropose     = "Propose "
)

// keyLabels are shown on the card, in this order, when the incident has
// them.
var keyLabels = []string{"alertname", "service", "severity", "env", "environment", "cluster", "namespace", "job", "instance"}

// cardMessage is the incident card: what it is, how bad, where it stands,
// and the buttons to work it.
func (i *Incidents) cardMessage(ctx context.Context, inc *incident.Incident, st *incState) bot.Message {
	level := bot.LevelDanger
	switch inc.Status {
	case incident.StatusAcknowledged:
		level = bot.LevelWarning
	case incident.StatusResolved:
		level = bot.LevelSuccess
	}
	status := string(inc.Status)
	switch inc.Status {
	case incident.StatusAcknowledged:
		status += " by " + inc.AckedBy + " at " + commands.Stamp(inc.AckedAt)
	case incident.StatusResolved:
		status += " by " + inc.ResolvedBy + " at " + commands.Stamp(inc.ResolvedAt)
	}
	alerts := fmt.Sprintf("%d (%d firing)", inc.AlertCount, inc.FiringCount)
	if inc.Truncated > 0 {
		alerts += fmt.Sprintf(", %d more left out by the source", inc.Truncated)
	}
	msg := bot.Message{
		Header: fmt.Sprintf("Incident %s: %s", inc.Ref(), inc.Title),
		Level:  level,
		Fields: []bot.Field{
			{Label: "Severity", Value: commands.OrNone(inc.Severity)},
			{Label: "Status", Value: status},
			{Label: "Started", Value: commands.Stamp(inc.StartedAt)},
			{Label: "Alerts", Value: alerts},
		},
		Context: fmt.Sprintf("incident %s · %s status %s", inc.Ref(), i.names.Typed(commands.RootIncident), inc.Ref()),
	}
	if inc.Folded > 0 {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Folded groups", Value: fmt.Sprintf(
			"%d new alert group(s) joined this incident instead of opening their own (incidents.max_open, incidents.max_new_per_minute); they open no channel and run no automation", inc.Folded)})
	}
	if inc.Commander != "" {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Commander", Value: inc.Commander})
	}
	if inc.Reopened > 0 {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Reopened", Value: fmt.Sprintf("%d time(s)", inc.Reopened)})
	}
	var ls []string
	for _, k := range keyLabels {
		if v := inc.Labels[k]; v != "" {
			ls = append(ls, k+"="+v)
		}
	}
	if len(ls) > 0 {
		msg.Fields = append(msg.Fields, bot.Field{Label: "Labels", Value: strings.Join(ls, " ")})
	}
	ann := inc.Annotations
	if len(ann) == 0 && st.alert != nil {
		ann = st.alert.Annotations
	}
	// Annotations come from whoever can write an alert rule: verbatim, so
	// that no medium reads formatting, mentions or links in them.
	if s := ann["summary"]; s != "" {
		msg.Text = append(msg.Text, "*"+bot.Verbatim(s)+"*")
	}
	if d := ann["description"]; d != "" {
		msg.Text = append(msg.Text, bot.Verbatim(d))
	}
	if u := ann["runbook_url"]; u != "" {
		msg.Links = append(msg.Links, bot.Link{Label: "Runbook", URL: u})
	}
	for _, k := range []string{"dashboard", "dashboard_url", "grafana_dashboard"} {
		if u := ann[k]; u != "" {
			msg.Links = append(msg.Links, bot.Link{Label: "Dashboard", URL: u})
			break
		}
	}
	links := inc.Links
	if st.alert != nil {
		if st.alert.GeneratorURL != "" {
			msg.Links = append(msg.Links, bot.Link{Label: "Source", URL: st.alert.GeneratorURL})
		}
		if len(links) == 0 {
			links = st.alert.Links
		}
	}
	for _, l := range links {
		msg.Links = append(msg.Links, bot.Link{Label: l.Title, URL: l.URL})
	}
	// The parts' buttons go last: a chat that has room for fewer
	// buttons drops the last ones, and the card's own actions matter more.
	partButtons := i.addParts(ctx, inc, st, &msg)
	if !inc.Status.Open() {
		msg.Buttons = append(msg.Buttons, partButtons...)
		return msg
	}
	if inc.Status == incident.StatusTriggered {
		msg.Buttons = append(msg.Buttons, bot.Button{Label: labelAck, Style: bot.StylePrimary, ActionID: actionIncAck, CallbackID: callbackID(inc, actionIncAck, 0)})
	}
	msg.Buttons = append(msg.Buttons,
		bot.Button{Label: labelResolve, ActionID: actionIncResolve, CallbackID: callbackID(inc, actionIncResolve, 0)},
		bot.Button{Label: labelDiagnostics, ActionID: actionIncDiag, CallbackID: callbackID(inc, actionIncDiag, 0)})
	for k, p := range st.proposals {
		msg.Buttons = append(msg.Buttons, bot.Button{Label: labelPropose + p.Runbook, ActionID: actionIncPropose, CallbackID: callbackID(inc, actionIncPropose, k)})
	}
	for k, sg := range st.suggest {
		msg.Buttons = append(msg.Buttons, bot.Button{Label: sg.Label, ActionID: actionIncSuggest, CallbackID: callbackID(inc, actionIncSuggest, k)})
	}
	msg.Buttons = append(msg.Buttons, partButtons...)
	return msg
}
