// Package slacktest is a fake Slack for tests: a real HTTP server speaking
// the Web API methods Tebura uses and Socket Mode over a loopback websocket.
//
// It enforces Slack's limits so that tests fail where Slack would: the bot
// token (invalid_auth), Block Kit sizes (invalid_blocks,
// msg_blocks_too_long), channel names (name_taken, invalid_name_*), tier
// budgets and the per-channel post rate (HTTP 429 with an integer
// Retry-After). It records every request with the time it arrived, and
// flags any request that came before the Retry-After it was given.
//
// SetNetwork plays an outage: connections that hang, connections refused,
// answers that come slowly.
//
// It is used only by tests.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Default credentials the fake accepts.
const (
	BotToken = "xoxb-test-bot"
	AppToken = "xapp-test-app"
	TeamID   = "T0TEST"
	BotUser  = "UBOT"
)

// Call is one recorded request.
type Call struct {
	Method string
	At     time.Time
	Form   url.Values
	Status int    // HTTP status answered
	Error  string // Slack error answered ("" when ok)
	// Early is true when the call arrived before the Retry-After the fake
	// had given for its key: a client bug.
	Early bool
}

// Message is a posted message as the fake stores it.
type Message struct {
	Channel   string
	TS        string
	Thread    string
	Text      string
	Blocks    json.RawMessage
	Edits     int
	Ephemeral bool
	User      string // ephemeral: who sees it
}

// Channel is a conversation.
type Channel struct {
	ID       string
	Name     string
	Private  bool
	Topic    string
	Archived bool
	IsMember bool // the bot
	Members  []string
}

// File is an uploaded file.
type File struct {
	ID      string
	Name    string
	Title   string
	Channel string
	Thread  string
	Content []byte
	Shared  bool
}

// Response is a message posted to a response_url.
type Response struct {
	Path         string
	ResponseType string
	Text         string
	Blocks       json.RawMessage
}

// Budget is a method's allowance: N calls per Window.
type Budget struct {
	N      int
	Window time.Duration
}

// Server is the fake. Create it with New; Close it when done.
type Server struct {
	// URL is the Web API base URL, ending in "/", for slack.api_url.
	URL string

	srv *httptest.Server
	mux *http.ServeMux
	// Clock drives budgets and Retry-After bookkeeping; time.Now by default.
	Clock func() time.Time

	mu         sync.Mutex
	calls      []Call
	channels   map[string]*Channel
	messages   map[string]*Message // channel+"/"+ts
	order      []string            // message keys in post order
	groups     map[string][]string // group ID → users
	files      map[string]*File
	responses  []Response
	scopes     []string
	budgets    map[string]Budget
	seen       map[string][]time.Time // key → arrival times within the window
	blocked    map[string]time.Time   // key → Retry-After deadline given
	scripted   map[string][]int       // method → Retry-After seconds of the next forced 429s
	postBurst  int
	seq        int
	emails     map[string]string // email → user ID, for users.lookupByEmail
	createGate func(name string) // test hook: called inside conversations.create
	outage     bool              // the Web API is unreachable (SetOutage)
	refused    int               // Web API requests dropped during outages

	sock socketServer
	net  network
}

// New starts a fake Slack with the default tokens and scopes.
func New() *Server {
	s := &Server{
		Clock:     time.Now,
		channels:  map[string]*Channel{},
		messages:  map[string]*Message{},
		groups:    map[string][]string{},
		emails:    map[string]string{},
		files:     map[string]*File{},
		budgets:   map[string]Budget{},
		seen:      map[string][]time.Time{},
		blocked:   map[string]time.Time{},
		scripted:  map[string][]int{},
		postBurst: 3,
		scopes:    []string{"commands", "chat:write", "channels:manage", "groups:write", "files:write", "usergroups:read", "channels:read", "groups:read", "users:read", "users:read.email"},
	}
	s.sock.init(s)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/upload/", s.serveUpload)
	mux.HandleFunc("/response/", s.serveResponse)
	mux.HandleFunc("/socket", s.sock.serve)
	s.mux = mux
	s.net.init()
	s.srv = httptest.NewUnstartedServer(s.net.wrap(mux))
	s.srv.Listener = listener{Listener: s.srv.Listener, n: &s.net}
	s.srv.Start()
	s.URL = s.srv.URL + "/api/"
	return s
}

