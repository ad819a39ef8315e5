package slacktest

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Network is how the fake's listener treats connections, to play a Slack
// that is down in each of the ways a real outage looks from the client.
type Network int

// Networks for SetNetwork.
const (
	// NetworkUp serves normally.
	NetworkUp Network = iota
	// NetworkHang accepts connections and never answers: no byte is read
	// or written (a black-holed route, a stuck load balancer). Requests
	// on connections already open hang too. Clients see timeouts only.
	NetworkHang
	// NetworkRefuse resets every connection as soon as it is accepted,
	// and requests on connections already open (a crashed endpoint).
	// Clients see "connection reset" at once.
	NetworkRefuse
	// NetworkSlow answers every request, after the delay given to SetSlow
	// (an overloaded Slack).
	NetworkSlow
)

// SetNetwork switches how the fake treats connections from now on. Going
// back to NetworkUp releases the hung connections (closed, so that their
// clients retry).
func (s *Server) SetNetwork(n Network) {
	s.net.mu.Lock()
	s.net.mode = n
	var held []net.Conn
	if n != NetworkHang {
		held, s.net.held = s.net.held, nil
		close(s.net.release)
		s.net.release = make(chan struct{})
	}
	s.net.mu.Unlock()
	for _, c := range held {
		_ = c.Close()
	}
}

// SetSlow sets the delay of NetworkSlow.
func (s *Server) SetSlow(d time.Duration) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.net.delay = d
}

// Accepted returns how many TCP connections the fake's listener accepted,
// whatever it did with them: a client that kept retrying shows here even
// when nothing was answered.
func (s *Server) Accepted() int {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return s.net.accepted
}

// network is the state behind SetNetwork.
type network struct {
	mu       sync.Mutex
	mode     Network
	delay    time.Duration
	held     []net.Conn    // NetworkHang: accepted, never served
	release  chan struct{} // closed when the mode leaves NetworkHang (or at Close)
	accepted int
	closed   bool
}

func (n *network) init() { n.release = make(chan struct{}) }

func (n *network) state() (Network, time.Duration, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mode, n.delay, n.release
}

// close releases every held connection for good.
func (n *network) close() {
	n.mu.Lock()
	held := n.held
	n.held, n.closed = nil, true
	n.mode = NetworkUp
	close(n.release)
	n.release = make(chan struct{})
	n.mu.Unlock()
	for _, c := range held {
		_ = c.Close()
	}
}

// listener applies the network mode to new connections.
type listener struct {
	net.Listener
	n *network
}

func (l listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.n.mu.Lock()
		l.n.accepted++
		mode, closed := l.n.mode, l.n.closed
		if mode == NetworkHang && !closed {
			l.n.held = append(l.n.held, c)
			l.n.mu.Unlock()
			continue
		}
		l.n.mu.Unlock()
		if mode == NetworkRefuse {
			reset(c)
			continue
		}
		return c, nil
	}
}

// reset closes c with a TCP RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// wrap applies the network mode to requests on connections already open.
func (n *network) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, delay, release := n.state()
		switch mode {
		case NetworkHang:
			select {
			case <-r.Context().Done():
			case <-release:
			}
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
				}
			}
			return
		case NetworkRefuse:
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					reset(c)
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case NetworkSlow:
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
