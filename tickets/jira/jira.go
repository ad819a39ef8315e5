// Package jira files incident tickets in Jira Cloud through its REST API
// v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/):
// create an issue, find it again by its marker label, comment the
// postmortem, transition it on resolve. It implements tickets.System.
package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/tickets"
)

// Limits of Jira fields, enforced here so that an issue is never refused
// for its length.
const (
	// maxSummary: the summary field holds at most 255 characters
	// (https://support.atlassian.com/jira-cloud-administration/docs/what-are-the-field-limits/).
	maxSummary = 255
	// maxText: a comment or description holds at most 32,767 characters
	// (same page); room is left for the ADF around it.
	maxText = 30000
)

// Client is one Jira Cloud site.
type Client struct {
	cfg  config.Jira
	base *url.URL
	api  *tickets.API
}

var _ tickets.System = (*Client)(nil)

// New returns a Client for cfg. client nil: http.DefaultClient; now nil:
// time.Now (for Retry-After dates).
func New(cfg config.Jira, client *http.Client, now func() time.Time) (*Client, error) {
	u, err := tickets.NewBase(cfg.URL, "tickets.jira.url")
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
	c.api = &tickets.API{System: "Jira", Base: u, HTTP: client, Now: now,
		Auth:         func(r *http.Request) { r.SetBasicAuth(cfg.Email, cfg.APIToken.Value()) },
		Detail:       errorDetail,
		Unauthorized: "Jira refused the credentials (401); check tickets.jira.email and tickets.jira.api_token.",
		Forbidden: func(d string) string {
			return fmt.Sprintf("Jira refused (403): the account may not do this in project %s. %s", cfg.Project, d)
		},
		NotFound: func(d string) string {
			return fmt.Sprintf("Jira answered 404 (%s); check tickets.jira.url and tickets.jira.project.", d)
		},
	}
	return c, nil
}

// Name implements tickets.System.
func (c *Client) Name() string { return "Jira" }

type issueRef struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

func (c *Client) ticket(r issueRef) tickets.Ticket {
	return tickets.Ticket{Key: r.Key, ID: r.ID, URL: c.base.String() + "/browse/" + url.PathEscape(r.Key)}
}

var _ tickets.Checker = (*Client)(nil)

// Check implements tickets.Checker (GET /rest/api/3/project/{key}): the
// credentials work, the project exists and has the configured issue type.
func (c *Client) Check(ctx context.Context) (string, error) {
	var p struct {
		Key        string `json:"key"`
		Name       string `json:"name"`
		IssueTypes []struct {
			Name string `json:"name"`
		} `json:"issueTypes"`
	}
	if err := c.api.Do(ctx, http.MethodGet, "/rest/api/3/project/"+url.PathEscape(c.cfg.Project), nil, &p, http.StatusOK); err != nil {
		return "", err
	}
	var types []string
	for _, t := range p.IssueTypes {
		if strings.EqualFold(t.Name, c.cfg.IssueType) {
			return fmt.Sprintf("project %s (%s), issue type %s", p.Key, p.Name, t.Name), nil
		}
		types = append(types, t.Name)
	}
	return "", tebura.Errorf(tebura.EINVALID, "Jira project %s has no issue type %q; it has %s. Set tickets.jira.issue_type to one of them.",
		p.Key, c.cfg.IssueType, strings.Join(types, ", "))
}

// Find implements tickets.System with the enhanced JQL search
// (POST /rest/api/3/search/jql): the project's issue labelled marker.
func (c *Client) Find(ctx context.Context, marker string) (tickets.Ticket, bool, error) {
	q := map[string]any{
		"jql":        fmt.Sprintf("project = %s AND labels = %s", jqlString(c.cfg.Project), jqlString(marker)),
		"fields":     []string{"summary"},
		"maxResults": 1,
	}
	var out struct {
		Issues []issueRef `json:"issues"`
	}
	if err := c.api.Do(ctx, http.MethodPost, "/rest/api/3/search/jql", q, &out, http.StatusOK); err != nil {
		return tickets.Ticket{}, false, err
	}
	if len(out.Issues) == 0 {
		return tickets.Ticket{}, false, nil
	}
	return c.ticket(out.Issues[0]), true, nil
}

// jqlString quotes s as a JQL string literal.
func jqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Create implements tickets.System (POST /rest/api/3/issue).
func (c *Client) Create(ctx context.Context, req tickets.Request) (tickets.Ticket, error) {
	labels := append(slices.Clone(c.cfg.Labels), req.Marker)
	fields := map[string]any{
		"project":     map[string]string{"key": c.cfg.Project},
		"issuetype":   map[string]string{"name": c.cfg.IssueType},
		"summary":     tickets.Clip(fmt.Sprintf("Incident %s: %s", req.Incident, oneLine(req.Title)), maxSummary),
		"labels":      labels,
		"description": description(req),
	}
	if p := c.cfg.Priorities[req.Severity]; p != "" {
		fields["priority"] = map[string]string{"name": p}
	}
	var out issueRef
	if err := c.api.Do(ctx, http.MethodPost, "/rest/api/3/issue", map[string]any{"fields": fields}, &out, http.StatusCreated); err != nil {
		return tickets.Ticket{}, err
	}
	if out.Key == "" {
		return tickets.Ticket{}, tebura.Errorf(tebura.ETRANSIENT, "Jira created an issue but did not say its key.")
	}
	return c.ticket(out), nil
}

