package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura"
)

// Loading: Load reads the YAML file, applies the environment and validates,
// as Alertmanager's config.LoadFile does, so that main only calls it.
//
// The file is parsed with yaml.v3 rather than through viper's own reader:
// viper lower-cases every key, which would corrupt case-sensitive map keys
// (environment variable names in inline runbooks, label names), and it keeps
// no line numbers. viper provides the TEBURA_* environment overrides (one
// BindEnv per dotted key, found by walking Config's mapstructure tags), and
// go-viper/mapstructure, viper's own decoder, turns the merged map into
// Config with unknown keys rejected.
//
// Precedence, lowest first: Default(), the YAML file, TEBURA_* variables.
// In file values, ${NAME} is replaced by the environment variable NAME
// (outside runbooks.inline, whose scripts keep their $ syntax), and a
// sibling key "<key>_file: path" sets <key> to the file's content without
// its trailing newline. Relative paths resolve against the config file's
// directory. The environment is the process's: viper reads nothing else.

// envPrefix prefixes every environment override.
const envPrefix = "TEBURA"

// defaultConfigFile is read when --config is not given and it exists.
const defaultConfigFile = "tebura.yaml"

// Problem is one thing wrong with the configuration (or, in a caller's list,
// with a runbook), with the place it comes from when known, so that a
// person can go and fix it.
type Problem struct {
	File string // config file, runbook file, or "$TEBURA_X" for an environment override
	Line int
	Key  string // the dotted config key, when the problem is about one
	Text string // "key: message" or "runbook x: message"
}

// String is "file:line: text", the form editors and CI logs link.
func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Text
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Text)
	default:
		return p.File + ": " + p.Text
	}
}

// SortProblems orders problems by file, line and text, so that a list reads
// top to bottom like the files.
func SortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Text < b.Text
	})
}

// Loaded is a decoded configuration and what is needed to point at the
// origin of a key: a problem found later (by the runbook loader, by a
// cross-check) is placed at the line that set the key.
type Loaded struct {
	Config Config
	Path   string            // the file read, "" when only defaults and environment
	lines  map[string]int    // dotted key → line in Path
	envs   map[string]string // dotted key → environment variable that set it
	files  map[string]string // dotted key → file its value was read from (<key>_file)
	// Unreadable is set when Path could not be read: its one problem says
	// why, and nothing else was loaded.
	Unreadable bool
}

// Options is what Load needs from packages config may not import.
type Options struct {
	// CheckGeneric builds a generic webhook source the way the server
	// mounts it (incident/source: its preset applied, its templates
	// compiled with the server's helpers) and returns why it cannot; nil
	// checks only what Validate does.
	CheckGeneric func(name string, g GenericSource) error
}

// File picks the configuration file: the flag, then $TEBURA_CONFIG, then
// ./tebura.yaml when it exists; "" means defaults and environment only. It
// checks that the file can be read, so that a wrong path stops a command
// with one line ("path: no such file or directory") instead of the
// problems of the defaults it would load instead.
func File(flag string, getenv func(string) string) (string, error) {
	path := flag
	if path == "" {
		path = getenv(envPrefix + "_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err != nil {
			return "", nil
		}
		path = defaultConfigFile
	}
	if _, err := readConfigFile(path); err != nil {
		return path, fmt.Errorf("%s: %v", path, err)
	}
	return path, nil
}

// Load reads path ("" for defaults and environment only), applies the
// environment and validates, returning every problem at once: unknown keys,
// wrong types and unset ${ENV} references, then what Validate finds in keys
// that have no problem yet. A nil *Loaded is never returned, so callers can
// still place problems of their own (runbooks, cross-checks).
func Load(path string, opts Options) (*Loaded, []Problem) {
	l, ps := Read(path)
	if l.Unreadable {
		return l, ps
	}
	return l, append(ps, l.validate(opts, ps...)...)
}

