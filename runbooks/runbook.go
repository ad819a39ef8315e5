// Package runbooks defines runbooks (typed, validated YAML documents), turns
// a runbook plus parameter values into a plan whose hash approvals bind to,
// and runs plans safely: each run in its own process group, with timeouts,
// cancel, named locks, bounded memory and secrets masked in everything that
// leaves the engine. Service owns each run's life, from request to end,
// for every door (chat, the CLI, automation rules): it builds the run
// record, writes its audit entries and publishes its transitions.
package runbooks

import (
	"io"
	"time"
)

// Kind says whether a runbook only looks (diagnostic) or changes things
// (remediation).
type Kind string

// Runbook kinds.
const (
	KindDiagnostic  Kind = "diagnostic"
	KindRemediation Kind = "remediation"
)

// ParamType is the type of a parameter.
type ParamType string

// Parameter types.
const (
	TypeString   ParamType = "string"
	TypeInt      ParamType = "int"
	TypeBool     ParamType = "bool"
	TypeEnum     ParamType = "enum"
	TypeDuration ParamType = "duration"
)

// Param declares one parameter.
type Param struct {
	Name        string    `yaml:"name" json:"name"`
	Type        ParamType `yaml:"type" json:"type"`
	Description string    `yaml:"description" json:"description,omitempty"`
	Required    bool      `yaml:"required" json:"required,omitempty"`
	Default     string    `yaml:"default" json:"default,omitempty"`
	Pattern     string    `yaml:"pattern" json:"pattern,omitempty"` // anchored regex
	Values      []string  `yaml:"values" json:"values,omitempty"`   // enum values
	Secret      bool      `yaml:"secret" json:"secret,omitempty"`
}

// Approval is a runbook's approval policy. Required == 0 means no approval.
type Approval struct {
	Required  int           `yaml:"required" json:"required"`
	Approvers []string      `yaml:"approvers" json:"approvers"` // roles
	AllowSelf bool          `yaml:"allow_self" json:"allow_self"`
	Expires   time.Duration `yaml:"expires" json:"expires"`
}

// StepKind is how a step runs.
type StepKind string

// Step kinds.
const (
	StepRun    StepKind = "run"    // argv, no shell
	StepScript StepKind = "script" // a body run by an interpreter, params as env only
	StepHTTP   StepKind = "http"   // one HTTP request
	// StepManual asks people in chat to do something and answer [Done],
	// [Failed] or [Skip]: a checklist item of a runbook not automated yet.
	StepManual StepKind = "manual"
)

