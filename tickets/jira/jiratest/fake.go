// Package jiratest is a fake Jira Cloud REST API v3 for tests, served by
// httptest. It follows the published reference
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/) where the
// client depends on it, and refuses what Jira refuses: requests without
// basic auth, a project or issue type or priority that does not exist,
// summaries over 255 characters or with line breaks, labels with spaces,
// descriptions and comments that are not Atlassian Document Format, JQL it
// cannot bound, transitions not offered from the issue's status, and the
// removed /rest/api/3/search. Search results come in pages (maxResults,
// nextPageToken, isLast). Outages (503) and rate limits (429 with
// Retry-After) are scripted against the fake's clock, and a client that
// comes back before its Retry-After is counted.
package jiratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Issue is an issue the fake holds.
type Issue struct {
	ID, Key, Summary, IssueType, Priority, Status string
	Labels                                        []string
	Description                                   map[string]any
	Comments                                      []map[string]any
}

// Transition is one transition of the fake's workflow.
type Transition struct {
	ID, Name, From, To string
}

// Fake is a fake Jira site. Set its fields before serving.
type Fake struct {
	Email, Token string
	Project      string
	IssueTypes   []string
	Priorities   []string
	// Workflow lists the transitions; issues start in status "To Do".
	Workflow []Transition
	// Now is the fake's clock (outages, Retry-After).
	Now func() time.Time

	mu         sync.Mutex
	issues     []*Issue
	downUntil  time.Time
	throttle   int
	retryAfter time.Duration
	notBefore  time.Time
	early      int
	loseCreate int
	requests   []string
}

// New returns a fake for project OPS with the usual issue types,
// priorities and a To Do → In Progress → Done workflow.
func New(now func() time.Time) *Fake {
	return &Fake{Email: "bot@example.com", Token: "jira-token", Project: "OPS", Now: now,
		IssueTypes: []string{"Task", "Bug", "Incident"},
		Priorities: []string{"Highest", "High", "Medium", "Low", "Lowest"},
		Workflow: []Transition{
			{ID: "11", Name: "Start work", From: "To Do", To: "In Progress"},
			{ID: "21", Name: "Close", From: "To Do", To: "Done"},
			{ID: "31", Name: "Resolve", From: "In Progress", To: "Done"},
			{ID: "41", Name: "Reopen", From: "Done", To: "To Do"},
		}}
}

// Server serves the fake with httptest; it is closed when the test ends.
func (f *Fake) Server(t interface{ Cleanup(func()) }) *httptest.Server {
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return s
}

// DownUntil answers every request 503 until the fake's clock reaches t.
func (f *Fake) DownUntil(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downUntil = t
}

// Throttle answers the next n requests 429 with Retry-After: after.
func (f *Fake) Throttle(n int, after time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle, f.retryAfter = n, after
}

// LoseCreates makes the next n issue creations happen without the client
// hearing it: the issue is stored and the connection dropped.
func (f *Fake) LoseCreates(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseCreate = n
}

// Issues returns copies of the issues.
func (f *Fake) Issues() []Issue {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Issue
	for _, i := range f.issues {
		c := *i
		c.Labels = slices.Clone(i.Labels)
		c.Comments = slices.Clone(i.Comments)
		out = append(out, c)
	}
	return out
}

// Early is how many requests came before the Retry-After they were given.
func (f *Fake) Early() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.early
}

