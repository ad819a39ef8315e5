package main

// The documentation's promises, checked: what README.md and docs/ tell a
// user to copy must work, every configuration key and metric must be
// documented as the code has it, and every relative link must lead
// somewhere. The conventions are described in docs/development.md.

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

// repoRoot is the checkout, seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

// fence is one fenced code block of a Markdown file.
type fence struct {
	File string // path relative to the repository root
	Line int    // line of the opening fence
	Lang string // first word of the info string
	Mark string // second word of the info string: what the block is, for the tests
	Body string
}

func (f fence) String() string { return fmt.Sprintf("%s:%d", f.File, f.Line) }

var fenceOpen = regexp.MustCompile("^( {0,3})(```+|~~~+)\\s*(.*)$")

// readFences returns the fenced blocks of the Markdown file rel (relative
// to the repository root), and the file's text outside them.
func readFences(t *testing.T, rel string) (fences []fence, prose []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		m := fenceOpen.FindStringSubmatch(lines[i])
		if m == nil {
			prose = append(prose, lines[i])
			continue
		}
		indent, marker, info := len(m[1]), m[2], strings.Fields(m[3])
		f := fence{File: rel, Line: i + 1}
		if len(info) > 0 {
			f.Lang = info[0]
		}
		if len(info) > 1 {
			f.Mark = info[1]
		}
		var body []string
		for i++; i < len(lines); i++ {
			if trimmed := strings.TrimSpace(lines[i]); strings.HasPrefix(trimmed, marker) && strings.Trim(trimmed, marker[:1]) == "" {
				break
			}
			line := lines[i]
			for n := 0; n < indent && strings.HasPrefix(line, " "); n++ {
				line = line[1:]
			}
			body = append(body, line)
		}
		f.Body = strings.Join(body, "\n") + "\n"
		fences = append(fences, f)
		prose = append(prose, "") // keep line numbers roughly aligned for messages
	}
	return fences, prose
}

// userDocs are the pages a user reads and copies from: the README and
// every Markdown file under docs/.
func userDocs(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	for _, f := range markdownFiles(t) {
		if strings.HasPrefix(f, "docs/") {
			files = append(files, f)
		}
	}
	return files
}

// yamlMarks are the marks a ```yaml block may carry: none (not checked:
// another program's format, such as Alertmanager's), config or runbook.
var yamlMarks = []string{"", "config", "runbook"}

// docFences returns every fenced block of the user docs, failing on a yaml
// block with an unknown mark (a typo would silently drop its check).
func docFences(t *testing.T) []fence {
	t.Helper()
	var all []fence
	for _, f := range userDocs(t) {
		fs, _ := readFences(t, f)
		for _, fc := range fs {
			if fc.Lang == "yaml" && !slices.Contains(yamlMarks, fc.Mark) {
				t.Errorf("%s: ```yaml block marked %q; use one of config, runbook or no mark", fc, fc.Mark)
			}
		}
		all = append(all, fs...)
	}
	return all
}

func marked(fs []fence, lang, mark string) []fence {
	var out []fence
	for _, f := range fs {
		if f.Lang == lang && f.Mark == mark {
			out = append(out, f)
		}
	}
	return out
}

