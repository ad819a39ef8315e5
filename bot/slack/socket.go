package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tebura/tebura"
)

// helloTimeout is how long a new Socket Mode connection may take to say hello.
const helloTimeout = 10 * time.Second

// maxBackoff caps the wait between failed connection attempts.
const maxBackoff = 30 * time.Second

// socketState counts connections that said hello, for Ready.
type socketState struct {
	live atomic.Int32
}

// frame is a Socket Mode message: hello, disconnect, or an envelope.
// https://api.slack.com/apis/connections/socket-implement
type frame struct {
	Type       string          `json:"type"`
	EnvelopeID string          `json:"envelope_id"`
	Reason     string          `json:"reason"`
	Payload    json.RawMessage `json:"payload"`
	RetryCount int             `json:"retry_attempt"`
}

// sockConn is one websocket. Its reader acks envelopes the moment they
// arrive and reports hello, refresh requests and its death on channels.
type sockConn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	hello   chan struct{} // closed on hello
	refresh chan string   // disconnect reason (cap 1)
	dead    chan struct{} // closed when the reader stops
	err     error         // why the reader stopped; read after dead
	helloed bool
}

// runSocket keeps one Socket Mode connection up until ctx is done. On a
// disconnect frame (refresh_requested, warning, …) it opens the replacement
// before closing the old connection; a connection that dies or stays silent
// past the watchdog is replaced with backoff. A refused token ends Run.
func (a *Adapter) runSocket(ctx context.Context) error {
	cur, err := a.connectLoop(ctx)
	if err != nil || cur == nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			a.closeConn(cur)
			return nil
		case reason := <-cur.refresh:
			a.log.Info("slack socket refresh", "reason", reason)
			next, err := a.connectLoop(ctx)
			if err != nil || next == nil {
				a.closeConn(cur)
				return err
			}
			a.closeConn(cur) // the new connection said hello: drop the old one
			cur = next
		case <-cur.dead:
			a.log.Warn("slack socket lost; reconnecting", "err", scrub(cur.err))
			next, err := a.connectLoop(ctx)
			if err != nil || next == nil {
				return err
			}
			cur = next
		}
	}
}

// connectLoop connects, retrying with exponential backoff. It returns
// (nil, nil) when ctx ends and an error only when the failure is fatal.
func (a *Adapter) connectLoop(ctx context.Context) (*sockConn, error) {
	wait := a.backoff
	for {
		c, err := a.connect(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if fatal := fatalAuth(err, "slack.app_token"); fatal != nil {
			a.log.Error("slack app token refused", "err", scrub(err))
			return nil, fatal
		}
		a.log.Warn("slack socket connect failed", "err", scrub(err), "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// connect opens one connection: apps.connections.open with the app-level
// token, dial, wait for hello.
func (a *Adapter) connect(ctx context.Context) (*sockConn, error) {
	var wsURL string
	err := a.call(ctx, "apps.connections.open", "", func(ctx context.Context) error {
		var err error
		_, wsURL, err = a.app.StartSocketModeContext(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: helloTimeout}
	if a.http.Jar != nil {
		d.Jar = a.http.Jar
	}
	ws, resp, err := d.DialContext(ctx, wsURL, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, tebura.Wrap(tebura.ETRANSIENT, err, "Could not open the Slack Socket Mode connection.")
	}
	c := &sockConn{ws: ws, hello: make(chan struct{}), refresh: make(chan string, 1), dead: make(chan struct{})}
	go a.read(c)
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
	select {
	case <-c.hello:
		a.log.Info("slack socket connected")
		return c, nil
	case <-c.dead:
		return nil, tebura.Wrap(tebura.ETRANSIENT, c.err, "The Slack Socket Mode connection closed before hello.")
	case <-t.C:
		a.closeConn(c)
		return nil, tebura.Errorf(tebura.ETRANSIENT, "Slack sent no hello on the Socket Mode connection.")
	case <-ctx.Done():
		a.closeConn(c)
		return nil, ctx.Err()
	}
}

// read is a connection's reader. Every frame and every ping pushes the
// watchdog deadline; silence past it kills the connection.
func (a *Adapter) read(c *sockConn) {
	defer func() {
		if c.helloed {
			a.sock.live.Add(-1)
		}
		_ = c.ws.Close()
		close(c.dead)
	}()
	c.ws.SetReadLimit(4 << 20)
	c.ws.SetPingHandler(func(data string) error {
		_ = c.ws.SetReadDeadline(time.Now().Add(a.watchdog))
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(a.watchdog))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			a.log.Warn("slack socket frame unreadable", "err", scrub(err))
			continue
		}
		switch f.Type {
		case "hello":
			if !c.helloed {
				c.helloed = true
				a.sock.live.Add(1)
				close(c.hello)
			}
		case "disconnect":
			select {
			case c.refresh <- f.Reason:
			default:
			}
		default:
			if f.EnvelopeID == "" {
				continue
			}
			if err := a.ack(c, f.EnvelopeID); err != nil {
				a.log.Warn("slack socket ack failed", "envelope_id", f.EnvelopeID, "err", scrub(err))
			}
			a.envelope(f)
		}
	}
}

// ack acknowledges an envelope; Slack redelivers unacknowledged ones.
func (a *Adapter) ack(c *sockConn, envelopeID string) error {
	b, _ := json.Marshal(struct {
		EnvelopeID string `json:"envelope_id"`
	}{envelopeID})
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// closeConn says goodbye, closes the connection and waits for its reader,
// which the closed socket ends at once.
func (a *Adapter) closeConn(c *sockConn) {
	c.writeMu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	_ = c.ws.Close()
	<-c.dead
}

// envelope handles an acknowledged envelope on a handler goroutine, so
// that the reader goes on reading.
func (a *Adapter) envelope(f frame) {
	a.spawn(context.Background(), func(ctx context.Context) { a.onEnvelope(ctx, f) })
}

// onEnvelope handles an acknowledged envelope once per envelope_id.
func (a *Adapter) onEnvelope(ctx context.Context, f frame) {
	first, err := a.dedupe.Mark(ctx, "slack-envelope", f.EnvelopeID, dedupeTTL)
	if err != nil {
		a.log.Error("slack dedupe failed", "envelope_id", f.EnvelopeID, "err", scrub(err))
	} else if !first {
		a.log.Info("slack duplicate envelope dropped", "envelope_id", f.EnvelopeID, "retry_attempt", f.RetryCount)
		return
	}
	switch f.Type {
	case "slash_commands":
		var sc slashCommand
		if decodeJSON(f.Payload, &sc) {
			a.onCommand(ctx, sc)
		}
	case "interactive":
		var ic interaction
		if decodeJSON(f.Payload, &ic) {
			a.onInteraction(ctx, ic)
		}
	case "events_api":
		var ev eventCallback
		if decodeJSON(f.Payload, &ev) && ev.Type == "event_callback" {
			a.onEvent(ctx, ev)
		}
	default:
		a.log.Debug("slack envelope ignored", "type", f.Type)
	}
}

// Ready reports whether Slack can reach the bot: in Socket Mode, whether a
// connection is up; in HTTP mode, whether the token was accepted.
func (a *Adapter) Ready() error {
	if a.cfg.Mode == ModeSocket {
		if a.sock.live.Load() > 0 {
			return nil
		}
		return tebura.Errorf(tebura.ETRANSIENT, "Slack Socket Mode is not connected.")
	}
	if !a.authOK.Load() {
		return tebura.Errorf(tebura.ETRANSIENT, "Slack has not accepted the bot token yet.")
	}
	return nil
}
