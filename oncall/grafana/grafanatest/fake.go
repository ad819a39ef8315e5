// Package grafanatest is a fake of Grafana OnCall's public API export of a
// schedule's final shifts, built from its reference: the API key in the
// Authorization header (no scheme), or a service account token with the
// stack named in X-Grafana-URL, start_date and end_date required as
// ISO dates with end ≥ start and at most 365 days apart, pages of
// {count, next, previous, results, page_size, current_page_number,
// total_pages} linked by "next", and 429 with Retry-After when told to
// rate limit.
// https://grafana.com/docs/oncall/latest/oncall-api-reference/schedules/
// https://grafana.com/docs/oncall/latest/oncall-api-reference/
// https://grafana.com/docs/grafana-cloud/alerting-and-irm/irm/reference/oncall-api/
package grafanatest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shift is one final shift the fake holds.
type Shift struct {
	ScheduleID string
	UserPK     string
	Email      string
	Username   string
	Start, End time.Time
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	Token    string
	PageSize int
	// ServiceAccountToken is accepted only with X-Grafana-URL: StackURL.
	ServiceAccountToken, StackURL string

	mu       sync.Mutex
	shifts   []Shift
	limited  int
	requests int
}

// RetryAfter is the Retry-After the fake sends with a 429.
const RetryAfter = 3 * time.Second

// New starts a fake that accepts token, with pages of 50.
func New(token string) *Server {
	s := &Server{Token: token, PageSize: 50}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add adds shifts.
func (s *Server) Add(sh ...Shift) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shifts = append(s.shifts, sh...)
}

// RateLimit answers the next n requests 429.
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

func detail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	switch auth := r.Header.Get("Authorization"); {
	case auth == s.Token && auth != "":
	case auth == s.ServiceAccountToken && auth != "":
		if r.Header.Get("X-Grafana-URL") != s.StackURL {
			detail(w, http.StatusUnauthorized, "A service account token needs X-Grafana-URL naming its stack.")
			return
		}
	default:
		detail(w, http.StatusUnauthorized, "Invalid token.")
		return
	}
	if s.limited > 0 {
		s.limited--
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
		detail(w, http.StatusTooManyRequests, "Request was throttled.")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/schedules/")
	id, ok2 := strings.CutSuffix(rest, "/final_shifts")
	if !ok || !ok2 || r.Method != http.MethodGet {
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	q := r.URL.Query()
	start, err1 := time.Parse(time.DateOnly, q.Get("start_date"))
	end, err2 := time.Parse(time.DateOnly, q.Get("end_date"))
	if err1 != nil || err2 != nil {
		detail(w, http.StatusBadRequest, "start_date and end_date are required ISO 8601 dates")
		return
	}
	if end.Before(start) || end.Sub(start) > 365*24*time.Hour {
		detail(w, http.StatusBadRequest, "end_date must be on or after start_date and at most 365 days later")
		return
	}
	pageNo := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			detail(w, http.StatusNotFound, "Invalid page.")
			return
		}
		pageNo = n
	}
	var match []map[string]any
	known := false
	for _, sh := range s.shifts {
		if sh.ScheduleID != id {
			continue
		}
		known = true
		if !sh.Start.Before(end.AddDate(0, 0, 1)) || !sh.End.After(start) {
			continue
		}
		match = append(match, map[string]any{"user_pk": sh.UserPK, "user_email": sh.Email, "user_username": sh.Username,
			"shift_start": sh.Start.UTC().Format(time.RFC3339), "shift_end": sh.End.UTC().Format(time.RFC3339)})
	}
	if !known {
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	total := (len(match) + s.PageSize - 1) / s.PageSize
	if pageNo > max(total, 1) {
		detail(w, http.StatusNotFound, "Invalid page.")
		return
	}
	lo := (pageNo - 1) * s.PageSize
	results := match[lo:min(lo+s.PageSize, len(match))]
	link := func(n int) any {
		if n < 1 || n > total {
			return nil
		}
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(n))
		u.RawQuery = qq.Encode()
		return fmt.Sprintf("http://%s%s", r.Host, u.RequestURI())
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"count": len(match), "next": link(pageNo + 1), "previous": link(pageNo - 1),
		"results": results, "current_page_number": pageNo, "page_size": s.PageSize, "total_pages": total})
}