// exampleBase is config.example.yaml as a map, with its paths made
// absolute and its data dir in dir, for laying a snippet over it.
func exampleBase(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{}
	if err := yaml.Unmarshal(b, &base); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(filepath.Join(repoRoot, "runbooks", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	base["data_dir"] = dir
	base["runbooks"].(map[string]any)["dirs"] = []any{abs}
	return base
}

// TestDocsConfigSnippets loads every ```yaml config block of the docs as
// a user would use it: added to the example configuration (its keys
// replacing the example's), then loaded and checked as `tebura validate`
// does, runbooks and automations included. ${NAME} references are set to
// a placeholder, as the reader is told to set them.
func TestDocsConfigSnippets(t *testing.T) {
	cleanEnv(t)
	snippets := marked(docFences(t), "yaml", "config")
	if len(snippets) == 0 {
		t.Fatal("no ```yaml config block in the docs")
	}
	for _, sn := range snippets {
		t.Run(sn.String(), func(t *testing.T) {
			for _, m := range envRef.FindAllStringSubmatch(sn.Body, -1) {
				t.Setenv(m[1], "docs-test-"+strings.ToLower(m[1]))
			}
			var part map[string]any
			if err := yaml.Unmarshal([]byte(sn.Body), &part); err != nil {
				t.Fatalf("%s: not valid YAML: %v", sn, err)
			}
			if len(part) == 0 {
				t.Fatalf("%s: empty config snippet", sn)
			}
			dir := t.TempDir()
			merged := deepMerge(exampleBase(t, filepath.Join(dir, "data")), part)
			out, err := yaml.Marshal(merged)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "tebura.yaml")
			if err := os.WriteFile(path, out, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, ps, _ := loadWorld(path); len(ps) > 0 {
				t.Errorf("%s: the snippet, added to config.example.yaml, does not validate:", sn)
				for _, p := range ps {
					t.Errorf("  %s", p.Text)
				}
			}
		})
	}
}

// TestDocsRunbookSnippets loads every ```yaml runbook block through the
// runbook loader, with the example config's roles.
func TestDocsRunbookSnippets(t *testing.T) {
	snippets := marked(docFences(t), "yaml", "runbook")
	if len(snippets) == 0 {
		t.Fatal("no ```yaml runbook block in the docs")
	}
	for _, sn := range snippets {
		t.Run(sn.String(), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "snippet.yaml"), []byte(sn.Body), 0o600); err != nil {
				t.Fatal(err)
			}
			def := config.Default()
			reg, ps := runbooks.Load(runbooks.LoadOptions{Dirs: []string{dir},
				DefaultTimeout: def.Runbooks.DefaultTimeout, MaxTimeout: def.Runbooks.MaxTimeout,
				KnownRole: func(r string) bool { return r == "sre" || r == "dev" }})
			for _, p := range ps {
				t.Errorf("%s: %s", sn, p.Msg)
			}
			if len(reg.List()) == 0 {
				t.Errorf("%s: no runbook loaded", sn)
			}
		})
	}
}

// envRef is a ${NAME} reference in a snippet, which the reader is told to
// set.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// deepMerge overlays src on dst as a snippet added to a file does: maps
// merge key by key, anything else replaces.
func deepMerge(dst, src map[string]any) map[string]any {
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = sv
	}
	return dst
}

// tagName is the key a field of config.Config has in YAML.
func tagName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if !f.IsExported() || tag == "-" {
		return ""
	}
	if tag == "" {
		return strings.ToLower(f.Name)
	}
	return tag
}

// configKeys lists every key of t as the docs name it: dotted, with <name>
// for an entry of a map of blocks and [] for an item of a list of blocks.
func configKeys(prefix string, t reflect.Type) []string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return []string{prefix}
	case t.Kind() == reflect.Struct:
		var keys []string
		for i := 0; i < t.NumField(); i++ {
			if tag := tagName(t.Field(i)); tag != "" {
				keys = append(keys, configKeys(strings.TrimPrefix(prefix+"."+tag, "."), t.Field(i).Type)...)
			}
		}
		return keys
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		return configKeys(prefix+".<name>", t.Elem())
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return configKeys(prefix+"[]", t.Elem())
	}
	return []string{prefix}
}

