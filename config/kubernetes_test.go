package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateKubernetes(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		k       Kubernetes
		wantKey string
		wantMsg string
	}{
		{"none", Kubernetes{}, "", ""},
		{"in cluster", Kubernetes{InCluster: true}, "", ""},
		{"kubeconfig and context", Kubernetes{Kubeconfig: kubeconfig, Context: "prod"}, "", ""},
		{"both", Kubernetes{InCluster: true, Kubeconfig: kubeconfig}, "kubernetes.kubeconfig", "choose one"},
		{"context alone", Kubernetes{Context: "prod"}, "kubernetes.context", "without kubernetes.kubeconfig"},
		{"relative", Kubernetes{Kubeconfig: "kubeconfig"}, "kubernetes.kubeconfig", "absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Kubernetes = tc.k
			err := c.Validate()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Key != tc.wantKey || !strings.Contains(ke.Msg, tc.wantMsg) {
				t.Fatalf("Validate = %v, want %s: …%s…", err, tc.wantKey, tc.wantMsg)
			}
		})
	}
}

// TestKubernetesFromEnv: the manifests in deploy/kubernetes configure the
// API through TEBURA_KUBERNETES_IN_CLUSTER, which must reach the key.
func TestKubernetesFromEnv(t *testing.T) {
	cleanEnv(t)
	t.Setenv("TEBURA_KUBERNETES_IN_CLUSTER", "true")
	c := mustLoad(t, "")
	if !c.Kubernetes.InCluster || !c.Kubernetes.Configured() {
		t.Fatalf("kubernetes = %+v, want in_cluster from the environment", c.Kubernetes)
	}
}