// Comment implements tickets.System (POST /rest/api/3/issue/{key}/comment):
// the postmortem as a Markdown code block, so Jira shows it as written.
func (c *Client) Comment(ctx context.Context, t tickets.Ticket, text string) error {
	body := doc(
		paragraph(txt("Postmortem draft from Tebura:")),
		map[string]any{"type": "codeBlock", "attrs": map[string]any{"language": "markdown"},
			"content": []any{txt(tickets.Clip(text, maxText))}},
	)
	return c.api.Do(ctx, http.MethodPost, "/rest/api/3/issue/"+url.PathEscape(t.Key)+"/comment", map[string]any{"body": body}, nil, http.StatusCreated)
}

type transition struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	To   struct {
		Name string `json:"name"`
	} `json:"to"`
}

// Resolve implements tickets.System: the transition named
// resolve_transition, or the one leading to a status of that name
// (GET then POST /rest/api/3/issue/{key}/transitions). An issue already in
// that status is left alone.
func (c *Client) Resolve(ctx context.Context, t tickets.Ticket, _ tickets.Resolution) error {
	path := "/rest/api/3/issue/" + url.PathEscape(t.Key)
	var list struct {
		Transitions []transition `json:"transitions"`
	}
	if err := c.api.Do(ctx, http.MethodGet, path+"/transitions", nil, &list, http.StatusOK); err != nil {
		return err
	}
	want := c.cfg.ResolveTransition
	var names []string
	for _, tr := range list.Transitions {
		if strings.EqualFold(tr.Name, want) || strings.EqualFold(tr.To.Name, want) {
			return c.api.Do(ctx, http.MethodPost, path+"/transitions", map[string]any{"transition": map[string]string{"id": tr.ID}}, nil, http.StatusNoContent)
		}
		names = append(names, tr.Name)
	}
	var issue struct {
		Fields struct {
			Status struct {
				Name string `json:"name"`
			} `json:"status"`
		} `json:"fields"`
	}
	if err := c.api.Do(ctx, http.MethodGet, path+"?fields=status", nil, &issue, http.StatusOK); err != nil {
		return err
	}
	if strings.EqualFold(issue.Fields.Status.Name, want) {
		return nil
	}
	return tebura.Errorf(tebura.EINVALID, "Jira issue %s (status %s) has no transition %q; it offers %s. Set tickets.jira.resolve_transition to one of them.",
		t.Key, issue.Fields.Status.Name, want, strings.Join(names, ", "))
}

// errorDetail reads Jira's error answer: errorMessages and the errors of
// each field.
func errorDetail(b []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	_ = json.Unmarshal(b, &e)
	detail := strings.Join(e.ErrorMessages, "; ")
	for _, k := range slices.Sorted(maps.Keys(e.Errors)) {
		detail = strings.TrimPrefix(detail+"; "+k+": "+e.Errors[k], "; ")
	}
	return detail
}

// description is the issue's description in the Atlassian Document Format
// (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).
func description(r tickets.Request) map[string]any {
	head := fmt.Sprintf("Incident %s opened at %s", r.Incident, r.Opened.UTC().Format(time.RFC3339))
	if r.Severity != "" {
		head += ", severity " + r.Severity
	}
	blocks := []any{paragraph(txt(head + "."))}
	if r.Summary != "" {
		blocks = append(blocks, paragraph(txt(tickets.Clip(r.Summary, maxText))))
	}
	if r.Channel != "" || r.ChannelURL != "" {
		name := r.Channel
		if name == "" {
			name = r.ChannelURL
		}
		blocks = append(blocks, paragraph(txt("Channel: "), link(name, r.ChannelURL)))
	}
	if r.Bridge != "" {
		blocks = append(blocks, paragraph(txt("Call bridge: "), link(r.Bridge, r.Bridge)))
	}
	if len(r.Labels) > 0 {
		var items []any
		for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
			items = append(items, map[string]any{"type": "listItem", "content": []any{paragraph(txt(tickets.Clip(k+"="+r.Labels[k], 1000)))}})
		}
		blocks = append(blocks, paragraph(txt("Labels:")), map[string]any{"type": "bulletList", "content": items})
	}
	return doc(blocks...)
}

func doc(content ...any) map[string]any {
	return map[string]any{"version": 1, "type": "doc", "content": content}
}

func paragraph(content ...any) map[string]any {
	return map[string]any{"type": "paragraph", "content": content}
}

func txt(s string) map[string]any {
	if s == "" {
		s = " " // ADF refuses empty text nodes
	}
	return map[string]any{"type": "text", "text": s}
}

// link is text linking to href; plain text when href is not http(s).
func link(text, href string) map[string]any {
	t := txt(text)
	if u, err := url.Parse(href); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		t["marks"] = []any{map[string]any{"type": "link", "attrs": map[string]string{"href": href}}}
	}
	return t
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
