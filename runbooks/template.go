package runbooks

import (
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"
)

// Templates are Go text/template with one piece of data, .Params (the
// validated values by name), missingkey=error and no functions beyond the
// builtins (none of which touch the outside world). They are rendered only
// into places where the result is data, never code: one argv element, one
// env value, an HTTP URL (values escaped, see renderURL), header or body,
// and the lock key. Script bodies are never templated.

// tplData is what templates see.
type tplData struct {
	Params map[string]string
}

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Parse(text)
}

// templateRefs lists the params a template refers to and the references
// that are not .Params.<name>. Fields inside range/with bodies are relative
// to a different dot and are not checked.
func templateRefs(t *template.Template) (params, bad []string) {
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case nil:
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe) // the body's dot is an element
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.FieldNode:
			switch {
			case len(n.Ident) >= 2 && n.Ident[0] == "Params":
				params = append(params, n.Ident[1])
			case len(n.Ident) == 1 && n.Ident[0] == "Params":
			default:
				bad = append(bad, "."+strings.Join(n.Ident, "."))
			}
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	return params, bad
}

func execute(t *template.Template, params map[string]string) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, tplData{Params: params}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// renderString renders one template text with the values.
func renderString(name, text string, params map[string]string) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := parseTemplate(name, text)
	if err != nil {
		return "", err
	}
	return execute(t, params)
}

// urlEscape escapes a value for any position in a URL: path segment, query
// key or value, fragment. Everything but unreserved characters is
// percent-encoded and spaces become %20, so a value can never add a path
// segment, a query parameter, or change the host.
func urlEscape(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// wholeParam returns the param name when text is nothing but one
// {{ .Params.x }} action.
func wholeParam(text string) (string, bool) {
	t, err := parseTemplate("url", text)
	if err != nil || t.Tree == nil || len(t.Tree.Root.Nodes) != 1 {
		return "", false
	}
	a, ok := t.Tree.Root.Nodes[0].(*parse.ActionNode)
	if !ok || len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := a.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 2 || f.Ident[0] != "Params" {
		return "", false
	}
	return f.Ident[1], true
}

// renderURL renders an HTTP step's URL. A URL that is exactly one
// {{ .Params.x }} takes the value as the whole URL (the param is then
// usually pattern-checked by the author); in any other URL every value is
// escaped with urlEscape. keep lists params whose values are placeholders
// that must appear as they are (masked plan rendering).
func renderURL(text string, params map[string]string, keep map[string]bool) (string, error) {
	if name, ok := wholeParam(text); ok {
		v, found := params[name]
		if !found {
			return "", fmt.Errorf("no param %q", name)
		}
		return v, nil
	}
	esc := make(map[string]string, len(params))
	for k, v := range params {
		if keep[k] {
			esc[k] = v
		} else {
			esc[k] = urlEscape(v)
		}
	}
	return renderString("url", text, esc)
}

// checkURL refuses a rendered URL that is not an absolute http(s) URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", raw)
	}
	return nil
}
