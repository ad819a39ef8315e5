package kubernetes

import (
	"cmp"
	"slices"

	"github.com/tebura/tebura/runbooks"
)

// Permission is one verb on one resource of one API group, as an RBAC
// rule grants it ("" is the core group; a subresource is "pods/log").
type Permission struct {
	Group, Resource, Verb string
}

// groups are the API groups of the resources steps name.
var groups = map[string]string{
	"pod": "", "service": "", "deployment": "apps", "statefulset": "apps", "daemonset": "apps", "job": "batch",
}

// Permissions is every permission a kubernetes step needs, sorted: the
// least RBAC a runbook's steps need is the union over its steps (the
// shipped Role is checked against it). Action and resource are written
// out in a runbook, never templated, so this is known before any run.
func Permissions(s runbooks.KubernetesStep) []Permission {
	res := s.Resource
	if res == "" {
		res = defaultResource(s.Action)
	}
	g, plural := groups[res], res+"s"
	var p []Permission
	switch s.Action {
	case runbooks.KubeRolloutRestart:
		p = []Permission{{g, plural, "patch"}}
	case runbooks.KubeScale:
		p = []Permission{{g, plural + "/scale", "get"}, {g, plural + "/scale", "update"}}
	case runbooks.KubeDeletePod:
		p = []Permission{{"", "pods", "delete"}}
	case runbooks.KubeLogs:
		p = []Permission{{"", "pods/log", "get"}}
	case runbooks.KubeGet:
		verb := "get"
		if s.Name == "" {
			verb = "list"
		}
		p = []Permission{{g, plural, verb}}
	case runbooks.KubeDescribe:
		p = []Permission{{g, plural, "get"}, {"", "events", "list"}}
	case runbooks.KubeJob:
		p = []Permission{
			{"batch", "jobs", "create"}, {"batch", "jobs", "list"}, {"batch", "jobs", "watch"}, {"batch", "jobs", "delete"},
			{"", "pods", "list"}, {"", "pods", "watch"}, {"", "pods/log", "get"},
		}
	}
	slices.SortFunc(p, comparePermission)
	return p
}

func comparePermission(a, b Permission) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Verb, b.Verb))
}

// defaultResource is the resource an action takes when the step names none.
func defaultResource(a runbooks.KubeAction) string {
	switch a {
	case runbooks.KubeRolloutRestart, runbooks.KubeScale:
		return "deployment"
	case runbooks.KubeJob:
		return "job"
	}
	return "pod"
}
