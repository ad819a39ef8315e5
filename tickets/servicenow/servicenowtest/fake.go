// Package servicenowtest is a fake ServiceNow Table API (table incident)
// for tests, served by httptest. It follows the published reference
// (https://www.servicenow.com/docs/bundle/yokohama-api-reference/page/integrate/inbound-rest/concept/c_TableAPI.html)
// where the client depends on it: basic auth or an OAuth bearer token,
// records wrapped in {"result": ...}, sysparm_query with field=value terms
// joined by ^, pages by sysparm_limit and sysparm_offset with X-Total-Count,
// work_notes as a journal (each update appends), and the base system's
// data policy: state 6 (Resolved) needs close_code and close_notes.
// Outages (503) and rate limits (429 with Retry-After) are scripted against
// the fake's clock, and a client that comes back before its Retry-After is
// counted.
package servicenowtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Record is an incident record the fake holds: its fields as strings, and
// its work notes, one entry per update.
type Record struct {
	Fields    map[string]string
	WorkNotes []string
}

// Fake is a fake ServiceNow instance. Set its fields before serving.
type Fake struct {
	Username, Password string
	// Token, when set, is also accepted as "Authorization: Bearer".
	Token      string
	CloseCodes []string
	Now        func() time.Time

	mu         sync.Mutex
	records    []*Record
	downUntil  time.Time
	throttle   int
	retryAfter time.Duration
	notBefore  time.Time
	early      int
	loseCreate int
	requests   []string
}

// New returns a fake with user tebura/secret, bearer token "sn-token" and
// the close codes of recent releases.
func New(now func() time.Time) *Fake {
	return &Fake{Username: "tebura", Password: "secret", Token: "sn-token", Now: now,
		CloseCodes: []string{"Duplicate", "Known error", "No resolution provided", "Resolved by caller", "Resolved by change",
			"Resolved by problem", "Resolved by request", "Solution provided", "Workaround provided", "User error"}}
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

// LoseCreates makes the next n record creations happen without the client
// hearing it: the record is stored and the connection dropped.
func (f *Fake) LoseCreates(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseCreate = n
}

// Records returns copies of the records.
func (f *Fake) Records() []Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Record
	for _, r := range f.records {
		out = append(out, Record{Fields: maps.Clone(r.Fields), WorkNotes: slices.Clone(r.WorkNotes)})
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

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func refuse(w http.ResponseWriter, status int, msg, detail string) {
	reply(w, status, map[string]any{"error": map[string]string{"message": msg, "detail": detail}, "status": "failure"})
}

const table = "/api/now/table/incident"

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
		refuse(w, http.StatusServiceUnavailable, "Service Unavailable", "")
		return
	}
	if f.throttle > 0 {
		f.throttle--
		f.notBefore = now.Add(f.retryAfter)
		w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter/time.Second)))
		refuse(w, http.StatusTooManyRequests, "Rate limit exceeded", "Too many requests for this rate limit rule")
		return
	}
	if !f.authorized(r) {
		refuse(w, http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
		return
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPatch) && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		refuse(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "Content-Type must be application/json")
		return
	}
	fields := strings.Split(r.URL.Query().Get("sysparm_fields"), ",")
	switch {
	case r.URL.Path == table && r.Method == http.MethodGet:
		f.list(w, r, fields)
	case r.URL.Path == table && r.Method == http.MethodPost:
		f.create(w, r, fields)
	case strings.HasPrefix(r.URL.Path, table+"/") && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		f.update(w, r, strings.TrimPrefix(r.URL.Path, table+"/"), fields)
	default:
		refuse(w, http.StatusBadRequest, "Requested URI does not represent any resource", r.URL.Path)
	}
}

func (f *Fake) authorized(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return f.Token != "" && tok == f.Token
	}
	u, p, ok := r.BasicAuth()
	return ok && u == f.Username && p == f.Password
}

