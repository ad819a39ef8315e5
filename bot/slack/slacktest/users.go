package slacktest

import (
	"net/url"
	"slices"
	"strings"
)

// SetUserEmail gives user (U…) an email that users.lookupByEmail finds.
func (s *Server) SetUserEmail(email, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails[strings.ToLower(email)] = user
}

// lookupByEmail is users.lookupByEmail: it needs users:read.email, an
// email argument, and answers users_not_found for an unknown address.
// https://docs.slack.dev/reference/methods/users.lookupByEmail
func (s *Server) lookupByEmail(f url.Values) (any, *apiError) {
	if !slices.Contains(s.scopes, "users:read.email") {
		return nil, &apiError{code: "missing_scope"}
	}
	email := f.Get("email")
	if email == "" {
		return nil, &apiError{code: "invalid_arguments"}
	}
	id, ok := s.emails[strings.ToLower(email)]
	if !ok {
		return nil, &apiError{code: "users_not_found"}
	}
	return map[string]any{"user": map[string]any{"id": id, "team_id": TeamID, "name": strings.Split(email, "@")[0],
		"profile": map[string]any{"email": email}}}, nil
}
