// Package discordtest is a fake Discord for tests: a REST API (the routes
// the Tebura adapter uses) and a gateway websocket. It enforces Discord's
// documented limits (message and embed sizes, components, custom_id, the
// three-second acknowledgement deadline, the fifteen-minute interaction
// token, upload size), answers 400 with Discord's error shape, returns 429
// with retry_after when told to, and records every call with its time on the
// fake's clock.
//
// It is used only by tests.
package discordtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Discord's epoch for snowflakes, in milliseconds.
const discordEpoch = 1420070400000

// Deadlines the fake enforces.
// See https://discord.com/developers/docs/interactions/receiving-and-responding
const (
	AckDeadline   = 3 * time.Second
	TokenLifetime = 15 * time.Minute
)

// Call is one request the fake received.
type Call struct {
	Time   time.Time
	Method string
	Path   string // without the /api/v10 prefix
	Body   []byte
	Status int
}

// Stored is a message the fake holds.
type Stored struct {
	ID        string
	ChannelID string
	Message
	Ephemeral   bool
	Interaction string // the interaction whose original response it is
	Edits       int
	Files       map[string][]byte
	Deleted     bool
}

// Guild is a guild the fake knows.
type Guild struct {
	ID      string
	Name    string
	OwnerID string
	Roles   map[string]int64    // role ID → permissions; the guild ID is @everyone
	Members map[string][]string // user ID → role IDs
}

// Channel is a guild channel.
type Channel struct {
	ID          string         `json:"id"`
	GuildID     string         `json:"guild_id"`
	Name        string         `json:"name"`
	Type        int            `json:"type"`
	Topic       string         `json:"topic,omitempty"`
	ParentID    string         `json:"parent_id,omitempty"`
	Overwrites  []Overwrite    `json:"permission_overwrites"`
	Attachments map[string]int `json:"-"`
}

// Overwrite is a channel permission overwrite.
type Overwrite struct {
	ID    string `json:"id"`
	Type  int    `json:"type"`
	Allow string `json:"allow"`
	Deny  string `json:"deny"`
}

type interactionState struct {
	id, token  string
	created    time.Time
	acked      bool
	ackType    int
	ackAt      time.Time
	ephemeral  bool
	originalID string
	channelID  string
	guildID    string
}

type fault struct {
	method, prefix string
	status         int
	retryAfter     float64
	global         bool
	count          int
}

// Server is the fake. Create it with New; it stops with the test.
type Server struct {
	URL        string // http://127.0.0.1:port
	APIURL     string // URL + "/api/v10"
	GatewayURL string // ws://127.0.0.1:port/gateway

	Token  string // the valid bot token
	AppID  string
	BotID  string
	Clock  func() time.Time // the fake's clock; set before use
	srv    *httptest.Server
	gw     *gateway
	mu     sync.Mutex
	seq    int64
	calls  []Call
	msgs   map[string]*Stored
	chans  map[string]*Channel
	guilds map[string]*Guild
	cmds   map[string][]json.RawMessage // scope ("" global, guild ID) → definitions
	puts   int                          // bulk overwrite calls
	ints   map[string]*interactionState
	faults []*fault
}

// New starts a fake with one application and bot user.
func New(t testing.TB) *Server {
	s := &Server{
		Token:  "fake-token",
		AppID:  "100000000000000001",
		BotID:  "100000000000000002",
		Clock:  time.Now,
		msgs:   map[string]*Stored{},
		chans:  map[string]*Channel{},
		guilds: map[string]*Guild{},
		cmds:   map[string][]json.RawMessage{},
		ints:   map[string]*interactionState{},
	}
	s.gw = newGateway(s)
	mux := http.NewServeMux()
	mux.Handle("/api/v10/", http.StripPrefix("/api/v10", s.api()))
	mux.HandleFunc("/gateway/", s.gw.serve)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.gw.closeAll()
		s.srv.Close()
	})
	s.URL = s.srv.URL
	s.APIURL = s.srv.URL + "/api/v10"
	s.GatewayURL = "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway"
	return s
}

// Snowflake returns a new ID whose timestamp is the fake clock's now.
func (s *Server) Snowflake() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snowflakeLocked()
}

