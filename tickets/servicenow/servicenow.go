// Package servicenow files incident tickets in ServiceNow through its Table
// API on the incident table
// (https://www.servicenow.com/docs/bundle/yokohama-api-reference/page/integrate/inbound-rest/concept/c_TableAPI.html):
// create a record carrying the incident's marker in correlation_id, find
// it again by that marker, add the postmortem to its work notes, resolve it
// with close_code and close_notes. It implements tickets.System.
package servicenow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/tickets"
)

const (
	// tablePath is the incident table's Table API path.
	tablePath = "/api/now/table/incident"
	// maxShort: the incident's short_description is a 160-character
	// string field in the base system.
	maxShort = 160
	// StateResolved is the incident state "Resolved" of the base system.
	StateResolved = "6"
)

// Client is one ServiceNow instance.
type Client struct {
	cfg  config.ServiceNow
	base *url.URL
	api  *tickets.API
}

var _ tickets.System = (*Client)(nil)

// New returns a Client for cfg. client nil: http.DefaultClient; now nil:
// time.Now (for Retry-After dates).
func New(cfg config.ServiceNow, client *http.Client, now func() time.Time) (*Client, error) {
	u, err := tickets.NewBase(cfg.URL, "tickets.servicenow.url")
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	c := &Client{cfg: cfg, base: u}
	c.api = &tickets.API{System: "ServiceNow", Base: u, HTTP: client, Now: now,
		Auth: func(r *http.Request) {
			if cfg.Token != "" {
				r.Header.Set("Authorization", "Bearer "+cfg.Token.Value())
			} else {
				r.SetBasicAuth(cfg.Username, cfg.Password.Value())
			}
		},
		Detail:       errorDetail,
		Unauthorized: "ServiceNow refused the credentials (401); check tickets.servicenow.username and password, or token.",
		Forbidden:    func(d string) string { return "ServiceNow refused (403): " + d },
		NotFound: func(d string) string {
			return fmt.Sprintf("ServiceNow answered 404 (%s); check tickets.servicenow.url.", d)
		},
	}
	return c, nil
}

// Name implements tickets.System.
func (c *Client) Name() string { return "ServiceNow" }

type record struct {
	SysID  string `json:"sys_id"`
	Number string `json:"number"`
}

func (c *Client) ticket(r record) tickets.Ticket {
	return tickets.Ticket{Key: r.Number, ID: r.SysID,
		URL: c.base.String() + "/nav_to.do?uri=" + url.QueryEscape("incident.do?sys_id="+r.SysID)}
}

var _ tickets.Checker = (*Client)(nil)

// Check implements tickets.Checker: the credentials may read the incident
// table (one record's sys_id).
func (c *Client) Check(ctx context.Context) (string, error) {
	var out struct {
		Result []record `json:"result"`
	}
	if err := c.api.Do(ctx, http.MethodGet, tablePath+"?sysparm_limit=1&sysparm_fields=sys_id", nil, &out, http.StatusOK); err != nil {
		return "", err
	}
	return "table incident readable", nil
}

// Find implements tickets.System: the incident whose correlation_id is
// marker.
func (c *Client) Find(ctx context.Context, marker string) (tickets.Ticket, bool, error) {
	q := url.Values{
		"sysparm_query":  {"correlation_id=" + marker},
		"sysparm_fields": {"sys_id,number"},
		"sysparm_limit":  {"1"},
	}
	var out struct {
		Result []record `json:"result"`
	}
	if err := c.api.Do(ctx, http.MethodGet, tablePath+"?"+q.Encode(), nil, &out, http.StatusOK); err != nil {
		return tickets.Ticket{}, false, err
	}
	if len(out.Result) == 0 {
		return tickets.Ticket{}, false, nil
	}
	return c.ticket(out.Result[0]), true, nil
}

// Create implements tickets.System (POST on the incident table).
func (c *Client) Create(ctx context.Context, req tickets.Request) (tickets.Ticket, error) {
	rec := map[string]string{
		"short_description":   tickets.Clip(fmt.Sprintf("Incident %s: %s", req.Incident, strings.Join(strings.Fields(req.Title), " ")), maxShort),
		"description":         description(req),
		"correlation_id":      req.Marker,
		"correlation_display": "Tebura",
	}
	if l := c.cfg.Levels[req.Severity]; l > 0 {
		rec["impact"], rec["urgency"] = strconv.Itoa(l), strconv.Itoa(l)
	}
	if c.cfg.AssignmentGroup != "" {
		rec["assignment_group"] = c.cfg.AssignmentGroup
	}
	var out struct {
		Result record `json:"result"`
	}
	if err := c.api.Do(ctx, http.MethodPost, tablePath+"?sysparm_fields=sys_id,number", rec, &out, http.StatusCreated); err != nil {
		return tickets.Ticket{}, err
	}
	if out.Result.SysID == "" {
		return tickets.Ticket{}, tebura.Errorf(tebura.ETRANSIENT, "ServiceNow created a record but did not say its sys_id.")
	}
	return c.ticket(out.Result), nil
}

// Comment implements tickets.System: text is added to the work notes.
func (c *Client) Comment(ctx context.Context, t tickets.Ticket, text string) error {
	return c.patch(ctx, t, map[string]string{"work_notes": "Postmortem draft from Tebura:\n\n" + text})
}

// Resolve implements tickets.System: state Resolved with close_code and
// close_notes (both mandatory for that state in the base system).
func (c *Client) Resolve(ctx context.Context, t tickets.Ticket, r tickets.Resolution) error {
	return c.patch(ctx, t, map[string]string{"state": StateResolved, "close_code": c.cfg.CloseCode, "close_notes": r.Notes})
}

func (c *Client) patch(ctx context.Context, t tickets.Ticket, fields map[string]string) error {
	return c.api.Do(ctx, http.MethodPatch, tablePath+"/"+url.PathEscape(t.ID)+"?sysparm_fields=sys_id", fields, nil, http.StatusOK)
}

// errorDetail reads ServiceNow's error answer: its message and detail.
func errorDetail(b []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Detail  string `json:"detail"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return strings.TrimSuffix(e.Error.Message+": "+e.Error.Detail, ": ")
}

// description is the record's description, plain text.
func description(r tickets.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s opened at %s", r.Incident, r.Opened.UTC().Format(time.RFC3339))
	if r.Severity != "" {
		b.WriteString(", severity " + r.Severity)
	}
	b.WriteString(".\n")
	if r.Summary != "" {
		b.WriteString(r.Summary + "\n")
	}
	if r.Channel != "" || r.ChannelURL != "" {
		b.WriteString("Channel: " + strings.TrimSpace(r.Channel+" "+r.ChannelURL) + "\n")
	}
	if r.Bridge != "" {
		b.WriteString("Call bridge: " + r.Bridge + "\n")
	}
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		b.WriteString(k + "=" + r.Labels[k] + "\n")
	}
	return b.String()
}
