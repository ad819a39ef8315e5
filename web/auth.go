package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
)

// cookieName is the session cookie's name.
const cookieName = "tebura_session"

// session is a signed-in browser: who it acts as, and the token its forms
// carry against cross-site requests.
type session struct {
	Actor bot.Actor `json:"actor"`
	CSRF  string    `json:"csrf"`
}

// loginLink is a one-time link waiting to be used: the identity that asked
// for it, and the page to land on.
type loginLink struct {
	Actor bot.Actor `json:"actor"`
	Next  string    `json:"next,omitempty"`
}

// viewer is the person a request acts for.
type viewer struct {
	Actor  bot.Actor
	CSRF   string
	policy *access.Policy
}

func (v *viewer) subject() access.Subject { return commands.Subject(v.Actor) }

// hasRole reports whether the viewer holds any role (or is an admin): who
// may read incident pages.
func (v *viewer) hasRole() bool {
	return v.policy != nil && (len(v.policy.Roles(v.subject())) > 0 || v.policy.IsAdmin(v.subject()))
}

// IsAdmin reports whether the viewer is an admin: who may read the audit
// chain.
func (v *viewer) IsAdmin() bool { return v.policy != nil && v.policy.IsAdmin(v.subject()) }

// Name is how pages show the viewer.
func (v *viewer) Name() string { return commands.Who(v.Actor.ID, v.Actor.Name) }

// newToken is 256 random bits, URL-safe.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// storeKey is where a token's record is kept: its hash, so that a copy of
// the database holds no usable link or session.
func storeKey(kind, token string) string {
	sum := sha256.Sum256([]byte(token))
	return kind + ":" + hex.EncodeToString(sum[:])
}

// NewLink stores a one-time sign-in link for actor and returns its
// address; next is the page to land on ("" for the incidents).
func (s *Server) NewLink(ctx context.Context, actor bot.Actor, next string) (string, error) {
	tok := newToken()
	data, err := json.Marshal(loginLink{Actor: actor, Next: next})
	if err != nil {
		return "", tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	if err := s.d.Sessions.PutSession(ctx, storeKey("link", tok), data, s.now().Add(LinkTTL)); err != nil {
		return "", err
	}
	if s.d.Audit != nil {
		if err := s.d.Audit.Record(ctx, actor.ID, audit.ActionWebLoginLink, "", nil); err != nil {
			s.log.Error("audit web login link failed", "actor", actor.ID, "err", err)
		}
	}
	return s.URL("/ui/login/" + tok), nil
}

// Login answers `/tebura login`: a private one-time link that signs a
// browser in as the person who typed it.
func (s *Server) Login(ctx context.Context, c *bot.Command) error {
	link, err := s.NewLink(ctx, c.Actor, "")
	if err != nil {
		return err
	}
	return c.Reply.Private(ctx, bot.Message{
		Header: "Sign in to the web view",
		Level:  bot.LevelInfo,
		Text: []string{"This link signs a browser in as you. It works once, within 10 minutes; do not share it.",
			bot.Verbatim(link)},
		Links: []bot.Link{{Label: "Open the web view", URL: link}},
	})
}

// loginPage shows whom a link signs in as, with the button that does it:
// a GET never uses the link, so a chat's link preview cannot spend it.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	data, err := s.d.Sessions.GetSession(r.Context(), storeKey("link", r.PathValue("token")))
	var l loginLink
	if err == nil {
		err = json.Unmarshal(data, &l)
	}
	if err != nil {
		s.fail(w, r, nil, linkError(err))
		return
	}
	s.render(w, r, http.StatusOK, "login", nil, map[string]any{"Who": commands.Who(l.Actor.ID, l.Actor.Name), "ID": l.Actor.ID})
}

// linkError is what a dead link answers, whatever killed it.
func linkError(err error) error {
	if tebura.ErrorCode(err) == tebura.ENOTFOUND || err != nil && !errors.As(err, new(*tebura.Error)) {
		return tebura.Errorf(tebura.ENOTFOUND, "This sign-in link is not valid: it was used already, it is older than 10 minutes, or it was never issued. Type /tebura login in chat for a new one.")
	}
	return err
}

