// Package kubernetes runs kubernetes steps with client-go: it implements
// runbooks.KubernetesRunner, so that the runbooks package imports no SDK.
// Every action is one or a few API calls made as the configured identity
// (in a cluster: the pod's ServiceAccount), never kubectl and never a
// shell, so kubernetes steps run from the distroless image.
package kubernetes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

// RestartedAtAnnotation is the pod template annotation `kubectl rollout
// restart` sets; setting it the same way makes the two interchangeable
// (and `kubectl rollout history` shows either).
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// FieldManager names tebura in the objects' managedFields, so that
// `kubectl get -o yaml --show-managed-fields` says who changed what.
const FieldManager = "tebura"

// relistWait is the pause before listing again after a watch that ended
// without delivering anything.
const relistWait = time.Second

// cleanupTimeout bounds the deletion of a job's Job once the step is over
// (its ctx may be done: the cleanup must still happen).
const cleanupTimeout = 30 * time.Second

// Config says how to reach the API: in the cluster (the pod's
// ServiceAccount token) or with a kubeconfig file and, optionally, one of
// its contexts.
type Config struct {
	InCluster  bool
	Kubeconfig string
	Context    string
}

// Runner implements runbooks.KubernetesRunner over a clientset.
type Runner struct {
	client kubernetes.Interface
	// err is why the client could not be built; every step fails with it.
	err error
	// now stamps restartedAt; suffix makes job names unique.
	now    func() time.Time
	suffix func() string
	relist time.Duration
}

var _ runbooks.KubernetesRunner = (*Runner)(nil)

// New returns a runner for cfg. A client that cannot be built (no
// in-cluster environment, a missing kubeconfig or context) does not stop
// tebura from starting: each kubernetes step fails with the reason, and
// `tebura doctor` reports it.
func New(cfg Config) *Runner {
	rc, err := RESTConfig(cfg)
	if err != nil {
		return &Runner{err: err, now: time.Now, suffix: randomSuffix, relist: relistWait}
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return &Runner{err: tebura.Wrap(tebura.EINVALID, err, "The Kubernetes client could not be built."), now: time.Now, suffix: randomSuffix, relist: relistWait}
	}
	return NewForClient(cs)
}

// NewForClient returns a runner over an existing clientset (tests use
// client-go's fake one).
func NewForClient(cs kubernetes.Interface) *Runner {
	return &Runner{client: cs, now: time.Now, suffix: randomSuffix, relist: relistWait}
}

// Err is why the client could not be built (nil when it was).
func (r *Runner) Err() error { return r.err }

// RESTConfig loads the client configuration cfg names.
func RESTConfig(cfg Config) (*rest.Config, error) {
	var (
		rc  *rest.Config
		err error
	)
	switch {
	case cfg.InCluster:
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, tebura.Wrap(tebura.EINVALID, err, "kubernetes.in_cluster is set but tebura is not running in a Kubernetes pod with a ServiceAccount token.")
		}
	case cfg.Kubeconfig != "":
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: cfg.Context},
		).ClientConfig()
		if err != nil {
			return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("The kubeconfig %s (context %q) cannot be used; check kubernetes.kubeconfig and kubernetes.context.", cfg.Kubeconfig, cfg.Context))
		}
	default:
		return nil, tebura.Errorf(tebura.EINVALID, "No Kubernetes API is configured; set kubernetes.in_cluster or kubernetes.kubeconfig.")
	}
	rc.UserAgent = "tebura"
	return rc, nil
}

// RunKubernetes runs one kubernetes step.
func (r *Runner) RunKubernetes(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) error {
	if r.err != nil {
		return r.err
	}
	var err error
	switch req.Action {
	case runbooks.KubeRolloutRestart:
		err = r.rolloutRestart(ctx, req, out)
	case runbooks.KubeScale:
		err = r.scale(ctx, req, out)
	case runbooks.KubeDeletePod:
		err = r.deletePod(ctx, req, out)
	case runbooks.KubeLogs:
		err = r.logs(ctx, req, out)
	case runbooks.KubeGet:
		err = r.get(ctx, req, out)
	case runbooks.KubeDescribe:
		err = r.describe(ctx, req, out)
	case runbooks.KubeJob:
		err = r.job(ctx, req, out)
	default:
		return tebura.Errorf(tebura.EINVALID, "%q is not a kubernetes action", req.Action)
	}
	return explain(err, req)
}

// explain turns the API's answers into sentences that say what to do.
func explain(err error, req runbooks.KubernetesRequest) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return tebura.Wrap(tebura.ENOTFOUND, err, fmt.Sprintf("%s %s was not found in namespace %s.", req.Resource, req.Name, req.Namespace))
	case apierrors.IsForbidden(err):
		return tebura.Wrap(tebura.EFORBIDDEN, err, fmt.Sprintf("Tebura's Kubernetes identity may not do this in namespace %s; grant it in its Role (docs/kubernetes.md lists what each action needs).", req.Namespace))
	case apierrors.IsUnauthorized(err):
		return tebura.Wrap(tebura.EUNAUTHENTICATED, err, "The Kubernetes API refused tebura's credentials; check the kubeconfig or the ServiceAccount token.")
	}
	return err
}