func (s *Server) snowflakeLocked() string {
	s.seq++
	ms := s.Clock().UnixMilli() - discordEpoch
	return strconv.FormatUint(uint64(ms)<<22|uint64(s.seq&0xfff), 10)
}

// AddGuild adds a guild with roles (ID → permissions) and members (user
// ID → role IDs). The bot should be among the members.
func (s *Server) AddGuild(g Guild) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.Roles == nil {
		g.Roles = map[string]int64{}
	}
	if _, ok := g.Roles[g.ID]; !ok {
		g.Roles[g.ID] = 0
	}
	if g.Members == nil {
		g.Members = map[string][]string{}
	}
	s.guilds[g.ID] = &g
}

// AddChannel adds a channel (type 0 text, 4 category).
func (s *Server) AddChannel(c Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := c
	s.chans[c.ID] = &cp
}

// Channels returns the guild's channels sorted by name.
func (s *Server) Channels(guildID string) []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Channel
	for _, c := range s.chans {
		if c.GuildID == guildID {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Channel returns one channel.
func (s *Server) Channel(id string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chans[id]
	if !ok {
		return Channel{}, false
	}
	return *c, true
}

// Calls returns the calls so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the calls whose method and path match (path is a prefix
// when it ends in "*").
func (s *Server) CallsTo(method, path string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method != method {
			continue
		}
		if p, ok := strings.CutSuffix(path, "*"); ok && strings.HasPrefix(c.Path, p) || c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns the stored messages in creation order.
func (s *Server) Messages() []Stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Stored
	for _, m := range s.msgs {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return snowLess(out[i].ID, out[j].ID) })
	return out
}

// Message returns one stored message.
func (s *Server) Message(id string) (Stored, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return Stored{}, false
	}
	return *m, true
}

func snowLess(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	return x < y
}

// Commands returns the registered command definitions of a scope ("" for
// global) and how many bulk overwrites happened in all.
func (s *Server) Commands(scope string) (names []string, overwrites int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, raw := range s.cmds[scope] {
		var c commandDef
		_ = json.Unmarshal(raw, &c)
		names = append(names, c.Name)
	}
	return names, s.puts
}

// Ack is how an interaction was acknowledged.
type Ack struct {
	Acked bool
	Type  int
	At    time.Time
	Late  bool
	// Ephemeral is the flag of a deferred command response.
	Ephemeral bool
}

// AckOf returns how the interaction was acknowledged.
func (s *Server) AckOf(id string) Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.ints[id]
	if !ok {
		return Ack{}
	}
	return Ack{Acked: st.acked, Type: st.ackType, At: st.ackAt, Ephemeral: st.ephemeral}
}

// FailNext makes the next count requests whose method matches and whose
// path starts with prefix answer status (401, 403, 429, 500…). For 429 the
// body carries retryAfter seconds and global.
func (s *Server) FailNext(method, prefix string, status, count int, retryAfter float64, global bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, prefix: prefix, status: status, count: count, retryAfter: retryAfter, global: global})
}

// RateLimitNext makes the next matching request answer 429 with
// retry_after seconds.
func (s *Server) RateLimitNext(method, prefix string, retryAfter float64, global bool) {
	s.FailNext(method, prefix, http.StatusTooManyRequests, 1, retryAfter, global)
}

func randToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "aW50ZXJhY3Rpb24" + hex.EncodeToString(b)
}

