package slack

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/tebura/tebura"
)

// groupRetry is how long a failed group refresh is not retried.
const groupRetry = 30 * time.Second

var errGroupsUnavailable = errors.New("slack: user groups unavailable after a failed refresh")

// groupCache maps users to the Slack user groups they are in, fetched with
// usergroups.list and usergroups.users.list and kept for a TTL, so that
// roles can be granted to "slack-group:S…" without a lookup per click.
type groupCache struct {
	a   *Adapter
	ttl time.Duration

	mu      sync.Mutex // held during a refresh: one fetch at a time
	fetched time.Time
	failed  time.Time           // last failed refresh: retried only after groupRetry
	members map[string][]string // group ID → user IDs
	byUser  map[string][]string // user ID → "slack-group:S…"
}

func newGroupCache(a *Adapter, ttl time.Duration) *groupCache {
	return &groupCache{a: a, ttl: ttl}
}

// load returns fresh maps, refreshing them when the TTL has passed. On a
// failed refresh the stale maps are kept and the error returned with them.
func (g *groupCache) load(ctx context.Context) (map[string][]string, map[string][]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.a.now()
	if g.members != nil && now.Sub(g.fetched) < g.ttl {
		return g.members, g.byUser, nil
	}
	if !g.failed.IsZero() && now.Sub(g.failed) < min(g.ttl, groupRetry) {
		return g.members, g.byUser, errGroupsUnavailable
	}
	members, err := g.fetch(ctx)
	if err != nil {
		// Without usergroups:read every event would wait for a Tier 2
		// bucket; remember the failure for a while instead.
		g.failed = now
		return g.members, g.byUser, err
	}
	g.failed = time.Time{}
	byUser := map[string][]string{}
	for gid, users := range members {
		for _, u := range users {
			byUser[u] = append(byUser[u], GroupPrefix+gid)
		}
	}
	for _, gs := range byUser {
		slices.Sort(gs)
	}
	g.members, g.byUser, g.fetched = members, byUser, g.a.now()
	return members, byUser, nil
}

func (g *groupCache) fetch(ctx context.Context) (map[string][]string, error) {
	a := g.a
	var groups []slack.UserGroup
	err := a.call(ctx, "usergroups.list", "", func(ctx context.Context) error {
		var err error
		groups, err = a.api.GetUserGroupsContext(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	members := make(map[string][]string, len(groups))
	for _, ug := range groups {
		if ug.DateDelete != 0 {
			continue
		}
		var users []string
		err := a.call(ctx, "usergroups.users.list", "", func(ctx context.Context) error {
			var err error
			users, err = a.api.GetUserGroupMembersContext(ctx, ug.ID)
			return err
		})
		if err != nil {
			return nil, err
		}
		members[ug.ID] = users
	}
	return members, nil
}

// of returns the "slack-group:S…" groups a user is in.
func (g *groupCache) of(ctx context.Context, userID string) ([]string, error) {
	_, byUser, err := g.load(ctx)
	return slices.Clone(byUser[userID]), err
}

// GroupMembers expands "slack-group:S1" into member identities ("slack:U1").
// It implements bot.GroupResolver.
func (a *Adapter) GroupMembers(ctx context.Context, group string) ([]string, error) {
	id, ok := strings.CutPrefix(group, GroupPrefix)
	if !ok || id == "" {
		return nil, tebura.Errorf(tebura.EINVALID, "%q is not a Slack user group; write it as slack-group:S0123.", group)
	}
	members, _, err := a.groups.load(ctx)
	if members == nil && err != nil {
		return nil, wrapAPI(err, "list user groups")
	}
	users, found := members[id]
	if !found {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "Slack user group %s was not found (or the bot lacks usergroups:read).", id)
	}
	out := make([]string, 0, len(users))
	for _, u := range users {
		out = append(out, Platform+":"+u)
	}
	return out, nil
}