// Read is Load without validation: the configuration as written, for
// printing it (`tebura config print`) even when a value is wrong. Its
// problems are those of reading and decoding alone.
func Read(path string) (*Loaded, []Problem) {
	l := &Loaded{Path: path, lines: map[string]int{}, envs: map[string]string{}, files: map[string]string{}}
	var ps []Problem
	fileMap := map[string]any{}
	baseDir := "."
	if path != "" {
		baseDir = filepath.Dir(path)
		data, err := readConfigFile(path)
		if err != nil {
			l.Unreadable = true
			return l, []Problem{{File: path, Text: err.Error()}}
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return l, []Problem{yamlProblem(path, err)}
		}
		if len(doc.Content) > 0 {
			indexLines(doc.Content[0], "", l.lines)
			if err := doc.Content[0].Decode(&fileMap); err != nil {
				return l, []Problem{yamlProblem(path, err)}
			}
		}
		if fileMap == nil {
			fileMap = map[string]any{}
		}
		w := &walker{l: l, baseDir: baseDir}
		w.walk("", fileMap, reflect.TypeOf(Config{}))
		ps = append(ps, w.problems...)
	}

	merged := Default().Map()
	deepMerge(merged, fileMap)
	ps = append(ps, l.applyEnv(merged, baseDir)...)

	var cfg Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           &cfg,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook,
			stringToSliceHook,
			boolToWordHook,
		),
	})
	if err != nil {
		return l, append(ps, Problem{Text: err.Error()})
	}
	if err := dec.Decode(merged); err != nil {
		ps = append(ps, l.decodeProblems(err)...)
	}
	resolvePaths(&cfg, baseDir)
	l.Config = cfg
	return l, ps
}

// Name names the configuration in messages: its path, or "config" when
// only defaults and environment were read.
func (l *Loaded) Name() string {
	if l.Path != "" {
		return l.Path
	}
	return "config"
}

// ProblemAt returns a problem about key, placed where key was set.
func (l *Loaded) ProblemAt(key, msg string) Problem {
	file, line := l.where(key)
	text := msg
	if key != "" {
		text = key + ": " + msg
	}
	return Problem{File: file, Line: line, Key: key, Text: text}
}

