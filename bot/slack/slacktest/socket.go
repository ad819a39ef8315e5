package slacktest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Ack is an envelope acknowledgement the fake received.
type Ack struct {
	EnvelopeID string
	Conn       int // which connection (1-based, in order of opening)
	At         time.Time
}

// socketServer is the fake's Socket Mode side: apps.connections.open hands
// out ws:// URLs on the fake's own host; each connection gets hello, then
// envelopes; pings keep the client's watchdog happy.
type socketServer struct {
	s        *Server
	upgrader websocket.Upgrader

	mu      sync.Mutex
	conns   []*fakeConn
	acks    []Ack
	ackWait map[string][]chan Ack
	seq     int
	// PingInterval is how often the fake pings each connection.
	pingInterval time.Duration
	silent       bool // stop pinging (to trip the client's watchdog)
	connected    chan int
}

type fakeConn struct {
	n       int
	ws      *websocket.Conn
	writeMu sync.Mutex
	closed  chan struct{}
	once    sync.Once
}

func (ss *socketServer) init(s *Server) {
	ss.s = s
	// Slack's client sends Origin: https://api.slack.com; accept any origin.
	ss.upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ss.ackWait = map[string][]chan Ack{}
	ss.pingInterval = 500 * time.Millisecond
	ss.connected = make(chan int, 64)
}

func (ss *socketServer) url() string {
	return "ws" + strings.TrimPrefix(ss.s.srv.URL, "http") + "/socket"
}

func (ss *socketServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := ss.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ss.mu.Lock()
	c := &fakeConn{n: len(ss.conns) + 1, ws: ws, closed: make(chan struct{})}
	ss.conns = append(ss.conns, c)
	ss.mu.Unlock()

	_ = c.write(map[string]any{"type": "hello", "num_connections": 1, "debug_info": map[string]any{"approximate_connection_time": 18060}})
	select {
	case ss.connected <- c.n:
	default:
	}
	go ss.pinger(c)
	go ss.reader(c)
}

func (c *fakeConn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *fakeConn) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.ws.Close()
	})
}

func (ss *socketServer) pinger(c *fakeConn) {
	t := time.NewTicker(ss.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
			ss.mu.Lock()
			silent := ss.silent
			ss.mu.Unlock()
			if !silent {
				_ = c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			}
		}
	}
}

func (ss *socketServer) reader(c *fakeConn) {
	defer c.close()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		a := Ack{EnvelopeID: ack.EnvelopeID, Conn: c.n, At: time.Now()}
		ss.mu.Lock()
		ss.acks = append(ss.acks, a)
		waiters := ss.ackWait[ack.EnvelopeID]
		delete(ss.ackWait, ack.EnvelopeID)
		ss.mu.Unlock()
		for _, w := range waiters {
			w <- a
		}
	}
}

