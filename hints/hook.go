package hints

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// HookPath is where changes are posted.
const HookPath = "/hooks/changes"

// maxHookBody bounds a change webhook's body. GitHub's deployment_status
// payloads carry the repository and both users: tens of KiB at most.
const maxHookBody = 1 << 20

// Hook receives changes over HTTP: GitHub deployment_status webhooks
// (signed with X-Hub-Signature-256), Argo CD notifications and the generic
// JSON form (both with a bearer token, as Argo CD does not sign).
type Hook struct {
	store ChangeStore
	cfg   func() config.ChangesHook
	now   func() time.Time
	log   *slog.Logger
}

// NewHook returns the handler of HookPath. cfg is read on every request, so
// a config reload changes the token and secret at once. now may be nil
// (time.Now).
func NewHook(store ChangeStore, cfg func() config.ChangesHook, now func() time.Time, logger *slog.Logger) *Hook {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Hook{store: store, cfg: cfg, now: now, log: logger}
}

// ServeHTTP takes one change. A change is stored before the 2xx; a change
// sent again (same ID, such as a GitHub redelivery) is answered 200 and not
// stored twice.
func (h *Hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		tebura.HTTPError(w, tebura.Errorf(tebura.EMETHOD, "POST a change to %s.", HookPath))
		return
	}
	body, err := tebura.ReadBody(w, r, maxHookBody)
	if err != nil {
		tebura.HTTPError(w, err)
		return
	}
	cfg := h.cfg()
	var c Change
	var skip string
	if event := r.Header.Get("X-GitHub-Event"); event != "" {
		if err := checkGitHub(cfg, r, body); err != nil {
			h.refuse(w, "github", err)
			return
		}
		c, skip, err = fromGitHub(event, r.Header.Get("X-GitHub-Delivery"), body, cfg.GitHubServices)
	} else {
		if err := checkToken(cfg, r); err != nil {
			h.refuse(w, "token", err)
			return
		}
		c, err = ParseJSON(body, h.now())
	}
	if err != nil {
		h.refuse(w, "payload", err)
		return
	}
	if skip != "" {
		fmt.Fprintln(w, skip)
		return
	}
	stored, err := Record(r.Context(), h.store, c)
	if err != nil {
		h.refuse(w, "store", err)
		return
	}
	if !stored {
		fmt.Fprintln(w, "already recorded")
		return
	}
	h.log.Info("change recorded", "service", c.Service, "source", c.Source, "version", c.Version)
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "recorded")
}

func (h *Hook) refuse(w http.ResponseWriter, stage string, err error) {
	h.log.Warn("change refused", "stage", stage, "code", tebura.ErrorCode(err), "reason", tebura.ErrorMessage(err))
	tebura.HTTPError(w, err)
}

// Record checks c and stores it; stored is false when a change with its ID
// was recorded before.
func Record(ctx context.Context, store ChangeStore, c Change) (stored bool, err error) {
	if err := c.Check(); err != nil {
		return false, err
	}
	return store.PutChange(ctx, c)
}

// checkGitHub verifies X-Hub-Signature-256, GitHub's HMAC-SHA256 of the raw
// body with the webhook's secret.
func checkGitHub(cfg config.ChangesHook, r *http.Request, body []byte) error {
	secret := cfg.GitHubSecret.Value()
	if secret == "" {
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "GitHub deliveries are not taken here: set hints.changes.github_secret to the webhook's secret.")
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "missing X-Hub-Signature-256: give the GitHub webhook a secret")
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil || !strings.HasPrefix(sig, "sha256=") {
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "X-Hub-Signature-256 is not sha256=<hex>")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "X-Hub-Signature-256 does not match the body and hints.changes.github_secret")
	}
	return nil
}

// checkToken checks the bearer token of the JSON forms.
func checkToken(cfg config.ChangesHook, r *http.Request) error {
	want := cfg.Token.Value()
	if want == "" {
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "JSON changes are not taken here: set hints.changes.token and send it as a bearer token.")
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "missing Authorization: Bearer <hints.changes.token>")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "wrong bearer token")
	}
	return nil
}