// login spends the link and starts a session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		s.fail(w, r, nil, tebura.Errorf(tebura.EFORBIDDEN, "This sign-in came from another site and was refused. Open the link from chat again."))
		return
	}
	ctx := r.Context()
	data, err := s.d.Sessions.TakeSession(ctx, storeKey("link", r.PathValue("token")))
	var l loginLink
	if err == nil {
		err = json.Unmarshal(data, &l)
	}
	if err != nil {
		s.fail(w, r, nil, linkError(err))
		return
	}
	if err := s.startSession(ctx, w, l.Actor); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if s.d.Audit != nil {
		if err := s.d.Audit.Record(ctx, l.Actor.ID, audit.ActionWebLogin, "", map[string]string{"via": "link"}); err != nil {
			s.log.Error("audit web login failed", "actor", l.Actor.ID, "err", err)
		}
	}
	s.log.Info("web sign-in", "actor", l.Actor.ID, "via", "link")
	next := l.Next
	if !strings.HasPrefix(next, "/ui/") {
		next = "/ui/incidents"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession stores a session for actor and sets its cookie.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, actor bot.Actor) error {
	tok := newToken()
	data, err := json.Marshal(session{Actor: actor, CSRF: newToken()})
	if err != nil {
		return tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	ttl := s.d.Config.SessionTTL
	if err := s.d.Sessions.PutSession(ctx, storeKey("session", tok), data, s.now().Add(ttl)); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: s.d.Secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if c, err := r.Cookie(cookieName); err == nil {
		if err := s.d.Sessions.DeleteSession(r.Context(), storeKey("session", c.Value)); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.d.Secure, SameSite: http.SameSiteLaxMode})
	s.render(w, r, http.StatusOK, "signedout", nil, nil)
	return nil
}

// viewerOf is the signed-in person of r, or nil.
func (s *Server) viewerOf(r *http.Request) (*viewer, error) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	data, err := s.d.Sessions.GetSession(r.Context(), storeKey("session", c.Value))
	if tebura.ErrorCode(err) == tebura.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ss session
	if err := json.Unmarshal(data, &ss); err != nil {
		return nil, nil
	}
	return &viewer{Actor: ss.Actor, CSRF: ss.CSRF, policy: s.policy()}, nil
}

// sameOrigin refuses a POST whose Origin header names another site
// (browsers send it on every cross-site POST).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// handler is a page that needs a signed-in viewer.
type handler func(w http.ResponseWriter, r *http.Request, v *viewer) error

// page signs the request in, checks the CSRF token of a POST, and answers
// the handler's error as a page with the error's status.
func (s *Server) page(h handler) http.Handler {
	return s.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := s.viewerOf(r)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		if v == nil {
			s.fail(w, r, nil, tebura.Errorf(tebura.EUNAUTHENTICATED, "You are not signed in. Type /tebura login in chat and open the link it sends you."))
			return
		}
		if r.Method == http.MethodPost {
			tok := r.PostFormValue("csrf")
			if !sameOrigin(r) || tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(v.CSRF)) != 1 {
				s.fail(w, r, v, tebura.Errorf(tebura.EFORBIDDEN, "This form is stale or was not sent from this site, so nothing was done. Reload the page and try again."))
				return
			}
		}
		if err := h(w, r, v); err != nil {
			s.fail(w, r, v, err)
		}
	}))
}

// fail answers err as an error page (the status of its kind, its public
// message), or as one line of text for what scripts read.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	code := tebura.ErrorCode(err)
	status := tebura.HTTPStatus(code)
	if status >= 500 {
		s.log.Error("web request failed", "path", r.URL.Path, "err", err)
	}
	if strings.HasSuffix(r.URL.Path, "/events") || strings.HasSuffix(r.URL.Path, "/log") || strings.HasSuffix(r.URL.Path, ".md") {
		tebura.HTTPError(w, err)
		return
	}
	s.render(w, r, status, "error", v, map[string]any{"Message": tebura.PublicMessage(err), "Status": status})
}

// policy is the access policy in force.
func (s *Server) policy() *access.Policy {
	if s.d.Access == nil {
		return nil
	}
	return s.d.Access()
}
