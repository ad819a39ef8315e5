package runbooks

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
)

// TestRedactorMasksURLEscapedSecrets: a secret is masked in every form a
// URL carries it, for configured values and for a run's secret params.
func TestRedactorMasksURLEscapedSecrets(t *testing.T) {
	const secret = "abc+def/ghi== x"
	r, err := NewRedactor([]string{"conf ig/ured"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r = r.With(secret)
	for _, v := range []string{secret, "conf ig/ured"} {
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v), urlEscape(v)} {
			in := "GET http://host/api?token=" + form + "&x=1"
			if got, want := r.Mask(in), "GET http://host/api?token=***&x=1"; got != want {
				t.Errorf("Mask(%q) = %q, want %q", in, got, want)
			}
			if got := string(r.maskBytes([]byte(in), nil)); got != r.Mask(in) {
				t.Errorf("maskBytes(%q) = %q, Mask gives %q", in, got, r.Mask(in))
			}
		}
	}
}

// TestReduceURLError: an HTTP step's request error names only the method
// and scheme://host.
func TestReduceURLError(t *testing.T) {
	inner := errors.New("connection refused")
	err := reduceURLError(&url.Error{Op: "Get", URL: "http://user@host:81/api/abc%2Bdef?token=abc%2Bdef%2Fghi%3D%3D#f", Err: inner})
	if got, want := err.Error(), `Get "http://host:81": connection refused`; got != want {
		t.Errorf("reduced error = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) {
		t.Error("the reduced error lost its cause")
	}
	if other := errors.New("x"); reduceURLError(other) != other {
		t.Error("a non-URL error was changed")
	}
}

// TestURLEscapedSecretDoesNotLeak is the attack: a secret in a URL's query,
// the host down, and the escaped secret must appear in neither the reason,
// the tail nor the log.
func TestURLEscapedSecretDoesNotLeak(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connection refused
	h := newHarness(t, ExecutorConfig{})
	rb := h.load(`name: web
kind: diagnostic
params: [{name: token, secret: true, required: true}]
steps:
  - name: get
    http:
      url: "http://` + addr + `/api?token={{ .Params.token }}"
`)
	handle, run, err := h.start(rb, "console:alice", "token=abc+def/ghi==")
	if err != nil {
		t.Fatal(err)
	}
	snap := h.wait(handle)
	all := snap.Reason + "\n" + strings.Join(snap.Tail, "\n") + "\n" + h.logOf(run.ID)
	for _, leak := range []string{"abc+def/ghi==", "abc%2Bdef%2Fghi%3D%3D", "abc%2Bdef"} {
		if strings.Contains(all, leak) {
			t.Errorf("%q leaked:\n%s", leak, all)
		}
	}
	if snap.State != StateFailed || !strings.Contains(snap.Reason, `Get "http://`+addr+`"`) {
		t.Errorf("snapshot = %+v; want failed naming GET and the host", snap)
	}
}
