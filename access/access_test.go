package access

import (
	"slices"
	"strings"
	"testing"
)

// rules is a hand-written Rules for tests.
type rules struct{ allow, approvers []string }

func (r rules) AllowedRoles() []string  { return r.allow }
func (r rules) ApproverRoles() []string { return r.approvers }

func testPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := New(map[string][]string{
		"sre":     {"slack:USRE", "slack-group:SSRE", "discord-role:777"},
		"dev":     {"console:alice", "discord:1234"},
		"ops":     {"automation:disk-full"},
		"oncall":  {"slack-group:SONCALL"},
		"leaders": {"slack:UBOSS"},
		"empty":   nil,
	}, []string{"leaders", "console:root", "slack-group:SADMIN"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestNewProblems(t *testing.T) {
	tests := []struct {
		name   string
		roles  map[string][]string
		admins []string
		want   []string // substrings, all must appear
	}{
		{name: "valid", roles: map[string][]string{"sre": {"slack:U1", "slack-group:S1", "discord:1", "discord-role:2", "console:a", "automation:r"}}, admins: []string{"sre", "slack:U9"}},
		{name: "no prefix", roles: map[string][]string{"sre": {"U123"}}, want: []string{`"U123" has no platform prefix`}},
		{name: "unknown prefix", roles: map[string][]string{"sre": {"teams:U1"}}, want: []string{`unknown prefix "teams"`}},
		{name: "empty id", roles: map[string][]string{"sre": {"slack:"}}, want: []string{`needs an ID`}},
		{name: "space in id", roles: map[string][]string{"sre": {"slack:U 1"}}, want: []string{`needs an ID`}},
		{name: "bad role name", roles: map[string][]string{"a:b": {"slack:U1"}}, want: []string{`role name "a:b"`}},
		{name: "unknown admin role", roles: map[string][]string{"sre": {"slack:U1"}}, admins: []string{"sres"}, want: []string{`"sres" is neither an identity`}},
		{name: "bad admin identity", admins: []string{"irc:bob"}, want: []string{`admins: member "irc:bob"`}},
		{name: "automation admin", admins: []string{"automation:x"}, want: []string{"cannot be an admin"}},
		{
			name:   "all problems at once",
			roles:  map[string][]string{"sre": {"U1", "slack:U2"}, "dev": {"nope:1"}},
			admins: []string{"ghost", "teams:9"},
			want:   []string{`"U1"`, `"nope:1"`, `"ghost"`, `"teams:9"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.roles, tt.admins)
			if len(tt.want) == 0 {
				if err != nil || p == nil {
					t.Fatalf("New() = %v, %v; want a policy", p, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New() succeeded; want problems %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if p != nil {
				t.Errorf("New returned a policy with an error")
			}
		})
	}
}

func TestRolesAndAdmins(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		name  string
		s     Subject
		roles []string
		admin bool
	}{
		{name: "direct identity", s: Subject{ID: "console:alice"}, roles: []string{"dev"}},
		{name: "via slack group", s: Subject{ID: "slack:UX", Groups: []string{"slack-group:SSRE"}}, roles: []string{"sre"}},
		{name: "via discord role", s: Subject{ID: "discord:55", Groups: []string{"discord-role:777"}}, roles: []string{"sre"}},
		{name: "identity and group", s: Subject{ID: "discord:1234", Groups: []string{"discord-role:777"}}, roles: []string{"dev", "sre"}},
		{name: "stranger", s: Subject{ID: "slack:UNOBODY", Groups: []string{"slack-group:SOTHER"}}},
		{name: "empty subject", s: Subject{Groups: []string{"slack-group:SSRE"}}},
		{name: "group ID is not identity", s: Subject{ID: "slack:SSRE"}},
		{name: "admin by role", s: Subject{ID: "slack:UBOSS"}, roles: []string{"leaders"}, admin: true},
		{name: "admin by identity", s: Subject{ID: "console:root"}, admin: true},
		{name: "admin by group", s: Subject{ID: "slack:U7", Groups: []string{"slack-group:SADMIN"}}, admin: true},
		{name: "automation listed", s: Subject{ID: "automation:disk-full"}, roles: []string{"ops"}},
		{name: "automation unlisted", s: Subject{ID: "automation:other"}},
		{name: "automation ignores groups", s: Subject{ID: "automation:other", Groups: []string{"slack-group:SADMIN", "slack-group:SSRE"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Roles(tt.s); !slices.Equal(got, tt.roles) {
				t.Errorf("Roles() = %q, want %q", got, tt.roles)
			}
			for _, r := range []string{"sre", "dev", "ops", "oncall", "leaders", "empty"} {
				want := slices.Contains(tt.roles, r)
				if got := p.HasRole(tt.s, r); got != want {
					t.Errorf("HasRole(%s) = %v, want %v", r, got, want)
				}
			}
			if got := p.IsAdmin(tt.s); got != tt.admin {
				t.Errorf("IsAdmin() = %v, want %v", got, tt.admin)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	p := testPolicy(t)
	restart := rules{allow: []string{"dev", "sre"}, approvers: []string{"sre"}}
	autoRB := rules{allow: []string{"ops"}}
	var (
		alice   = Subject{ID: "console:alice"}
		sre     = Subject{ID: "slack:UX", Groups: []string{"slack-group:SSRE"}}
		boss    = Subject{ID: "slack:UBOSS"}
		nobody  = Subject{ID: "slack:UN"}
		auto    = Subject{ID: "automation:disk-full"}
		autoBad = Subject{ID: "automation:other"}
	)
	tests := []struct {
		name string
		s    Subject
		a    Action
		r    Rules
		want bool
	}{
		{"dev may run", alice, ActionRun, restart, true},
		{"dev may not approve", alice, ActionApprove, restart, false},
		{"dev may view", alice, ActionView, restart, true},
		{"dev may not cancel here", alice, ActionCancel, restart, false},
		{"sre may approve", sre, ActionApprove, restart, true},
		{"sre may cancel", sre, ActionCancel, restart, true},
		{"approver-only may view", sre, ActionView, rules{approvers: []string{"sre"}}, true},
		{"stranger may not run", nobody, ActionRun, restart, false},
		{"stranger may not view", nobody, ActionView, restart, false},
		{"admin may run anything", boss, ActionRun, rules{}, true},
		{"admin may approve anything", boss, ActionApprove, restart, true},
		{"admin with nil rules", boss, ActionView, nil, true},
		{"non-admin with nil rules", alice, ActionRun, nil, false},
		{"unknown action denied", alice, Action("delete"), restart, false},
		{"unknown action denied for admin", boss, Action("delete"), restart, false},
		{"empty subject denied", Subject{}, ActionView, restart, false},
		{"no roles on runbook", alice, ActionRun, rules{}, false},
		{"automation listed may run", auto, ActionRun, autoRB, true},
		{"automation may not run others", auto, ActionRun, restart, false},
		{"automation unlisted denied", autoBad, ActionRun, autoRB, false},
		{"unknown role on runbook", alice, ActionRun, rules{allow: []string{"ghosts"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Allowed(tt.s, tt.a, tt.r); got != tt.want {
				t.Errorf("Allowed(%v, %s) = %v, want %v", tt.s, tt.a, got, tt.want)
			}
		})
	}
}

func TestNilPolicyDeniesEverything(t *testing.T) {
	var p *Policy
	s := Subject{ID: "console:root"}
	if p.Allowed(s, ActionView, rules{allow: []string{"x"}}) || p.IsAdmin(s) || p.HasRole(s, "x") || p.Known("x") || p.Roles(s) != nil || p.Members("x") != nil {
		t.Fatal("a nil policy granted something")
	}
}

func TestKnownAndMembers(t *testing.T) {
	p := testPolicy(t)
	if !p.Known("empty") || !p.Known("sre") || p.Known("ghost") {
		t.Errorf("Known wrong: empty=%v sre=%v ghost=%v", p.Known("empty"), p.Known("sre"), p.Known("ghost"))
	}
	want := []string{"slack:USRE", "slack-group:SSRE", "discord-role:777"}
	got := p.Members("sre")
	if !slices.Equal(got, want) {
		t.Errorf("Members(sre) = %q, want %q", got, want)
	}
	got[0] = "mutated"
	if p.Members("sre")[0] != "slack:USRE" {
		t.Error("Members returned the policy's own slice")
	}
	if p.Members("ghost") != nil {
		t.Error("Members of an unknown role is not nil")
	}
}

func TestNewCopiesInput(t *testing.T) {
	roles := map[string][]string{"sre": {"slack:U1"}}
	p, err := New(roles, nil)
	if err != nil {
		t.Fatal(err)
	}
	roles["sre"][0] = "slack:UEVIL"
	if p.HasRole(Subject{ID: "slack:UEVIL"}, "sre") {
		t.Error("policy changed when the caller's map changed")
	}
	if !p.HasRole(Subject{ID: "slack:U1"}, "sre") || p.Members("sre")[0] != "slack:U1" {
		t.Error("policy lost its member")
	}
}

func TestWithPeople(t *testing.T) {
	base, err := New(map[string][]string{"sre": {"slack:U1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		people  map[string][]string
		wantErr string
		same    [][2]string
		differ  [][2]string
	}{
		{name: "linked", people: map[string][]string{"alice": {"slack:U1", "discord:42", "console:alice"}, "bob": {"slack:U2"}},
			same:   [][2]string{{"slack:U1", "discord:42"}, {"console:alice", "slack:U1"}},
			differ: [][2]string{{"slack:U1", "slack:U2"}, {"discord:42", "discord:43"}}},
		{name: "none", people: nil, differ: [][2]string{{"slack:U1", "discord:42"}}},
		{name: "identity of two people", people: map[string][]string{"alice": {"slack:U1"}, "bob": {"slack:U1"}}, wantErr: "slack:U1 is already alice's"},
		{name: "group", people: map[string][]string{"alice": {"slack-group:S1"}}, wantErr: "not one person's account"},
		{name: "automation", people: map[string][]string{"alice": {"automation:disk"}}, wantErr: "not one person's account"},
		{name: "no prefix", people: map[string][]string{"alice": {"U1"}}, wantErr: "no platform prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := base.WithPeople(tc.people)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.same {
				if p.Person(s[0]) != p.Person(s[1]) {
					t.Errorf("%s and %s are not one person: %q, %q", s[0], s[1], p.Person(s[0]), p.Person(s[1]))
				}
			}
			for _, d := range tc.differ {
				if p.Person(d[0]) == p.Person(d[1]) {
					t.Errorf("%s and %s are one person: %q", d[0], d[1], p.Person(d[0]))
				}
			}
			if !p.HasRole(Subject{ID: "slack:U1"}, "sre") || p.HasRole(Subject{ID: "discord:42"}, "sre") {
				t.Error("linking changed who holds a role")
			}
		})
	}
}
