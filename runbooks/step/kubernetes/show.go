package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/tebura/tebura/runbooks"
)

// object is any API object get and describe show.
type object interface {
	runtime.Object
	metav1.Object
}

// kind is how get and describe read one resource: fetch one, list all in
// a namespace, and say in one line where it stands.
type kind struct {
	apiVersion, kind string
	get              func(ctx context.Context, r *Runner, ns, name string) (object, error)
	list             func(ctx context.Context, r *Runner, ns string) ([]object, error)
	status           func(o object) string
}

// items turns a typed list's items into objects.
func items[T any, P interface {
	*T
	object
}](l []T) []object {
	out := make([]object, len(l))
	for i := range l {
		out[i] = P(&l[i])
	}
	return out
}

var kinds = map[string]kind{
	"pod": {"v1", "Pod",
		func(ctx context.Context, r *Runner, ns, name string) (object, error) {
			return r.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		},
		func(ctx context.Context, r *Runner, ns string) ([]object, error) {
			l, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return items(l.Items), nil
		},
		func(o object) string { return podStatus(o.(*corev1.Pod)) },
	},
	"deployment": {"apps/v1", "Deployment",
		func(ctx context.Context, r *Runner, ns, name string) (object, error) {
			return r.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		},
		func(ctx context.Context, r *Runner, ns string) ([]object, error) {
			l, err := r.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return items(l.Items), nil
		},
		func(o object) string {
			d := o.(*appsv1.Deployment)
			s := fmt.Sprintf("%d/%d ready, %d up-to-date, %d available", d.Status.ReadyReplicas, replicas(d.Spec.Replicas),
				d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
			if d.Spec.Paused {
				s += ", paused"
			}
			return s
		},
	},
	"statefulset": {"apps/v1", "StatefulSet",
		func(ctx context.Context, r *Runner, ns, name string) (object, error) {
			return r.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		func(ctx context.Context, r *Runner, ns string) ([]object, error) {
			l, err := r.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return items(l.Items), nil
		},
		func(o object) string {
			s := o.(*appsv1.StatefulSet)
			return fmt.Sprintf("%d/%d ready, %d up-to-date", s.Status.ReadyReplicas, replicas(s.Spec.Replicas), s.Status.UpdatedReplicas)
		},
	},
	"daemonset": {"apps/v1", "DaemonSet",
		func(ctx context.Context, r *Runner, ns, name string) (object, error) {
			return r.client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		func(ctx context.Context, r *Runner, ns string) ([]object, error) {
			l, err := r.client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return items(l.Items), nil
		},
		func(o object) string {
			s := o.(*appsv1.DaemonSet).Status
			return fmt.Sprintf("%d desired, %d ready, %d up-to-date, %d available", s.DesiredNumberScheduled, s.NumberReady, s.UpdatedNumberScheduled, s.NumberAvailable)
		},
	},
	"job": {"batch/v1", "Job",
		func(ctx context.Context, r *Runner, ns, name string) (object, error) {
			return r.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		},
		func(ctx context.Context, r *Runner, ns string) ([]object, error) {
			l, err := r.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return items(l.Items), nil
		},
		func(o object) string {
			j := o.(*batchv1.Job)
			s := fmt.Sprintf("%d succeeded, %d failed, %d active", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
			if c, ok := jobFinished(j); ok {
				s += ", " + string(c.Type)
			}
			return s
		},
	},
	"service": {"v1", "Service",
		func(ctx context.Context, r *Runner, ns, name string) (object, error) {
			return r.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		},
		func(ctx context.Context, r *Runner, ns string) ([]object, error) {
			l, err := r.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return items(l.Items), nil
		},
		func(o object) string {
			s := o.(*corev1.Service)
			ports := make([]string, len(s.Spec.Ports))
			for i, p := range s.Spec.Ports {
				ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
				if t := p.TargetPort.String(); t != "" && t != "0" {
					ports[i] += "→" + t
				}
			}
			return fmt.Sprintf("%s %s, ports %s", s.Spec.Type, s.Spec.ClusterIP, strings.Join(ports, " "))
		},
	},
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// podStatus is "Running, 2/2 ready, 3 restarts, node n1" with the first
// waiting or terminated reason when a container has one.
func podStatus(p *corev1.Pod) string {
	ready, restarts := 0, int32(0)
	reason := ""
	for _, c := range p.Status.ContainerStatuses {
		if c.Ready {
			ready++
		}
		restarts += c.RestartCount
		if reason == "" && c.State.Waiting != nil {
			reason = c.State.Waiting.Reason
		}
		if reason == "" && c.State.Terminated != nil && c.State.Terminated.Reason != "" && c.State.Terminated.Reason != "Completed" {
			reason = c.State.Terminated.Reason
		}
	}
	s := string(p.Status.Phase)
	if reason != "" {
		s += " (" + reason + ")"
	}
	s += fmt.Sprintf(", %d/%d ready, %d restarts", ready, len(p.Spec.Containers), restarts)
	if p.Spec.NodeName != "" {
		s += ", node " + p.Spec.NodeName
	}
	return s
}

// get prints one status line for the named resource, or for each resource
// of its kind in the namespace.
func (r *Runner) get(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) error {
	k, ok := kinds[req.Resource]
	if !ok {
		return unsupported(req)
	}
	var objs []object
	if req.Name != "" {
		o, err := k.get(ctx, r, req.Namespace, req.Name)
		if err != nil {
			return err
		}
		objs = []object{o}
	} else {
		l, err := k.list(ctx, r, req.Namespace)
		if err != nil {
			return err
		}
		objs = l
		if len(objs) == 0 {
			_, err := fmt.Fprintf(out, "no %s in namespace %s\n", req.Resource, req.Namespace)
			return err
		}
	}
	slices.SortFunc(objs, func(a, b object) int { return cmp.Compare(a.GetName(), b.GetName()) })
	for _, o := range objs {
		if _, err := fmt.Fprintf(out, "%s/%s: %s\n", req.Resource, o.GetName(), k.status(o)); err != nil {
			return err
		}
	}
	return nil
}

// describe prints the resource as YAML (without its managed fields, which
// are bookkeeping) and then its events, oldest first.
func (r *Runner) describe(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) error {
	k, ok := kinds[req.Resource]
	if !ok {
		return unsupported(req)
	}
	o, err := k.get(ctx, r, req.Namespace, req.Name)
	if err != nil {
		return err
	}
	o.SetManagedFields(nil)
	o.GetObjectKind().SetGroupVersionKind(gvk(k))
	b, err := yaml.Marshal(o)
	if err != nil {
		return err
	}
	if _, err := out.Write(b); err != nil {
		return err
	}
	// The field selector narrows the list on a real API server; the check
	// below keeps it exact wherever selectors are not applied.
	sel := fields.Set{"involvedObject.kind": k.kind, "involvedObject.name": req.Name}.AsSelector().String()
	evs, err := r.client.CoreV1().Events(req.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return err
	}
	var mine []corev1.Event
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == k.kind && e.InvolvedObject.Name == req.Name {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		_, err := fmt.Fprintln(out, "events: none")
		return err
	}
	slices.SortStableFunc(mine, func(a, b corev1.Event) int { return eventTime(a).Time.Compare(eventTime(b).Time) })
	if _, err := fmt.Fprintln(out, "events:"); err != nil {
		return err
	}
	for _, e := range mine {
		line := fmt.Sprintf("  %s %s %s: %s", eventTime(e).UTC().Format("2006-01-02T15:04:05Z"), e.Type, e.Reason, strings.TrimSpace(e.Message))
		if e.Count > 1 {
			line += fmt.Sprintf(" (x%d)", e.Count)
		}
		if _, err := fmt.Fprintln(out, line); err != nil {
			return err
		}
	}
	return nil
}

// eventTime is when an event last happened, whichever field the
// component that wrote it filled.
func eventTime(e corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	default:
		return e.CreationTimestamp
	}
}
