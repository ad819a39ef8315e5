package config

import "path/filepath"

// Kubernetes says how kubernetes steps reach the cluster's API. Neither
// key set: kubernetes steps fail with a sentence saying so. Whether the
// kubeconfig can be read and the API answers is `tebura doctor`'s check,
// not the configuration's.
type Kubernetes struct {
	// InCluster uses the ServiceAccount of the pod Tebura runs in (the
	// deploy/kubernetes manifests set this).
	InCluster bool `mapstructure:"in_cluster"`
	// Kubeconfig is the path of a kubeconfig file (a path, so not named
	// *_file: the loader reads X_file as the contents of secret X).
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Context is the kubeconfig context to use; its current-context when
	// empty.
	Context string `mapstructure:"context"`
}

// Configured reports whether kubernetes steps have an API to call.
func (k Kubernetes) Configured() bool { return k.InCluster || k.Kubeconfig != "" }

func (c Config) validateKubernetes(p *problems) {
	k := c.Kubernetes
	switch {
	case k.InCluster && k.Kubeconfig != "":
		p.add("kubernetes.kubeconfig", "is set while in_cluster is true; choose one")
	case k.Context != "" && k.Kubeconfig == "":
		p.add("kubernetes.context", "is set without kubernetes.kubeconfig; a context belongs to a kubeconfig file")
	case k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig):
		p.add("kubernetes.kubeconfig", "is %q; give an absolute path", k.Kubeconfig)
	}
}
