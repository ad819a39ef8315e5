package kubernetes

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/tebura/tebura/runbooks"
)

// caData is the kubeconfig's certificate-authority-data for a TLS test
// server: client-go sends credentials only over TLS.
func caData(s *httptest.Server) string {
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

// TestKubeconfigContextPicksTheCluster: the configured context, not the
// file's current-context, says which API server and credentials steps use.
// The API server is an httptest server answering the one request a get
// makes, as the real one does.
func TestKubeconfigContextPicksTheCluster(t *testing.T) {
	wrong := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the current-context's server got %s %s", r.Method, r.URL.Path)
		http.Error(w, "wrong cluster", http.StatusTeapot)
	}))
	defer wrong.Close()
	right := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/apis/apps/v1/namespaces/shop/deployments/web" {
			http.Error(w, "unexpected request", http.StatusNotFound)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer prod-token" {
			http.Error(w, "bad token "+got, http.StatusUnauthorized)
			return
		}
		if got := r.Header.Get("User-Agent"); got != "tebura" {
			t.Errorf("User-Agent %q, want tebura", got)
		}
		w.Header().Set("Content-Type", "application/json")
		replicas := int32(3)
		json.NewEncoder(w).Encode(&appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Replicas: &replicas},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}})
	}))
	defer right.Close()

	path := filepath.Join(t.TempDir(), "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: staging
clusters:
- name: staging
  cluster: {server: %q, certificate-authority-data: %s}
- name: prod
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: staging
  user: {token: staging-token}
- name: prod
  user: {token: prod-token}
contexts:
- name: staging
  context: {cluster: staging, user: staging}
- name: prod
  context: {cluster: prod, user: prod}
`, wrong.URL, caData(wrong), right.URL, caData(right))
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(Config{Kubeconfig: path, Context: "prod"})
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	out := newLines()
	req := runbooks.KubernetesRequest{Action: runbooks.KubeGet, Namespace: "shop", Resource: "deployment", Name: "web"}
	if err := r.RunKubernetes(t.Context(), req, out); err != nil {
		t.Fatal(err)
	}
	if want := "deployment/web: 3/3 ready, 3 up-to-date, 3 available"; out.String() != want {
		t.Errorf("output %q, want %q", out, want)
	}

	if r := New(Config{Kubeconfig: path, Context: "nope"}); r.Err() == nil {
		t.Error("a context the file does not have was accepted")
	}
}

// TestCheckAsksTheAPIServerForItsVersion: doctor's check makes one
// authenticated request and reports the version, or why it failed.
func TestCheckAsksTheAPIServerForItsVersion(t *testing.T) {
	for _, tc := range []struct {
		name, token, want string
		ok                bool
	}{
		{"answers", "good", "API server v1.37.2", true},
		{"refuses the token", "bad", "refused tebura's credentials", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer good" {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`)
					return
				}
				if r.URL.Path != "/version" {
					http.NotFound(w, r)
					return
				}
				fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
			}))
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "kubeconfig")
			kc := fmt.Sprintf("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: %q, certificate-authority-data: %s}}]\n"+
				"users: [{name: u, user: {token: %s}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n", srv.URL, caData(srv), tc.token)
			if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := New(Config{Kubeconfig: path}).Check(t.Context())
			if tc.ok && (err != nil || got != tc.want) || !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
