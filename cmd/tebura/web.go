package main

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/web"
)

// webLinks builds the links chat messages carry to the web view's pages:
// nil functions when the web view is off, so no message links to it.
func webLinks(cfg config.Config) (runLink func(string) string, cardParts []incidentchat.CardPart) {
	if !cfg.Web.Enabled {
		return nil, nil
	}
	base := strings.TrimSuffix(cfg.Web.BaseURL, "/")
	runLink = func(id string) string { return base + "/ui/runs/" + url.PathEscape(id) }
	card := incidentchat.CardPartFunc(func(_ context.Context, inc *incident.Incident) incidentchat.CardAddition {
		return incidentchat.CardAddition{
			Links:   []bot.Link{{Label: "Open in the web view", URL: base + "/ui/incidents/" + strconv.FormatInt(inc.Number, 10)}},
			Buttons: []bot.Button{{Label: commands.WebLoginLabel, ActionID: commands.ActionWebLogin, CallbackID: commands.WebLoginCallback}},
		}
	})
	return runLink, []incidentchat.CardPart{card}
}

// sessionPruneEvery is how often expired web sessions and links are
// removed from the store.
const sessionPruneEvery = time.Hour

// mountWeb builds the web view and /api/v1 on the one listener when
// web.enabled, and returns the answer to `/tebura login` (nil when off).
func (s *server) mountWeb(app *App) (func(ctx context.Context, c *bot.Command) error, error) {
	cfg := app.Config
	if !cfg.Web.Enabled {
		return nil, nil
	}
	w, err := web.New(web.Deps{
		Config: cfg.Web, APITokens: cfg.API.Tokens, Sessions: app.Store, Flows: s.books, Runs: app.Runs, Incidents: s.svc,
		AuditStore: app.Data, Audit: app.Audit, Registry: s.registry, Access: s.policy, DataDir: cfg.DataDir, Changes: app.Store,
		Secure: cfg.HTTP.TLSCert != "" || strings.HasPrefix(cfg.Web.BaseURL, "https://"), Logger: s.log.With("component", "web"),
	})
	if err != nil {
		return nil, err
	}
	w.Mount(app.Mux)
	// The cards' [Sign in to the web view] button: one callback for all.
	app.AddStartup(func(ctx context.Context, _ []*runbooks.Run) error {
		return app.Data.PutCallback(ctx, bot.Callback{ID: commands.WebLoginCallback, Action: commands.ActionWebLogin, Created: time.Now()})
	})
	app.AddService(Service{Name: "web-sessions", Run: func(ctx context.Context) error {
		t := time.NewTicker(sessionPruneEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if n, err := app.Store.PruneSessions(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("web sessions prune failed", "err", err)
				} else if n > 0 {
					s.log.Debug("web sessions pruned", "count", n)
				}
			}
		}
	}})
	s.log.Info("web view mounted", "base_url", cfg.Web.BaseURL, "api_tokens", len(cfg.API.Tokens))
	return w.Login, nil
}