// view is rec's fields named by sysparm_fields (all when empty).
func view(rec *Record, fields []string) map[string]string {
	if len(fields) == 0 || fields[0] == "" {
		out := maps.Clone(rec.Fields)
		out["work_notes"] = ""
		return out
	}
	out := map[string]string{}
	for _, k := range fields {
		out[k] = rec.Fields[k]
	}
	return out
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request, fields []string) {
	q := r.URL.Query()
	var terms [][2]string
	if s := q.Get("sysparm_query"); s != "" {
		for _, t := range strings.Split(s, "^") {
			k, v, ok := strings.Cut(t, "=")
			if !ok {
				refuse(w, http.StatusBadRequest, "Invalid query", "the fake understands field=value terms joined by ^, not "+t)
				return
			}
			terms = append(terms, [2]string{k, v})
		}
	}
	limit, offset := 10000, 0
	if s := q.Get("sysparm_limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			refuse(w, http.StatusBadRequest, "Invalid sysparm_limit", s)
			return
		}
		limit = n
	}
	if s := q.Get("sysparm_offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			refuse(w, http.StatusBadRequest, "Invalid sysparm_offset", s)
			return
		}
		offset = n
	}
	var hits []map[string]string
next:
	for _, rec := range f.records {
		for _, t := range terms {
			if rec.Fields[t[0]] != t[1] {
				continue next
			}
		}
		hits = append(hits, view(rec, fields))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(hits)))
	page := hits[min(offset, len(hits)):min(offset+limit, len(hits))]
	if page == nil {
		page = []map[string]string{}
	}
	reply(w, http.StatusOK, map[string]any{"result": page})
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request, fields []string) {
	var in map[string]string
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		refuse(w, http.StatusBadRequest, "Exception while reading request", "The payload is not valid JSON.")
		return
	}
	if strings.TrimSpace(in["short_description"]) == "" {
		refuse(w, http.StatusForbidden, "Operation Failed", "Data Policy Exception: the following fields are mandatory: Short description")
		return
	}
	if len([]rune(in["short_description"])) > 160 {
		// ServiceNow truncates silently; the fake refuses, so that the
		// client is shown to clip.
		refuse(w, http.StatusBadRequest, "Field too long", "short_description is limited to 160 characters")
		return
	}
	n := len(f.records) + 1
	sum := sha1.Sum([]byte(strconv.Itoa(n)))
	rec := &Record{Fields: map[string]string{"sys_id": hex.EncodeToString(sum[:16]), "number": fmt.Sprintf("INC%07d", 10000+n),
		"state": "1", "impact": "3", "urgency": "3"}}
	if err := f.apply(rec, in); err != "" {
		refuse(w, http.StatusBadRequest, "Invalid field value", err)
		return
	}
	f.records = append(f.records, rec)
	if f.loseCreate > 0 {
		f.loseCreate--
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Location", "https://"+r.Host+table+"/"+rec.Fields["sys_id"])
	reply(w, http.StatusCreated, map[string]any{"result": view(rec, fields)})
}

func (f *Fake) update(w http.ResponseWriter, r *http.Request, id string, fields []string) {
	var rec *Record
	for _, x := range f.records {
		if x.Fields["sys_id"] == id {
			rec = x
		}
	}
	if rec == nil {
		refuse(w, http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
		return
	}
	var in map[string]string
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		refuse(w, http.StatusBadRequest, "Exception while reading request", "The payload is not valid JSON.")
		return
	}
	next := &Record{Fields: maps.Clone(rec.Fields), WorkNotes: slices.Clone(rec.WorkNotes)}
	if err := f.apply(next, in); err != "" {
		refuse(w, http.StatusBadRequest, "Invalid field value", err)
		return
	}
	if next.Fields["state"] == "6" && (next.Fields["close_code"] == "" || next.Fields["close_notes"] == "") {
		refuse(w, http.StatusForbidden, "Operation Failed", "Data Policy Exception: the following fields are mandatory: Resolution code, Resolution notes")
		return
	}
	*rec = *next
	reply(w, http.StatusOK, map[string]any{"result": view(rec, fields)})
}

// apply sets in on rec: work_notes appends to the journal; impact, urgency
// and close_code must be known choices.
func (f *Fake) apply(rec *Record, in map[string]string) string {
	for k, v := range in {
		switch k {
		case "work_notes":
			if v != "" {
				rec.WorkNotes = append(rec.WorkNotes, v)
			}
			continue
		case "impact", "urgency":
			if v != "1" && v != "2" && v != "3" {
				return k + " must be 1, 2 or 3"
			}
		case "close_code":
			if !slices.Contains(f.CloseCodes, v) {
				return "close_code " + v + " is not a choice"
			}
		case "sys_id", "number":
			return k + " is read-only"
		}
		rec.Fields[k] = v
	}
	return ""
}