// defaultOf is the value of the dotted key in config.Default().
func defaultOf(key string) reflect.Value {
	v := reflect.ValueOf(config.Default())
	for _, part := range strings.Split(key, ".") {
		for i := 0; i < v.NumField(); i++ {
			if tagName(v.Type().Field(i)) == part {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

// tableRows returns the rows of the Markdown tables in lines as cells,
// with escaped pipes (\|) kept inside their cell.
func tableRows(lines []string) [][]string {
	var rows [][]string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") || !strings.HasSuffix(l, "|") {
			continue
		}
		l = strings.ReplaceAll(l[1:len(l)-1], `\|`, "\x00")
		var cells []string
		for _, c := range strings.Split(l, "|") {
			cells = append(cells, strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|")))
		}
		rows = append(rows, cells)
	}
	return rows
}

var tableKey = regexp.MustCompile("^`([a-z_][a-z_.<>\\[\\]]*)`$")

// TestDocsConfigKeys: docs/configuration.md names every key of
// config.Config, no key the code does not have, and the default it shows
// (a YAML value in backticks, decoded as the key's type) is the one
// config.Default() holds. Keys inside a map entry or a list item have no
// default, shown as —.
func TestDocsConfigKeys(t *testing.T) {
	const page = "docs/configuration.md"
	_, prose := readFences(t, page)
	want := configKeys("", reflect.TypeOf(config.Config{}))
	documented := map[string]string{} // key → default cell
	for _, row := range tableRows(prose) {
		m := tableKey.FindStringSubmatch(row[0])
		if m == nil || len(row) < 3 {
			continue
		}
		if _, dup := documented[m[1]]; dup {
			t.Errorf("%s: %s is documented twice", page, m[1])
		}
		documented[m[1]] = row[1]
	}
	for _, key := range want {
		if _, ok := documented[key]; !ok {
			t.Errorf("%s: key %s is missing from the tables", page, key)
		}
	}
	for key := range documented {
		if !slices.Contains(want, key) {
			t.Errorf("%s: documents %s, which config.Config does not have", page, key)
		}
	}
	for _, key := range want {
		cell, ok := documented[key]
		if !ok {
			continue
		}
		if strings.Contains(key, "<name>") || strings.Contains(key, "[]") {
			if cell != "—" {
				t.Errorf("%s: %s is inside an entry you write, so its default must be —, not %s", page, key, cell)
			}
			continue
		}
		lit, ok := strings.CutPrefix(cell, "`")
		if lit, ok = strings.CutSuffix(lit, "`"); !ok || lit == "" {
			t.Errorf("%s: default of %s is %q; write the YAML value in backticks", page, key, cell)
			continue
		}
		got := defaultOf(key)
		doc := reflect.New(got.Type())
		if err := yaml.Unmarshal([]byte(lit), doc.Interface()); err != nil {
			t.Errorf("%s: default of %s, %s, does not decode as %s: %v", page, key, cell, got.Type(), err)
			continue
		}
		if !sameValue(doc.Elem(), got) {
			t.Errorf("%s: default of %s is documented as %s; config.Default() has %v", page, key, cell, got.Interface())
		}
	}
}

// sameValue is reflect.DeepEqual, with nil and empty lists and maps equal.
func sameValue(a, b reflect.Value) bool {
	if k := a.Kind(); (k == reflect.Slice || k == reflect.Map) && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

var (
	metricName    = regexp.MustCompile(`Name:\s*"([a-z_]+)"`)
	metricDesc    = regexp.MustCompile(`namespace\s*\+\s*"_([a-z_]+)"`)
	documentedMet = regexp.MustCompile("`(tebura_[a-z_]+)`")
)

// TestDocsMetrics: the metrics table of docs/operations.md names every
// family the metrics package registers, and nothing else.
func TestDocsMetrics(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "metrics", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{metricName, metricDesc} {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				code = append(code, "tebura_"+m[1])
			}
		}
	}
	if len(code) < 10 {
		t.Fatalf("found only %d metric names in metrics/*.go; has the way they are declared changed?", len(code))
	}
	_, prose := readFences(t, "docs/operations.md")
	var docs []string
	for _, row := range tableRows(prose) {
		if m := documentedMet.FindStringSubmatch(row[0]); m != nil {
			docs = append(docs, m[1])
		}
	}
	for _, name := range code {
		if !slices.Contains(docs, name) {
			t.Errorf("docs/operations.md: metric %s is missing from the metrics table", name)
		}
	}
	for _, name := range docs {
		if !slices.Contains(code, name) {
			t.Errorf("docs/operations.md: documents metric %s, which the metrics package does not register", name)
		}
	}
}

// TestDocsReloadKeys: the reload section names every key a reload does
// not apply.
func TestDocsReloadKeys(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "## Reload")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, k := range restartKeys {
		if !strings.Contains(section, "`"+k+"`") {
			t.Errorf("docs/operations.md, Reload: does not name %s among the keys that need a restart", k)
		}
	}
}

// TestDocsDiscordInvite: the invite URL and the permissions integer on the
// Discord page are the ones the code asks for.
func TestDocsDiscordInvite(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "discord.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{discord.InviteURL("APPLICATION_ID"), fmt.Sprintf("**%d**", discord.PermissionsInteger())} {
		if !strings.Contains(string(b), want) {
			t.Errorf("docs/discord.md does not say %s", want)
		}
	}
}

