package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/slack-go/slack"

	"github.com/tebura/tebura/bot"
)

// neededScopes are the bot-token scopes Tebura uses, with what each is for.
// https://docs.slack.dev/reference/scopes
func neededScopes() []struct{ scope, why string } {
	return []struct{ scope, why string }{
		{"commands", "slash commands"},
		{"chat:write", "posting and updating messages"},
		{"channels:manage", "creating public incident channels"},
		{"groups:write", "creating private incident channels"},
		{"files:write", "uploading full run logs"},
		{"usergroups:read", "granting roles to Slack user groups"},
		{"users:read", "finding on-call people by email (requested with users:read.email)"},
		{"users:read.email", "finding on-call people by email (users.lookupByEmail)"},
	}
}

// Doctor checks the Slack setup for `tebura doctor`: the bot token, its
// scopes, the app token (Socket Mode), the bot's membership of the
// configured channels, and in HTTP mode that the signing secret is not
// plainly wrong (see signingSecretCheck for what cannot be checked).
func (a *Adapter) Doctor(ctx context.Context) []bot.Check {
	var checks []bot.Check
	resp, err := a.api.AuthTestContext(ctx)
	if err != nil {
		return append(checks, bot.Check{Name: "slack bot token", Detail: fmt.Sprintf("auth.test failed (%v): set slack.bot_token to the app's Bot User OAuth Token (xoxb-…).", err)})
	}
	checks = append(checks, bot.Check{Name: "slack bot token", OK: true, Detail: fmt.Sprintf("authenticated as %s in %s (%s)", resp.User, resp.Team, resp.TeamID)})

	checks = append(checks, a.scopeCheck(ctx))
	if a.cfg.Mode == ModeSocket {
		checks = append(checks, a.appTokenCheck(ctx))
	} else {
		checks = append(checks, a.signingSecretCheck())
	}
	if ch := a.cfg.Channels.Incidents; ch != "" {
		checks = append(checks, a.channelCheck(ctx, ch))
	}
	return checks
}

// grantedScopes returns the scopes Slack reported in X-OAuth-Scopes. When
// slack-go's header hook saw none (a gateway that strips it), one raw GET of
// auth.test reads the header.
func (a *Adapter) grantedScopes(ctx context.Context) ([]string, error) {
	if s := a.scopes.Load(); s != nil {
		return splitScopes(*s), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.APIURL+"auth.test", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.BotToken.Value())
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	h := resp.Header.Get("X-OAuth-Scopes")
	if h == "" {
		return nil, errors.New("slack: no X-OAuth-Scopes header in the answer")
	}
	return splitScopes(h), nil
}

func splitScopes(h string) []string {
	var out []string
	for _, s := range strings.Split(h, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (a *Adapter) scopeCheck(ctx context.Context) bot.Check {
	c := bot.Check{Name: "slack bot scopes"}
	granted, err := a.grantedScopes(ctx)
	if err != nil {
		c.Detail = fmt.Sprintf("could not read the granted scopes (%v)", err)
		return c
	}
	var missing []string
	for _, n := range neededScopes() {
		if !slices.Contains(granted, n.scope) {
			missing = append(missing, fmt.Sprintf("%s (for %s)", n.scope, n.why))
		}
	}
	if len(missing) > 0 {
		c.Detail = "missing " + strings.Join(missing, ", ") + ": add them under OAuth & Permissions (or re-create the app from deploy/slack/manifest.yaml) and reinstall the app"
		return c
	}
	c.OK = true
	c.Detail = "all needed scopes granted"
	return c
}

func (a *Adapter) appTokenCheck(ctx context.Context) bot.Check {
	c := bot.Check{Name: "slack app token"}
	if _, _, err := a.app.StartSocketModeContext(ctx); err != nil {
		c.Detail = fmt.Sprintf("apps.connections.open failed (%v): set slack.app_token to an app-level token (xapp-…) with the connections:write scope, and enable Socket Mode", err)
		return c
	}
	c.OK = true
	c.Detail = "Socket Mode connections can be opened (connections:write)"
	return c
}

// signingSecretCheck catches a slack.signing_secret that cannot be the
// app's: a Slack token put in its place, or a value carrying spaces, line
// breaks or quotes from a copy (an env file that keeps its quotes), which
// Slack's secret never has. It cannot tell a wrong secret of the right
// shape: Slack signs only the requests it sends and sends none on demand,
// and the secret is not readable through the Web API. Signing a request
// with the configured secret and checking it with the same secret proves
// nothing, so doctor does not. Such a secret shows once Slack calls: each
// request is refused with 401 and "slack request refused
// reason=signature_mismatch" in the log.
func (a *Adapter) signingSecretCheck() bot.Check {
	c := bot.Check{Name: "slack signing secret"}
	s := a.cfg.SigningSecret.Value()
	switch {
	case strings.HasPrefix(s, "xox") || strings.HasPrefix(s, "xapp-"):
		c.Detail = "slack.signing_secret holds a Slack token (xox…/xapp-…), not the signing secret: copy Basic Information → Signing Secret"
	case strings.ContainsFunc(s, copySlip):
		c.Detail = "slack.signing_secret contains spaces, line breaks or quotes, which Slack's signing secret never has: set it again without them"
	default:
		c.OK = true
		c.Detail = "set; doctor cannot tell whether it is the app's (Slack sends no request on demand): if Slack's requests get 401, the log says \"slack request refused\" with reason=signature_mismatch; compare slack.signing_secret with Basic Information → Signing Secret"
	}
	return c
}

// copySlip reports whether r is a character a copy adds to a secret
// (white space, a control character, a quote) and Slack's secrets lack.
func copySlip(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("\"'`", r)
}

func (a *Adapter) channelCheck(ctx context.Context, id string) bot.Check {
	c := bot.Check{Name: "slack channel " + id}
	ch, err := a.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
	if err != nil {
		c.Detail = fmt.Sprintf("conversations.info failed (%v): check slack.channels.incidents is a channel ID (C…) and the bot has channels:read", err)
		return c
	}
	if !ch.IsMember {
		c.Detail = fmt.Sprintf("the bot is not a member of #%s: type /invite @tebura in that channel", ch.Name)
		return c
	}
	c.OK = true
	c.Detail = "the bot is a member of #" + ch.Name
	return c
}
