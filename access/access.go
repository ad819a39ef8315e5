// Package access decides who may do what. Roles come from the config, each a
// list of members; a member is a chat identity ("console:alice",
// "slack:U123", "discord:1234") or a platform group ("slack-group:S123",
// "discord-role:5678"). Runbooks name the roles that may request and approve
// them, and Policy.Allowed answers the question with deny as the default.
//
// The package knows no platform: adapters report a person's identity and
// groups as a Subject, and the policy only compares strings.
package access

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Subject is who asks: an identity and the groups the platform reports for
// them. A Subject matches a member when its ID or one of its Groups equals it.
type Subject struct {
	ID     string   // "slack:U1", "console:alice", "automation:disk-full"
	Groups []string // "slack-group:S1", "discord-role:5"
}

// Action is what a Subject wants to do with a runbook.
type Action string

// Actions checked by Allowed.
const (
	ActionRun     Action = "run"
	ActionApprove Action = "approve"
	ActionCancel  Action = "cancel"
	ActionView    Action = "view"
)

// Rules is what a runbook tells the policy: which roles may request it and
// which may approve it. *runbooks.Runbook implements it.
type Rules interface {
	AllowedRoles() []string
	ApproverRoles() []string
}

// Identity prefixes a member may carry. Automation identities are the bot
// itself acting for an automation rule; they exist so a rule can be given a
// role explicitly, and they are never admins.
const (
	PrefixConsole     = "console"
	PrefixSlack       = "slack"
	PrefixSlackGroup  = "slack-group"
	PrefixDiscord     = "discord"
	PrefixDiscordRole = "discord-role"
	PrefixAutomation  = "automation"
	// PrefixOIDC is a person signed in to the web view through the OIDC
	// provider (web.oidc), named by its identity claim.
	PrefixOIDC = "oidc"
	// PrefixAPI is a token of /api/v1 (api.tokens), so a script's roles
	// are configured like a person's.
	PrefixAPI = "api"
)

// knownPrefix reports whether p is one of the identity prefixes above.
func knownPrefix(p string) bool {
	switch p {
	case PrefixConsole, PrefixSlack, PrefixSlackGroup, PrefixDiscord, PrefixDiscordRole, PrefixAutomation, PrefixOIDC, PrefixAPI:
		return true
	}
	return false
}

// IsAutomation reports whether id is an automation identity
// ("automation:<rule>").
func IsAutomation(id string) bool { return strings.HasPrefix(id, PrefixAutomation+":") }

// ValidMember checks the syntax of a member: a known prefix, a colon and a
// non-empty value without spaces. The error is a sentence for the config's
// author.
func ValidMember(m string) error {
	prefix, rest, ok := strings.Cut(m, ":")
	if !ok {
		return fmt.Errorf("member %q has no platform prefix; write it as slack:U123, slack-group:S123, discord:1234, discord-role:5678, console:alice, automation:rule, oidc:alice@example.com or api:deploy-bot", m)
	}
	if !knownPrefix(prefix) {
		return fmt.Errorf("member %q has an unknown prefix %q; use one of console, slack, slack-group, discord, discord-role, automation, oidc, api", m, prefix)
	}
	if rest == "" || strings.ContainsAny(rest, " \t\r\n") {
		return fmt.Errorf("member %q needs an ID without spaces after %q", m, prefix+":")
	}
	return nil
}

// Policy maps roles to members and names the admins. It is immutable after
// New and safe for concurrent use; a config reload builds a new one.
type Policy struct {
	roles       map[string][]string // role → members, config order
	adminIDs    []string            // identities or groups that are admins
	adminRoles  []string            // roles whose holders are admins
	memberRoles map[string][]string // member → roles (sorted), the reverse index
	people      map[string]string   // identity → person (access.people)
}

