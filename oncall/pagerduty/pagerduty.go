// Package pagerduty reads a PagerDuty schedule's on-call shifts with the
// REST API's GET /oncalls, through go-pagerduty.
// https://developer.pagerduty.com/api-reference/3a6b910f11050-list-all-of-the-on-calls
package pagerduty

import (
	"context"
	"errors"
	"net/http"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/oncall"
)

// PageLimit is the most entries GET /oncalls returns per page.
// https://developer.pagerduty.com/docs/pagination
const PageLimit = 100

// maxPages bounds one read: 100 pages of 100 on-calls is far more than
// two weeks of any schedule.
const maxPages = 100

// Schedule is one PagerDuty schedule.
type Schedule struct {
	client *pd.Client
	id     string
}

var _ oncall.Schedule = (*Schedule)(nil)

// New builds a schedule reader; hc carries the retry on 429 (nil: a
// default client with oncall.RetryTransport).
func New(c config.OnCallPagerDuty, hc *http.Client) *Schedule {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second, Transport: &oncall.RetryTransport{}}
	}
	base := c.APIURL
	if base == "" {
		base = config.DefaultPagerDutyAPIURL
	}
	client := pd.NewClient(c.Token.Value(), pd.WithAPIEndpoint(base))
	client.HTTPClient = hc
	return &Schedule{client: client, id: c.ScheduleID}
}

// Shifts implements oncall.Schedule: every on-call entry of the schedule
// overlapping [from, to), with the users' names and emails.
func (s *Schedule) Shifts(ctx context.Context, from, to time.Time) ([]oncall.Shift, error) {
	var out []oncall.Shift
	seen := map[string]bool{}
	opt := pd.ListOnCallOptions{Limit: PageLimit, ScheduleIDs: []string{s.id}, Includes: []string{"users"},
		Since: from.UTC().Format(time.RFC3339), Until: to.UTC().Format(time.RFC3339)}
	for range maxPages {
		resp, err := s.client.ListOnCallsWithContext(ctx, opt)
		if err != nil {
			return nil, classify(err)
		}
		for _, oc := range resp.OnCalls {
			start, err1 := time.Parse(time.RFC3339, oc.Start)
			end, err2 := time.Parse(time.RFC3339, oc.End)
			if err1 != nil || err2 != nil {
				continue // a permanent on-call has no start/end: not a schedule's shift
			}
			// The same shift comes once per escalation policy and level that
			// uses the schedule.
			key := oc.User.ID + "|" + oc.Start + "|" + oc.End
			if seen[key] {
				continue
			}
			seen[key] = true
			name := oc.User.Name
			if name == "" {
				name = oc.User.Summary
			}
			out = append(out, oncall.Shift{People: []oncall.Person{{Name: name, Email: oc.User.Email}}, Start: start, End: end})
		}
		if !resp.More {
			return out, nil
		}
		opt.Offset += uint(len(resp.OnCalls))
		if len(resp.OnCalls) == 0 {
			return out, nil
		}
	}
	return out, nil
}

// classify turns the API's answer into an error kind: a wrong token is for
// the operator to fix, a rate limit or an outage passes.
func classify(err error) error {
	var ae pd.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden:
			return tebura.Wrap(tebura.EUNAUTHENTICATED, err, "PagerDuty refused the API token; check oncall.schedules.<name>.pagerduty.token.")
		case ae.NotFound():
			return tebura.Wrap(tebura.ENOTFOUND, err, "PagerDuty has no such schedule; check schedule_id.")
		case ae.Temporary():
			return tebura.Wrap(tebura.ETRANSIENT, err, "PagerDuty is rate limiting or unavailable; try again in a minute.")
		}
	}
	return tebura.Wrap(tebura.ETRANSIENT, err, "PagerDuty could not be reached; try again in a minute.")
}
