package hints_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
	"github.com/tebura/tebura/store/bolt"
)

const (
	ghSecret = "It's a Secret to Everybody"
	token    = "change-token"
)

func newHook(t *testing.T) (*httptest.Server, *bolt.Store, time.Time) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	cfg := config.ChangesHook{Token: token, GitHubSecret: ghSecret, GitHubServices: map[string]string{"acme/api-server": "api"}}
	h := hints.NewHook(st, func() config.ChangesHook { return cfg }, func() time.Time { return now }, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st, now
}

func post(t *testing.T, url string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+hints.HookPath, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deploymentStatus is a GitHub deployment_status payload in the shape of
// GitHub's webhook reference, stamped at.
func deploymentStatus(state string, at time.Time) []byte {
	p := map[string]any{
		"action": "created",
		"deployment_status": map[string]any{"id": 42, "state": state, "environment": "production",
			"target_url": "https://ci.example/deploys/42", "description": "Deployed by CI",
			"created_at": at.Format(time.RFC3339), "creator": map[string]any{"login": "ci-bot"}},
		"deployment": map[string]any{"id": 7, "sha": "1a2b3c4d5e6f", "ref": "v1.42.0", "environment": "production",
			"creator": map[string]any{"login": "octocat"}},
		"repository": map[string]any{"name": "api-server", "full_name": "acme/api-server", "html_url": "https://github.example/acme/api-server"},
		"sender":     map[string]any{"login": "octocat"},
	}
	b, _ := json.Marshal(p)
	return b
}

// TestGitHubSignatures: only a delivery signed with the configured secret
// over its exact body is recorded; a redelivery counts once; a ping and a
// failed deployment record nothing.
func TestGitHubSignatures(t *testing.T) {
	srv, st, now := newHook(t)
	body := deploymentStatus("success", now.Add(-10*time.Minute))
	gh := func(event, delivery, sig string) map[string]string {
		h := map[string]string{"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
		if sig != "" {
			h["X-Hub-Signature-256"] = sig
		}
		return h
	}
	tampered := bytes.Replace(body, []byte("v1.42.0"), []byte("v6.66.6"), 1)
	for _, c := range []struct {
		name   string
		body   []byte
		header map[string]string
		code   int
		reason string
	}{
		{"missing signature", body, gh("deployment_status", "d1", ""), 401, "missing X-Hub-Signature-256"},
		{"wrong secret", body, gh("deployment_status", "d1", sign(body, "guess")), 401, "does not match"},
		{"tampered body", tampered, gh("deployment_status", "d1", sign(body, ghSecret)), 401, "does not match"},
		{"not hex", body, gh("deployment_status", "d1", "sha256=zz"), 401, "sha256=<hex>"},
		{"sha1 only", body, gh("deployment_status", "d1", "sha1=abcd"), 401, "sha256=<hex>"},
		{"valid", body, gh("deployment_status", "d1", sign(body, ghSecret)), 202, "recorded"},
		{"redelivered", body, gh("deployment_status", "d1", sign(body, ghSecret)), 200, "already recorded"},
		{"ping", []byte(`{"zen":"Keep it logically awesome."}`), gh("ping", "d2", sign([]byte(`{"zen":"Keep it logically awesome."}`), ghSecret)), 200, "pong"},
	} {
		code, reason := post(t, srv.URL, c.body, c.header)
		if code != c.code || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, code, reason, c.code, c.reason)
		}
	}
	failed := deploymentStatus("failure", now)
	if code, reason := post(t, srv.URL, failed, gh("deployment_status", "d3", sign(failed, ghSecret))); code != 200 || !strings.Contains(reason, "only success") {
		t.Errorf("failed deployment: %d %q", code, reason)
	}
	got, err := st.Changes(context.Background(), "api", now.Add(-time.Hour), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("changes = %+v, want the one valid delivery", got)
	}
	c := got[0]
	if c.Version != "v1.42.0@1a2b3c4" || c.By != "octocat" || c.Environment != "production" || c.URL != "https://ci.example/deploys/42" || c.Source != "github" || c.ID != "github:d1" {
		t.Errorf("change = %+v", c)
	}
}

