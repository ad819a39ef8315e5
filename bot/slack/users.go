package slack

import (
	"context"
	"strings"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

var _ bot.UserDirectory = (*Adapter)(nil)

// LookupEmail implements bot.UserDirectory with users.lookupByEmail (needs
// the users:read.email scope), so that the people an on-call schedule
// names by email can be invited.
// https://docs.slack.dev/reference/methods/users.lookupByEmail
func (a *Adapter) LookupEmail(ctx context.Context, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", tebura.Errorf(tebura.EINVALID, "No email to look up.")
	}
	var id string
	err := a.call(ctx, "users.lookupByEmail", "", func(ctx context.Context) error {
		u, err := a.api.GetUserByEmailContext(ctx, email)
		if err == nil {
			id = u.ID
		}
		return err
	})
	switch slackError(err) {
	case "":
	case "users_not_found":
		return "", tebura.Errorf(tebura.ENOTFOUND, "No Slack account has that email.")
	default:
		return "", wrapAPI(err, "look a person up by email (the bot needs the users:read.email scope)")
	}
	if err != nil {
		return "", wrapAPI(err, "look a person up by email")
	}
	return Platform + ":" + id, nil
}
