package bot

import "context"

// UserDirectory is an optional capability: it finds a person's chat
// account by email, so that an on-call schedule (which knows people by
// email) can invite them. Slack implements it with users.lookupByEmail;
// Discord and the console cannot look people up, so their accounts come
// from an explicit map (oncall.identities).
type UserDirectory interface {
	// LookupEmail returns the identity ("slack:U1") of the account with
	// that email, or an error of kind not found when there is none.
	LookupEmail(ctx context.Context, email string) (string, error)
}