// rolloutRestart stamps the pod template's restartedAt annotation with a
// strategic merge patch, exactly as `kubectl rollout restart` does.
func (r *Runner) rolloutRestart(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) error {
	at := r.now().UTC().Format(time.RFC3339)
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, RestartedAtAnnotation, at)
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	apps := r.client.AppsV1()
	var err error
	switch req.Resource {
	case "deployment":
		_, err = apps.Deployments(req.Namespace).Patch(ctx, req.Name, types.StrategicMergePatchType, patch, opts)
	case "statefulset":
		_, err = apps.StatefulSets(req.Namespace).Patch(ctx, req.Name, types.StrategicMergePatchType, patch, opts)
	case "daemonset":
		_, err = apps.DaemonSets(req.Namespace).Patch(ctx, req.Name, types.StrategicMergePatchType, patch, opts)
	default:
		return unsupported(req)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s/%s restarted (%s=%s); its controller replaces the pods under its rollout strategy\n", req.Resource, req.Name, RestartedAtAnnotation, at)
	return err
}

// scale sets replicas through the scale subresource, which is all the
// Role needs to allow (not a patch of the whole workload).
func (r *Runner) scale(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) error {
	if req.Replicas == nil {
		return tebura.Errorf(tebura.EINVALID, "scale needs replicas")
	}
	want := int32(*req.Replicas)
	apps := r.client.AppsV1()
	var from int32
	switch req.Resource {
	case "deployment":
		s, err := apps.Deployments(req.Namespace).GetScale(ctx, req.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		from, s.Spec.Replicas = s.Spec.Replicas, want
		if _, err := apps.Deployments(req.Namespace).UpdateScale(ctx, req.Name, s, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return err
		}
	case "statefulset":
		s, err := apps.StatefulSets(req.Namespace).GetScale(ctx, req.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		from, s.Spec.Replicas = s.Spec.Replicas, want
		if _, err := apps.StatefulSets(req.Namespace).UpdateScale(ctx, req.Name, s, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return err
		}
	default:
		return unsupported(req)
	}
	_, err := fmt.Fprintf(out, "%s/%s scaled from %d to %d replicas\n", req.Resource, req.Name, from, want)
	return err
}

// deletePod deletes one pod with its own grace period.
func (r *Runner) deletePod(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) error {
	if err := r.client.CoreV1().Pods(req.Namespace).Delete(ctx, req.Name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "pod/%s deleted; its controller, if it has one, makes a new one\n", req.Name)
	return err
}

// logs streams a pod's logs (not followed: what is there now, bounded by
// since and tail) into out line by line.
func (r *Runner) logs(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) error {
	opts := &corev1.PodLogOptions{Container: req.Container}
	if req.Since > 0 {
		s := int64((req.Since + time.Second - 1) / time.Second)
		opts.SinceSeconds = &s
	}
	if req.Tail > 0 {
		t := int64(req.Tail)
		opts.TailLines = &t
	}
	return r.streamLogs(ctx, req.Namespace, req.Name, opts, out)
}

// streamLogs opens a pod's log stream and copies it to out line by line.
func (r *Runner) streamLogs(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions, out io.Writer) error {
	rc, err := r.client.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := copyLines(rc, out); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the log stream of pod %s broke: %w", pod, err)
	}
	return ctx.Err()
}

// copyLines writes each line to out as soon as it is read, so that a
// person watching the run sees it then; a line longer than the buffer goes
// out in pieces (the run output joins and bounds them).
func copyLines(r io.Reader, out io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := out.Write(line); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if len(line) > 0 && line[len(line)-1] != '\n' {
				_, werr := out.Write([]byte{'\n'})
				return werr
			}
			return nil
		default:
			return err
		}
	}
}

func unsupported(req runbooks.KubernetesRequest) error {
	return tebura.Errorf(tebura.EINVALID, "%s does not work with %s", req.Action, req.Resource)
}

// Check asks the API server for its version with the runner's identity:
// what `tebura doctor` reports, so a wrong kubeconfig, context or token
// shows before a runbook needs the cluster.
func (r *Runner) Check(ctx context.Context) (string, error) {
	if r.err != nil {
		return "", r.err
	}
	b, err := r.client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", explain(err, runbooks.KubernetesRequest{})
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.GitVersion == "" {
		return "", fmt.Errorf("the API server's /version answer is not a version: %.80q", b)
	}
	return "API server " + v.GitVersion, nil
}