// Requests lists the requests served, as "METHOD /path".
func (f *Fake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

type errorBody struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func refuse(w http.ResponseWriter, status int, msg string, fields map[string]string) {
	reply(w, status, errorBody{ErrorMessages: nonNil(msg), Errors: fields})
}

func nonNil(msg string) []string {
	if msg == "" {
		return []string{}
	}
	return []string{msg}
}

var (
	issuePath = regexp.MustCompile(`^/rest/api/3/issue/([A-Z][A-Z0-9]*-[0-9]+)(/comment|/transitions)?$`)
	jqlForm   = regexp.MustCompile(`^project = "((?:[^"\\]|\\.)*)" AND labels = "((?:[^"\\]|\\.)*)"$`)
)

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	now := f.Now()
	if now.Before(f.notBefore) {
		f.early++
	}
	if now.Before(f.downUntil) {
		refuse(w, http.StatusServiceUnavailable, "Service unavailable", nil)
		return
	}
	if f.throttle > 0 {
		f.throttle--
		f.notBefore = now.Add(f.retryAfter)
		w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter/time.Second)))
		refuse(w, http.StatusTooManyRequests, "Rate limit exceeded.", nil)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.Email || p != f.Token {
		w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
		refuse(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.", nil)
		return
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		reply(w, http.StatusUnsupportedMediaType, nil)
		return
	}
	switch {
	case r.URL.Path == "/rest/api/3/search":
		refuse(w, http.StatusGone, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API.", nil)
	case r.URL.Path == "/rest/api/3/search/jql" && r.Method == http.MethodPost:
		f.search(w, r)
	case r.URL.Path == "/rest/api/3/issue" && r.Method == http.MethodPost:
		f.create(w, r)
	case strings.HasPrefix(r.URL.Path, "/rest/api/3/project/") && r.Method == http.MethodGet:
		if strings.TrimPrefix(r.URL.Path, "/rest/api/3/project/") != f.Project {
			refuse(w, http.StatusNotFound, "No project could be found with key '"+strings.TrimPrefix(r.URL.Path, "/rest/api/3/project/")+"'.", nil)
			return
		}
		var types []map[string]string
		for _, t := range f.IssueTypes {
			types = append(types, map[string]string{"name": t})
		}
		reply(w, http.StatusOK, map[string]any{"id": "10000", "key": f.Project, "name": "Operations", "issueTypes": types})
	default:
		m := issuePath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			refuse(w, http.StatusNotFound, "No such endpoint in the fake.", nil)
			return
		}
		is := f.byKey(m[1])
		if is == nil {
			refuse(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.", nil)
			return
		}
		switch {
		case m[2] == "" && r.Method == http.MethodGet:
			reply(w, http.StatusOK, map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{"status": map[string]string{"name": is.Status}}})
		case m[2] == "/comment" && r.Method == http.MethodPost:
			f.comment(w, r, is)
		case m[2] == "/transitions" && r.Method == http.MethodGet:
			var out []map[string]any
			for _, t := range f.Workflow {
				if t.From == is.Status {
					out = append(out, map[string]any{"id": t.ID, "name": t.Name, "to": map[string]string{"name": t.To}})
				}
			}
			reply(w, http.StatusOK, map[string]any{"transitions": out})
		case m[2] == "/transitions" && r.Method == http.MethodPost:
			f.transition(w, r, is)
		default:
			reply(w, http.StatusMethodNotAllowed, nil)
		}
	}
}

func (f *Fake) byKey(key string) *Issue {
	for _, i := range f.issues {
		if i.Key == key {
			return i
		}
	}
	return nil
}

