package runbooks

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
	"go.yaml.in/yaml/v3"
)

// Markdown runbooks: a team's wiki page becomes a runbook without being
// rewritten. A *.runbook.md file holds one runbook: YAML front matter
// (between --- lines at the top) with every runbook key but steps; each
// level-2 heading (##) is a step named by its text; a section with a
// fenced sh or bash code block is a script step (params as environment,
// as always), and a section of prose only is a manual step whose
// instruction is that prose. The file is parsed by a Markdown parser, so
// a "## " inside a code block or a fence inside a list is what Markdown
// says it is. The result is handed to the YAML runbook decoder as the YAML
// a person would have written, with the file's lines, so both kinds are
// checked by the same code and their problems read alike.

// MarkdownSuffix is how the name of a Markdown runbook file ends; other
// .md files in a runbooks directory (a README) are not runbooks.
const MarkdownSuffix = ".runbook.md"

// scriptLanguages are the fence languages that make a script step, with
// the interpreter that runs them.
var scriptLanguages = map[string]string{"sh": "/bin/sh", "bash": "/bin/bash"}

// fenceOptions are the step keys a script's fence may set after its
// language, as key=value words: ```sh timeout=30s continue_on_error=true.
var fenceOptions = []string{"timeout", "continue_on_error"}

// readMarkdown reads one Markdown runbook.
func (l *loader) readMarkdown(file string) []*definition {
	src, err := os.ReadFile(file)
	if err != nil {
		l.problems = append(l.problems, Problem{File: file, Msg: fmt.Sprintf("cannot read the file: %v", unwrapPathError(err))})
		return nil
	}
	d := &decoder{l: l, file: file, lines: true, markdown: true}
	root, body, ok := d.frontMatter(src)
	if !ok {
		return nil
	}
	steps := d.markdownSteps(body)
	root.Content = append(root.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "steps", Line: steps.Line},
		steps)
	return []*definition{d.runbook(root, fmt.Sprintf("%s:%d", file, root.Line))}
}

// problemAt records a problem at a line of the file itself.
func (d *decoder) problemAt(line int, format string, args ...any) {
	d.problem(&yaml.Node{Line: line}, "", format, args...)
}

// frontMatter splits src into its front matter, decoded as the root of the
// runbook (with the file's lines), and the Markdown after it, in which
// the front matter's bytes are blanked so that offsets and lines stay
// those of the file.
func (d *decoder) frontMatter(src []byte) (root *yaml.Node, body []byte, ok bool) {
	lines := bytes.SplitAfter(src, []byte("\n"))
	if len(lines) == 0 || strings.TrimRight(string(lines[0]), "\r\n") != "---" {
		d.problemAt(1, "has no front matter; start the file with a line ---, then the runbook's name, kind and the other keys but steps, then a line ---")
		return nil, nil, false
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if s := strings.TrimRight(string(lines[i]), "\r\n"); s == "---" || s == "..." {
			end = i
			break
		}
	}
	if end < 0 {
		d.problemAt(1, "front matter never ends; close it with a line --- before the first heading")
		return nil, nil, false
	}
	var fm []byte
	for _, l := range lines[1:end] {
		fm = append(fm, l...)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(fm, &doc); err != nil {
		line := yamlErrorLine(err)
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if line > 0 {
			line++ // the front matter starts on the file's second line
			msg = yamlLineRe.ReplaceAllString(msg, fmt.Sprintf("line %d", line))
		}
		d.problemAt(max(line, 1), "front matter is not valid YAML: %s", msg)
		return nil, nil, false
	}
	root = &yaml.Node{Kind: yaml.MappingNode, Line: 1}
	if len(doc.Content) > 0 {
		root = doc.Content[0]
		shiftLines(root, 1, map[*yaml.Node]bool{})
	}
	if root.Kind != yaml.MappingNode {
		d.problemAt(root.Line, "front matter must be a mapping of keys (%s)", strings.Join(runbookKeys[:len(runbookKeys)-1], ", "))
		return nil, nil, false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if v := resolve(root.Content[i+1]); root.Content[i].Value == "name" && v.Kind == yaml.ScalarNode {
			d.name = v.Value // every problem, the steps' too, names the runbook
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "steps" {
			d.problemAt(root.Content[i].Line, "steps: the steps of a Markdown runbook are its ## headings; remove steps from the front matter")
			root.Content = append(root.Content[:i:i], root.Content[i+2:]...)
			break
		}
	}
	body = bytes.Clone(src)
	for i := 0; i <= end; i++ {
		for j := range lines[i] {
			if lines[i][j] != '\n' {
				body[offsetOfLine(lines, i)+j] = ' '
			}
		}
	}
	return root, body, true
}

func offsetOfLine(lines [][]byte, i int) int {
	n := 0
	for _, l := range lines[:i] {
		n += len(l)
	}
	return n
}

// shiftLines adds by to the line of n and everything under it.
func shiftLines(n *yaml.Node, by int, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by, seen)
	}
	shiftLines(n.Alias, by, seen)
}