// argoTemplate is the body of the Argo CD notification template in
// docs/hints.md; TestArgoCDTemplateInDocs keeps the two the same.
const argoTemplate = `{"source": "argocd", "app": "{{.app.metadata.name}}", "revision": "{{.app.status.sync.revision}}", "finished_at": "{{.app.status.operationState.finishedAt}}", "initiated_by": "{{.app.status.operationState.operation.initiatedBy.username}}", "namespace": "{{.app.spec.destination.namespace}}", "url": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}"}`

// TestArgoCD renders the documented template over an Application as Argo
// CD's notification engine does (Go templates over .app and .context) and
// posts the result with the bearer token.
func TestArgoCD(t *testing.T) {
	srv, st, now := newHook(t)
	app := map[string]any{
		"metadata": map[string]any{"name": "api"},
		"spec":     map[string]any{"destination": map[string]any{"namespace": "prod"}},
		"status": map[string]any{
			"sync": map[string]any{"revision": "9f8e7d6"},
			"operationState": map[string]any{"finishedAt": now.Add(-5 * time.Minute).Format(time.RFC3339),
				"operation": map[string]any{"initiatedBy": map[string]any{"username": "alice"}}},
		},
	}
	var body bytes.Buffer
	tpl := template.Must(template.New("argo").Parse(argoTemplate))
	if err := tpl.Execute(&body, map[string]any{"app": app, "context": map[string]any{"argocdUrl": "https://argocd.example"}}); err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer " + token}
	if code, reason := post(t, srv.URL, body.Bytes(), auth); code != 202 {
		t.Fatalf("argo cd: %d %q", code, reason)
	}
	if code, _ := post(t, srv.URL, body.Bytes(), auth); code != 200 {
		t.Errorf("the same sync sent again: %d, want 200 (recorded once)", code)
	}
	got, _ := st.Changes(context.Background(), "api", now.Add(-time.Hour), now, 0)
	if len(got) != 1 || got[0].Version != "9f8e7d6" || got[0].By != "alice" || got[0].Environment != "prod" ||
		got[0].URL != "https://argocd.example/applications/api" || !got[0].At.Equal(now.Add(-5*time.Minute)) {
		t.Errorf("changes = %+v", got)
	}
}

func TestArgoCDTemplateInDocs(t *testing.T) {
	doc, err := os.ReadFile("../docs/hints.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), argoTemplate) {
		t.Errorf("docs/hints.md does not show the Argo CD template body the tests post:\n%s", argoTemplate)
	}
}

// TestGenericForm: the JSON form needs the bearer token, a service and
// known fields; "at" defaults to now.
func TestGenericForm(t *testing.T) {
	srv, st, now := newHook(t)
	good := []byte(`{"service": "api", "version": "v1.43", "by": "ci", "url": "https://ci.example/1"}`)
	for _, c := range []struct {
		name   string
		body   []byte
		auth   string
		code   int
		reason string
	}{
		{"no token", good, "", 401, "missing Authorization"},
		{"wrong token", good, "Bearer nope", 401, "wrong bearer token"},
		{"basic auth", good, "Basic " + token, 401, "missing Authorization"},
		{"not json", []byte(`service=api`), "Bearer " + token, 400, "not a change"},
		{"typo", []byte(`{"servce": "api"}`), "Bearer " + token, 400, "servce"},
		{"no service", []byte(`{"version": "v1"}`), "Bearer " + token, 400, "needs the service"},
		{"bad url", []byte(`{"service": "api", "url": "javascript:alert(1)"}`), "Bearer " + token, 400, "https://"},
		{"good", good, "Bearer " + token, 202, "recorded"},
	} {
		h := map[string]string{}
		if c.auth != "" {
			h["Authorization"] = c.auth
		}
		code, reason := post(t, srv.URL, c.body, h)
		if code != c.code || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, code, reason, c.code, c.reason)
		}
	}
	got, _ := st.Changes(context.Background(), "api", now.Add(-time.Minute), now, 0)
	if len(got) != 1 || got[0].Version != "v1.43" || !got[0].At.Equal(now) || got[0].Source != "generic" {
		t.Errorf("changes = %+v", got)
	}
	resp, err := http.Get(srv.URL + hints.HookPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}