func (f *Fake) search(w http.ResponseWriter, r *http.Request) {
	var q struct {
		JQL           string   `json:"jql"`
		MaxResults    *int     `json:"maxResults"`
		NextPageToken string   `json:"nextPageToken"`
		Fields        []string `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		refuse(w, http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.", nil)
		return
	}
	m := jqlForm.FindStringSubmatch(q.JQL)
	if m == nil {
		refuse(w, http.StatusBadRequest, fmt.Sprintf("Error in the JQL Query: the fake understands only project = \"X\" AND labels = \"Y\", not %q.", q.JQL), nil)
		return
	}
	unq := strings.NewReplacer(`\"`, `"`, `\\`, `\`)
	project, label := unq.Replace(m[1]), unq.Replace(m[2])
	limit := 50
	if q.MaxResults != nil {
		limit = min(max(*q.MaxResults, 1), 5000)
	}
	start := 0
	if q.NextPageToken != "" {
		n, err := strconv.Atoi(q.NextPageToken)
		if err != nil {
			refuse(w, http.StatusBadRequest, "Invalid nextPageToken.", nil)
			return
		}
		start = n
	}
	var hits []map[string]any
	for _, is := range f.issues {
		if project == f.Project && slices.Contains(is.Labels, label) {
			hits = append(hits, map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{"summary": is.Summary}})
		}
	}
	page := hits[min(start, len(hits)):min(start+limit, len(hits))]
	out := map[string]any{"issues": page, "isLast": start+limit >= len(hits)}
	if start+limit < len(hits) {
		out["nextPageToken"] = strconv.Itoa(start + limit)
	}
	reply(w, http.StatusOK, out)
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Fields struct {
			Project     map[string]string `json:"project"`
			IssueType   map[string]string `json:"issuetype"`
			Summary     string            `json:"summary"`
			Labels      []string          `json:"labels"`
			Priority    map[string]string `json:"priority"`
			Description map[string]any    `json:"description"`
		} `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		refuse(w, http.StatusBadRequest, "Invalid request payload.", nil)
		return
	}
	in := body.Fields
	bad := map[string]string{}
	if in.Project["key"] != f.Project {
		bad["project"] = "valid project is required"
	}
	if !slices.Contains(f.IssueTypes, in.IssueType["name"]) {
		bad["issuetype"] = "Specify an issue type"
	}
	switch {
	case strings.TrimSpace(in.Summary) == "":
		bad["summary"] = "You must specify a summary of the issue."
	case len([]rune(in.Summary)) > 255:
		bad["summary"] = "Summary must be less than 255 characters."
	case strings.ContainsAny(in.Summary, "\r\n"):
		bad["summary"] = "Field 'summary' cannot contain newline"
	}
	for _, l := range in.Labels {
		if l == "" || strings.ContainsAny(l, " \t\r\n") || len(l) > 255 {
			bad["labels"] = fmt.Sprintf("The label '%s' contains spaces which is invalid.", l)
		}
	}
	if in.Priority != nil && !slices.Contains(f.Priorities, in.Priority["name"]) {
		bad["priority"] = "Specify a valid priority"
	}
	if in.Description != nil {
		if err := checkADF(in.Description); err != nil {
			bad["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format): " + err.Error()
		}
	}
	if len(bad) > 0 {
		refuse(w, http.StatusBadRequest, "", bad)
		return
	}
	n := len(f.issues) + 1
	is := &Issue{ID: strconv.Itoa(10000 + n), Key: fmt.Sprintf("%s-%d", f.Project, n), Summary: in.Summary, IssueType: in.IssueType["name"],
		Priority: in.Priority["name"], Status: "To Do", Labels: in.Labels, Description: in.Description}
	f.issues = append(f.issues, is)
	if f.loseCreate > 0 {
		f.loseCreate--
		panic(http.ErrAbortHandler)
	}
	reply(w, http.StatusCreated, map[string]string{"id": is.ID, "key": is.Key, "self": "https://" + r.Host + "/rest/api/3/issue/" + is.ID})
}

func (f *Fake) comment(w http.ResponseWriter, r *http.Request, is *Issue) {
	var body struct {
		Body map[string]any `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Body == nil {
		refuse(w, http.StatusBadRequest, "Comment body can not be empty!", nil)
		return
	}
	if err := checkADF(body.Body); err != nil {
		refuse(w, http.StatusBadRequest, "Comment body is not a valid Atlassian Document: "+err.Error(), nil)
		return
	}
	is.Comments = append(is.Comments, body.Body)
	reply(w, http.StatusCreated, map[string]any{"id": strconv.Itoa(len(is.Comments)), "body": body.Body})
}

func (f *Fake) transition(w http.ResponseWriter, r *http.Request, is *Issue) {
	var body struct {
		Transition struct {
			ID string `json:"id"`
		} `json:"transition"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		refuse(w, http.StatusBadRequest, "Invalid request payload.", nil)
		return
	}
	for _, t := range f.Workflow {
		if t.ID == body.Transition.ID && t.From == is.Status {
			is.Status = t.To
			reply(w, http.StatusNoContent, nil)
			return
		}
	}
	refuse(w, http.StatusBadRequest, fmt.Sprintf("Transition id '%s' is not valid for this issue.", body.Transition.ID), nil)
}

// checkADF checks the parts of the Atlassian Document Format
// (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/)
// that Jira refuses: the root is {"version": 1, "type": "doc", "content":
// [...]}, every node has a type, text nodes have non-empty text, link
// marks have an href.
func checkADF(d map[string]any) error {
	if d["type"] != "doc" || d["version"] != float64(1) {
		return fmt.Errorf("root must be type doc, version 1")
	}
	return checkNodes(d["content"])
}

func checkNodes(v any) error {
	nodes, ok := v.([]any)
	if !ok {
		return fmt.Errorf("content must be an array")
	}
	for _, n := range nodes {
		m, ok := n.(map[string]any)
		if !ok {
			return fmt.Errorf("a node must be an object")
		}
		switch m["type"] {
		case "text":
			if s, _ := m["text"].(string); s == "" {
				return fmt.Errorf("text nodes must have non-empty text")
			}
			if marks, ok := m["marks"].([]any); ok {
				for _, mk := range marks {
					mm, _ := mk.(map[string]any)
					attrs, _ := mm["attrs"].(map[string]any)
					if mm["type"] == "link" && attrs["href"] == nil {
						return fmt.Errorf("link marks need an href")
					}
				}
			}
		case "paragraph", "bulletList", "listItem", "codeBlock", "heading":
			if c, ok := m["content"]; ok {
				if err := checkNodes(c); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unknown node type %v", m["type"])
		}
	}
	return nil
}
