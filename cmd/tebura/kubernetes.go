package main

import (
	"context"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	kubestep "github.com/tebura/tebura/runbooks/step/kubernetes"
)

// checkJob checks the job templates of kubernetes steps when runbooks load.
var checkJob runbooks.JobChecker = kubestep.CheckJob

// kubeRunner is what runs kubernetes steps: nil when the configuration
// names no cluster, so that the executor fails those steps with a sentence
// saying which keys to set.
func kubeRunner(cfg config.Config) runbooks.KubernetesRunner {
	if !cfg.Kubernetes.Configured() {
		return nil
	}
	return kubestep.New(kubestep.Config{InCluster: cfg.Kubernetes.InCluster, Kubeconfig: cfg.Kubernetes.Kubeconfig, Context: cfg.Kubernetes.Context})
}

// checkKubernetes is `tebura doctor`'s line for the cluster, when one is
// configured: the API server answers with tebura's identity.
func checkKubernetes(ctx context.Context, cfg config.Config) []bot.Check {
	r, ok := kubeRunner(cfg).(*kubestep.Runner)
	if !ok {
		return nil
	}
	ch := bot.Check{Name: "kubernetes"}
	detail, err := r.Check(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		ch.Detail = "no answer within the doctor's --timeout"
	case err != nil:
		ch.Detail = err.Error()
	default:
		ch.OK, ch.Detail = true, detail
	}
	return []bot.Check{ch}
}