// Where is "file:line" (or the file, or $ENV) a dotted key came from, for
// a warning that points at it.
func (l *Loaded) Where(key string) string {
	file, line := l.where(key)
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// FileOf is the file a key's value was read from (a sibling <key>_file,
// or $TEBURA_<KEY>_FILE), "" when it was given otherwise: what doctor
// names for secrets.key.
func (l *Loaded) FileOf(key string) string { return l.files[key] }

// InlineLine is the line of the inline runbook called name
// (runbooks.inline), 0 if unknown: the runbook loader knows the runbook,
// not where the configuration file holds it.
func (l *Loaded) InlineLine(name string) int {
	for i, rb := range l.Config.Runbooks.Inline {
		if n, _ := rb["name"].(string); n == name && name != "" {
			return l.lines[fmt.Sprintf("runbooks.inline[%d]", i)]
		}
	}
	return 0
}

// SourceWarnings names the webhook sources that accept unauthenticated
// requests (insecure: true), each with where it is set. They are warnings,
// not problems: the server starts. A source present without
// authentication is a problem instead (Sources.AuthProblems).
func (l *Loaded) SourceWarnings() []string {
	src := l.Config.Sources
	var out []string
	insecure := func(key, path string) {
		out = append(out, fmt.Sprintf("%s: %s.insecure is true: %s accepts unauthenticated requests from anyone who can reach it", l.Where(key+".insecure"), key, path))
	}
	if src.Alertmanager.Insecure {
		insecure("sources.alertmanager", "/hooks/alertmanager")
	}
	if src.Grafana.Insecure {
		insecure("sources.grafana", "/hooks/grafana")
	}
	if src.PagerDuty.Insecure {
		insecure("sources.pagerduty", "/hooks/pagerduty")
	}
	for _, n := range sortedKeys(src.Generic) {
		if src.Generic[n].Insecure {
			insecure("sources.generic."+n, "/hooks/generic/"+n)
		}
	}
	return out
}

// where returns the file and line a dotted key came from, trying the key,
// then its children (a block set only through one of its keys), then its
// parents.
func (l *Loaded) where(key string) (string, int) {
	if _, ok := l.lines[key]; !ok && l.envs[key] == "" {
		if file, line, ok := l.whereChild(key); ok {
			return file, line
		}
	}
	for k := key; k != ""; k = parentKey(k) {
		if env, ok := l.envs[k]; ok {
			return "$" + env, 0
		}
		if line, ok := l.lines[k]; ok {
			return l.Path, line
		}
	}
	if l.Path != "" {
		return l.Path, 0
	}
	return "config", 0
}

// whereChild is where the first child of key came from: an environment
// variable, else the lowest line in the file.
func (l *Loaded) whereChild(key string) (string, int, bool) {
	var envs []string
	for k, env := range l.envs {
		if strings.HasPrefix(k, key+".") {
			envs = append(envs, env)
		}
	}
	if len(envs) > 0 {
		sort.Strings(envs)
		return "$" + envs[0], 0, true
	}
	best := 0
	for k, line := range l.lines {
		if strings.HasPrefix(k, key+".") && (best == 0 || line < best) {
			best = line
		}
	}
	return l.Path, best, best > 0
}

// validate runs Validate, and the webhook-source check with what only the
// file knows (an empty source block is present too), and places each
// problem, leaving out keys (and their children) that already have a
// problem in known.
func (l *Loaded) validate(opts Options, known ...Problem) []Problem {
	var ps []Problem
	errs := KeyErrors(l.Config.Validate())
	reported := map[string]bool{}
	for _, ke := range errs {
		reported[ke.Key] = true
	}
	for _, ke := range KeyErrors(l.Config.Sources.AuthProblems(l.presentSources())) {
		if !reported[ke.Key] {
			errs = append(errs, ke)
		}
	}
	if opts.CheckGeneric != nil {
		errs = append(errs, genericProblems(opts.CheckGeneric, l.Config.Sources.Generic, errs)...)
	}
next:
	for _, ke := range errs {
		for _, k := range known {
			if k.Key != "" && (ke.Key == k.Key || strings.HasPrefix(ke.Key, k.Key+".") || strings.HasPrefix(ke.Key, k.Key+"[")) {
				continue next
			}
		}
		ps = append(ps, l.ProblemAt(ke.Key, ke.Msg))
	}
	return ps
}

// genericProblems runs check on each generic source and returns what
// fails (an unknown preset lists the known ones). Sources with a problem
// in errs already are left out.
func genericProblems(check func(string, GenericSource) error, generic map[string]GenericSource, errs []*KeyError) []*KeyError {
	var out []*KeyError
next:
	for _, n := range sortedKeys(generic) {
		key := "sources.generic." + n
		for _, ke := range errs {
			if ke.Key == key || strings.HasPrefix(ke.Key, key+".") {
				continue next
			}
		}
		if err := check(n, generic[n]); err != nil {
			out = append(out, KeyErrors(err)...)
		}
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// presentSources names the built-in webhook sources the file or the
// environment mentions, even as an empty block.
func (l *Loaded) presentSources() map[string]bool {
	present := map[string]bool{}
	for _, name := range []string{"alertmanager", "grafana", "pagerduty"} {
		key := "sources." + name
		for _, keys := range []map[string]int{l.lines, envLines(l.envs)} {
			for k := range keys {
				if k == key || strings.HasPrefix(k, key+".") {
					present[name] = true
				}
			}
		}
	}
	return present
}

// envLines is the set of keys of envs, shaped like Loaded.lines.
func envLines(envs map[string]string) map[string]int {
	out := make(map[string]int, len(envs))
	for k := range envs {
		out[k] = 0
	}
	return out
}

func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i <= 0 {
		return ""
	}
	return k[:i]
}

// readConfigFile reads the configuration file. Its error is the cause
// alone ("no such file or directory"); callers print it after the path.
func readConfigFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, pe.Err
	}
	return data, err
}

var yamlLine = regexp.MustCompile(`^yaml: (?:unmarshal errors:\n\s*)?line (\d+): (.*)`)

func yamlProblem(path string, err error) Problem {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{File: path, Line: n, Text: "not valid YAML: " + m[2]}
	}
	return Problem{File: path, Text: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// indexLines records the line of every key of the document, as dotted keys
// with [i] for list items.
func indexLines(n *yaml.Node, prefix string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			lines[key] = k.Line
			indexLines(v, key, lines)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			lines[key] = item.Line
			indexLines(item, key, lines)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			indexLines(n.Alias, prefix, lines)
		}
	}
}