// api is the REST router.
func (s *Server) api() http.Handler {
	mux := http.NewServeMux()
	bot := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bot "+s.Token {
				writeErr(w, http.StatusUnauthorized, 0, "401: Unauthorized", nil)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /gateway", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"url": s.GatewayURL})
	})
	mux.HandleFunc("GET /users/@me", bot(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"id": s.BotID, "username": "tebura", "bot": true})
	}))
	mux.HandleFunc("GET /guilds/{g}", bot(s.getGuild))
	mux.HandleFunc("GET /guilds/{g}/roles", bot(s.getRoles))
	mux.HandleFunc("GET /guilds/{g}/members/{u}", bot(s.getMember))
	mux.HandleFunc("GET /guilds/{g}/channels", bot(s.listChannels))
	mux.HandleFunc("POST /guilds/{g}/channels", bot(s.createChannel))
	mux.HandleFunc("GET /channels/{c}", bot(s.getChannel))
	mux.HandleFunc("PATCH /channels/{c}", bot(s.modifyChannel))
	mux.HandleFunc("PUT /channels/{c}/permissions/{t}", bot(s.setPermission))
	mux.HandleFunc("POST /channels/{c}/messages", bot(s.createMessage))
	mux.HandleFunc("PATCH /channels/{c}/messages/{m}", bot(s.editMessage))
	mux.HandleFunc("POST /interactions/{id}/{token}/callback", s.callback)
	mux.HandleFunc("PATCH /webhooks/{app}/{token}/messages/@original", s.editOriginal)
	mux.HandleFunc("DELETE /webhooks/{app}/{token}/messages/@original", s.deleteOriginal)
	mux.HandleFunc("POST /webhooks/{app}/{token}", s.followup)
	mux.HandleFunc("PUT /applications/{app}/commands", bot(s.putCommands))
	mux.HandleFunc("PUT /applications/{app}/guilds/{g}/commands", bot(s.putCommands))
	mux.HandleFunc("GET /applications/{app}/commands", bot(s.getCommands))
	mux.HandleFunc("GET /applications/{app}/guilds/{g}/commands", bot(s.getCommands))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 30<<20))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := &recorder{ResponseWriter: w, status: 200}
		if !s.fault(rec, r) {
			mux.ServeHTTP(rec, r)
		}
		s.mu.Lock()
		s.calls = append(s.calls, Call{Time: s.Clock(), Method: r.Method, Path: r.URL.Path, Body: body, Status: rec.status})
		s.mu.Unlock()
	})
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// fault answers an injected failure; it reports whether it did.
func (s *Server) fault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	var f *fault
	for _, x := range s.faults {
		if x.count > 0 && x.method == r.Method && strings.HasPrefix(r.URL.Path, x.prefix) {
			x.count--
			f = x
			break
		}
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if f.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter+0.999)))
		w.Header().Set("X-RateLimit-Scope", "user")
		if f.global {
			w.Header().Set("X-RateLimit-Global", "true")
			w.Header().Set("X-RateLimit-Scope", "global")
		}
		writeJSON(w, 429, map[string]any{"message": "You are being rate limited.", "retry_after": f.retryAfter, "global": f.global})
		return true
	}
	writeErr(w, f.status, 0, http.StatusText(f.status), nil)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr writes Discord's error shape: {"code", "message", "errors"}.
