package bot

import (
	"context"

	"golang.org/x/time/rate"
)

// EditBudget is a token bucket shared by every Stream of one platform, so
// that many live messages together stay under the platform's edit rate
// (Slack chat.update is Tier 3, about 50 a minute per workspace; Discord
// allows 50 requests a second per bot and less per channel). Per-message
// throttling is the Stream's Interval; the budget bounds the sum.
//
// A nil *EditBudget allows everything.
type EditBudget struct {
	lim *rate.Limiter
}

// EditLimited is an optional capability: a chat says whether its platform
// limits how often messages may be edited, so that the wiring knows whether
// its Streams share an EditBudget. Chats that do not implement it are
// limited (Slack, Discord); a terminal is not.
type EditLimited interface {
	EditLimited() bool
}

// IsEditLimited reports whether the edits of c should spend an EditBudget.
func IsEditLimited(c Chat) bool {
	l, ok := c.(EditLimited)
	return !ok || l.EditLimited()
}

// NewEditBudget returns a budget of perSecond edits a second with bursts of
// up to burst edits. perSecond <= 0 means no limit.
func NewEditBudget(perSecond float64, burst int) *EditBudget {
	if perSecond <= 0 {
		return &EditBudget{lim: rate.NewLimiter(rate.Inf, 0)}
	}
	return &EditBudget{lim: rate.NewLimiter(rate.Limit(perSecond), max(1, burst))}
}

// Wait blocks until one edit may be sent or ctx ends.
func (b *EditBudget) Wait(ctx context.Context) error {
	if b == nil || b.lim == nil {
		return ctx.Err()
	}
	return b.lim.Wait(ctx)
}