// Client returns an HTTP client that answers every request with the fake's
// handlers in the calling goroutine, without a network (Socket Mode's
// websocket is not served). An adapter using it can run inside a
// testing/synctest bubble, whose clock jumps over Retry-After waits and
// budget windows instead of spending them; the fake's Clock (time.Now)
// then reads the bubble's time too. Create the Server outside the bubble:
// its listener is real.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: inProcess{s.mux}}
}

// inProcess is an http.RoundTripper that serves requests with a handler.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	in := r.Clone(r.Context())
	in.RequestURI, in.RemoteAddr = r.URL.RequestURI(), "192.0.2.1:4321"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, in)
	resp := w.Result()
	resp.Request = r
	return resp, nil
}

// Close stops the server and its websockets.
func (s *Server) Close() {
	s.net.close()
	s.sock.closeAll()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// AddChannel adds a channel the bot is (or is not) a member of.
func (s *Server) AddChannel(id, name string, botIsMember bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = &Channel{ID: id, Name: name, IsMember: botIsMember}
}

// TakeName makes a channel name taken, as an archived channel does.
func (s *Server) TakeName(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("CARCH%d", s.seq)
	s.channels[id] = &Channel{ID: id, Name: name, Archived: true}
}

// AddGroup adds a user group with its members.
func (s *Server) AddGroup(id string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = users
}

// SetScopes replaces the scopes auth.test reports in X-OAuth-Scopes.
func (s *Server) SetScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = scopes
}

// SetBudget limits a method (or "chat.postMessage:<channel>") to b.N calls
// per b.Window; over it the fake answers 429 with Retry-After.
func (s *Server) SetBudget(key string, b Budget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budgets[key] = b
}

// Force429 makes the next len(retryAfter) calls of method fail with 429 and
// the given Retry-After seconds, whatever the budget.
func (s *Server) Force429(method string, retryAfter ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripted[method] = append(s.scripted[method], retryAfter...)
}

// OnCreate sets a hook called (without the lock) inside every
// conversations.create, to widen race windows in tests.
func (s *Server) OnCreate(f func(name string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createGate = f
}

// Calls returns the recorded calls, optionally only those of some methods.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Early returns calls that arrived before their Retry-After.
func (s *Server) Early() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Early {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns the messages of a channel in post order (copies).
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, k := range s.order {
		if m := s.messages[k]; m.Channel == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Message returns one message.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[channel+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Channels returns all channels (copies).
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Channel
	for _, c := range s.channels {
		out = append(out, *c)
	}
	return out
}

// Channel returns one channel.
func (s *Server) Channel(id string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.channels[id]
	if !ok {
		return Channel{}, false
	}
	return *c, true
}

// Files returns uploaded files.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for i := 1; i <= s.seq; i++ {
		if f, ok := s.files[fmt.Sprintf("F%d", i)]; ok {
			out = append(out, *f)
		}
	}
	return out
}

// ResponseURL returns a fresh response_url on the fake.
func (s *Server) ResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s/response/%d", s.srv.URL, s.seq)
}

// Responses returns what was posted to response URLs.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.responses...)
}

// apiError is a Slack error answer.
type apiError struct {
	status     int
	code       string
	retryAfter int
}

// SetOutage makes the Web API (/api/) unreachable while on: each request's
// connection is closed without an answer, as when Slack cannot be
// reached, and nothing is recorded or changed; through Client (no
// connection to close) it answers 503. Uploads, response_url and Socket
// Mode are not affected.
func (s *Server) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = on
}