// githubDeploymentStatus is the part of GitHub's deployment_status webhook
// payload a change is made of (docs.github.com, "Webhook events and
// payloads", deployment_status).
type githubDeploymentStatus struct {
	DeploymentStatus struct {
		ID          int64     `json:"id"`
		State       string    `json:"state"`
		Environment string    `json:"environment"`
		TargetURL   string    `json:"target_url"`
		LogURL      string    `json:"log_url"`
		Description string    `json:"description"`
		CreatedAt   time.Time `json:"created_at"`
		Creator     struct {
			Login string `json:"login"`
		} `json:"creator"`
	} `json:"deployment_status"`
	Deployment struct {
		ID          int64  `json:"id"`
		SHA         string `json:"sha"`
		Ref         string `json:"ref"`
		Environment string `json:"environment"`
		Description string `json:"description"`
		Creator     struct {
			Login string `json:"login"`
		} `json:"creator"`
	} `json:"deployment"`
	Repository struct {
		Name     string `json:"name"`
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
}

// fromGitHub turns a GitHub delivery into a change. skip, when not empty,
// is why the delivery records nothing (a ping, a deployment that did not
// succeed).
func fromGitHub(event, delivery string, body []byte, services map[string]string) (c Change, skip string, err error) {
	switch event {
	case "ping":
		return c, "pong", nil
	case "deployment_status":
	default:
		return c, "ignored: event " + event + " is not a change; subscribe the webhook to deployment_status", nil
	}
	var p githubDeploymentStatus
	if err := json.Unmarshal(body, &p); err != nil {
		return c, "", tebura.Wrap(tebura.EINVALID, err, "the body is not a deployment_status payload: "+err.Error())
	}
	ds, d := p.DeploymentStatus, p.Deployment
	if ds.State != "success" {
		return c, "ignored: deployment state " + ds.State + " (only success is a change)", nil
	}
	service := services[p.Repository.FullName]
	if service == "" {
		service = p.Repository.Name
	}
	version := d.Ref
	if sha := d.SHA; sha != "" && sha != d.Ref {
		if len(sha) > 7 {
			sha = sha[:7]
		}
		version = strings.TrimPrefix(version+"@"+sha, "@")
	}
	by := d.Creator.Login
	if by == "" {
		by = ds.Creator.Login
	}
	url := ds.TargetURL
	if url == "" {
		url = ds.LogURL
	}
	if url == "" && p.Repository.HTMLURL != "" {
		url = p.Repository.HTMLURL + "/deployments"
	}
	env := ds.Environment
	if env == "" {
		env = d.Environment
	}
	id := "github:" + delivery
	if delivery == "" {
		id = fmt.Sprintf("github:%s:%d", p.Repository.FullName, ds.ID)
	}
	desc := ds.Description
	if desc == "" {
		desc = d.Description
	}
	return Change{ID: id, Service: service, Version: version, Environment: env, By: by, URL: url,
		Source: "github", Description: desc, At: ds.CreatedAt}, "", nil
}

// jsonChange is the generic form, and the Argo CD form when source is
// "argocd" (the body the documented notification template renders).
type jsonChange struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Service     string    `json:"service"`
	Version     string    `json:"version"`
	Environment string    `json:"environment"`
	By          string    `json:"by"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	At          time.Time `json:"at"`

	// Argo CD form.
	App         string `json:"app"`
	Revision    string `json:"revision"`
	FinishedAt  string `json:"finished_at"`
	InitiatedBy string `json:"initiated_by"`
	Namespace   string `json:"namespace"`
}

// ParseJSON reads the generic or Argo CD form of a change (the body of
// /hooks/changes and of /api/v1/changes); "at" defaults to now. Unknown
// fields are refused, so that a typo ("servce") is an error and not a
// change of no service.
func ParseJSON(body []byte, now time.Time) (Change, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var j jsonChange
	if err := dec.Decode(&j); err != nil {
		return Change{}, tebura.Wrap(tebura.EINVALID, err, "the body is not a change: "+err.Error()+` (send {"service": "api", "version": "v1.42", "by": "ci"})`)
	}
	c := Change{ID: j.ID, Service: j.Service, Version: j.Version, Environment: j.Environment, By: j.By, URL: j.URL,
		Description: j.Description, At: j.At, Source: "generic"}
	if j.Source == "argocd" {
		c.Source = "argocd"
		if c.Service == "" {
			c.Service = j.App
		}
		if c.Version == "" {
			c.Version = j.Revision
		}
		if c.By == "" {
			c.By = j.InitiatedBy
		}
		if c.Environment == "" {
			c.Environment = j.Namespace
		}
		if c.At.IsZero() && j.FinishedAt != "" {
			t, err := time.Parse(time.RFC3339, j.FinishedAt)
			if err != nil {
				return Change{}, tebura.Errorf(tebura.EINVALID, "finished_at %q is not an RFC 3339 time.", j.FinishedAt)
			}
			c.At = t
		}
		if c.ID == "" && c.Version != "" {
			c.ID = "argocd:" + c.Service + ":" + c.Version
		}
	} else if j.Source != "" && j.Source != "generic" {
		c.Source = j.Source
	}
	if c.At.IsZero() {
		c.At = now
	}
	return c, nil
}
