package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// apiToken is a configured token, kept as its digest: comparing digests of
// equal length in constant time tells a guesser nothing, not even the
// length.
type apiToken struct {
	identity string
	digest   [sha256.Size]byte
}

func apiTokens(ts []config.APIToken) []apiToken {
	out := make([]apiToken, 0, len(ts))
	for _, t := range ts {
		if t.Token.Value() != "" {
			out = append(out, apiToken{identity: t.Identity, digest: sha256.Sum256([]byte(t.Token.Value()))})
		}
	}
	return out
}

// apiActor is the identity of the request's bearer token, or "".
func (s *Server) apiActor(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return ""
	}
	d := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	found := ""
	for _, t := range s.api {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			found = t.identity // no early return: every token is compared
		}
	}
	return found
}

// apiHandler is one /api/v1 endpoint, called with the token's identity.
type apiHandler func(w http.ResponseWriter, r *http.Request, actor bot.Actor) (status int, body any, err error)

// apiMaxBody bounds a request body of the API.
const apiMaxBody = 64 << 10

// endpoint authenticates the bearer token, records the call on the audit
// chain, and answers JSON (errors as {"error": "..."} with the status of
// their kind).
func (s *Server) endpoint(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id := s.apiActor(r)
		if id == "" {
			s.log.Warn("api call refused", "path", r.URL.Path, "reason", "bad or missing bearer token")
			w.Header().Set("WWW-Authenticate", `Bearer realm="tebura"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "A valid bearer token is needed (api.tokens): send Authorization: Bearer <token>."})
			return
		}
		if s.d.Audit != nil {
			if err := s.d.Audit.Record(r.Context(), id, audit.ActionAPICall, r.Method+" "+r.URL.Path, nil); err != nil {
				s.log.Error("audit api call failed", "actor", id, "err", err)
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "The call could not be recorded on the audit chain, so it was not made; try again."})
				return
			}
		}
		status, body, err := h(w, r, bot.Actor{ID: id, Name: id})
		if err != nil {
			status = tebura.HTTPStatus(tebura.ErrorCode(err))
			if status >= 500 {
				s.log.Error("api call failed", "actor", id, "path", r.URL.Path, "err", err)
			}
			body = map[string]string{"error": tebura.OneLine(tebura.PublicMessage(err))}
		}
		if body == nil {
			return // the handler wrote its own answer
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// mountAPI adds /api/v1.
func (s *Server) mountAPI(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/changes", s.endpoint(s.apiChange))
	mux.Handle("POST /api/v1/runs", s.endpoint(s.apiRequest))
	mux.Handle("GET /api/v1/runs/{id}", s.endpoint(s.apiRun))
	mux.Handle("GET /api/v1/runs/{id}/log", s.endpoint(s.apiLog))
	mux.Handle("GET /api/v1/incidents/{n}", s.endpoint(s.apiIncident))
}

// runRequest is the body of POST /api/v1/runs.
type runRequest struct {
	Runbook  string            `json:"runbook"`
	Params   map[string]string `json:"params"`
	Incident string            `json:"incident"`
}

// RunJSON is a run as the API shows it: secret params masked.
type RunJSON struct {
	ID          string            `json:"id"`
	Runbook     string            `json:"runbook"`
	State       runbooks.State    `json:"state"`
	Params      map[string]string `json:"params"`
	RequestedBy string            `json:"requested_by"`
	Required    int               `json:"required_approvals,omitempty"`
	Approvals   []string          `json:"approved_by,omitempty"`
	DeniedBy    string            `json:"denied_by,omitempty"`
	ExitCode    int               `json:"exit_code"`
	Reason      string            `json:"reason,omitempty"`
	RequestedAt time.Time         `json:"requested_at"`
	StartedAt   time.Time         `json:"started_at,omitzero"`
	EndedAt     time.Time         `json:"ended_at,omitzero"`
	Incident    string            `json:"incident,omitempty"`
	URL         string            `json:"url"`
}

func (s *Server) runJSON(run *runbooks.Run) RunJSON {
	m := s.d.Runs.Masker(run)
	params := map[string]string{}
	for k, v := range run.Params {
		if m != nil {
			v = m.Mask(v)
		}
		params[k] = v
	}
	for _, k := range run.Secret {
		params[k] = secretMask
	}
	out := RunJSON{ID: run.ID, Runbook: run.Runbook, State: run.State, Params: params, RequestedBy: run.RequestedBy,
		Required: run.Required, ExitCode: run.ExitCode, Reason: run.Reason, RequestedAt: run.RequestedAt,
		StartedAt: run.StartedAt, EndedAt: run.EndedAt, Incident: run.Origin.Incident, URL: s.RunURL(run.ID)}
	for _, a := range run.Approvals {
		out.Approvals = append(out.Approvals, a.By)
	}
	if run.Denied != nil {
		out.DeniedBy = run.Denied.By
	}
	return out
}

func (s *Server) apiRequest(w http.ResponseWriter, r *http.Request, actor bot.Actor) (int, any, error) {
	body, err := tebura.ReadBody(w, r, apiMaxBody)
	if err != nil {
		return 0, nil, err
	}
	var req runRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Runbook == "" {
		return 0, nil, tebura.Errorf(tebura.EINVALID, `The body must be JSON like {"runbook": "restart-api", "params": {"env": "staging"}}.`)
	}
	dr := runbookchat.DoorRequest{Actor: actor, Runbook: req.Runbook, Params: req.Params, Via: runbooks.ViaAPI}
	if err := s.placeRequest(r.Context(), &dr, req.Incident); err != nil {
		return 0, nil, err
	}
	run, err := s.d.Flows.RequestFrom(r.Context(), dr)
	if run == nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.runJSON(run), nil
}

func (s *Server) apiRun(_ http.ResponseWriter, r *http.Request, actor bot.Actor) (int, any, error) {
	run, err := s.runOf(r.Context(), r.PathValue("id"), actor)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.runJSON(run), nil
}

// apiLog is the log as written so far (masked, capped), from this
// replica's file or the store's copy; ?offset=N starts at byte N, and
// X-Log-Offset says where to continue.
func (s *Server) apiLog(w http.ResponseWriter, r *http.Request, actor bot.Actor) (int, any, error) {
	run, err := s.runOf(r.Context(), r.PathValue("id"), actor)
	if err != nil {
		return 0, nil, err
	}
	var off int64
	if o := r.URL.Query().Get("offset"); o != "" {
		if off, err = strconv.ParseInt(o, 10, 64); err != nil || off < 0 {
			return 0, nil, tebura.Errorf(tebura.EINVALID, "offset %q is not a byte offset.", o)
		}
	}
	f, err := s.openRunLog(r.Context(), run)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	if err := skipTo(f, off); err != nil {
		return 0, nil, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, nil, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Log-Offset", strconv.FormatInt(off+int64(len(data)), 10))
	w.Header().Set("X-Run-State", string(run.State))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	return 0, nil, nil
}

// IncidentJSON is an incident as the API shows it.
type IncidentJSON struct {
	*incident.Incident
	Timeline []incident.TimelineEntry `json:"timeline"`
	URL      string                   `json:"url"`
}

func (s *Server) apiIncident(_ http.ResponseWriter, r *http.Request, actor bot.Actor) (int, any, error) {
	v := &viewer{Actor: actor, policy: s.policy()}
	inc, err := s.incidentOf(r, v)
	if err != nil {
		return 0, nil, err
	}
	tl, err := s.d.Incidents.Timeline(r.Context(), inc.ID)
	if err != nil {
		return 0, nil, err
	}
	shown := []incident.TimelineEntry{}
	for _, e := range tl {
		if !incident.Bookkeeping(e.Kind) {
			shown = append(shown, e)
		}
	}
	return http.StatusOK, IncidentJSON{Incident: inc, Timeline: shown, URL: s.IncidentURL(inc.Number)}, nil
}

// apiChange records a change to a service (a deploy), as /hooks/changes
// does for the generic form, with the token's identity as "by" when the
// body names nobody. The same change sent twice is recorded once.
func (s *Server) apiChange(w http.ResponseWriter, r *http.Request, actor bot.Actor) (int, any, error) {
	if s.d.Changes == nil {
		return 0, nil, tebura.Errorf(tebura.ENOTFOUND, "This server records no changes.")
	}
	body, err := tebura.ReadBody(w, r, apiMaxBody)
	if err != nil {
		return 0, nil, err
	}
	c, err := hints.ParseJSON(body, s.now())
	if err != nil {
		return 0, nil, err
	}
	if c.Source == "generic" {
		c.Source = "api"
	}
	if c.By == "" {
		c.By = actor.ID
	}
	stored, err := hints.Record(r.Context(), s.d.Changes, c)
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusCreated
	if !stored {
		status = http.StatusOK
	}
	return status, map[string]any{"id": c.ID, "service": c.Service, "version": c.Version, "recorded": stored}, nil
}