// walker checks a file map against the Config type: unknown keys, ${ENV}
// references and <key>_file siblings.
type walker struct {
	l        *Loaded
	baseDir  string
	problems []Problem
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	secretType   = reflect.TypeOf(Secret(""))
	envRef       = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
)

func (w *walker) add(key, msg string) { w.problems = append(w.problems, w.l.ProblemAt(key, msg)) }

func (w *walker) walk(key string, v any, t reflect.Type) any {
	switch t.Kind() {
	case reflect.Struct:
		if t == durationType {
			return w.expand(key, v)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return v // the decoder reports the type mismatch
		}
		fields := structFields(t)
		for k := range m {
			base, isFile := strings.CutSuffix(k, "_file")
			if ft, ok := fields[base]; isFile && ok && ft.Kind() == reflect.String {
				fileKey := join(key, k)
				if _, both := m[base]; both {
					w.add(fileKey, fmt.Sprintf("set either %s or %s, not both", base, k))
					delete(m, k)
					continue
				}
				p, ok := m[k].(string)
				if !ok || p == "" {
					w.add(fileKey, "must be a file path")
					delete(m, k)
					continue
				}
				content, err := readSecretFile(p, w.baseDir)
				if err != nil {
					w.add(fileKey, err.Error())
				} else {
					m[base] = content
					w.l.files[join(key, base)] = filePath(p, w.baseDir)
				}
				delete(m, k)
				continue
			}
			ft, ok := fields[k]
			if !ok {
				w.add(join(key, k), "unknown key"+suggest(k, fields))
				delete(m, k) // reported here; keep the decoder's check for what slips through
				continue
			}
			m[k] = w.walk(join(key, k), m[k], ft)
		}
		return m
	case reflect.Map:
		m, ok := stringKeys(v)
		if !ok {
			return v
		}
		for k, x := range m {
			m[k] = w.walk(join(key, k), x, t.Elem())
		}
		return m
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return w.expand(key, v)
		}
		for i, x := range s {
			s[i] = w.walk(fmt.Sprintf("%s[%d]", key, i), x, t.Elem())
		}
		return s
	case reflect.Interface:
		return v // runbooks.inline: kept verbatim for the runbook loader
	default:
		return w.expand(key, v)
	}
}

// stringKeys returns a YAML mapping with string keys. A mapping with a key
// that YAML reads as a number or a boolean (status_map: {0: firing}) comes
// as map[any]any; its keys become their text ("0", "2.5", "true"), which
// the decoder would otherwise turn into "1" for true and lose a key.
func stringKeys(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			switch k := k.(type) {
			case string:
				out[k] = x
			case bool:
				out[strconv.FormatBool(k)] = x
			case int:
				out[strconv.Itoa(k)] = x
			case float64:
				out[strconv.FormatFloat(k, 'f', -1, 64)] = x
			default:
				out[fmt.Sprint(k)] = x
			}
		}
		return out, true
	}
	return nil, false
}

// expand replaces ${NAME} references in a string value.
func (w *walker) expand(key string, v any) any {
	s, ok := v.(string)
	if !ok || !strings.Contains(s, "${") {
		return v
	}
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		val, ok := os.LookupEnv(name)
		if !ok {
			w.add(key, fmt.Sprintf("references ${%s}, which is not set in the environment", name))
		}
		return val
	})
}

func readSecretFile(p, baseDir string) (string, error) {
	p = filePath(p, baseDir)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", p, errors.Unwrap(err))
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// filePath resolves a <key>_file path against baseDir.
func filePath(p, baseDir string) string {
	if !filepath.IsAbs(p) {
		return filepath.Join(baseDir, p)
	}
	return p
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// structFields maps mapstructure tag names to field types.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := tagName(f); tag != "" {
			out[tag] = f.Type
		}
	}
	return out
}

func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if tag == "-" {
		return ""
	}
	if tag == "" {
		return strings.ToLower(f.Name)
	}
	return tag
}

