package tebura_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tebura/tebura"
)

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{tebura.EINVALID, http.StatusBadRequest},
		{tebura.EUNAUTHENTICATED, http.StatusUnauthorized},
		{tebura.EFORBIDDEN, http.StatusForbidden},
		{tebura.ENOTFOUND, http.StatusNotFound},
		{tebura.EMETHOD, http.StatusMethodNotAllowed},
		{tebura.ECONFLICT, http.StatusConflict},
		{tebura.ETOOLARGE, http.StatusRequestEntityTooLarge},
		{tebura.ETRANSIENT, http.StatusServiceUnavailable},
		{tebura.EINTERNAL, http.StatusInternalServerError},
		{"no such code", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := tebura.HTTPStatus(tt.code); got != tt.want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

func TestMessages(t *testing.T) {
	const detail = "open /var/lib/tebura/tebura.db: permission denied"
	tests := []struct {
		name          string
		err           error
		operator      string // ErrorMessage
		public        string // PublicMessage; "" means the same as operator
		wantsInternal bool   // the public sentence is the generic one
	}{
		{name: "nil", err: nil},
		{name: "invalid says what to send", err: tebura.Errorf(tebura.EINVALID, "Write env=prod."), operator: "Write env=prod."},
		{name: "wrapped keeps the sentence", err: fmt.Errorf("ctx: %w", tebura.Errorf(tebura.ECONFLICT, "Already approved by @bob.")), operator: "Already approved by @bob."},
		{name: "internal message is for operators", err: tebura.Wrap(tebura.EINTERNAL, errors.New(detail), "The database cannot be opened."), operator: "The database cannot be opened.", wantsInternal: true},
		{name: "plain error is internal", err: errors.New(detail), wantsInternal: true},
		{name: "transient without sentence", err: tebura.Wrap(tebura.ETRANSIENT, errors.New("429"), ""), operator: "The chat platform or the disk is busy right now. Try again in a minute."},
		{name: "transient with sentence", err: tebura.Errorf(tebura.ETRANSIENT, "Slack is rate limiting us; try in 30s."), operator: "Slack is rate limiting us; try in 30s."},
	}
	generic := tebura.PublicMessage(errors.New("x"))
	if generic == "" || strings.Contains(generic, "x") {
		t.Fatalf("generic sentence %q", generic)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			operator, public := tt.operator, tt.operator
			if tt.wantsInternal {
				public = generic
				if operator == "" {
					operator = generic
				}
			}
			if got := tebura.ErrorMessage(tt.err); got != operator {
				t.Errorf("ErrorMessage = %q, want %q", got, operator)
			}
			if got := tebura.PublicMessage(tt.err); got != public {
				t.Errorf("PublicMessage = %q, want %q", got, public)
			}
			if strings.Contains(tebura.PublicMessage(tt.err), "/var/lib") {
				t.Errorf("PublicMessage leaks the detail")
			}
		})
	}
}

func TestHTTPError(t *testing.T) {
	w := httptest.NewRecorder()
	tebura.HTTPError(w, tebura.Errorf(tebura.EUNAUTHENTICATED, "bad signature\r\nX-Forged: yes"))
	if w.Code != http.StatusUnauthorized || w.Body.String() != "bad signature X-Forged: yes\n" {
		t.Errorf("got %d %q, want 401 and the reason on one line", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	tebura.HTTPError(w, tebura.Wrap(tebura.EINTERNAL, errors.New("disk /var/lib: EIO"), "bucket runs missing"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "bucket") || strings.Contains(w.Body.String(), "/var/lib") {
		t.Errorf("got %d %q, want 500 with the generic sentence", w.Code, w.Body)
	}
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		code   string
		reason string
	}{
		{"at the limit", strings.Repeat("a", 16), "", ""},
		{"over the limit", strings.Repeat("a", 17), tebura.ETOOLARGE, "body larger than 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			body, err := tebura.ReadBody(httptest.NewRecorder(), r, 16)
			if tebura.ErrorCode(err) != tt.code || tebura.ErrorMessage(err) != tt.reason {
				t.Fatalf("err = %v, want code %q and %q", err, tt.code, tt.reason)
			}
			if err == nil && string(body) != tt.body {
				t.Errorf("body = %q", body)
			}
		})
	}
	r := httptest.NewRequest(http.MethodPost, "/", iotestErr{})
	if _, err := tebura.ReadBody(httptest.NewRecorder(), r, 16); tebura.ErrorCode(err) != tebura.EINVALID || tebura.ErrorMessage(err) != "could not read the body" {
		t.Errorf("unreadable body: %v", err)
	}
}

// iotestErr is a body whose read fails, as a dropped connection's does.
type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
