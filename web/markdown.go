package web

import (
	"html"
	"html/template"
	"regexp"
	"strings"
)

// markdownHTML renders the Markdown the postmortem is written in
// (incident.Postmortem: headings, pipe tables, lists, paragraphs, `code`,
// _emphasis_ and [links](url)) as HTML. Every piece of text is escaped
// first, and only http(s) and same-site links become anchors, so an alert
// label cannot inject markup.
func markdownHTML(md string) template.HTML {
	var b strings.Builder
	lines := strings.Split(md, "\n")
	inList, inTable, headRow := false, false, false
	closeBlocks := func() {
		if inList {
			b.WriteString("</ul>\n")
			inList = false
		}
		if inTable {
			b.WriteString("</tbody></table>\n")
			inTable = false
		}
	}
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case t == "":
			closeBlocks()
		case strings.HasPrefix(t, "#"):
			closeBlocks()
			hashes := len(t) - len(strings.TrimLeft(t, "#"))
			level := min(hashes+1, 6) // the page's own title is the h1
			tag := "h" + string(rune('0'+level))
			b.WriteString("<" + tag + ">" + inline(strings.TrimSpace(t[hashes:])) + "</" + tag + ">\n")
		case strings.HasPrefix(t, "|"):
			if inList {
				b.WriteString("</ul>\n")
				inList = false
			}
			cells := splitRow(t)
			if isRule(cells) {
				headRow = false
				continue
			}
			if !inTable {
				b.WriteString("<table><thead>")
				inTable, headRow = true, true
			}
			tag := "td"
			if headRow {
				tag = "th"
			}
			b.WriteString("<tr>")
			for _, c := range cells {
				b.WriteString("<" + tag + ">" + inline(c) + "</" + tag + ">")
			}
			b.WriteString("</tr>")
			if headRow {
				b.WriteString("</thead><tbody>")
				headRow = false
			}
			b.WriteString("\n")
		case strings.HasPrefix(t, "- "):
			if inTable {
				b.WriteString("</tbody></table>\n")
				inTable = false
			}
			if !inList {
				b.WriteString("<ul>\n")
				inList = true
			}
			item := strings.TrimPrefix(t, "- ")
			if rest, ok := strings.CutPrefix(item, "[ ] "); ok {
				item = "☐ " + rest
			}
			b.WriteString("<li>" + inline(item) + "</li>\n")
		default:
			closeBlocks()
			b.WriteString("<p>" + inline(t) + "</p>\n")
		}
	}
	closeBlocks()
	return template.HTML(b.String())
}

// splitRow splits a pipe table row, honouring \| inside cells.
func splitRow(row string) []string {
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteByte('|')
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func isRule(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" || c == "" {
			return false
		}
	}
	return true
}

var (
	mdCode = regexp.MustCompile("`([^`]+)`")
	mdLink = regexp.MustCompile(`\[([^\]]+)\]\(((?:https?://|/[^/])[^)\s"]*)\)`)
	mdEm   = regexp.MustCompile(`(^|\s)_([^_]+)_(\s|$|[.,;:])`)
)

// inline escapes s and renders its inline marks.
func inline(s string) string {
	s = html.EscapeString(s)
	// The regexps cost most of a long postmortem's rendering: run each
	// only where its mark appears.
	if strings.IndexByte(s, '`') >= 0 {
		s = mdCode.ReplaceAllString(s, "<code>$1</code>")
	}
	if strings.Contains(s, "](") {
		s = mdLink.ReplaceAllString(s, `<a href="$2" rel="noreferrer">$1</a>`)
	}
	if strings.IndexByte(s, '_') >= 0 {
		s = mdEm.ReplaceAllString(s, "$1<em>$2</em>$3")
	}
	return s
}
