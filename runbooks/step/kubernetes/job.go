package kubernetes

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

// JobNameLabel is the label the job controller puts on a Job's pods.
const JobNameLabel = "batch.kubernetes.io/job-name"

// ManagedByLabel marks the Jobs tebura creates, so that one left behind
// (tebura killed mid-step) can be found: kubectl get jobs -l app.kubernetes.io/managed-by=tebura.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// stuckReasons are the waiting reasons of a container that will not start
// without someone changing something: waiting for them is waiting for the
// timeout.
var stuckReasons = map[string]bool{"ImagePullBackOff": true, "InvalidImageName": true, "CreateContainerConfigError": true, "ErrImageNeverPull": true}

func gvk(k kind) schema.GroupVersionKind { return schema.FromAPIVersionAndKind(k.apiVersion, k.kind) }

// CheckJob reads a job step's template as a batch/v1 JobSpec, refusing
// unknown fields, so that a typo is a problem when runbooks load rather
// than a failed run. It is the runbooks.JobChecker the loader is given.
func CheckJob(template map[string]any) error {
	spec, err := jobSpec(template)
	if err != nil {
		return err
	}
	if len(spec.Template.Spec.Containers) == 0 {
		return errors.New("has no containers; give template.spec.containers")
	}
	for i, c := range spec.Template.Spec.Containers {
		if c.Image == "" {
			return fmt.Errorf("template.spec.containers[%d] has no image", i)
		}
	}
	switch spec.Template.Spec.RestartPolicy {
	case "", corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	default:
		return fmt.Errorf("template.spec.restartPolicy %q is not allowed in a Job; use Never or OnFailure", spec.Template.Spec.RestartPolicy)
	}
	return nil
}

// jobSpec decodes a template into a JobSpec, strictly.
func jobSpec(template map[string]any) (*batchv1.JobSpec, error) {
	b, err := json.Marshal(template)
	if err != nil {
		return nil, fmt.Errorf("cannot be read as a Job spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var spec batchv1.JobSpec
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("is not a Job spec (batch/v1 JobSpec): %w", err)
	}
	return &spec, nil
}

// randomSuffix is five characters as the API server's generateName adds;
// tebura picks the name itself so that it knows it before the Job exists.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// job creates a Job from the step's template, shows its pod's phases,
// streams the pod's logs, waits for the Job to complete or fail, and
// deletes it (its pods with it) however the step ends.
func (r *Runner) job(ctx context.Context, req runbooks.KubernetesRequest, out io.Writer) (err error) {
	spec, err := jobSpec(req.Job)
	if err != nil {
		return tebura.Wrap(tebura.EINVALID, err, "The job template "+err.Error())
	}
	// One pod, which does not restart: its logs are the step's output, and
	// the run's timeout (not a retry policy) bounds it.
	if spec.BackoffLimit == nil {
		spec.BackoffLimit = new(int32)
	}
	if spec.Template.Spec.RestartPolicy == "" {
		spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	name := req.Name + "-" + r.suffix()
	jobs := r.client.BatchV1().Jobs(req.Namespace)
	created, err := jobs.Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: req.Namespace, Labels: map[string]string{ManagedByLabel: FieldManager}},
		Spec:       *spec,
	}, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "job %s created in namespace %s\n", name, req.Namespace)
	defer func() {
		// The step's ctx may be done (timeout, cancel): clean up anyway.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		bg := metav1.DeletePropagationBackground
		if derr := jobs.Delete(cctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); derr != nil {
			fmt.Fprintf(out, "job %s could not be deleted: %v\n", name, derr)
			err = errors.Join(err, fmt.Errorf("job %s was left behind: %w", name, derr))
			return
		}
		fmt.Fprintf(out, "job %s deleted with its pods\n", name)
	}()

	pod, err := r.waitPod(ctx, created, out)
	if err != nil {
		return err
	}
	opts := &corev1.PodLogOptions{Follow: true}
	if len(spec.Template.Spec.Containers) > 1 {
		opts.Container = spec.Template.Spec.Containers[0].Name
	}
	if err := r.streamLogs(ctx, req.Namespace, pod, opts, out); err != nil {
		return err
	}
	return r.waitJob(ctx, created, out)
}