var (
	inlineCode = regexp.MustCompile("`+[^`]*`+")
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`^\s*\[[^\]]+\]:\s*(\S+)`)
	heading    = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	hasScheme  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// markdownFiles lists every Markdown file of the repository (relative,
// slash-separated), leaving out hidden directories and local data dirs.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != repoRoot && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "tebura-data")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".md") {
			rel, err := filepath.Rel(repoRoot, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces as hyphens.
func slug(h string) string {
	h = mdLink.ReplaceAllString(h, "]") // [text](url) → [text]
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// anchors are the heading anchors of the Markdown file rel.
func anchors(t *testing.T, rel string) map[string]bool {
	t.Helper()
	_, prose := readFences(t, rel)
	out, seen := map[string]bool{}, map[string]int{}
	for _, l := range prose {
		m := heading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// TestDocsLinks: every relative link in every Markdown file of the
// repository leads to a file or directory that exists, and every #anchor
// to a heading of its page. Links to other sites are not fetched.
func TestDocsLinks(t *testing.T) {
	files := markdownFiles(t)
	if !slices.Contains(files, "README.md") || !slices.Contains(files, "docs/README.md") {
		t.Fatalf("README.md or docs/README.md not found among %v", files)
	}
	anchorsOf := map[string]map[string]bool{}
	checked := 0
	for _, f := range files {
		_, prose := readFences(t, f)
		for i, l := range prose {
			l = inlineCode.ReplaceAllString(l, "")
			var targets []string
			for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
				targets = append(targets, m[1])
			}
			if m := refLink.FindStringSubmatch(l); m != nil {
				targets = append(targets, m[1])
			}
			for _, target := range targets {
				if hasScheme.MatchString(target) {
					continue
				}
				checked++
				path, anchor, _ := strings.Cut(target, "#")
				dest := f
				if path != "" {
					dest = filepath.ToSlash(filepath.Join(filepath.Dir(f), path))
					if _, err := os.Stat(filepath.Join(repoRoot, dest)); err != nil {
						t.Errorf("%s:%d: link %s: %s does not exist", f, i+1, target, dest)
						continue
					}
				}
				if anchor == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				if anchorsOf[dest] == nil {
					anchorsOf[dest] = anchors(t, dest)
				}
				if !anchorsOf[dest][anchor] {
					t.Errorf("%s:%d: link %s: %s has no heading #%s", f, i+1, target, dest, anchor)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found; is the link pattern broken?")
	}
}

// TestDocsSlug pins the anchor rule the link check relies on to GitHub's
// for the kinds of headings the docs have.
func TestDocsSlug(t *testing.T) {
	for h, want := range map[string]string{
		"A short tour":                     "a-short-tour",
		"3. Configure":                     "3-configure",
		"`tebura console`":                 "tebura-console",
		"Shutdown and crash recovery":      "shutdown-and-crash-recovery",
		"Safety rules the engine enforces": "safety-rules-the-engine-enforces",
		"Data and backup":                  "data-and-backup",
		"Create the app (about a minute)":  "create-the-app-about-a-minute",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
}
