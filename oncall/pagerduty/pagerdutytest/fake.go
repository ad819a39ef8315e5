// Package pagerdutytest is a fake of PagerDuty's REST API GET /oncalls,
// built from its reference: token auth (Authorization: Token token=…),
// the v2 Accept header, offset pagination with limit ≤ 100 and "more",
// include[]=users, schedule_ids[] and since/until filters, and 429 with
// Retry-After when told to rate limit.
// https://developer.pagerduty.com/api-reference/3a6b910f11050-list-all-of-the-on-calls
// https://developer.pagerduty.com/docs/pagination
// https://developer.pagerduty.com/docs/rest-api-rate-limits
package pagerdutytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// OnCall is one on-call entry the fake holds.
type OnCall struct {
	ScheduleID string
	Level      int
	UserID     string
	Name       string
	Email      string
	Start, End time.Time
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	Token string

	mu        sync.Mutex
	oncalls   []OnCall
	limited   int // how many next requests get 429
	requests  int
	lastQuery string
}

// New starts a fake that accepts token.
func New(token string) *Server {
	s := &Server{Token: token}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add adds on-call entries.
func (s *Server) Add(oc ...OnCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oncalls = append(s.oncalls, oc...)
}

// RateLimit answers the next n requests 429 with Retry-After: 2.
func (s *Server) RateLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited = n
}

// Requests is how many requests reached the fake.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RetryAfter is the Retry-After the fake sends with a 429.
const RetryAfter = 2 * time.Second

func apiError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "code": code}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.URL.Path != "/oncalls" || r.Method != http.MethodGet {
		apiError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	if r.Header.Get("Authorization") != "Token token="+s.Token {
		apiError(w, http.StatusUnauthorized, 2006, "Unauthorized")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.pagerduty+json;version=2" {
		apiError(w, http.StatusNotAcceptable, 2001, "Invalid Accept header")
		return
	}
	if s.limited > 0 {
		s.limited--
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
		apiError(w, http.StatusTooManyRequests, 2020, "Rate Limit Exceeded")
		return
	}
	q := r.URL.Query()
	s.lastQuery = r.URL.RawQuery
	limit, offset := 25, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			apiError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: limit must be 1 to 100")
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			apiError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: offset")
			return
		}
		offset = n
	}
	since, until := time.Now(), time.Now()
	for k, t := range map[string]*time.Time{"since": &since, "until": &until} {
		if v := q.Get(k); v != "" {
			p, err := time.Parse(time.RFC3339, v)
			if err != nil {
				apiError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: "+k)
				return
			}
			*t = p
		}
	}
	if until.Before(since) || until.Sub(since) > 90*24*time.Hour {
		apiError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: until must be after since, within 3 months")
		return
	}
	schedules := map[string]bool{}
	for _, id := range q["schedule_ids[]"] {
		schedules[id] = true
	}
	users := false
	for _, inc := range q["include[]"] {
		users = users || inc == "users"
	}
	var match []map[string]any
	for _, oc := range s.oncalls {
		if len(schedules) > 0 && !schedules[oc.ScheduleID] {
			continue
		}
		if !oc.Start.Before(until) || !oc.End.After(since) {
			continue
		}
		user := map[string]any{"id": oc.UserID, "type": "user_reference", "summary": oc.Name,
			"self": "https://api.pagerduty.com/users/" + oc.UserID}
		if users {
			user = map[string]any{"id": oc.UserID, "type": "user", "summary": oc.Name, "name": oc.Name, "email": oc.Email,
				"self": "https://api.pagerduty.com/users/" + oc.UserID}
		}
		match = append(match, map[string]any{
			"user":              user,
			"schedule":          map[string]any{"id": oc.ScheduleID, "type": "schedule_reference"},
			"escalation_policy": map[string]any{"id": "PEP1", "type": "escalation_policy_reference"},
			"escalation_level":  oc.Level,
			"start":             oc.Start.UTC().Format(time.RFC3339),
			"end":               oc.End.UTC().Format(time.RFC3339),
		})
	}
	page := []map[string]any{}
	if offset < len(match) {
		page = match[offset:min(offset+limit, len(match))]
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"oncalls": page, "limit": limit, "offset": offset,
		"more": offset+limit < len(match), "total": nil})
}
