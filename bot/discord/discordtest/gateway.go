package discordtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// HeartbeatInterval is what the fake's HELLO asks for, in milliseconds.
const HeartbeatInterval = 45000

// gateway is the fake gateway: HELLO, IDENTIFY → READY, RESUME → RESUMED,
// heartbeat ACKs, dispatch of INTERACTION_CREATE, op 7 RECONNECT.
// See https://discord.com/developers/docs/events/gateway
type gateway struct {
	s        *Server
	upgrader websocket.Upgrader

	mu         sync.Mutex
	conn       *gwConn // the current session's connection
	conns      []*gwConn
	seq        int64
	sessionID  string
	identifies int
	resumes    int
	heartbeats int
	closeCode  int           // when set, close new sessions with it after IDENTIFY
	hold       chan struct{} // when set, new connections wait until it is closed
	changed    chan struct{}
}

type gwConn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (c *gwConn) send(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

func newGateway(s *Server) *gateway {
	return &gateway{
		s: s,
		// Accept any origin: clients send their own.
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		changed:  make(chan struct{}),
	}
}

type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

// notify wakes WaitGateway callers.
func (g *gateway) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	hold := g.hold
	g.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{ws: ws}
	g.mu.Lock()
	g.conns = append(g.conns, c)
	g.mu.Unlock()
	defer ws.Close()
	if c.send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": HeartbeatInterval}}) != nil {
		return
	}
	for {
		_, raw, err := ws.ReadMessage()
		if err != nil {
			g.mu.Lock()
			if g.conn == c {
				g.conn = nil
				g.notifyLocked()
			}
			g.mu.Unlock()
			return
		}
		var f frame
		if json.Unmarshal(raw, &f) != nil {
			continue
		}
		switch f.Op {
		case 1:
			g.mu.Lock()
			g.heartbeats++
			g.mu.Unlock()
			_ = c.send(map[string]any{"op": 11})
		case 2:
			g.identify(c, f.D)
		case 6:
			g.resume(c, f.D)
		}
	}
}

func (g *gateway) identify(c *gwConn, d json.RawMessage) {
	var id struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(d, &id)
	g.mu.Lock()
	g.identifies++
	code := g.closeCode
	g.mu.Unlock()
	if id.Token != "Bot "+g.s.Token && id.Token != g.s.Token {
		code = 4004
	}
	if code != 0 {
		c.mu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "Authentication failed."), time.Now().Add(time.Second))
		c.mu.Unlock()
		return
	}
	g.mu.Lock()
	g.sessionID = g.s.Snowflake()
	g.conn = c
	g.seq++
	seq := g.seq
	sid := g.sessionID
	g.notifyLocked()
	g.mu.Unlock()
	_ = c.send(map[string]any{"op": 0, "t": "READY", "s": seq, "d": map[string]any{
		"v": 10, "session_id": sid, "resume_gateway_url": g.s.GatewayURL,
		"user":        map[string]any{"id": g.s.BotID, "username": "tebura", "bot": true},
		"guilds":      []any{},
		"application": map[string]any{"id": g.s.AppID},
	}})
}

func (g *gateway) resume(c *gwConn, d json.RawMessage) {
	var rs struct {
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	_ = json.Unmarshal(d, &rs)
	g.mu.Lock()
	if rs.SessionID != g.sessionID {
		g.mu.Unlock()
		_ = c.send(map[string]any{"op": 9, "d": false}) // invalid session: identify again
		return
	}
	g.resumes++
	g.conn = c
	g.seq++
	seq := g.seq
	g.notifyLocked()
	g.mu.Unlock()
	_ = c.send(map[string]any{"op": 0, "t": "RESUMED", "s": seq, "d": map[string]any{}})
}

func (g *gateway) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hold != nil {
		close(g.hold)
		g.hold = nil
	}
	for _, c := range g.conns {
		c.ws.Close()
	}
}

// GatewayStats are counts of what the gateway saw.
type GatewayStats struct {
	Connected  bool
	Identifies int
	Resumes    int
	Heartbeats int
}

// Gateway returns the gateway's counters.
func (s *Server) Gateway() GatewayStats {
	g := s.gw
	g.mu.Lock()
	defer g.mu.Unlock()
	return GatewayStats{Connected: g.conn != nil, Identifies: g.identifies, Resumes: g.resumes, Heartbeats: g.heartbeats}
}

// WaitGateway waits until cond holds for the gateway's counters or the
// timeout passes, and reports whether it held.
func (s *Server) WaitGateway(timeout time.Duration, cond func(GatewayStats) bool) bool {
	deadline := time.After(timeout)
	for {
		g := s.gw
		g.mu.Lock()
		ch := g.changed
		g.mu.Unlock()
		if cond(s.Gateway()) {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return cond(s.Gateway())
		}
	}
}

// RejectSessions makes the gateway close every new session with code
// after IDENTIFY (4004 authentication failed, for example); 0 stops it.
func (s *Server) RejectSessions(code int) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.closeCode = code
}

// HoldSessions makes new gateway connections wait, before the WebSocket
// handshake, until release is called (or the server closes): a test sees
// the client while it is really disconnected, instead of polling for a
// moment its reconnect may already have ended.
func (s *Server) HoldSessions() (release func()) {
	g := s.gw
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hold == nil {
		g.hold = make(chan struct{})
	}
	hold := g.hold
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.hold == hold {
			close(hold)
			g.hold = nil
		}
	}
}

// ErrNotConnected is returned when no client session is connected.
var ErrNotConnected = errors.New("discordtest: no gateway session connected")

// Dispatch sends the interaction as an INTERACTION_CREATE event.
func (s *Server) Dispatch(it Interaction) error {
	g := s.gw
	g.mu.Lock()
	c := g.conn
	g.seq++
	seq := g.seq
	g.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	return c.send(map[string]any{"op": 0, "t": "INTERACTION_CREATE", "s": seq, "d": json.RawMessage(it.Body)})
}

// Reconnect sends op 7 RECONNECT to the connected session; the client is
// expected to reconnect and RESUME.
func (s *Server) Reconnect() error {
	g := s.gw
	g.mu.Lock()
	c := g.conn
	g.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	return c.send(map[string]any{"op": 7, "d": nil})
}

// Drop closes the session's connection abruptly, as a network failure would.
func (s *Server) Drop() {
	g := s.gw
	g.mu.Lock()
	c := g.conn
	g.mu.Unlock()
	if c != nil {
		c.ws.Close()
	}
}