func (ss *socketServer) closeAll() {
	ss.mu.Lock()
	conns := append([]*fakeConn(nil), ss.conns...)
	ss.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// live returns the newest open connection.
func (ss *socketServer) live() *fakeConn {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i := len(ss.conns) - 1; i >= 0; i-- {
		select {
		case <-ss.conns[i].closed:
		default:
			return ss.conns[i]
		}
	}
	return nil
}

// WaitConnected blocks until the n-th Socket Mode connection (1-based) has
// been opened and greeted, or ctx ends.
func (s *Server) WaitConnected(ctx context.Context, n int) error {
	for {
		if s.Connections() >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("slacktest: connection %d never opened: %w", n, ctx.Err())
		case <-s.sock.connected:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Connections returns how many Socket Mode connections were opened.
func (s *Server) Connections() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return len(s.sock.conns)
}

// OpenConnections returns how many Socket Mode connections are open now.
func (s *Server) OpenConnections() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	n := 0
	for _, c := range s.sock.conns {
		select {
		case <-c.closed:
		default:
			n++
		}
	}
	return n
}

// Envelope is a Socket Mode delivery.
type Envelope struct {
	ID      string
	Type    string // slash_commands | interactive | events_api
	Payload any
	Retry   int
}

// Send delivers an envelope on the newest open connection and returns a
// channel that receives its ack. Reusing an ID simulates a redelivery.
func (s *Server) Send(e Envelope) (<-chan Ack, error) {
	ss := &s.sock
	if e.ID == "" {
		ss.mu.Lock()
		ss.seq++
		e.ID = fmt.Sprintf("env-%d", ss.seq)
		ss.mu.Unlock()
	}
	ch := make(chan Ack, 1)
	ss.mu.Lock()
	ss.ackWait[e.ID] = append(ss.ackWait[e.ID], ch)
	ss.mu.Unlock()
	c := ss.live()
	if c == nil {
		return nil, fmt.Errorf("slacktest: no open Socket Mode connection")
	}
	msg := map[string]any{"envelope_id": e.ID, "type": e.Type, "payload": e.Payload, "accepts_response_payload": e.Type != "events_api"}
	if e.Retry > 0 {
		msg["retry_attempt"] = e.Retry
		msg["retry_reason"] = "timeout"
	}
	if err := c.write(msg); err != nil {
		return nil, err
	}
	return ch, nil
}

// Disconnect sends a disconnect frame (reason "refresh_requested",
// "warning", …) on every open connection, as Slack does before it closes
// them. The connections stay open until the client closes them.
func (s *Server) Disconnect(reason string) {
	ss := &s.sock
	ss.mu.Lock()
	conns := append([]*fakeConn(nil), ss.conns...)
	ss.mu.Unlock()
	for _, c := range conns {
		select {
		case <-c.closed:
		default:
			_ = c.write(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "fake"}})
		}
	}
}

// Silence stops (or resumes) pings and makes the fake go quiet, so that a
// client's watchdog must notice the dead connection.
func (s *Server) Silence(on bool) {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	s.sock.silent = on
}

// Acks returns the acknowledgements received so far.
func (s *Server) Acks() []Ack {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return append([]Ack(nil), s.sock.acks...)
}

// SlashCommand is the payload of a slash command (Socket Mode envelope or,
// form-encoded, an HTTP-mode request).
func SlashCommand(command, text, user, channel, responseURL string) map[string]string {
	return map[string]string{
		"token": "deprecated", "team_id": TeamID, "team_domain": "tebura-test", "channel_id": channel, "channel_name": "ops",
		"user_id": user, "user_name": strings.ToLower(user), "command": command, "text": text,
		"response_url": responseURL, "trigger_id": TriggerID(), "api_app_id": "A0TEST",
	}
}

// TriggerID returns a fresh trigger_id. Slack gives every invocation its
// own, and the adapter drops a second delivery of one as a replay, so two
// payloads built by this package are two invocations; send the same payload
// twice to replay it.
func TriggerID() string { return "trig." + rand.Text() }

// actionTS is an action_ts like Slack's ("1700000000.123456").
func actionTS() string {
	now := time.Now()
	return fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
}

// BlockAction is the payload of a button click on a message.
func BlockAction(user, channel, messageTS, actionID, value, responseURL string) map[string]any {
	return map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": strings.ToLower(user), "team_id": TeamID},
		"team":         map[string]any{"id": TeamID},
		"channel":      map[string]any{"id": channel},
		"container":    map[string]any{"type": "message", "message_ts": messageTS, "channel_id": channel, "is_ephemeral": false},
		"message":      map[string]any{"ts": messageTS},
		"response_url": responseURL,
		"trigger_id":   TriggerID(),
		"actions":      []map[string]any{{"type": "button", "action_id": actionID, "value": value, "block_id": "b", "action_ts": actionTS()}},
	}
}

// AppMention is an Events API event_callback for "@tebura <text>".
func AppMention(eventID, user, channel, text string) map[string]any {
	return map[string]any{
		"type": "event_callback", "team_id": TeamID, "api_app_id": "A0TEST", "event_id": eventID, "event_time": 1700000000,
		"event": map[string]any{"type": "app_mention", "user": user, "text": "<@" + BotUser + "> " + text, "channel": channel, "ts": "1700000000.000001"},
	}
}
