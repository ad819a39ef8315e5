// Package web is Tebura's web view: server-rendered pages for incidents,
// runs (with their live log over Server-Sent Events), the runbook catalog
// with a request form, and the audit chain, plus /api/v1 for scripts. It is
// one more client of the run service, with the rules of chat: it requests,
// approves, denies and cancels through runbookchat's flows, and people sign
// in as their chat identity with a one-time link from `/tebura login`, so
// roles apply exactly as in chat.
//
// Templates and assets are embedded; there is no build step and no inline
// script, so the Content-Security-Policy forbids everything but this
// server's own files.
package web

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// LinkTTL is how long a one-time sign-in link works: long enough to move
// from chat to a browser, short enough that a link found later is dead.
const LinkTTL = 10 * time.Minute

// Sessions keeps sessions and one-time links (store/bolt implements it;
// store/storetest.RunSessions is its conformance suite), so that every
// replica knows every session and a link works once across all of them.
type Sessions interface {
	PutSession(ctx context.Context, key string, data []byte, expires time.Time) error
	// GetSession and TakeSession return a tebura ENOTFOUND error for an
	// absent or expired key; TakeSession deletes it in the same step.
	GetSession(ctx context.Context, key string) ([]byte, error)
	TakeSession(ctx context.Context, key string) ([]byte, error)
	DeleteSession(ctx context.Context, key string) error
}

// Flows are the runbook flows of chat, reused as they are (runbookchat.Flows).
type Flows interface {
	RequestFrom(ctx context.Context, req runbookchat.DoorRequest) (*runbooks.Run, error)
	ApproveAs(ctx context.Context, actor bot.Actor, runID string) (string, error)
	DenyAs(ctx context.Context, actor bot.Actor, runID string) error
	CancelAs(ctx context.Context, actor bot.Actor, runID string) (string, error)
	CanView(actor bot.Actor, run *runbooks.Run) bool
}

// Incidents is what the pages read of incidents (*incident.Service).
type Incidents interface {
	List(ctx context.Context, opt incident.ListOptions) ([]*incident.Incident, error)
	ByNumber(ctx context.Context, n int64) (*incident.Incident, error)
	Alerts(ctx context.Context, id string) ([]*incident.AlertEntry, error)
	Timeline(ctx context.Context, id string) ([]incident.TimelineEntry, error)
}

// Deps are what the web view is built from. Registry and Access are
// functions so that a config reload applies to the next request.
type Deps struct {
	Config    config.Web
	APITokens []config.APIToken
	Sessions  Sessions
	Flows     Flows
	Runs      *runbooks.Service
	// Incidents is nil when incidents are not enabled.
	Incidents Incidents
	// AuditStore is the chain /ui/audit shows and verifies; Audit records
	// sign-ins and API calls.
	AuditStore audit.Store
	Audit      *audit.Log
	Registry   func() *runbooks.Registry
	Access     func() *access.Policy
	// Changes records the changes POSTed to /api/v1/changes (the same
	// feed as /hooks/changes); nil answers that endpoint 404.
	Changes hints.ChangeStore
	DataDir string
	// Secure marks cookies Secure: Tebura serves TLS itself, or
	// web.base_url is https (TLS ends at a proxy in front).
	Secure bool
	Clock  func() time.Time
	Logger *slog.Logger
}

// Server is the web view's HTTP handlers.
type Server struct {
	d    Deps
	tmpl map[string]*template.Template
	now  func() time.Time
	log  *slog.Logger
	base *url.URL
	api  []apiToken
	// events renders each piece of a live log once for all its viewers.
	events *eventCache
	// remote is the store's copies of the logs of runs on other replicas.
	remote *remoteLogs
	oidc   oidcClient
}

// New builds the web view; Mount adds its routes.
func New(d Deps) (*Server, error) {
	s := &Server{d: d, now: d.Clock, log: d.Logger, events: newEventCache()}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.remote = newRemoteLogs(time.Now, s.logChunksFrom, s.log) // real time, as the poll ticker
	if s.d.Config.SessionTTL <= 0 {
		s.d.Config.SessionTTL = config.DefaultSessionTTL
	}
	base, err := url.Parse(strings.TrimSuffix(d.Config.BaseURL, "/"))
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "web.base_url is not a URL.")
	}
	s.base = base
	if s.tmpl, err = parseTemplates(); err != nil {
		return nil, tebura.Wrap(tebura.EINTERNAL, err, "The web view's templates do not parse.")
	}
	s.api = apiTokens(d.APITokens)
	return s, nil
}

// Mount adds the pages under /ui/, the assets under /ui/assets/ and the
// API under /api/v1/ to mux.
func (s *Server) Mount(mux *http.ServeMux) {
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /ui/assets/", s.secure(http.StripPrefix("/ui/assets/", http.FileServerFS(assets))))
	mux.Handle("GET /ui/{$}", s.secure(http.RedirectHandler("/ui/incidents", http.StatusSeeOther)))
	mux.Handle("GET /ui/login/{token}", s.secure(http.HandlerFunc(s.loginPage)))
	mux.Handle("POST /ui/login/{token}", s.secure(http.HandlerFunc(s.login)))
	mux.Handle("POST /ui/logout", s.page(s.logout))
	mux.Handle("GET /ui/oidc/login", s.secure(http.HandlerFunc(s.oidcLogin)))
	mux.Handle("GET /ui/oidc/callback", s.secure(http.HandlerFunc(s.oidcCallback)))
	mux.Handle("GET /ui/incidents", s.page(s.incidents))
	mux.Handle("GET /ui/incidents/{n}", s.page(s.incidentPage))
	mux.Handle("GET /ui/incidents/{n}/postmortem.md", s.page(s.postmortemDownload))
	mux.Handle("GET /ui/runs/{id}", s.page(s.runPage))
	mux.Handle("GET /ui/runs/{id}/log", s.page(s.runLogDownload))
	mux.Handle("GET /ui/runs/{id}/events", s.page(s.runEvents))
	mux.Handle("POST /ui/runs/{id}/approve", s.page(s.approve))
	mux.Handle("POST /ui/runs/{id}/deny", s.page(s.deny))
	mux.Handle("POST /ui/runs/{id}/cancel", s.page(s.cancel))
	mux.Handle("GET /ui/runbooks", s.page(s.runbooksPage))
	mux.Handle("GET /ui/runbooks/{name}", s.page(s.runbookForm))
	mux.Handle("POST /ui/runbooks/{name}", s.page(s.requestRun))
	mux.Handle("GET /ui/audit", s.page(s.auditPage))
	s.mountAPI(mux)
}

// URL is the absolute address of path (which starts with /ui/) for links
// in chat.
func (s *Server) URL(path string) string { return s.base.String() + path }

// IncidentURL is the address of incident n's page.
func (s *Server) IncidentURL(n int64) string { return s.URL("/ui/incidents/" + itoa(n)) }

// RunURL is the address of run id's page.
func (s *Server) RunURL(id string) string { return s.URL("/ui/runs/" + url.PathEscape(id)) }

// csp allows this server's own scripts, styles and connections only: no
// inline script, no inline style, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the headers every response of the web view carries.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		// A sign-in link in a Referer header would be a sign-in link
		// handed to whatever site a page links to; same-origin keeps the
		// Origin header of our own forms, which the POST check reads
		// (no-referrer would make it "null").
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/ui/assets/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}
