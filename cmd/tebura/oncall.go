package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/oncall"
	"github.com/tebura/tebura/oncall/grafana"
	"github.com/tebura/tebura/oncall/pagerduty"
	"github.com/tebura/tebura/runbooks"
)

// onCall builds the on-call service from oncall.schedules (nil when none
// is configured) and the working-hours calendar. Slack looks people up by
// email; the other platforms use oncall.identities.
func onCall(cfg config.Config, slackA *slack.Adapter, log *slog.Logger) (incidentchat.OnCall, *oncall.Calendar, error) {
	cal, err := oncall.NewCalendar(cfg.OnCall.WorkingHours)
	if err != nil {
		return nil, nil, err
	}
	if len(cfg.OnCall.Schedules) == 0 {
		return nil, cal, nil
	}
	schedules := map[string]oncall.Schedule{}
	for name, s := range cfg.OnCall.Schedules {
		switch s.Kind() {
		case "pagerduty":
			schedules[name] = pagerduty.New(s.PagerDuty, nil)
		case "grafana_oncall":
			schedules[name] = grafana.New(s.GrafanaOnCall, nil)
		case "static":
			st, err := oncall.NewStatic(s.Static)
			if err != nil {
				return nil, nil, err
			}
			schedules[name] = st
		}
	}
	dirs := map[string]bot.UserDirectory{}
	if slackA != nil {
		dirs[slack.Platform] = slackA
	}
	return oncall.NewService(oncall.Deps{Schedules: schedules, Identities: cfg.OnCall.Identities, Directories: dirs,
		Logger: log.With("component", "oncall")}), cal, nil
}

// watchLoad reports the responder load over oncall.load_window on /metrics.
func watchLoad(app *App, cfg config.Config, svc *incident.Service, cal *oncall.Calendar) {
	window := cfg.OnCall.LoadWindow
	app.Metrics.WatchResponderLoad(func(ctx context.Context) ([]oncall.Load, error) {
		now := time.Now()
		return oncall.ResponderLoad(ctx, svc, cal, now.Add(-window), now)
	})
}

// startEscalation pages the automation rules' escalation levels in the
// background, from start-up until shutdown.
func startEscalation(app *App, cfg config.Config, svc *incident.Service, pager oncall.Pager, log *slog.Logger) {
	rules := oncall.Rules(cfg.Automations)
	if len(rules) == 0 {
		return
	}
	e := oncall.NewEscalator(oncall.EscalatorDeps{Incidents: svc, Pager: pager,
		Rules: func() map[string]config.Escalation { return rules }, Logger: log.With("component", "escalation")})
	app.AddCatchUp(CatchUp{Name: "escalation", Detail: "starting the escalation loop",
		Run: func(ctx context.Context, _ []*runbooks.Run) error { go app.whileLeading(ctx, e.Run); return nil }})
}
