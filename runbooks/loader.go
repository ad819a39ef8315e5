package runbooks

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults the loader applies when LoadOptions leaves them zero.
const (
	// DefaultTimeout is a runbook's timeout when neither the runbook nor
	// LoadOptions.DefaultTimeout sets one.
	DefaultTimeout = 5 * time.Minute
	// DefaultApprovalExpiry is how long an approval request stays open when
	// the runbook needs approval but does not say approval.expires.
	DefaultApprovalExpiry = 15 * time.Minute
)

// LoadOptions says where runbooks come from and what the loader checks them
// against.
type LoadOptions struct {
	// Dirs are directories whose *.yaml and *.yml files each hold one or
	// more runbooks (one per YAML document), and whose *.runbook.md files
	// each hold one Markdown runbook (other .md files are not runbooks).
	// Subdirectories are not read.
	Dirs []string
	// Inline are runbooks written in the config file itself (runbooks.inline).
	Inline []map[string]any
	// InlineSource names the config file in problems about inline runbooks.
	InlineSource string
	// DefaultTimeout applies to runbooks without a timeout (DefaultTimeout
	// when zero); MaxTimeout, when set, is the longest timeout allowed.
	DefaultTimeout, MaxTimeout time.Duration
	// KnownRole reports whether a role exists; nil skips role checks.
	KnownRole func(string) bool
	// Targets is the inventory ssh steps select from (config targets:).
	Targets []Target
	// CheckJob checks the job templates of kubernetes steps against the
	// API's types (runbooks/step/kubernetes.CheckJob); nil skips it.
	CheckJob JobChecker
}

// Problem is one thing wrong with a runbook definition. Load reports every
// problem it finds, each with the file and line it comes from (Line is 0
// for inline runbooks, whose lines the config loader does not keep).
type Problem struct {
	File    string
	Line    int
	Runbook string
	Msg     string
}

// String formats the problem as "file:line: runbook X: msg".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Runbook != "" {
		fmt.Fprintf(&b, "runbook %s: ", p.Runbook)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Registry holds the loaded runbooks by name. It is immutable once Load
// returns; a reload builds a new one.
type Registry struct {
	byName map[string]*Runbook
	list   []*Runbook
}

// NewRegistry builds a registry from runbooks that are already valid (tests,
// embedding programs). Later duplicates replace earlier ones.
func NewRegistry(rbs ...*Runbook) *Registry {
	r := &Registry{byName: map[string]*Runbook{}}
	for _, rb := range rbs {
		r.byName[rb.Name] = rb
	}
	for _, rb := range r.byName {
		r.list = append(r.list, rb)
	}
	sort.Slice(r.list, func(i, j int) bool { return r.list[i].Name < r.list[j].Name })
	return r
}

// Get returns the runbook called name.
func (r *Registry) Get(name string) (*Runbook, bool) {
	if r == nil {
		return nil, false
	}
	rb, ok := r.byName[name]
	return rb, ok
}

// List returns the runbooks sorted by name.
func (r *Registry) List() []*Runbook {
	if r == nil {
		return nil
	}
	return append([]*Runbook(nil), r.list...)
}

var (
	runbookNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	paramNameRe   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	envNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Load reads every runbook from opts.Dirs and opts.Inline and checks them.
// It returns every problem at once; the registry holds only the runbooks
// that have none (a runbook defined twice is left out under both names), so
// a caller that refuses to start on problems and one that serves what is
// valid both work.
func Load(opts LoadOptions) (*Registry, []Problem) {
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	l := &loader{opts: opts}
	var defs []*definition
	for _, dir := range opts.Dirs {
		defs = append(defs, l.readDir(dir)...)
	}
	for i, m := range opts.Inline {
		src := opts.InlineSource
		if src == "" {
			src = "config"
		}
		d := &decoder{l: l, file: src, path: fmt.Sprintf("runbooks.inline[%d]", i)}
		node, err := inlineNode(m)
		if err != nil {
			d.problem(nil, "", "cannot be read: %v", err)
			continue
		}
		defs = append(defs, d.runbook(node, fmt.Sprintf("%s:runbooks.inline[%d]", src, i)))
	}

	// Duplicate names are reported at every definition.
	byName := map[string][]*definition{}
	for _, def := range defs {
		if def.rb.Name != "" {
			byName[def.rb.Name] = append(byName[def.rb.Name], def)
		}
	}
	for _, same := range byName {
		if len(same) < 2 {
			continue
		}
		for _, def := range same {
			var others []string
			for _, o := range same {
				if o != def {
					others = append(others, o.where)
				}
			}
			def.bad = true
			l.problems = append(l.problems, Problem{File: def.file, Line: def.line, Runbook: def.rb.Name,
				Msg: "name is defined more than once (also at " + strings.Join(others, ", ") + ")"})
		}
	}
	var good []*Runbook
	for _, def := range defs {
		def.rb.inventory = opts.Targets
		if !def.bad {
			good = append(good, def.rb)
		}
	}
	sort.SliceStable(l.problems, func(i, j int) bool {
		a, b := l.problems[i], l.problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return NewRegistry(good...), l.problems
}

type loader struct {
	opts     LoadOptions
	problems []Problem
}

// definition is one parsed runbook with where it came from.
type definition struct {
	rb    *Runbook
	file  string
	line  int
	where string // "file:line" for duplicate reports
	bad   bool
}

func (l *loader) readDir(dir string) []*definition {
	entries, err := os.ReadDir(dir)
	if err != nil {
		l.problems = append(l.problems, Problem{File: dir, Msg: fmt.Sprintf("cannot read the runbooks directory: %v", unwrapPathError(err))})
		return nil
	}
	var defs []*definition
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		switch {
		case strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"):
			defs = append(defs, l.readFile(filepath.Join(dir, name))...)
		case strings.HasSuffix(name, MarkdownSuffix):
			defs = append(defs, l.readMarkdown(filepath.Join(dir, name))...)
		}
	}
	return defs
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (l *loader) readFile(file string) []*definition {
	f, err := os.Open(file)
	if err != nil {
		l.problems = append(l.problems, Problem{File: file, Msg: fmt.Sprintf("cannot read the file: %v", unwrapPathError(err))})
		return nil
	}
	defer f.Close()
	var defs []*definition
	dec := yaml.NewDecoder(f)
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			l.problems = append(l.problems, Problem{File: file, Line: yamlErrorLine(err), Msg: "is not valid YAML: " + err.Error()})
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		d := &decoder{l: l, file: file, lines: true}
		root := doc.Content[0]
		defs = append(defs, d.runbook(root, fmt.Sprintf("%s:%d", file, root.Line)))
	}
	return defs
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscanf(m[1], "%d", &n)
	return n
}

// inlineNode turns a runbook from the config (already decoded into Go maps)
// back into a YAML node, so both sources go through one decoder.
func inlineNode(m map[string]any) (*yaml.Node, error) {
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	return doc.Content[0], nil
}