// HTTPStep is an HTTP request step, before rendering.
type HTTPStep struct {
	Method  string            `yaml:"method" json:"method"`
	URL     string            `yaml:"url" json:"url"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Body    string            `yaml:"body" json:"body,omitempty"`
	// Expect lists acceptable status codes; empty means any 2xx.
	Expect []int `yaml:"expect" json:"expect,omitempty"`
	// FollowRedirects follows redirects to the same scheme and host. By
	// default a redirect is not followed: the 3xx is the step's status.
	FollowRedirects bool `yaml:"follow_redirects" json:"follow_redirects,omitempty"`
}

// Step is one step of a runbook, before rendering. Exactly one of Run,
// Script, HTTP, SSH, Ansible, Kubernetes and Manual is set.
type Step struct {
	Name        string          `yaml:"name" json:"name"`
	Run         []string        `yaml:"run" json:"run,omitempty"`
	Script      string          `yaml:"script" json:"script,omitempty"`
	Interpreter []string        `yaml:"interpreter" json:"interpreter,omitempty"` // default ["/bin/sh"]
	HTTP        *HTTPStep       `yaml:"http" json:"http,omitempty"`
	SSH         *SSHStep        `yaml:"ssh" json:"ssh,omitempty"`
	Ansible     *AnsibleStep    `yaml:"ansible" json:"ansible,omitempty"`
	Kubernetes  *KubernetesStep `yaml:"kubernetes" json:"kubernetes,omitempty"`
	// Manual is the instruction of a manual step (a template that may use
	// params, never secret ones: people read it).
	Manual          string            `yaml:"manual" json:"manual,omitempty"`
	Env             map[string]string `yaml:"env" json:"env,omitempty"`
	Dir             string            `yaml:"dir" json:"dir,omitempty"`
	Timeout         time.Duration     `yaml:"timeout" json:"timeout,omitempty"`
	ContinueOnError bool              `yaml:"continue_on_error" json:"continue_on_error,omitempty"`
}

// Runbook is a validated runbook definition.
type Runbook struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Kind        Kind          `json:"kind"`
	Params      []Param       `json:"params,omitempty"`
	Allow       []string      `json:"allow,omitempty"` // roles that may request it
	Approval    Approval      `json:"approval"`
	Lock        string        `json:"lock,omitempty"` // template
	Timeout     time.Duration `json:"timeout"`
	Steps       []Step        `json:"steps"`
	// PlanCheck runs the ansible steps with --check --diff when the plan
	// is made, and shows their output with it (Plan.Check).
	PlanCheck bool `json:"plan_check,omitempty"`
	// Source is where it was defined ("runbooks/restart.yaml:1" or
	// "config.yaml:runbooks.inline[0]").
	Source string `json:"source,omitempty"`
	// inventory is the targets ssh steps select from, as loaded with the
	// runbook (LoadOptions.Targets): a reload replaces both together.
	inventory []Target
}

// NeedsApproval reports whether a run must be approved before it starts.
func (rb *Runbook) NeedsApproval() bool { return rb.Approval.Required > 0 }

// AllowedRoles returns the roles that may request the runbook (for access).
func (rb *Runbook) AllowedRoles() []string { return rb.Allow }

// ApproverRoles returns the roles that may approve it (for access).
func (rb *Runbook) ApproverRoles() []string { return rb.Approval.Approvers }

// Values are validated parameter values keyed by param name, rendered as
// strings (defaults included).
type Values map[string]string

// HTTPRequest is a rendered HTTP step.
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Expect  []int             `json:"expect,omitempty"`
	// FollowRedirects: see HTTPStep.
	FollowRedirects bool `json:"follow_redirects,omitempty"`
}

// RenderedStep is a step with its templates rendered: what the executor runs.
// It holds real secret values; never show it, show a Plan instead.
type RenderedStep struct {
	Name            string             `json:"name"`
	Kind            StepKind           `json:"kind"`
	Argv            []string           `json:"argv,omitempty"`        // StepRun
	Script          string             `json:"script,omitempty"`      // StepScript (never templated)
	Interpreter     []string           `json:"interpreter,omitempty"` // StepScript
	HTTP            *HTTPRequest       `json:"http,omitempty"`        // StepHTTP
	SSH             *SSHRequest        `json:"ssh,omitempty"`         // StepSSH: Argv or Script, on these targets
	Ansible         *AnsibleRequest    `json:"ansible,omitempty"`     // StepAnsible
	Kubernetes      *KubernetesRequest `json:"kubernetes,omitempty"`  // StepKubernetes
	Instruction     string             `json:"instruction,omitempty"` // StepManual
	Env             []string           `json:"env,omitempty"`         // "K=V", includes TEBURA_PARAM_* for scripts
	Dir             string             `json:"dir,omitempty"`
	Timeout         time.Duration      `json:"timeout,omitempty"`
	ContinueOnError bool               `json:"continue_on_error,omitempty"`
}

// Masker masks secrets in text. The Redactor implements it.
type Masker interface {
	Mask(s string) string
}

// Job is everything the executor needs to run a run: the rendered steps, the
// overall timeout, and the masker for its output.
type Job struct {
	Steps   []RenderedStep
	Timeout time.Duration
	Masker  Masker
	// Echo, when set, gets every masked line of output as the log does,
	// past the log cap too: the log cap bounds what is stored, not what a
	// person watching at a terminal sees. Writes to it are made while the
	// output is taken, so a slow Echo slows the run (a terminal does, as
	// with any program); an Echo that fails is dropped and the run goes on.
	Echo io.Writer
}