func writeErr(w http.ResponseWriter, status, code int, msg string, errs formErrors) {
	body := map[string]any{"code": code, "message": msg}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

// writeInvalidJSON answers a body that does not decode, as Discord does.
func writeInvalidJSON(w http.ResponseWriter) {
	writeErr(w, 400, 50109, "The request body contains invalid JSON.", nil)
}

// guildLocked returns the guild the route's {g} names, answering 404
// Unknown Guild when the fake has none. s.mu is held.
func (s *Server) guildLocked(w http.ResponseWriter, r *http.Request) (*Guild, bool) {
	g, ok := s.guilds[r.PathValue("g")]
	if !ok {
		writeErr(w, 404, 10004, "Unknown Guild", nil)
	}
	return g, ok
}

func (s *Server) getGuild(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guildLocked(w, r)
	if !ok {
		return
	}
	writeJSON(w, 200, map[string]any{"id": g.ID, "name": g.Name, "owner_id": g.OwnerID, "roles": rolesJSON(g)})
}

func rolesJSON(g *Guild) []map[string]any {
	var out []map[string]any
	for id, p := range g.Roles {
		out = append(out, map[string]any{"id": id, "name": "role-" + id, "permissions": strconv.FormatInt(p, 10)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
	return out
}

func (s *Server) getRoles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guildLocked(w, r)
	if !ok {
		return
	}
	writeJSON(w, 200, rolesJSON(g))
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guildLocked(w, r)
	if !ok {
		return
	}
	roles, ok := g.Members[r.PathValue("u")]
	if !ok {
		writeErr(w, 404, 10007, "Unknown Member", nil)
		return
	}
	writeJSON(w, 200, map[string]any{"user": map[string]any{"id": r.PathValue("u")}, "roles": append([]string{}, roles...)})
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	_, ok := s.guildLocked(w, r)
	s.mu.Unlock()
	if !ok {
		return
	}
	writeJSON(w, 200, s.Channels(r.PathValue("g")))
}

func validChannelName(name string) bool {
	if n(name) < 1 || n(name) > maxChannelName {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (s *Server) createChannel(w http.ResponseWriter, r *http.Request) {
	var c Channel
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		writeInvalidJSON(w)
		return
	}
	errs := formErrors{}
	if !validChannelName(c.Name) {
		errs.add("name", "Must be between 1 and %d in length, lowercase letters, digits, - and _.", maxChannelName)
	}
	if n(c.Topic) > maxTopic {
		errs.add("topic", "Must be %d or fewer in length.", maxTopic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := r.PathValue("g")
	if _, ok := s.guildLocked(w, r); !ok {
		return
	}
	if c.ParentID != "" {
		if p, ok := s.chans[c.ParentID]; !ok || p.Type != 4 || p.GuildID != g {
			errs.add("parent_id", "Invalid category")
		}
	}
	if len(errs) > 0 {
		writeErr(w, 400, 50035, "Invalid Form Body", errs)
		return
	}
	c.ID = s.snowflakeLocked()
	c.GuildID = g
	if c.Overwrites == nil {
		c.Overwrites = []Overwrite{}
	}
	s.chans[c.ID] = &c
	writeJSON(w, 201, c)
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request) {
	c, ok := s.Channel(r.PathValue("c"))
	if !ok {
		writeErr(w, 404, 10003, "Unknown Channel", nil)
		return
	}
	writeJSON(w, 200, c)
}

func (s *Server) modifyChannel(w http.ResponseWriter, r *http.Request) {
	var patch map[string]any
	if err := json.NewDecoder(r.Body).Decode(&patch); err != nil {
		writeInvalidJSON(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chans[r.PathValue("c")]
	if !ok {
		writeErr(w, 404, 10003, "Unknown Channel", nil)
		return
	}
	if t, ok := patch["topic"].(string); ok {
		if n(t) > maxTopic {
			writeErr(w, 400, 50035, "Invalid Form Body", formErrors{"topic": "Must be 1024 or fewer in length."})
			return
		}
		c.Topic = t
	}
	if p, ok := patch["parent_id"].(string); ok {
		if pc, ok := s.chans[p]; !ok || pc.Type != 4 {
			writeErr(w, 400, 50035, "Invalid Form Body", formErrors{"parent_id": "Invalid category"})
			return
		}
		c.ParentID = p
	}
	if name, ok := patch["name"].(string); ok {
		c.Name = name
	}
	writeJSON(w, 200, c)
}

func (s *Server) setPermission(w http.ResponseWriter, r *http.Request) {
	var o struct {
		Type  int    `json:"type"`
		Allow string `json:"allow"`
		Deny  string `json:"deny"`
	}
	raw, _ := io.ReadAll(r.Body)
	// discordgo sends allow/deny as numbers; Discord accepts both.
	var loose map[string]any
	_ = json.Unmarshal(raw, &loose)
	o.Type = int(num(loose["type"]))
	o.Allow = fmt.Sprint(int64(num(loose["allow"])))
	o.Deny = fmt.Sprint(int64(num(loose["deny"])))
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chans[r.PathValue("c")]
	if !ok {
		writeErr(w, 404, 10003, "Unknown Channel", nil)
		return
	}
	id := r.PathValue("t")
	kept := c.Overwrites[:0]
	for _, x := range c.Overwrites {
		if x.ID != id {
			kept = append(kept, x)
		}
	}
	c.Overwrites = append(kept, Overwrite{ID: id, Type: o.Type, Allow: o.Allow, Deny: o.Deny})
	w.WriteHeader(http.StatusNoContent)
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// readMessage reads a JSON or multipart message body; files are returned
// by name.
func readMessage(r *http.Request) (json.RawMessage, map[string][]byte, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		raw, err := io.ReadAll(r.Body)
		return raw, nil, err
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var raw json.RawMessage
	files := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, err
		}
		if p.FormName() == "payload_json" {
			raw = b
		} else {
			files[p.FileName()] = b
		}
	}
	return raw, files, nil
}

// store validates and stores a message, writing the error if any.
func (s *Server) store(w http.ResponseWriter, r *http.Request, st *Stored) bool {
	raw, files, err := readMessage(r)
	if err != nil {
		writeInvalidJSON(w)
		return false
	}
	for name, b := range files {
		if len(b) > maxUpload {
			writeErr(w, 413, 40005, "Request entity too large: "+name, nil)
			return false
		}
	}
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	m, errs := validateMessage(raw, len(files))
	if len(errs) > 0 {
		if _, empty := errs["_"]; empty && len(errs) == 1 && strings.Contains(errs["_"], "empty") {
			writeErr(w, 400, 50006, "Cannot send an empty message", nil)
			return false
		}
		writeErr(w, 400, 50035, "Invalid Form Body", errs)
		return false
	}
	st.Message = m
	if len(files) > 0 {
		st.Files = files
	}
	return true
}

func (s *Server) messageJSON(m *Stored) map[string]any {
	return map[string]any{"id": m.ID, "channel_id": m.ChannelID, "content": m.Content, "embeds": m.Embeds,
		"components": m.Components, "flags": m.Flags, "author": map[string]any{"id": s.BotID, "bot": true}}
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	ch := r.PathValue("c")
	if _, ok := s.Channel(ch); !ok {
		writeErr(w, 404, 10003, "Unknown Channel", nil)
		return
	}
	st := &Stored{ChannelID: ch}
	if !s.store(w, r, st) {
		return
	}
	s.insert(w, st)
}

// insert gives a new message its ID, keeps it and answers it.
func (s *Server) insert(w http.ResponseWriter, m *Stored) {
	s.mu.Lock()
	m.ID = s.snowflakeLocked()
	s.msgs[m.ID] = m
	out := s.messageJSON(m)
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

func (s *Server) editMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	m, ok := s.msgs[r.PathValue("m")]
	if ok && (m.Ephemeral || m.Deleted || m.ChannelID != r.PathValue("c")) {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		writeErr(w, 404, 10008, "Unknown Message", nil)
		return
	}
	var st Stored
	if !s.store(w, r, &st) {
		return
	}
	s.mu.Lock()
	m.Message = mergeEdit(m.Message, st.Message)
	m.Edits++
	out := s.messageJSON(m)
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

// mergeEdit applies an edit: fields sent replace the old ones.
func mergeEdit(old, edit Message) Message {
	out := old
	if edit.Content != "" {
		out.Content = edit.Content
	}
	out.Embeds = edit.Embeds
	out.Components = edit.Components
	return out
}

// interaction finds an interaction by ID or token.
func (s *Server) interactionByToken(token string) (*interactionState, bool) {
	for _, st := range s.ints {
		if st.token == token {
			return st, true
		}
	}
	return nil, false
}

func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	var resp struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &resp); err != nil {
		writeInvalidJSON(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.ints[r.PathValue("id")]
	if !ok || st.token != r.PathValue("token") {
		writeErr(w, 404, 10062, "Unknown interaction", nil)
		return
	}
	if st.acked {
		writeErr(w, 400, 40060, "Interaction has already been acknowledged.", nil)
		return
	}
	if s.Clock().Sub(st.created) > AckDeadline {
		writeErr(w, 404, 10062, "Unknown interaction", nil)
		return
	}
	var data struct {
		Flags   int               `json:"flags"`
		Choices []json.RawMessage `json:"choices"`
	}
	_ = json.Unmarshal(resp.Data, &data)
	switch resp.Type {
	case 5:
		if data.Flags&^64 != 0 {
			writeErr(w, 400, 50035, "Invalid Form Body", formErrors{"data.flags": "only EPHEMERAL may be set on a deferred response"})
			return
		}
		st.ephemeral = data.Flags&64 != 0
		orig := &Stored{ID: s.snowflakeLocked(), ChannelID: st.channelID, Ephemeral: st.ephemeral, Interaction: st.id,
			Message: Message{Content: "Tebura is thinking…"}}
		s.msgs[orig.ID] = orig
		st.originalID = orig.ID
	case 6, 1:
	case 8:
		if len(data.Choices) > maxChoices {
			writeErr(w, 400, 50035, "Invalid Form Body", formErrors{"data.choices": "Must be 25 or fewer in length."})
			return
		}
	case 4, 7:
		m, errs := validateMessage(resp.Data, 0)
		if len(errs) > 0 {
			writeErr(w, 400, 50035, "Invalid Form Body", errs)
			return
		}
		if resp.Type == 4 { // the answer is the original response message
			orig := &Stored{ID: s.snowflakeLocked(), ChannelID: st.channelID, Ephemeral: m.Flags&64 != 0, Interaction: st.id, Message: m}
			s.msgs[orig.ID] = orig
			st.originalID = orig.ID
		}
	default:
		writeErr(w, 400, 50035, "Invalid Form Body", formErrors{"type": "unknown interaction response type"})
		return
	}
	st.acked, st.ackType, st.ackAt = true, resp.Type, s.Clock()
	w.WriteHeader(http.StatusNoContent)
}

// webhookInteraction checks a webhook (interaction token) route.
func (s *Server) webhookInteraction(w http.ResponseWriter, r *http.Request) (*interactionState, bool) {
	if r.PathValue("app") != s.AppID {
		writeErr(w, 404, 10015, "Unknown Webhook", nil)
		return nil, false
	}
	st, ok := s.interactionByToken(r.PathValue("token"))
	if !ok {
		writeErr(w, 404, 10015, "Unknown Webhook", nil)
		return nil, false
	}
	if s.Clock().Sub(st.created) > TokenLifetime {
		writeErr(w, 401, 50027, "Invalid Webhook Token", nil)
		return nil, false
	}
	if !st.acked {
		writeErr(w, 404, 10015, "Unknown Webhook", nil)
		return nil, false
	}
	return st, true
}

func (s *Server) editOriginal(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st, ok := s.webhookInteraction(w, r)
	var m *Stored
	if ok {
		m = s.msgs[st.originalID]
		if m == nil || m.Deleted {
			writeErr(w, 404, 10008, "Unknown Message", nil)
			ok = false
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	var edit Stored
	if !s.store(w, r, &edit) {
		return
	}
	s.mu.Lock()
	m.Message = mergeEdit(m.Message, edit.Message)
	m.Content = edit.Content
	m.Edits++
	out := s.messageJSON(m)
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

func (s *Server) deleteOriginal(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.webhookInteraction(w, r)
	if !ok {
		return
	}
	m := s.msgs[st.originalID]
	if m == nil || m.Deleted {
		writeErr(w, 404, 10008, "Unknown Message", nil)
		return
	}
	m.Deleted = true
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) followup(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st, ok := s.webhookInteraction(w, r)
	s.mu.Unlock()
	if !ok {
		return
	}
	m := &Stored{ChannelID: st.channelID, Interaction: st.id}
	if !s.store(w, r, m) {
		return
	}
	m.Ephemeral = m.Flags&64 != 0
	s.insert(w, m)
}

func (s *Server) putCommands(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("app") != s.AppID {
		writeErr(w, 403, 50001, "Missing Access", nil)
		return
	}
	var raws []json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raws); err != nil {
		writeInvalidJSON(w)
		return
	}
	defs := make([]commandDef, len(raws))
	for i, raw := range raws {
		_ = json.Unmarshal(raw, &defs[i])
	}
	if errs := validateCommands(defs); len(errs) > 0 {
		writeErr(w, 400, 50035, "Invalid Form Body", errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scope := r.PathValue("g")
	if scope != "" {
		if _, ok := s.guilds[scope]; !ok {
			writeErr(w, 403, 50001, "Missing Access", nil)
			return
		}
	}
	s.cmds[scope] = raws
	s.puts++
	var out []map[string]any
	for _, d := range defs {
		out = append(out, map[string]any{"id": s.snowflakeLocked(), "application_id": s.AppID, "name": d.Name, "description": d.Description})
	}
	writeJSON(w, 200, out)
}

func (s *Server) getCommands(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []json.RawMessage{}
	out = append(out, s.cmds[r.PathValue("g")]...)
	writeJSON(w, 200, out)
}