// waitPod waits for the Job's pod to run (or to have run), printing each
// phase it passes through, and returns its name.
func (r *Runner) waitPod(ctx context.Context, job *batchv1.Job, out io.Writer) (string, error) {
	pods := r.client.CoreV1().Pods(job.Namespace)
	sel := labels.Set{JobNameLabel: job.Name}.AsSelector()
	last := map[string]string{}
	var ran string
	err := until(ctx, r.relist, metav1.ListOptions{LabelSelector: sel.String()},
		func(ctx context.Context, o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := pods.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			objs := make([]runtime.Object, len(l.Items))
			for i := range l.Items {
				objs[i] = &l.Items[i]
			}
			return objs, l.ResourceVersion, nil
		},
		pods.Watch,
		func(o runtime.Object, deleted bool) (bool, error) {
			p, ok := o.(*corev1.Pod)
			// The selector narrows the watch on a real API server; the
			// check keeps it exact wherever selectors are not applied.
			if !ok || deleted || !sel.Matches(labels.Set(p.Labels)) {
				return false, nil
			}
			state, reason, message := string(p.Status.Phase), "", ""
			for _, c := range p.Status.ContainerStatuses {
				if w := c.State.Waiting; w != nil && w.Reason != "" {
					reason, message = w.Reason, w.Message
					break
				}
			}
			if reason != "" {
				state += " (" + reason + ")"
			}
			if last[p.Name] != state {
				last[p.Name] = state
				fmt.Fprintf(out, "pod %s: %s\n", p.Name, state)
			}
			if stuckReasons[reason] {
				return true, tebura.Errorf(tebura.EINVALID, "pod %s cannot start: %s: %s", p.Name, reason, message)
			}
			switch p.Status.Phase {
			case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
				ran = p.Name
				return true, nil
			}
			return false, nil
		})
	return ran, err
}

// waitJob waits for the Job's Complete or Failed condition.
func (r *Runner) waitJob(ctx context.Context, job *batchv1.Job, out io.Writer) error {
	jobs := r.client.BatchV1().Jobs(job.Namespace)
	var result error
	err := until(ctx, r.relist, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", job.Name).String()},
		func(ctx context.Context, o metav1.ListOptions) ([]runtime.Object, string, error) {
			l, err := jobs.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			objs := make([]runtime.Object, len(l.Items))
			for i := range l.Items {
				objs[i] = &l.Items[i]
			}
			return objs, l.ResourceVersion, nil
		},
		jobs.Watch,
		func(o runtime.Object, deleted bool) (bool, error) {
			j, ok := o.(*batchv1.Job)
			if !ok || j.Name != job.Name {
				return false, nil
			}
			if deleted {
				return true, tebura.Errorf(tebura.ECONFLICT, "job %s was deleted before it finished", job.Name)
			}
			c, done := jobFinished(j)
			if !done {
				return false, nil
			}
			fmt.Fprintf(out, "job %s: %s\n", j.Name, c.Type)
			if c.Type == batchv1.JobFailed {
				result = fmt.Errorf("job %s failed: %s: %s", j.Name, c.Reason, c.Message)
			}
			return true, nil
		})
	if err != nil {
		return err
	}
	return result
}

// jobFinished returns the Job's Complete or Failed condition when it has
// one that is true.
func jobFinished(j *batchv1.Job) (batchv1.JobCondition, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c, true
		}
	}
	return batchv1.JobCondition{}, false
}

// until lists, then watches from the list's resourceVersion, calling seen
// for each object until it says done; when the watch ends (the API server
// closes watches after a while, or the version is too old), it lists
// again, at once when the watch delivered something, else after relist.
// It returns ctx's error when ctx ends first.
func until(ctx context.Context, relist time.Duration, opts metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) ([]runtime.Object, string, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
	seen func(o runtime.Object, deleted bool) (bool, error),
) error {
	for {
		objs, rv, err := list(ctx, opts)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if done, err := seen(o, false); done || err != nil {
				return err
			}
		}
		wopts := opts
		wopts.ResourceVersion = rv
		w, err := watchFn(ctx, wopts)
		if err != nil {
			return err
		}
		done, events, err := drain(ctx, w, seen)
		w.Stop()
		if done || err != nil {
			return err
		}
		if events == 0 {
			// A watch that ends at once, again and again (a proxy that
			// cuts it), must not turn into a tight loop of lists.
			t := time.NewTimer(relist)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// drain reads a watch until seen says done, ctx ends, or the watch ends
// (done false: list again); events counts what it delivered.
func drain(ctx context.Context, w watch.Interface, seen func(runtime.Object, bool) (bool, error)) (done bool, events int, err error) {
	for {
		select {
		case <-ctx.Done():
			return true, events, ctx.Err()
		case ev, open := <-w.ResultChan():
			if !open {
				return false, events, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				events++
				if done, err := seen(ev.Object, ev.Type == watch.Deleted); done || err != nil {
					return true, events, err
				}
			case watch.Error:
				return false, events, nil // e.g. 410 Gone: list again
			}
		}
	}
}
