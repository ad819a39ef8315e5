package kubernetes

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/tebura/tebura/runbooks"
)

// The fake clientset runs no controllers and no API server: these tests
// play the controllers' part (a Job's pod going pending → running →
// succeeded, the scale subresource) on the fake's objects, while the
// runner makes the same client-go calls it makes against a real cluster.

// fixedNow is the clock of every test runner: restartedAt is checked
// against it, never against today's date.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// newRunner returns a runner over a fake clientset holding objs.
func newRunner(t *testing.T) (*Runner, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset()
	r := NewForClient(cs)
	r.now = func() time.Time { return fixedNow }
	r.suffix = func() string { return "x7k2q" }
	r.relist = 10 * time.Millisecond
	return r, cs
}

// checkPermissions fails when the runner made an API call that the
// permissions of its step do not cover: the shipped Role is built from
// Permissions, so a call outside them would be refused in a real cluster.
func checkPermissions(t *testing.T, cs *fake.Clientset, s runbooks.KubernetesStep) {
	t.Helper()
	allowed := Permissions(s)
	for _, a := range cs.Actions() {
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		p := Permission{a.GetResource().Group, res, a.GetVerb()}
		if !slices.Contains(allowed, p) {
			t.Errorf("the runner called %+v, which Permissions(%s %s) does not grant (%v)", p, s.Action, s.Resource, allowed)
		}
	}
}

// lines is an io.Writer that keeps what is written and hands each
// complete line to the channel, so that a test can wait for the runner
// to reach a point instead of sleeping.
type lines struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	all  []string
	next chan string
}

func newLines() *lines { return &lines{next: make(chan string, 1000)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(l.buf.Next(i + 1))
		line = strings.TrimSuffix(line, "\n")
		l.all = append(l.all, line)
		l.next <- line
	}
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// waitFor reads lines until one contains want. The bound only turns a
// hang into a failure; passing never depends on it.
func (l *lines) waitFor(t *testing.T, want string) {
	t.Helper()
	bound := time.NewTimer(20 * time.Second)
	defer bound.Stop()
	for {
		select {
		case line := <-l.next:
			if strings.Contains(line, want) {
				return
			}
		case <-bound.C:
			t.Fatalf("no line with %q; output so far:\n%s", want, l)
		}
	}
}
