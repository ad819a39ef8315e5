package access

import "testing"

// TestWebIdentities: oidc: and api: members are valid and get their roles.
func TestWebIdentities(t *testing.T) {
	p, err := New(map[string][]string{"sre": {"oidc:alice@example.com", "api:deploy-bot"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"oidc:alice@example.com", "api:deploy-bot"} {
		if !p.HasRole(Subject{ID: id}, "sre") {
			t.Errorf("%s lacks its role", id)
		}
	}
	if err := ValidMember("web:alice"); err == nil {
		t.Error("an unknown prefix is accepted")
	}
}
