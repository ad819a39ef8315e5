package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Frame is one line of a command's answer over the socket (JSON lines):
// bytes for the caller's stdout or stderr, and last the exit code with the
// error message the command ended with. Output that is not valid UTF-8
// travels base64-encoded in the *Bytes fields, unchanged.
type Frame struct {
	Out      string `json:"out,omitempty"`
	OutBytes []byte `json:"out_bytes,omitempty"`
	Err      string `json:"err,omitempty"`
	ErrBytes []byte `json:"err_bytes,omitempty"`
	// Exit is set on the last frame only.
	Exit    *int   `json:"exit,omitempty"`
	Message string `json:"message,omitempty"`
}

// Stream writes a command's answer as frames to an HTTP response, flushed
// frame by frame so that a run's lines arrive as they are printed. Its
// writers are safe for concurrent use (a run's echo and the handler).
type Stream struct {
	mu    sync.Mutex
	w     http.ResponseWriter
	enc   *json.Encoder
	ended bool
	err   error
}

// NewStream starts the answer on w.
func NewStream(w http.ResponseWriter) *Stream {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return &Stream{w: w, enc: json.NewEncoder(w)}
}

// Stdout is the caller's standard output.
func (s *Stream) Stdout() io.Writer { return streamWriter{s, false} }

// Stderr is the caller's standard error.
func (s *Stream) Stderr() io.Writer { return streamWriter{s, true} }

// End sends the exit code and the error message ("" for none); nothing can
// be written after it.
func (s *Stream) End(code int, message string) error {
	return s.send(Frame{Exit: &code, Message: message}, true)
}

func (s *Stream) send(f Frame, last bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errors.New("admin stream already ended")
	}
	if s.err != nil {
		return s.err
	}
	s.ended = last
	if err := s.enc.Encode(f); err != nil {
		s.err = err
		return err
	}
	if fl, ok := s.w.(http.Flusher); ok {
		fl.Flush()
	}
	return nil
}

type streamWriter struct {
	s      *Stream
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	var f Frame
	text := utf8.Valid(p)
	switch {
	case w.stderr && text:
		f.Err = string(p)
	case w.stderr:
		f.ErrBytes = bytes.Clone(p)
	case text:
		f.Out = string(p)
	default:
		f.OutBytes = bytes.Clone(p)
	}
	if err := w.s.send(f, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ErrNoExit is returned by Copy when the answer ended without its exit
// frame: the server stopped (or the connection broke) mid-command.
var ErrNoExit = errors.New("the server closed the admin connection before the command ended")

// Copy reads an answer's frames from r, writes their bytes to stdout and
// stderr, and returns the exit code and message of the last frame.
func Copy(r io.Reader, stdout, stderr io.Writer) (code int, message string, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var f Frame
			if err := json.Unmarshal(line, &f); err != nil {
				return 0, "", fmt.Errorf("admin socket: bad frame: %w", err)
			}
			if f.Exit != nil {
				return *f.Exit, f.Message, nil
			}
			for _, part := range []struct {
				w io.Writer
				b []byte
			}{{stdout, []byte(f.Out)}, {stdout, f.OutBytes}, {stderr, []byte(f.Err)}, {stderr, f.ErrBytes}} {
				if len(part.b) > 0 {
					if _, err := part.w.Write(part.b); err != nil {
						return 0, "", err
					}
				}
			}
		}
		if rerr == io.EOF {
			return 0, "", ErrNoExit
		}
		if rerr != nil {
			return 0, "", rerr
		}
	}
}

// responseHeaderTimeout bounds how long a server may take to start
// answering (a backup answers once its copy is spooled).
const responseHeaderTimeout = time.Minute

// Client talks to a server over its admin socket.
type Client struct {
	path string
	http *http.Client
}

// Dial returns a client of the server answering on the socket at path, or
// an error when nothing answers there (no server holds the data dir).
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, probeTimeout)
	if err != nil {
		return nil, err
	}
	c.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
		// A wedged server fails the command instead of hanging it; a
		// command's output may then stream for as long as it runs.
		ResponseHeaderTimeout: responseHeaderTimeout,
	}
	return &Client{path: path, http: &http.Client{Transport: tr}}, nil
}

// Path is the socket the client talks to.
func (c *Client) Path() string { return c.path }

// Do sends a request with a JSON body (nil for none) to path on the
// server and returns the response when its status is 200; otherwise the
// error carries the server's one-line reason.
func (c *Client) Do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://tebura"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", c.path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &StatusError{Code: resp.StatusCode, Reason: strings.TrimSpace(string(b))}
	}
	return resp, nil
}

// StatusError is a refusal by the server: its HTTP status and reason.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	if e.Reason == "" {
		return http.StatusText(e.Code)
	}
	return e.Reason
}