// suggest names the closest known key, when one is close.
func suggest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		d := tebura.EditDistance(k, name)
		if len(name) >= 4 && (strings.HasPrefix(k, name) || strings.HasPrefix(name, k)) {
			d = min(d, 2)
		}
		if d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

// envKeys lists every dotted key an environment variable may set: each leaf
// of Config, and for maps of structs (access.roles, sources.generic) the
// leaves of the entries present in m. Lists of objects (automations) and
// free-form maps cannot be set from the environment; use ${NAME} in the file.
func envKeys(prefix string, t reflect.Type, m any) []string {
	var keys []string
	switch {
	case t == durationType:
		return []string{prefix}
	case t.Kind() == reflect.Struct:
		mm, _ := m.(map[string]any)
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := tagName(f)
			if tag == "" {
				continue
			}
			keys = append(keys, envKeys(join(prefix, tag), f.Type, mm[tag])...)
		}
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		mm, _ := m.(map[string]any)
		names := make([]string, 0, len(mm))
		for k := range mm {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			keys = append(keys, envKeys(join(prefix, k), t.Elem(), mm[k])...)
		}
	case t.Kind() == reflect.Map, t.Kind() == reflect.Interface:
		return nil
	case t.Kind() == reflect.Slice:
		if k := t.Elem().Kind(); k == reflect.String || k == reflect.Int {
			return []string{prefix}
		}
		return nil
	default:
		return []string{prefix}
	}
	return keys
}

// envName is the variable that overrides key: TEBURA_ + key upper-cased
// with "." and "-" turned into "_".
func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// applyEnv sets every key whose TEBURA_* variable is set, through viper's
// environment binding. Secret keys also accept TEBURA_<KEY>_FILE.
func (l *Loaded) applyEnv(merged map[string]any, baseDir string) []Problem {
	// Most processes set no TEBURA_* variable, or one or two: look only at
	// the keys whose variable exists (walking every key's type through
	// reflection was a third of loading a configuration, paid by every
	// tebura run).
	set := prefixedEnv()
	if len(set) == 0 {
		return nil
	}
	v := viper.New()
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	var ps []Problem
	t := reflect.TypeOf(Config{})
	for _, key := range envKeys("", t, merged) {
		if name := envName(key); !set[name] && !set[name+"_FILE"] {
			continue
		}
		isSecret := fieldType(t, key) == secretType
		if isSecret {
			fileKey := key + "_file"
			if err := v.BindEnv(fileKey); err == nil && v.IsSet(fileKey) {
				content, err := readSecretFile(v.GetString(fileKey), ".")
				if err != nil {
					ps = append(ps, Problem{File: "$" + envName(fileKey), Text: key + ": " + err.Error()})
					continue
				}
				setPath(merged, key, content)
				l.envs[key] = envName(fileKey)
				l.files[key] = filePath(v.GetString(fileKey), ".")
				continue
			}
		}
		if err := v.BindEnv(key); err != nil {
			continue
		}
		if v.IsSet(key) {
			setPath(merged, key, v.GetString(key))
			l.envs[key] = envName(key)
		}
	}
	return ps
}

// prefixedEnv is the set of environment variables named TEBURA_*.
func prefixedEnv() map[string]bool {
	set := map[string]bool{}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix+"_") {
			set[name] = true
		}
	}
	return set
}

// fieldType returns the type of the field a dotted key names, nil if none.
func fieldType(t reflect.Type, key string) reflect.Type {
	for _, part := range strings.Split(key, ".") {
		switch t.Kind() {
		case reflect.Struct:
			ft, ok := structFields(t)[part]
			if !ok {
				return nil
			}
			t = ft
		case reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
	}
	return t
}

func setPath(m map[string]any, key, val string) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = val
}

// deepMerge overlays src on dst: maps merge key by key, anything else
// replaces.
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