// section is one ## heading and the blocks under it.
type section struct {
	name   string
	line   int
	blocks []ast.Node
	end    int // offset where the section's text ends
}

// markdownSteps turns the ## sections of body into the YAML sequence of
// steps a person would have written.
func (d *decoder) markdownSteps(body []byte) *yaml.Node {
	lines := newLineIndex(body)
	doc := goldmark.New().Parser().Parse(text.NewReader(body))
	var secs []*section
	var cur *section
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		if h, ok := n.(*ast.Heading); ok && h.Level <= 2 {
			if cur != nil {
				cur.end = blockStart(n, body)
			}
			cur = nil
			if h.Level == 2 {
				cur = &section{name: strings.TrimSpace(string(h.Lines().Value(body))), line: lines.at(blockStart(h, body)), end: len(body)}
				secs = append(secs, cur)
			}
			continue
		}
		if cur != nil {
			cur.blocks = append(cur.blocks, n)
		}
	}
	d.sections = len(secs)
	seq := &yaml.Node{Kind: yaml.SequenceNode, Line: 1}
	if len(secs) > 0 {
		seq.Line = secs[0].line
	}
	for _, s := range secs {
		if step := d.markdownStep(s, body, lines); step != nil {
			seq.Content = append(seq.Content, step)
		}
	}
	return seq
}

// markdownStep is the step of one section: a script step for its sh or
// bash code block, a manual step for its prose; nil (with a problem) for
// a section that is neither.
func (d *decoder) markdownStep(s *section, body []byte, lines lineIndex) *yaml.Node {
	str := func(v string, line int) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: line}
		if strings.Contains(v, "\n") {
			n.Style = yaml.LiteralStyle
		}
		return n
	}
	step := &yaml.Node{Kind: yaml.MappingNode, Line: s.line}
	add := func(key string, v *yaml.Node) {
		step.Content = append(step.Content, str(key, v.Line), v)
	}
	add("name", str(s.name, s.line))
	var scripts []*ast.FencedCodeBlock
	for _, b := range s.blocks {
		if fc, ok := b.(*ast.FencedCodeBlock); ok {
			if _, script := scriptLanguages[string(fc.Language(body))]; script {
				scripts = append(scripts, fc)
			}
		}
	}
	switch {
	case len(scripts) > 1:
		d.problemAt(lines.at(blockStart(scripts[1], body)), "step %q has %d sh/bash code blocks; a step runs one script: give each its own ## heading", s.name, len(scripts))
		return nil
	case len(scripts) == 1:
		fc := scripts[0]
		line := lines.at(blockStart(fc, body))
		lang := string(fc.Language(body))
		var code strings.Builder
		for i := 0; i < fc.Lines().Len(); i++ {
			seg := fc.Lines().At(i)
			code.Write(seg.Value(body))
		}
		add("script", str(code.String(), line))
		add("interpreter", &yaml.Node{Kind: yaml.SequenceNode, Line: line, Content: []*yaml.Node{str(scriptLanguages[lang], line)}})
		info := strings.Fields(string(fc.Info.Segment.Value(body)))
		for _, opt := range info[1:] {
			k, v, ok := strings.Cut(opt, "=")
			if !ok || !contains(fenceOptions, k) {
				d.problemAt(line, "step %q: %q after the code block's language is not an option; write %s=… (for example timeout=30s)", s.name, opt, strings.Join(fenceOptions, "=… or "))
				continue
			}
			n := str(v, line)
			if k == "continue_on_error" {
				n.Tag = "!!bool"
			}
			add(k, n)
		}
		return step
	}
	if len(s.blocks) == 0 {
		d.problemAt(s.line, "step %q has neither text nor an sh/bash code block; write what people should do, or the script to run", s.name)
		return nil
	}
	start := blockStart(s.blocks[0], body)
	add("manual", str(strings.TrimSpace(string(body[start:s.end])), lines.at(start)))
	return step
}

// blockStart is the offset where block n begins in body.
func blockStart(n ast.Node, body []byte) int {
	if p := n.Pos(); p >= 0 {
		return lineStart(body, p)
	}
	if l := n.Lines(); l != nil && l.Len() > 0 {
		return lineStart(body, l.At(0).Start)
	}
	if c := n.FirstChild(); c != nil {
		return blockStart(c, body)
	}
	return len(body)
}

// lineStart is the offset of the start of the line holding offset off.
func lineStart(body []byte, off int) int {
	return bytes.LastIndexByte(body[:min(off, len(body))], '\n') + 1
}

// lineIndex turns offsets into line numbers.
type lineIndex []int // offsets where lines start

func newLineIndex(body []byte) lineIndex {
	idx := lineIndex{0}
	for i, c := range body {
		if c == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

// at is the line (from 1) of offset off.
func (li lineIndex) at(off int) int {
	lo, hi := 0, len(li)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if li[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1
}
