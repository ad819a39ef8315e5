package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// The template language of generic sources: text/template over the decoded
// body (numbers kept as json.Number, their exact text), with helpers that
// make real payloads easy to map:
//
//   - eq, ne: numbers compare by value (a JSON 0 equals the literal 0 and
//     0.0), text by text (a JSON 0 equals "0" too); values of other kinds
//     are simply unequal instead of an error. eq takes several candidates,
//     like text/template's: eq .x 2 3.
//   - default DEFAULT VALUE (or VALUE | default DEFAULT): VALUE, or DEFAULT
//     when VALUE is absent, null or "". A field written directly as the
//     VALUE may be absent, even its parents: {{ .a.b | default "x" }} is "x"
//     for {}. Anywhere else an absent field stays an error, so a typo in a
//     key template is a 400, not an empty key.
//   - get VALUE KEY...: walks objects by key and arrays by index, nil where
//     something is absent or null: {{ if get . "monitor" }}.
//   - lower: the text of a value, lower-cased.
//   - header NAME: a request header, for senders that put the event type
//     there (Sentry-Hook-Resource).
//
// A null value prints as empty text, not "<no value>".

// Names of the helpers the parse-tree rewrite inserts.
const (
	getFunc  = "get"
	textFunc = "_text"
)

// mappingFuncs are the helpers; header is bound per request (withHeader).
func mappingFuncs() template.FuncMap {
	return template.FuncMap{
		"eq":      tmplEq,
		"ne":      tmplNe,
		"default": tmplDefault,
		"lower":   func(v any) string { return lowerText(v) },
		getFunc:   tmplGet,
		textFunc:  valueText,
		"header":  func(string) string { return "" },
	}
}

// withHeader returns a copy of the template set whose header helper reads h.
func withHeader(set *template.Template, h http.Header) (*template.Template, error) {
	c, err := set.Clone()
	if err != nil {
		return nil, err
	}
	return c.Funcs(template.FuncMap{"header": h.Get}), nil
}

// rewriteTree makes the parsed template behave as the helpers promise: a
// field written as default's value is read with get (so it may be absent),
// and every printed value goes through _text (so null prints as ""). The
// tree is the one text/template just parsed and executes unchanged
// otherwise; TestGenericDefaultAndLower pins the behaviour.
func rewriteTree(t *parse.Tree) {
	rewriteList(t.Root)
}

func rewriteList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			rewritePipe(n.Pipe)
			if len(n.Pipe.Decl) == 0 {
				n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos,
					Args: []parse.Node{parse.NewIdentifier(textFunc).SetPos(n.Pos)}})
			}
		case *parse.IfNode:
			rewriteBranch(&n.BranchNode)
		case *parse.RangeNode:
			rewriteBranch(&n.BranchNode)
		case *parse.WithNode:
			rewriteBranch(&n.BranchNode)
		case *parse.TemplateNode:
			rewritePipe(n.Pipe)
		case *parse.ListNode:
			rewriteList(n)
		}
	}
}

func rewriteBranch(b *parse.BranchNode) {
	rewritePipe(b.Pipe)
	rewriteList(b.List)
	rewriteList(b.ElseList)
}

func rewritePipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for i, c := range p.Cmds {
		for _, a := range c.Args {
			if sub, ok := a.(*parse.PipeNode); ok {
				rewritePipe(sub)
			}
		}
		if id, ok := c.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "default" {
			continue
		}
		// default DEFAULT VALUE: the value is the third word.
		for j := 2; j < len(c.Args); j++ {
			if g := getCall(c.Args[j]); g != nil {
				c.Args[j] = &parse.PipeNode{NodeType: parse.NodePipe, Pos: g.Pos, Cmds: []*parse.CommandNode{g}}
			}
		}
		// VALUE | default DEFAULT: the value is the previous command.
		if i > 0 && len(p.Cmds[i-1].Args) == 1 {
			if g := getCall(p.Cmds[i-1].Args[0]); g != nil {
				p.Cmds[i-1] = g
			}
		}
	}
}

// getCall turns .a.b into `get . "a" "b"` and $x.a into `get $x "a"`; nil
// for any other node.
func getCall(n parse.Node) *parse.CommandNode {
	var from parse.Node
	var path []string
	switch n := n.(type) {
	case *parse.FieldNode:
		from, path = &parse.DotNode{NodeType: parse.NodeDot, Pos: n.Pos}, n.Ident
	case *parse.VariableNode:
		if len(n.Ident) < 2 {
			return nil
		}
		from, path = &parse.VariableNode{NodeType: parse.NodeVariable, Pos: n.Pos, Ident: n.Ident[:1]}, n.Ident[1:]
	default:
		return nil
	}
	args := []parse.Node{parse.NewIdentifier(getFunc).SetPos(n.Position()), from}
	for _, k := range path {
		args = append(args, &parse.StringNode{NodeType: parse.NodeString, Pos: n.Position(), Quoted: strconv.Quote(k), Text: k})
	}
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Position(), Args: args}
}

func tmplEq(a any, bs ...any) (bool, error) {
	if len(bs) == 0 {
		return false, errors.New("missing argument for comparison")
	}
	for _, b := range bs {
		if equalValues(a, b) {
			return true, nil
		}
	}
	return false, nil
}

func tmplNe(a, b any) bool { return !equalValues(a, b) }

func equalValues(a, b any) bool {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return x.Cmp(y) == 0
		}
	}
	if x, ok := stringish(a); ok {
		if y, ok := stringish(b); ok {
			return x == y
		}
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// number is v's exact value when v is a number (json.Number, or a Go
// number as template literals are).
func number(v any) (*big.Rat, bool) {
	r := new(big.Rat)
	switch n := v.(type) {
	case json.Number:
		return r.SetString(string(n))
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, false
		}
		return r.SetFloat64(n), true
	case float32:
		return number(float64(n))
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.SetInt64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return r.SetInt(new(big.Int).SetUint64(rv.Uint())), true
	}
	return nil, false
}

// stringish is the text of a string or of a JSON number.
func stringish(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return string(s), true
	}
	return "", false
}

func tmplDefault(def, v any) any {
	if v == nil {
		return def
	}
	if s, ok := stringish(v); ok && s == "" {
		return def
	}
	return v
}

func tmplGet(v any, path ...any) any {
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			k, ok := stringish(p)
			if !ok {
				return nil
			}
			v = c[k]
		case []any:
			i, ok := index(p)
			if !ok || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func index(p any) (int, bool) {
	r, ok := number(p)
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	n := r.Num().Int64()
	if n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// valueText is how a value prints: null as empty text.
func valueText(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := stringish(v); ok {
		return s
	}
	return fmt.Sprint(v)
}

func lowerText(v any) string {
	return strings.ToLower(valueText(v))
}