// toMap turns a config value into plain maps, lists and scalars keyed by the
// mapstructure tags. With redact, secrets print as [redacted].
func toMap(v reflect.Value, redact bool) any {
	t := v.Type()
	switch t {
	case durationType:
		return time.Duration(v.Int()).String()
	case secretType:
		if redact {
			return Secret(v.String()).String()
		}
		return v.String()
	}
	switch t.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			if tag := tagName(t.Field(i)); tag != "" {
				m[tag] = toMap(v.Field(i), redact)
			}
		}
		return m
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			m[fmt.Sprint(iter.Key().Interface())] = toMap(iter.Value(), redact)
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		s := make([]any, v.Len())
		for i := range s {
			s[i] = toMap(v.Index(i), redact)
		}
		return s
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toMap(v.Elem(), redact)
	default:
		return v.Interface()
	}
}

// stringToSliceHook splits "a,b" (an environment variable) into a list
// for any list of strings, including []Secret.
func stringToSliceHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.String {
		return data, nil
	}
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}

// boolToWordHook keeps a YAML boolean as the word it was written as
// ("true", "false") where a string is expected. Weak typing would make it
// "1" or "0", which no key that takes true, false or a word
// (console.enabled: auto) accepts, and no template expects.
func boolToWordHook(from, to reflect.Type, data any) (any, error) {
	b, ok := data.(bool)
	if !ok || to.Kind() != reflect.String {
		return data, nil
	}
	return strconv.FormatBool(b), nil
}

// durationHook decodes "30s"-style strings into time.Duration and refuses
// bare numbers other than 0, which would silently mean nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration; use a number with a unit such as 30s, 5m or 1h", d)
		}
		return v, nil
	case int, int64, uint64, float64:
		if reflect.ValueOf(d).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit; write a duration such as 30s, 5m or 1h", d)
	}
	return data, nil
}

var (
	mapIndex       = regexp.MustCompile(`\[([^\]0-9][^\]]*)\]`)
	unconvertible  = regexp.MustCompile(`expected type '([^']*)', got unconvertible type '([^']*)'.*`)
	cannotParse    = regexp.MustCompile(`cannot parse value as '([^']*)'`)
	invalidKeysMsg = regexp.MustCompile(`has invalid keys: (.*)`)
)

// decodeProblems turns the decoder's errors into placed problems.
func (l *Loaded) decodeProblems(err error) []Problem {
	var ps []Problem
	for _, e := range tebura.Unjoin(err) {
		var de *mapstructure.DecodeError
		if !errors.As(e, &de) {
			ps = append(ps, Problem{File: l.Path, Text: e.Error()})
			continue
		}
		key := mapIndex.ReplaceAllString(de.Name(), ".$1")
		msg := de.Unwrap().Error()
		if m := unconvertible.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("has the wrong type: want %s, got %s", friendlyType(m[1]), friendlyType(m[2]))
		} else if m := cannotParse.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("has the wrong type: want %s", friendlyType(m[1]))
		} else if m := invalidKeysMsg.FindStringSubmatch(msg); m != nil {
			for _, k := range strings.Split(m[1], ", ") {
				ps = append(ps, l.ProblemAt(join(key, k), "unknown key"))
			}
			continue
		}
		ps = append(ps, l.ProblemAt(key, msg))
	}
	return ps
}

func friendlyType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a number"
	case t == "string" || t == "Secret":
		return "a string"
	case t == "bool":
		return "true or false"
	case t == "time.Duration":
		return "a duration"
	}
	return t
}

// resolvePaths makes relative paths relative to the config file's directory.
func resolvePaths(c *Config, baseDir string) {
	if baseDir == "." || baseDir == "" {
		return
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(baseDir, p)
	}
	c.DataDir = abs(c.DataDir)
	for i, d := range c.Runbooks.Dirs {
		c.Runbooks.Dirs[i] = abs(d)
	}
	c.HTTP.TLSCert = abs(c.HTTP.TLSCert)
	c.HTTP.TLSKey = abs(c.HTTP.TLSKey)
}

// Map is the configuration as plain maps, lists and scalars keyed by the
// YAML keys, secrets in clear: what a reload compares key by key.
func (c Config) Map() map[string]any {
	return toMap(reflect.ValueOf(c), false).(map[string]any)
}

// Redacted is Map with every Secret printed as [redacted], for showing the
// effective configuration (`tebura config print`).
func (c Config) Redacted() map[string]any {
	return toMap(reflect.ValueOf(c), true).(map[string]any)
}