// Refused counts the Web API requests dropped by SetOutage so far.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.outage
	if down {
		s.refused++
	}
	s.mu.Unlock()
	if down {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	_ = r.ParseForm()
	token := r.Form.Get("token")
	if token == "" {
		token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	now := s.Clock()

	s.mu.Lock()
	call := Call{Method: method, At: now, Form: cloneValues(r.Form)}
	key := method
	if method == "chat.postMessage" {
		key = method + ":" + r.Form.Get("channel")
	}
	if until, ok := s.blocked[key]; ok && now.Before(until) {
		call.Early = true
	}
	var res any
	var aerr *apiError
	switch {
	case method == "apps.connections.open" && token != AppToken:
		aerr = &apiError{code: "invalid_auth"}
	case method != "apps.connections.open" && token != BotToken:
		aerr = &apiError{code: "invalid_auth"}
	default:
		aerr = s.rateCheck(method, key, now)
	}
	gate := s.createGate
	racy := aerr == nil && method == "conversations.create" && gate != nil
	if racy {
		// Like Slack, check the name, then create later without re-checking:
		// two concurrent creates of one name can both succeed.
		aerr = s.nameCheck(r.Form.Get("name"))
	}
	s.mu.Unlock()

	if racy && aerr == nil {
		gate(r.Form.Get("name"))
	}

	s.mu.Lock()
	if aerr == nil {
		if racy {
			res, aerr = s.insertChannel(r.Form)
		} else {
			res, aerr = s.handle(method, r.Form)
		}
	}
	if aerr != nil {
		call.Status = aerr.status
		if call.Status == 0 {
			call.Status = http.StatusOK
		}
		call.Error = aerr.code
		if aerr.status == http.StatusTooManyRequests {
			s.blocked[key] = now.Add(time.Duration(aerr.retryAfter) * time.Second)
		}
	} else {
		call.Status = http.StatusOK
	}
	s.calls = append(s.calls, call)
	scopes := strings.Join(s.scopes, ",")
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if method != "apps.connections.open" {
		w.Header().Set("X-OAuth-Scopes", scopes)
	}
	if aerr != nil {
		if aerr.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(aerr.retryAfter))
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": aerr.code})
		return
	}
	out := map[string]any{"ok": true}
	if m, ok := res.(map[string]any); ok {
		for k, v := range m {
			out[k] = v
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// rateCheck applies forced 429s, budgets and the per-channel post rate.
func (s *Server) rateCheck(method, key string, now time.Time) *apiError {
	if q := s.scripted[method]; len(q) > 0 {
		s.scripted[method] = q[1:]
		return &apiError{status: http.StatusTooManyRequests, code: "ratelimited", retryAfter: q[0]}
	}
	check := func(key string, b Budget) *apiError {
		kept := s.seen[key][:0]
		for _, t := range s.seen[key] {
			if now.Sub(t) < b.Window {
				kept = append(kept, t)
			}
		}
		s.seen[key] = kept
		if len(kept) >= b.N {
			wait := b.Window - now.Sub(kept[0])
			return &apiError{status: http.StatusTooManyRequests, code: "ratelimited", retryAfter: max(1, int(math.Ceil(wait.Seconds())))}
		}
		s.seen[key] = append(kept, now)
		return nil
	}
	if b, ok := s.budgets[method]; ok {
		if e := check(method, b); e != nil {
			return e
		}
	}
	if method == "chat.postMessage" {
		b, ok := s.budgets[key]
		if !ok {
			b = Budget{N: s.postBurst, Window: time.Second} // ~1 msg/s per channel, short bursts
		}
		if e := check("post/"+key, b); e != nil {
			return e
		}
	}
	return nil
}

func (s *Server) handle(method string, f url.Values) (any, *apiError) {
	switch method {
	case "auth.test":
		return map[string]any{"url": "https://tebura-test.slack.com/", "team": "Tebura Test", "user": "tebura", "team_id": TeamID, "user_id": BotUser, "bot_id": "BBOT"}, nil
	case "apps.connections.open":
		return map[string]any{"url": s.sock.url()}, nil
	case "chat.postMessage", "chat.postEphemeral":
		return s.post(method, f)
	case "chat.update":
		return s.update(f)
	case "conversations.create":
		return s.create(f)
	case "users.lookupByEmail":
		return s.lookupByEmail(f)
	case "conversations.invite":
		ch, e := s.memberChannel(f.Get("channel"))
		if e != nil {
			return nil, e
		}
		for _, u := range strings.Split(f.Get("users"), ",") {
			if u == "" {
				return nil, &apiError{code: "no_user"}
			}
			if u == BotUser {
				return nil, &apiError{code: "cant_invite_self"}
			}
			if !contains(ch.Members, u) {
				ch.Members = append(ch.Members, u)
			}
		}
		return map[string]any{"channel": channelJSON(ch)}, nil
	case "conversations.setTopic":
		ch, e := s.memberChannel(f.Get("channel"))
		if e != nil {
			return nil, e
		}
		ch.Topic = f.Get("topic")
		return map[string]any{"channel": channelJSON(ch)}, nil
	case "conversations.archive":
		if ch, ok := s.channels[f.Get("channel")]; ok && ch.Archived {
			return nil, &apiError{code: "already_archived"}
		}
		ch, e := s.memberChannel(f.Get("channel"))
		if e != nil {
			return nil, e
		}
		ch.Archived = true
		return nil, nil
	case "conversations.info":
		ch, ok := s.channels[f.Get("channel")]
		if !ok {
			return nil, &apiError{code: "channel_not_found"}
		}
		return map[string]any{"channel": channelJSON(ch)}, nil
	case "usergroups.list":
		var gs []map[string]any
		for id := range s.groups {
			gs = append(gs, map[string]any{"id": id, "team_id": TeamID, "handle": strings.ToLower(id)})
		}
		return map[string]any{"usergroups": gs}, nil
	case "usergroups.users.list":
		users, ok := s.groups[f.Get("usergroup")]
		if !ok {
			return nil, &apiError{code: "no_such_subteam"}
		}
		return map[string]any{"users": users}, nil
	case "files.getUploadURLExternal":
		n, err := strconv.Atoi(f.Get("length"))
		if err != nil || n <= 0 || f.Get("filename") == "" {
			return nil, &apiError{code: "invalid_arguments"}
		}
		s.seq++
		id := fmt.Sprintf("F%d", s.seq)
		s.files[id] = &File{ID: id, Name: f.Get("filename")}
		return map[string]any{"upload_url": s.srv.URL + "/upload/" + id, "file_id": id}, nil
	case "files.completeUploadExternal":
		var fs []struct{ ID, Title string }
		if err := json.Unmarshal([]byte(f.Get("files")), &fs); err != nil || len(fs) == 0 {
			return nil, &apiError{code: "invalid_arguments"}
		}
		var out []map[string]any
		for _, x := range fs {
			file, ok := s.files[x.ID]
			if !ok || file.Content == nil {
				return nil, &apiError{code: "file_not_found"}
			}
			if c := f.Get("channel_id"); c != "" {
				if _, e := s.memberChannel(c); e != nil {
					return nil, e
				}
				file.Channel, file.Shared = c, true
			}
			file.Title, file.Thread = x.Title, f.Get("thread_ts")
			out = append(out, map[string]any{"id": file.ID, "title": file.Title})
		}
		return map[string]any{"files": out}, nil
	case "files.upload":
		return nil, &apiError{code: "method_deprecated"}
	default:
		return nil, &apiError{status: http.StatusNotFound, code: "unknown_method"}
	}
}

func (s *Server) memberChannel(id string) (*Channel, *apiError) {
	ch, ok := s.channels[id]
	switch {
	case !ok:
		return nil, &apiError{code: "channel_not_found"}
	case ch.Archived:
		return nil, &apiError{code: "is_archived"}
	case !ch.IsMember:
		return nil, &apiError{code: "not_in_channel"}
	}
	return ch, nil
}

func (s *Server) post(method string, f url.Values) (any, *apiError) {
	ch, e := s.memberChannel(f.Get("channel"))
	if e != nil {
		return nil, e
	}
	if e := checkMessage(f); e != nil {
		return nil, e
	}
	s.seq++
	ts := fmt.Sprintf("1700000000.%06d", s.seq)
	m := &Message{Channel: ch.ID, TS: ts, Thread: f.Get("thread_ts"), Text: f.Get("text"), Blocks: json.RawMessage(f.Get("blocks"))}
	if method == "chat.postEphemeral" {
		if f.Get("user") == "" {
			return nil, &apiError{code: "user_not_found"}
		}
		m.Ephemeral, m.User = true, f.Get("user")
		s.messages[ch.ID+"/"+ts] = m
		s.order = append(s.order, ch.ID+"/"+ts)
		return map[string]any{"message_ts": ts}, nil
	}
	s.messages[ch.ID+"/"+ts] = m
	s.order = append(s.order, ch.ID+"/"+ts)
	return map[string]any{"channel": ch.ID, "ts": ts, "message": map[string]any{"ts": ts, "text": m.Text}}, nil
}

func (s *Server) update(f url.Values) (any, *apiError) {
	ch, e := s.memberChannel(f.Get("channel"))
	if e != nil {
		return nil, e
	}
	m, ok := s.messages[ch.ID+"/"+f.Get("ts")]
	if !ok || m.Ephemeral {
		return nil, &apiError{code: "message_not_found"}
	}
	if e := checkMessage(f); e != nil {
		return nil, e
	}
	m.Text, m.Blocks = f.Get("text"), json.RawMessage(f.Get("blocks"))
	m.Edits++
	return map[string]any{"channel": ch.ID, "ts": m.TS, "text": m.Text}, nil
}

var validName = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (s *Server) create(f url.Values) (any, *apiError) {
	if e := s.nameCheck(f.Get("name")); e != nil {
		return nil, e
	}
	return s.insertChannel(f)
}

func (s *Server) nameCheck(name string) *apiError {
	switch {
	case name == "":
		return &apiError{code: "invalid_name_required"}
	case utf8.RuneCountInString(name) > 80:
		return &apiError{code: "invalid_name_maxlength"}
	case !validName.MatchString(name):
		return &apiError{code: "invalid_name_specials"}
	case strings.Trim(name, "-_") == "":
		return &apiError{code: "invalid_name_punctuation"}
	}
	for _, c := range s.channels {
		if c.Name == name {
			return &apiError{code: "name_taken"}
		}
	}
	return nil
}

func (s *Server) insertChannel(f url.Values) (any, *apiError) {
	name := f.Get("name")
	s.seq++
	id := fmt.Sprintf("C%d", 1000+s.seq)
	ch := &Channel{ID: id, Name: name, Private: f.Get("is_private") == "true", IsMember: true}
	s.channels[id] = ch
	return map[string]any{"channel": channelJSON(ch)}, nil
}

func channelJSON(c *Channel) map[string]any {
	return map[string]any{"id": c.ID, "name": c.Name, "is_private": c.Private, "is_archived": c.Archived, "is_member": c.IsMember,
		"topic": map[string]any{"value": c.Topic}}
}

// checkMessage enforces Block Kit limits like Slack does.
func checkMessage(f url.Values) *apiError {
	text, raw := f.Get("text"), f.Get("blocks")
	if raw == "" || raw == "null" {
		if text == "" {
			return &apiError{code: "no_text"}
		}
		return nil
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return &apiError{code: "invalid_blocks_format"}
	}
	if err := CheckBlocks(blocks); err != "" {
		return &apiError{code: err}
	}
	return nil
}

// Limits the fake enforces (see the adapter's constants for the sources).
const (
	maxBlocks       = 50
	maxSectionText  = 3000
	maxFields       = 10
	maxFieldText    = 2000
	maxHeaderText   = 150
	maxButtonText   = 75
	maxButtonValue  = 2000
	maxActionID     = 255
	maxElements     = 25
	maxContextElems = 10
	maxTotalText    = 12000
)

// CheckBlocks returns the Slack error a message with these blocks gets:
// "invalid_blocks", "msg_blocks_too_long", or "" when Slack would accept it.
func CheckBlocks(blocks []map[string]any) string {
	if len(blocks) > maxBlocks {
		return "invalid_blocks"
	}
	total := 0
	textOf := func(v any) (string, bool) {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		t, ok := m["text"].(string)
		if ok {
			total += utf8.RuneCountInString(t)
		}
		return t, ok
	}
	for _, b := range blocks {
		switch b["type"] {
		case "header":
			t, ok := textOf(b["text"])
			if !ok || t == "" || utf8.RuneCountInString(t) > maxHeaderText {
				return "invalid_blocks"
			}
		case "section":
			t, hasText := textOf(b["text"])
			if hasText && (t == "" || utf8.RuneCountInString(t) > maxSectionText) {
				return "invalid_blocks"
			}
			fields, _ := b["fields"].([]any)
			if !hasText && len(fields) == 0 {
				return "invalid_blocks"
			}
			if len(fields) > maxFields {
				return "invalid_blocks"
			}
			for _, fl := range fields {
				t, ok := textOf(fl)
				if !ok || t == "" || utf8.RuneCountInString(t) > maxFieldText {
					return "invalid_blocks"
				}
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > maxContextElems {
				return "invalid_blocks"
			}
			for _, e := range els {
				if t, ok := textOf(e); !ok || t == "" {
					return "invalid_blocks"
				}
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > maxElements {
				return "invalid_blocks"
			}
			// An action_id is unique within its block (Block Kit reference).
			ids := map[string]bool{}
			for _, e := range els {
				m, _ := e.(map[string]any)
				if a, _ := m["action_id"].(string); a != "" {
					if ids[a] {
						return "invalid_blocks"
					}
					ids[a] = true
				}
				t, ok := textOf(m["text"])
				if !ok || t == "" || utf8.RuneCountInString(t) > maxButtonText {
					return "invalid_blocks"
				}
				if v, _ := m["value"].(string); len(v) > maxButtonValue {
					return "invalid_blocks"
				}
				if a, _ := m["action_id"].(string); len(a) > maxActionID {
					return "invalid_blocks"
				}
			}
		case "divider":
		default:
			return "invalid_blocks"
		}
	}
	if total > maxTotalText {
		return "msg_blocks_too_long"
	}
	return ""
}

// serveUpload receives the bytes of a files v2 upload (multipart "file").
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	if r.Header.Get("Authorization") != "Bearer "+BotToken {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	var content []byte
	if mf, _, err := r.FormFile("file"); err == nil {
		content, _ = io.ReadAll(mf)
		_ = mf.Close()
	} else {
		content, _ = io.ReadAll(r.Body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok {
		http.Error(w, "unknown file", http.StatusNotFound)
		return
	}
	f.Content = content
	s.calls = append(s.calls, Call{Method: "upload", At: s.Clock(), Status: http.StatusOK, Form: url.Values{"file_id": {id}}})
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(content)))
}

// serveResponse receives messages posted to response URLs.
func (s *Server) serveResponse(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ResponseType string          `json:"response_type"`
		Text         string          `json:"text"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	var blocks []map[string]any
	_ = json.Unmarshal(body.Blocks, &blocks)
	if e := CheckBlocks(blocks); e != "" {
		http.Error(w, e, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responses = append(s.responses, Response{Path: r.URL.Path, ResponseType: body.ResponseType, Text: body.Text, Blocks: body.Blocks})
	s.calls = append(s.calls, Call{Method: "response_url", At: s.Clock(), Status: http.StatusOK, Form: url.Values{"path": {r.URL.Path}}})
	_, _ = io.WriteString(w, "ok")
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		if k == "token" {
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
