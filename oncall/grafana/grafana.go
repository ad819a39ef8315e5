// Package grafana reads a Grafana OnCall schedule's final shifts with its
// public HTTP API: GET /api/v1/schedules/{id}/final_shifts, authorized by
// the token in the Authorization header (with X-Grafana-URL naming the
// stack for a Grafana Cloud service account token; an OnCall API key needs
// none), paginated by the "next" link. The same API serves Grafana Cloud
// IRM and the archived OnCall OSS.
// https://grafana.com/docs/oncall/latest/oncall-api-reference/schedules/
// https://grafana.com/docs/grafana-cloud/alerting-and-irm/irm/reference/oncall-api/
package grafana

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/oncall"
)

// maxPages bounds one read.
const maxPages = 50

// Schedule is one Grafana OnCall schedule.
type Schedule struct {
	base   string
	token  string
	stack  string
	id     string
	client *http.Client
}

var _ oncall.Schedule = (*Schedule)(nil)

// New builds a schedule reader; hc carries the retry on 429 (nil: a
// default client with oncall.RetryTransport).
func New(c config.OnCallGrafana, hc *http.Client) *Schedule {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second, Transport: &oncall.RetryTransport{}}
	}
	return &Schedule{base: strings.TrimSuffix(c.APIURL, "/"), token: c.Token.Value(), stack: c.StackURL, id: c.ScheduleID, client: hc}
}

type finalShift struct {
	UserPK     string    `json:"user_pk"`
	UserEmail  string    `json:"user_email"`
	UserName   string    `json:"user_username"`
	ShiftStart time.Time `json:"shift_start"`
	ShiftEnd   time.Time `json:"shift_end"`
}

type page struct {
	Next    *string      `json:"next"`
	Results []finalShift `json:"results"`
}

// Shifts implements oncall.Schedule. The export takes whole dates
// (start_date ≤ end_date, at most 365 days apart), so the range is
// widened to days and the shifts outside it dropped.
func (s *Schedule) Shifts(ctx context.Context, from, to time.Time) ([]oncall.Shift, error) {
	q := url.Values{}
	q.Set("start_date", from.UTC().AddDate(0, 0, -1).Format(time.DateOnly))
	q.Set("end_date", to.UTC().Format(time.DateOnly))
	next := s.base + "/api/v1/schedules/" + url.PathEscape(s.id) + "/final_shifts?" + q.Encode()
	var out []oncall.Shift
	for range maxPages {
		pg, err := s.get(ctx, next)
		if err != nil {
			return nil, err
		}
		for _, f := range pg.Results {
			if !f.ShiftStart.Before(to) || !f.ShiftEnd.After(from) {
				continue
			}
			out = append(out, oncall.Shift{People: []oncall.Person{{Name: f.UserName, Email: f.UserEmail}}, Start: f.ShiftStart, End: f.ShiftEnd})
		}
		if pg.Next == nil || *pg.Next == "" {
			return out, nil
		}
		next = *pg.Next
	}
	return out, nil
}

func (s *Schedule) get(ctx context.Context, u string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "The Grafana OnCall API URL is not valid; check api_url.")
	}
	req.Header.Set("Authorization", s.token)
	if s.stack != "" {
		req.Header.Set("X-Grafana-URL", s.stack)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, tebura.Wrap(tebura.ETRANSIENT, err, "Grafana OnCall could not be reached; try again in a minute.")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, tebura.Wrap(tebura.ETRANSIENT, err, "Grafana OnCall's answer was cut off; try again in a minute.")
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, tebura.Errorf(tebura.EUNAUTHENTICATED, "Grafana OnCall refused the API token (HTTP %d); check oncall.schedules.<name>.grafana_oncall.token.", resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound:
		return nil, tebura.Errorf(tebura.ENOTFOUND, "Grafana OnCall has no schedule %s; check schedule_id.", s.id)
	case resp.StatusCode != http.StatusOK:
		return nil, tebura.Errorf(tebura.ETRANSIENT, "Grafana OnCall answered HTTP %d; try again in a minute.", resp.StatusCode)
	}
	var pg page
	if err := json.Unmarshal(body, &pg); err != nil {
		return nil, tebura.Wrap(tebura.ETRANSIENT, fmt.Errorf("decode final shifts: %w", err), "Grafana OnCall answered something that is not a list of shifts.")
	}
	return &pg, nil
}