// New builds a policy from role definitions (role → members) and admins
// (identities, groups, or role names). It validates every member's syntax and
// every admin reference and returns all problems at once, joined.
func New(roles map[string][]string, admins []string) (*Policy, error) {
	p := &Policy{
		roles:       make(map[string][]string, len(roles)),
		memberRoles: make(map[string][]string),
	}
	var errs []error
	names := make([]string, 0, len(roles))
	for name := range roles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, ": \t\r\n") {
			errs = append(errs, fmt.Errorf("role name %q is not valid; use a plain word such as sre or dev", name))
			continue
		}
		members := roles[name]
		p.roles[name] = slices.Clone(members)
		for _, m := range members {
			if err := ValidMember(m); err != nil {
				errs = append(errs, fmt.Errorf("role %s: %w", name, err))
				continue
			}
			if !slices.Contains(p.memberRoles[m], name) {
				p.memberRoles[m] = append(p.memberRoles[m], name) // names are sorted, so this stays sorted
			}
		}
	}
	for _, a := range admins {
		switch {
		case strings.Contains(a, ":"):
			if err := ValidMember(a); err != nil {
				errs = append(errs, fmt.Errorf("admins: %w", err))
				continue
			}
			if IsAutomation(a) {
				errs = append(errs, fmt.Errorf("admins: %q is an automation identity and cannot be an admin; give the rule a role instead", a))
				continue
			}
			p.adminIDs = append(p.adminIDs, a)
		default:
			if _, ok := roles[a]; !ok {
				errs = append(errs, fmt.Errorf("admins: %q is neither an identity (like slack:U123) nor a role defined under access.roles", a))
				continue
			}
			p.adminRoles = append(p.adminRoles, a)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// keys returns the member strings s matches: its ID and its groups.
func (s Subject) keys() []string {
	if s.ID == "" {
		return nil
	}
	if IsAutomation(s.ID) {
		// An automation acts for itself only; group claims do not extend it.
		return []string{s.ID}
	}
	return append([]string{s.ID}, s.Groups...)
}

// Roles returns the roles s holds, directly or through one of its groups,
// sorted. A nil Policy grants nothing.
func (p *Policy) Roles(s Subject) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, k := range s.keys() {
		for _, r := range p.memberRoles[k] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	return out
}

// HasRole reports whether s holds role.
func (p *Policy) HasRole(s Subject, role string) bool {
	if p == nil {
		return false
	}
	for _, k := range s.keys() {
		if slices.Contains(p.memberRoles[k], role) {
			return true
		}
	}
	return false
}

// IsAdmin reports whether s is an admin: listed as an admin identity or group,
// or holding an admin role. Automation identities never are.
func (p *Policy) IsAdmin(s Subject) bool {
	if p == nil || s.ID == "" || IsAutomation(s.ID) {
		return false
	}
	for _, k := range s.keys() {
		if slices.Contains(p.adminIDs, k) {
			return true
		}
	}
	for _, r := range p.adminRoles {
		if p.HasRole(s, r) {
			return true
		}
	}
	return false
}

// Known reports whether role is defined. Runbook loading uses it to refuse
// runbooks that name a role nobody can hold.
func (p *Policy) Known(role string) bool {
	if p == nil {
		return false
	}
	_, ok := p.roles[role]
	return ok
}

// Members returns the members of role in config order (identities and
// groups), for inviting responders; nil for an unknown role.
func (p *Policy) Members(role string) []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.roles[role])
}

// Allowed reports whether s may perform a on the runbook described by r.
// Deny is the default: an empty subject, an unknown action or a nil r is
// refused (admins aside, who may do every known action). ActionRun needs a
// role in r.AllowedRoles, ActionApprove one in r.ApproverRoles, ActionView
// either. ActionCancel is finally decided by commands (the requester may
// cancel their own run); here it means approver or admin.
func (p *Policy) Allowed(s Subject, a Action, r Rules) bool {
	if p == nil || s.ID == "" {
		return false
	}
	switch a {
	case ActionRun, ActionApprove, ActionView, ActionCancel:
	default:
		return false
	}
	if p.IsAdmin(s) {
		return true
	}
	if r == nil {
		return false
	}
	run := p.holdsAny(s, r.AllowedRoles())
	approve := p.holdsAny(s, r.ApproverRoles())
	switch a {
	case ActionRun:
		return run
	case ActionApprove, ActionCancel:
		return approve
	case ActionView:
		return run || approve
	}
	return false
}

// holdsAny reports whether s holds one of roles.
func (p *Policy) holdsAny(s Subject, roles []string) bool {
	for _, r := range roles {
		if p.HasRole(s, r) {
			return true
		}
	}
	return false
}

// PrefixPerson prefixes what Person returns for a linked identity, so that
// a person never equals an identity by accident.
const PrefixPerson = "person"

// personPrefix reports whether an identity of prefix p names one account
// of a person: groups (slack-group, discord-role) are many people and an
// automation is none.
func personPrefix(p string) bool {
	return p == PrefixConsole || p == PrefixSlack || p == PrefixDiscord || p == PrefixOIDC
}

// WithPeople returns a copy of p in which the identities of each person
// (person name → identities, from access.people) are linked, so that
// Person gives the same answer for all of them: four-eyes and quorum then
// count people, not accounts. Roles are not shared by linking: each
// identity keeps the roles it is given. An identity listed for two people,
// a group or an automation identity is an error; all are returned at once.
func (p *Policy) WithPeople(people map[string][]string) (*Policy, error) {
	if p == nil {
		p = &Policy{}
	}
	c := *p
	c.people = make(map[string]string)
	var errs []error
	names := make([]string, 0, len(people))
	for name := range people {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, ": \t\r\n") {
			errs = append(errs, fmt.Errorf("person name %q is not valid; use a plain word such as alice", name))
			continue
		}
		for _, id := range people[name] {
			if err := ValidMember(id); err != nil {
				errs = append(errs, fmt.Errorf("person %s: %w", name, err))
				continue
			}
			if prefix, _, _ := strings.Cut(id, ":"); !personPrefix(prefix) {
				errs = append(errs, fmt.Errorf("person %s: %q is not one person's account; list console:, slack: or discord: identities", name, id))
				continue
			}
			if other, dup := c.people[id]; dup && other != name {
				errs = append(errs, fmt.Errorf("person %s: %s is already %s's; an identity belongs to one person", name, id, other))
				continue
			}
			c.people[id] = name
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// Person returns who identity id is: "person:<name>" when access.people
// links it, else id itself (an account nobody linked is its own person).
// Four-eyes and quorum compare these, so that one person approving with
// another account of theirs is still one person.
func (p *Policy) Person(id string) string {
	if p == nil {
		return id
	}
	if name, ok := p.people[id]; ok {
		return PrefixPerson + ":" + name
	}
	return id
}
